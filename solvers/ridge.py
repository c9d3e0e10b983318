"""Kernel ridge regression on precomputed Gram matrices.

Ridge convention (used everywhere in :mod:`solvers`)
----------------------------------------------------
The dual coefficients solve

    (K + ridge * I) alpha = y,

with **no factor n** on the ridge -- exactly scikit-learn's
``KernelRidge(alpha=ridge, kernel="precomputed")``. Predictions are ``K_test @ alpha``.
``ridge = 0`` is interpolation; it is solved by Cholesky when ``K`` is numerically positive
definite.

Ill-conditioned or singular systems
-----------------------------------
:func:`kernel_ridge` first tries a Cholesky factorisation (:func:`solvers.linalg.cho_factor`,
safe for large n). If it fails (not positive definite) or its reciprocal condition number
is below machine epsilon, it emits :class:`scipy.linalg.LinAlgWarning` (naming ``rcond``)
and falls back to the symmetric eigendecomposition with a pseudo-inverse: eigen-directions
with ``s_k + ridge <= rcond * max|s + ridge|`` (default ``rcond = n * eps``) are dropped,
which gives the minimum-norm (inter)polant on the numerical range of ``K``.
:func:`ridge_path` applies the same truncation to every ridge of its grid.

Leave-one-out and GCV
---------------------
With ``K = V diag(s) V^T``, ``G = (K + ridge I)^{-1}`` and the hat matrix ``H = K G``:
the leave-one-out residual is ``(y_i - (Hy)_i) / (1 - H_ii) = alpha_i / G_ii`` and
``GCV = mean(r^2) / (1 - tr(H)/n)^2 = mean(alpha^2) / (tr(G)/n)^2`` (the ridge cancels,
which makes the ``ridge -> 0`` limit well defined). Both are reported as mean squared errors
(averaged over targets for 2-D ``y``).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg import LinAlgWarning

from .._validation import check_target_scale
from .linalg import check_memory, cho_factor, cho_solve, pinv_eigh_solve

__all__ = ["RidgePath", "kernel_ridge", "ridge_path", "check_gram", "check_ridges"]


def _check_ridge(ridge, name="ridge"):
    if isinstance(ridge, (bool, np.bool_)) or not isinstance(ridge, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(ridge).__name__}")
    ridge = float(ridge)
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {ridge}")
    return ridge


def check_ridges(ridges, name="ridges"):
    """Validate a grid of ridges: 1-D, non-empty, finite, >= 0. Returns a float64 array."""
    if isinstance(ridges, (list, tuple)):  # a bool inside a list is cast to 0.0 or 1.0
        for i, r in enumerate(ridges):
            if isinstance(r, (bool, np.bool_)):
                raise TypeError(f"{name} must be real numbers, got {r!r} of type "
                                f"{type(r).__name__} at index {i} (a bool is not a ridge)")
    arr = np.atleast_1d(np.asarray(ridges))
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be real numbers, got a boolean array (a bool is not "
                        "a ridge)")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D grid, got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"{name} must be finite and >= 0, got {arr.tolist()}")
    return arr


def check_gram(K, y=None, *, name="K", check_finite=True):
    """Validate a square Gram and (optionally) labels; return float64 arrays (no copy if possible).

    Raises
    ------
    ValueError
        Non-square or empty ``K``, NaN/inf, ``y`` of the wrong rank or length.
    TypeError
        Non-numeric input.
    """
    K = np.asarray(K)
    if K.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {K.dtype}")
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square 2-D Gram matrix, got shape {K.shape}")
    if K.shape[0] == 0:
        raise ValueError(f"{name} must have at least one sample, got shape {K.shape}")
    K = K.astype(np.float64, copy=False)
    if check_finite and not np.isfinite(K).all():
        raise ValueError(f"{name} must not contain NaN or infinity")
    if y is None:
        return K
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must hold real numbers, got dtype {y.dtype}")
    y = y.astype(np.float64, copy=False)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
    if y.shape[0] != K.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} rows but {name} has shape {K.shape}; they must match")
    if check_finite and not np.isfinite(y).all():
        raise ValueError("y must not contain NaN or infinity")
    return K, y


def kernel_ridge(K, y, ridge=0.0, *, lower: bool = True, overwrite_a: bool = False,
                 check_finite: bool = True, rcond: float | None = None,
                 assume_a: str = "pos"):
    """Dual coefficients of kernel ridge regression: solve ``(K + ridge I) alpha = y``.

    Parameters
    ----------
    K : (n, n) array_like
        Symmetric positive semi-definite Gram matrix, never modified unless
        ``overwrite_a``. It must be symmetric: for speed the Cholesky path reads the
        triangle stored contiguously (for a C-ordered array, the mirror of ``lower``).
    y : (n,) or (n, t) array_like
        Labels.
    ridge : float, default=0
        Ridge ``>= 0`` (no factor n; scikit-learn's ``alpha``). 0 interpolates.
    lower : bool, default=True
        Which triangle of an F-ordered ``K`` to use (scipy's vocabulary).
    overwrite_a : bool, default=False
        Let the factorisation reuse ``K``'s memory (saves one n x n copy; ``K`` is
        garbage afterwards); a C-ordered ``K`` is factored through its (F-ordered)
        transpose. The fallback rebuilds ``K`` from the
        triangle the factorisation leaves untouched.
    check_finite : bool, default=True
        Reject NaN/inf.
    rcond : float, optional
        Relative eigenvalue cut-off of the eigendecomposition fallback (default ``n*eps``).
    assume_a : {"pos", "sym"}, default="pos"
        ``"pos"``: Cholesky with the documented fallback. ``"sym"``: go straight to the
        eigendecomposition (pseudo-inverse) solver.

    Returns
    -------
    alpha : ndarray, shape like ``y``
        Dual coefficients; predict with ``K_test @ alpha``.

    Warns
    -----
    scipy.linalg.LinAlgWarning
        When ``K + ridge I`` is singular or ill-conditioned (with its ``rcond``); the
        result then comes from the pseudo-inverse fallback.
    """
    K, y = check_gram(K, y, check_finite=check_finite)
    ridge = _check_ridge(ridge)
    if assume_a not in ("pos", "sym"):
        raise ValueError(f"assume_a must be 'pos' or 'sym', got {assume_a!r}")
    n = K.shape[0]
    check_memory(n, copies=1 if overwrite_a else 2, name="Gram matrix K (and its factor)")
    Ksym = K if lower else K.T
    if assume_a == "sym":
        return pinv_eigh_solve(Ksym, y, ridge, rcond=rcond, check_finite=False)
    if not Ksym.flags.f_contiguous and Ksym.T.flags.f_contiguous:
        # K is symmetric, so its transpose holds the same triangle. Its F-ordered view is
        # copied by memcpy instead of a transposing copy, and with overwrite_a it is
        # factored in place (no n x n copy at all).
        Ksym = Ksym.T
    diag = np.diagonal(Ksym).copy() if overwrite_a else None
    reason = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", LinAlgWarning)
            factor = cho_factor(Ksym, lower=True, overwrite_a=overwrite_a, check_finite=False,
                                shift=ridge)
        return cho_solve(factor, y, check_finite=False)
    except LinAlgWarning as exc:
        reason = str(exc)
    except np.linalg.LinAlgError as exc:
        reason = f"not positive definite ({exc})"
    warnings.warn(
        f"K + ridge*I with ridge={ridge:g} is singular or ill-conditioned: {reason}; "
        "falling back to the eigendecomposition pseudo-inverse (minimum-norm solution)",
        LinAlgWarning, stacklevel=2)
    if overwrite_a and diag is not None:
        # dpotrf wrote only one triangle; rebuild the symmetric matrix from the other one.
        up = np.triu(Ksym, 1)
        Ksym = up + up.T
        Ksym[np.diag_indices(n)] = diag
    return pinv_eigh_solve(Ksym, y, ridge, rcond=rcond, check_finite=False)


@dataclass
class RidgePath:
    """Kernel ridge solutions for a whole grid of ridges from one eigendecomposition.

    Attributes
    ----------
    ridges : (R,) ndarray
    dual_coef : (R, n) or (R, n, t) ndarray
        ``dual_coef[j]`` solves ``(K + ridges[j] I) alpha = y`` (pseudo-inverse where singular).
    loo : (R,) ndarray
        Closed-form leave-one-out mean squared error per ridge.
    gcv : (R,) ndarray
        Generalised cross-validation score per ridge.
    train_error : (R,) ndarray
        Mean squared training residual ``mean((y - K alpha)^2)``.
    eigenvalues : (n,) ndarray
        Eigenvalues of ``K`` (ascending).
    rank : (R,) ndarray of int
        Eigen-directions kept per ridge (``n`` unless the pseudo-inverse truncated some).
    """

    ridges: np.ndarray
    dual_coef: np.ndarray
    loo: np.ndarray
    gcv: np.ndarray
    train_error: np.ndarray
    eigenvalues: np.ndarray
    rank: np.ndarray

    def predict(self, K_test):
        """Predictions for every ridge: ``(R, n_test)`` (or ``(R, n_test, t)``)."""
        K_test = np.asarray(K_test, dtype=np.float64)
        n = self.dual_coef.shape[1]
        if K_test.ndim != 2 or K_test.shape[1] != n:
            raise ValueError(f"K_test must have shape (n_test, {n}), got {K_test.shape}")
        if not np.isfinite(K_test).all():
            raise ValueError("K_test contains NaN or inf")
        return np.einsum("tn,rn...->rt...", K_test, self.dual_coef, optimize=True)

    @property
    def best_loo(self):
        """Index of the ridge with the smallest LOO error."""
        return int(np.nanargmin(self.loo))

    @property
    def best_gcv(self):
        """Index of the ridge with the smallest GCV score."""
        return int(np.nanargmin(self.gcv))


def _path_from_eigh(s, V, y2, ridges, rcond):
    """Core of :func:`ridge_path`: ``y2`` is (n, t); returns arrays with a target axis."""
    n = s.shape[0]
    if rcond is None:
        rcond = max(n, 1) * np.finfo(np.float64).eps
    R = ridges.shape[0]
    d = s[None, :] + ridges[:, None]                       # (R, n) shifted eigenvalues
    tol = rcond * np.abs(d).max(axis=1, keepdims=True)
    keep = d > tol
    inv = np.where(keep, 1.0 / np.where(keep, d, 1.0), 0.0)
    # "Residual weights" w = 1 - s*inv: ridge*inv on kept directions, 1 on dropped ones.
    w = np.where(keep, ridges[:, None] * inv, 1.0)
    Vy = V.T @ y2                                          # (n, t)
    alpha = np.einsum("ik,rk,kt->rit", V, inv, Vy, optimize=True)     # (R, n, t)
    V2 = V * V
    gdiag = V2 @ inv.T                                     # (n, R): diag of G
    wdiag = V2 @ w.T                                       # (n, R): diag of I - H
    del V2
    resid = np.einsum("ik,rk,kt->rit", V, w, Vy, optimize=True)       # y - K alpha
    loo = np.empty(R)
    gcv = np.empty(R)
    train = np.empty(R)
    rank = keep.sum(axis=1)
    for j in range(R):
        if ridges[j] == 0 and rank[j] == n:
            # ridge -> 0 limit with every direction kept: r/(1-H) = alpha/G_ii.
            loo_res = alpha[j] / gdiag[:, j, None]
            gcv[j] = np.mean(alpha[j] ** 2) / np.mean(inv[j]) ** 2
            train[j] = np.mean(resid[j] ** 2)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                loo_res = resid[j] / wdiag[:, j, None]
                gcv[j] = np.mean(resid[j] ** 2) / np.mean(w[j]) ** 2
            train[j] = np.mean(resid[j] ** 2)
        loo[j] = np.mean(loo_res ** 2)
    return alpha, loo, gcv, train, rank


def ridge_path(K, y, ridges, *, lower: bool = True, overwrite_a: bool = False,
               check_finite: bool = True, rcond: float | None = None) -> RidgePath:
    """Kernel ridge for a whole grid of ridges, with closed-form LOO and GCV, from one ``eigh``.

    Parameters
    ----------
    K : (n, n) array_like
        Symmetric Gram matrix (``lower`` triangle referenced); never modified unless
        ``overwrite_a``.
    y : (n,) or (n, t) array_like
        Labels.
    ridges : array_like of float
        Ridge grid, each ``>= 0`` (convention ``(K + ridge I) alpha = y``).
    lower, overwrite_a, check_finite
        As in :func:`scipy.linalg.eigh`.
    rcond : float, optional
        Relative cut-off below which shifted eigenvalues are dropped (pseudo-inverse);
        default ``n * eps``. A :class:`~scipy.linalg.LinAlgWarning` reports truncations.

    Returns
    -------
    RidgePath
        Solutions, LOO, GCV and training errors for every ridge.
    """
    K, y = check_gram(K, y, check_finite=check_finite)
    check_target_scale(y, "y")  # LOO and GCV compare squared errors
    ridges = check_ridges(ridges)
    n = K.shape[0]
    check_memory(n, copies=(2 if overwrite_a else 3), name="Gram matrix K (eigh workspace)")
    s, V = scipy.linalg.eigh(K, lower=lower, overwrite_a=overwrite_a, check_finite=False,
                             driver="evd")
    y2 = y[:, None] if y.ndim == 1 else y
    alpha, loo, gcv, train, rank = _path_from_eigh(s, V, y2, ridges, rcond)
    if (rank < n).any():
        bad = ridges[rank < n]
        warnings.warn(
            f"K + ridge*I is numerically singular for ridges {bad.tolist()} "
            f"(smallest eigenvalue of K {s[0]:.3g}, largest {s[-1]:.3g}); "
            "dropped those eigen-directions (pseudo-inverse, minimum-norm solution)",
            LinAlgWarning, stacklevel=2)
    if y.ndim == 1:
        alpha = alpha[:, :, 0]
    return RidgePath(ridges=ridges, dual_coef=alpha, loo=loo, gcv=gcv, train_error=train,
                     eigenvalues=s, rank=rank)
