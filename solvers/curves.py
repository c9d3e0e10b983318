"""Whole learning curves (test error against n, for a grid of ridges) from few factorisations.

The training points are one sample in a fixed order; a learning curve fits kernel ridge on
the nested prefixes ``0..n_1-1 ⊂ 0..n_2-1 ⊂ ...``. Ridge convention as everywhere in
:mod:`solvers`: ``(K_n + ridge I) alpha = y_n`` (no factor n; scikit-learn's ``alpha``).

Two exact algorithms, picked by a flop model (``method="auto"``):

``"cholesky"``
    One Cholesky factor ``L`` of ``K + ridge I`` at the largest size per ridge, plus its
    triangular inverse. The leading ``m x m`` block of ``L`` is the factor of the leading
    block of ``K + ridge I`` and the leading block of ``L^{-1}`` is its inverse, so every
    prefix's solution (``alpha_m = L_m^{-T} L_m^{-1} y_m``), diagonal of
    ``G_m = (K_m + ridge I)^{-1}`` (column norms of ``L_m^{-1}``) and hence LOO and GCV
    cost O(m^2). Cost: about ``2/3 n^3`` flops per ridge. Best for few ridges.
``"eigh"``
    One symmetric eigendecomposition per size, which serves every ridge at once
    (:func:`solvers.ridge.ridge_path`). Cost: ``sum_k eigh(n_k)``, about 1.2-1.6 times one
    eigendecomposition at the largest n on a log-spaced size grid (measured 1.7x at n = 4000,
    8 sizes, 20 ridges; one eigh costs 14-18 Choleskys here). Best for many ridges.

Singular systems (e.g. ridge 0 with repeated points) follow :mod:`solvers.ridge`: a
:class:`~scipy.linalg.LinAlgWarning`, then the eigendecomposition pseudo-inverse.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning, lapack as _lapack

from .linalg import check_memory, cho_factor
from .ridge import check_gram, check_ridges, ridge_path

__all__ = ["SELECTIONS", "learning_curve"]

SELECTIONS = ("loo", "gcv", "validation", "none")
#: Cost of a symmetric eigendecomposition (``driver="evd"``) in units of one Cholesky
#: factorisation of the same order; measured 14-18 on this machine (scipy's OpenBLAS).
EIGH_COST = 15.0


def _check_sizes(sizes, n_avail, what):
    arr = np.atleast_1d(np.asarray(sizes))
    if arr.dtype.kind not in "iu":
        raise TypeError(f"sizes must be integers, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"sizes must be a non-empty 1-D grid, got shape {arr.shape}")
    if (np.diff(arr) <= 0).any():
        raise ValueError(f"sizes must be strictly increasing, got {arr.tolist()}")
    if arr[0] < 1 or arr[-1] > n_avail:
        raise ValueError(f"sizes must lie in [1, {n_avail}] ({what}), got {arr.tolist()}")
    return arr.astype(np.int64)


def _zero_strict_upper(a, chunk=2048):
    """Zero the strictly upper triangle of ``a`` in place, column chunk by chunk."""
    n = a.shape[1]
    for j0 in range(0, n, chunk):
        j1 = min(j0 + chunk, n)
        a[:j1, j0:j1] = np.tril(a[:j1, j0:j1], -j0)
    return a


def _cholesky_ridge(K, y, sizes, ridge):
    """Per-size (alpha, gdiag) for one ridge from one factor; None if it needs the fallback."""
    n_top = int(sizes[-1])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", LinAlgWarning)
            # K is symmetric: its transposed view is column-major, so the copy is row memcpy.
            c, _ = cho_factor(K[:n_top, :n_top].T, lower=True, check_finite=False,
                              shift=ridge)
    except (LinAlgWarning, np.linalg.LinAlgError):
        return None
    linv, info = _lapack.dtrtri(c, lower=1, overwrite_c=1)
    if info != 0:  # pragma: no cover - a successful Cholesky has a non-singular factor
        return None
    del c
    _zero_strict_upper(linv)
    out = []
    for m in sizes:
        Lm = linv[:m, :m]
        alpha = Lm.T @ (Lm @ y[:m])
        gdiag = np.einsum("ij,ij->j", Lm, Lm)
        out.append((alpha, gdiag))
    return out


def learning_curve(K, y, K_test, f_test, *, sizes, ridges, selection="gcv", normalizer=None,
                   seed=None, method="auto", validation_size=0.2, check_finite=True):
    """Test error of kernel ridge for nested training prefixes and a grid of ridges.

    Parameters
    ----------
    K : (n_max, n_max) array_like
        Gram matrix of the training points, in sample order. Never modified.
    y : (n_max,) array_like
        Training labels (possibly noisy).
    K_test : (n_test, n_max) array_like
        Cross Gram between test and training points.
    f_test : (n_test,) array_like
        Noise-free target values at the test points.
    sizes : array_like of int
        Strictly increasing prefix sizes ``n_1 < ... < n_k <= n_max``.
    ridges : array_like of float
        Ridge grid (``>= 0``; 0 interpolates), convention ``(K_n + ridge I) alpha = y_n``.
    selection : {"gcv", "loo", "validation", "none"}, default="gcv"
        How the ridge is chosen per n (column ``selected``). ``"validation"`` holds out the
        last ``validation_size`` training points (shared by every n; sizes must then be
        ``<= n_max - n_val``) and picks the ridge with the smallest validation error.
        ``"none"``: nothing is selected, unless a single ridge is given (then it is).
    normalizer : float, optional
        Divides every error column. Default ``np.var(f_test)``.
    seed : int, optional
        Recorded in the ``seed`` column (the data's seed; nothing here is random).
    method : {"auto", "eigh", "cholesky"}, default="auto"
        Algorithm (module docstring); ``"auto"`` minimises a flop model.
    validation_size : float or int, default=0.2
        Fraction of ``n_max`` (float in (0, 1)) or count (int) held out for
        ``selection="validation"``.
    check_finite : bool, default=True
        Reject NaN/inf.

    Returns
    -------
    pandas.DataFrame
        One row per (n, ridge), sorted by n then ridge order, with columns ``n``, ``ridge``,
        ``test_error`` (mean squared error against ``f_test`` / normalizer), ``train_error``,
        ``loo``, ``gcv``, ``validation`` (NaN unless ``selection="validation"``), all divided by
        the normalizer, ``selected`` (bool), ``seed`` and ``method``.
    """
    K, y = check_gram(K, y, check_finite=check_finite)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    n_max = K.shape[0]
    K_test = np.asarray(K_test)
    if K_test.dtype.kind not in "biuf":
        raise TypeError(f"K_test must hold real numbers, got dtype {K_test.dtype}")
    K_test = K_test.astype(np.float64, copy=False)
    if K_test.ndim != 2 or K_test.shape[1] != n_max:
        raise ValueError(f"K_test must have shape (n_test, {n_max}), got {K_test.shape}")
    f_test = np.asarray(f_test, dtype=np.float64)
    if f_test.shape != (K_test.shape[0],):
        raise ValueError(
            f"f_test must have shape ({K_test.shape[0]},) to match K_test {K_test.shape}, "
            f"got {f_test.shape}")
    if check_finite and not (np.isfinite(K_test).all() and np.isfinite(f_test).all()):
        raise ValueError("K_test and f_test must not contain NaN or infinity")
    ridges = check_ridges(ridges)
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; expected one of {list(SELECTIONS)}")
    if method not in ("auto", "eigh", "cholesky"):
        raise ValueError(f"unknown method {method!r}; expected 'auto', 'eigh' or 'cholesky'")
    n_val = _n_validation(selection, validation_size, n_max)
    sizes = _check_sizes(sizes, n_max - n_val,
                         "n_max minus the validation points" if n_val else "n_max")
    normalizer = _check_normalizer(normalizer, f_test)

    n_top = int(sizes[-1])
    if method == "auto":
        chol_cost = 2.0 * len(ridges) * n_top ** 3
        eigh_cost = EIGH_COST * float(np.sum(sizes.astype(float) ** 3))
        method = "cholesky" if chol_cost <= eigh_cost else "eigh"
    val_idx = np.arange(n_max - n_val, n_max)
    K_val = K[val_idx] if n_val else None
    y_val = y[val_idx] if n_val else None

    R = len(ridges)
    k = len(sizes)
    shape = (k, R)
    test_err = np.full(shape, np.nan)
    train_err = np.full(shape, np.nan)
    loo = np.full(shape, np.nan)
    gcv = np.full(shape, np.nan)
    val = np.full(shape, np.nan)

    def record(i, j, m, alpha, train, loo_ij, gcv_ij):
        pred = K_test[:, :m] @ alpha
        test_err[i, j] = np.mean((pred - f_test) ** 2)
        train_err[i, j] = train
        loo[i, j] = loo_ij
        gcv[i, j] = gcv_ij
        if n_val:
            val[i, j] = np.mean((K_val[:, :m] @ alpha - y_val) ** 2)

    eigh_ridges = np.arange(R)
    if method == "cholesky":
        check_memory(n_top, copies=2, name="Cholesky factor and inverse")
        eigh_ridges = []
        for j, lam in enumerate(ridges):
            res = _cholesky_ridge(K, y, sizes, lam)
            if res is None:
                eigh_ridges.append(j)
                continue
            for i, (m, (alpha, gdiag)) in enumerate(zip(sizes, res)):
                resid = y[:m] - K[:m, :m] @ alpha
                record(i, j, m, alpha, np.mean(resid ** 2), np.mean((alpha / gdiag) ** 2),
                       np.mean(alpha ** 2) / np.mean(gdiag) ** 2)
        if eigh_ridges:
            warnings.warn(
                f"K + ridge*I is singular or ill-conditioned for ridges "
                f"{ridges[eigh_ridges].tolist()}; using the eigendecomposition pseudo-inverse "
                "for those", LinAlgWarning, stacklevel=2)
        eigh_ridges = np.asarray(eigh_ridges, dtype=np.int64)
    if len(eigh_ridges):
        check_memory(n_top, copies=3, name="eigendecomposition workspace")
        sub = ridges[eigh_ridges]
        for i, m in enumerate(sizes):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LinAlgWarning)  # summarised below
                path = ridge_path(K[:m, :m], y[:m], sub, check_finite=False)
            for jj, j in enumerate(eigh_ridges):
                record(i, j, m, path.dual_coef[jj], path.train_error[jj], path.loo[jj],
                       path.gcv[jj])
            if (path.rank < m).any():
                warnings.warn(
                    f"n={m}: K + ridge*I numerically singular for ridges "
                    f"{sub[path.rank < m].tolist()}; pseudo-inverse used", LinAlgWarning,
                    stacklevel=2)

    return _frame(sizes, ridges, selection, normalizer, seed, method, test_error=test_err,
                  train_error=train_err, loo=loo, gcv=gcv, validation=val)


def _n_validation(selection, validation_size, n_max):
    """Held-out points for ``selection="validation"`` (0 otherwise)."""
    if selection != "validation":
        return 0
    if isinstance(validation_size, numbers.Integral) and not isinstance(validation_size, bool):
        n_val = int(validation_size)
    elif isinstance(validation_size, numbers.Real) and 0 < validation_size < 1:
        n_val = int(round(validation_size * n_max))
    else:
        raise ValueError("validation_size must be a fraction in (0, 1) or a positive int, "
                         f"got {validation_size!r}")
    if not 1 <= n_val < n_max:
        raise ValueError(f"validation_size gives {n_val} held-out points of {n_max}; "
                         "need at least 1 and fewer than n_max")
    return n_val


def _check_normalizer(normalizer, f_test):
    if normalizer is None:
        normalizer = float(np.var(f_test))
        if not normalizer > 0:
            raise ValueError("normalizer: np.var(f_test) is 0; pass normalizer explicitly")
        return normalizer
    normalizer = float(normalizer)
    if not (np.isfinite(normalizer) and normalizer > 0):
        raise ValueError(f"normalizer must be finite and > 0, got {normalizer}")
    return normalizer


def _frame(sizes, ridges, selection, normalizer, seed, method, **errors):
    """The learning-curve table from (sizes x ridges) error arrays (module docstring)."""
    k, R = len(sizes), len(ridges)
    selected = np.zeros((k, R), dtype=bool)
    crit = errors.get(selection)  # None for "none"
    if crit is not None:
        for i in range(k):
            row = crit[i]
            if np.isfinite(row).any():
                selected[i, int(np.nanargmin(row))] = True
    elif R == 1:
        selected[:] = True

    rows = k * R
    if seed is None or isinstance(seed, numbers.Integral):
        seed_col = pd.array([seed] * rows, dtype="Int64")  # nullable int: None -> <NA>
    else:
        seed_col = [seed] * rows
    table = {"n": np.repeat(sizes, R), "ridge": np.tile(ridges, k)}
    for name in ("test_error", "train_error", "loo", "gcv", "validation"):
        table[name] = (errors[name] / normalizer).ravel()
    table.update(selected=selected.ravel(), seed=seed_col, method=method)
    return pd.DataFrame(table)
