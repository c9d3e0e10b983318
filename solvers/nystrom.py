"""Nystrom centres and the preconditioners built from them.

Two preconditioners share one set of centres C (a subset of the training points, indices
``centers``) and the blocks K[rows, C]:

- :class:`NystromPreconditioner` approximates the full system matrix K + ridge I by
  K_nC K_CC^{-1} K_Cn + ridge I (the "Nystrom preconditioner" of Frangella, Tropp and Udell,
  SIAM J. Matrix Anal. Appl. 2023, with column sampling as in Falkon) and applies its inverse by
  the Woodbury identity. Used by the exact solver (``method="exact"``).
- :class:`FalkonPreconditioner` is Falkon's B = T^{-1} A^{-1} (Rudi, Carratino, Rosasco,
  NeurIPS 2017), with K_CC = T^T T and A^T A = (n/M) T T^T + ridge I, so that
  B B^T = ((n/M) K_CC^2 + ridge K_CC)^{-1} approximates the inverse of the Nystrom normal
  matrix K_Cn K_nC + ridge K_CC. Used by ``method="nystrom"``.

Centres are drawn uniformly without replacement or by approximate ridge leverage scores
(:func:`select_centers`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.linalg import blas as _blas, lapack as _lapack

from .._products import gram_product, syrk_update
from ..targets import harmonic_dimension
from .linalg import cho_factor

__all__ = [
    "SPECTRAL_FACTOR",
    "spectral_n_centers",
    "select_centers",
    "approximate_leverage_scores",
    "NystromPreconditioner",
    "FalkonPreconditioner",
    "jittered_cholesky",
]


def jittered_cholesky(K, *, what="K_CC", overwrite=False):
    """Upper Cholesky factor T of ``K + jitter I`` with K = T^T T, raising the jitter until it works.

    Kernel matrices of centres are often numerically singular (close or repeated points, or a
    low-rank random-feature kernel). The jitter starts at ``1e-12 * mean(diag K)`` (never more
    than a relative perturbation the solver's tolerance could notice) and grows by 100 up to
    ``1e-4``; beyond that the matrix is not a kernel matrix. Only the upper triangle of K is
    read (and its diagonal for the scale). Factored by
    :func:`hierlearn.solvers.linalg.cho_factor` (safe from OpenBLAS's large threaded dpotrf
    crash); T is C-ordered with zeros below the diagonal.

    ``overwrite=True`` (K a C-ordered float64 array the caller gives up) factors in place: no
    M x M copy, whose fresh pages can cost more than the factorisation on a virtual machine
    (7 s for M = 10 362, measured 2026-12-02). The lower triangle of K must then hold the
    matrix too (a failed attempt restores the upper one from it).
    """
    K = np.asarray(K, dtype=np.float64)
    diag = np.diag(K).copy()  # the scale, and what a failed in-place attempt restores
    scale = float(np.mean(diag)) if K.shape[0] else 1.0
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{what} has a non-positive or non-finite diagonal (mean {scale!r}); "
                         "the kernel is not positive definite on the centres")
    in_place = overwrite and K.flags.c_contiguous
    jitter = 1e-12 * scale
    while jitter <= 1e-4 * scale:
        try:
            T, _ = cho_factor(K, lower=False, overwrite_a=in_place, check_finite=False,
                              shift=jitter, warn_rcond=False)
        except np.linalg.LinAlgError:
            if in_place:
                _mirror_lower_to_upper(K)
                K[np.diag_indices_from(K)] = diag
            jitter *= 100.0
            continue
        _zero_strict_lower(T)
        return T, jitter
    raise np.linalg.LinAlgError(
        f"{what} ({K.shape[0]} x {K.shape[0]}) is not positive definite even with jitter "
        f"{jitter / 100:.3g}; is the kernel positive semi-definite?")


def _zero_strict_lower(T, block=512):
    """Zero the strict lower triangle of the C-ordered T in place, by column blocks of its
    F-ordered transpose (no M x M temporary)."""
    L = T.T
    for j in range(0, L.shape[1], block):
        e = min(j + block, L.shape[1])
        L[:e, j:e] = np.tril(L[:e, j:e], -j)


def _mirror_lower_to_upper(K, block=512):
    """K[i, j] = K[j, i] for i < j, in place, by row blocks (no M x M temporary)."""
    for i in range(0, K.shape[0], block):
        e = min(i + block, K.shape[0])
        D = K[i:e, i:e]
        D[...] = np.tril(D) + np.tril(D, -1).T
        K[i:e, e:] = K[e:, i:e].T


def approximate_leverage_scores(X, kernel, ridge, *, n_pilot, seed, nm_blocks_factory):
    """Approximate ridge leverage scores l_i = [K (K + ridge I)^{-1}]_ii.

    Two-stage estimate of Rudi, Calandriello, Carratino and Rosasco ("On fast leverage score
    sampling and optimal learning", NeurIPS 2018): with a uniform pilot set J of size s,

        l_i ~ (K_ii - K_iJ (K_JJ + ridge (s/n) I)^{-1} K_Ji) / ridge,

    which reads off the residual of projecting x_i's feature onto the pilot span; the factor
    s/n compensates the uniform sampling. Costs n * s kernel evaluations and O(s^3).

    Parameters
    ----------
    X : ndarray (n, d)
    kernel : kernel adapter (see ``solvers.pcg.as_kernel``)
    ridge : float > 0
    n_pilot : int
    seed : int, Generator or None
    nm_blocks_factory : callable(idx) -> iterable of (rows slice, K[rows, idx])
        Blocked evaluation of K[:, idx] under the caller's memory budget.

    Returns
    -------
    scores : ndarray (n,), positive
    """
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    pilot = np.sort(rng.choice(n, size=min(n_pilot, n), replace=False))
    s = pilot.size
    K_JJ = kernel(X[pilot], X[pilot])
    K_JJ[np.diag_indices_from(K_JJ)] += ridge * (s / n)
    T, _ = jittered_cholesky(K_JJ, what="K_JJ + ridge (s/n) I", overwrite=True)
    diag = kernel.diag(X)
    quad = np.empty(n)
    for rows, K_bJ in nm_blocks_factory(pilot):
        # ||T^{-T} K_Jb||^2 per row = K_bJ (K_JJ + c I)^{-1} K_Jb diagonal.
        Z = scipy.linalg.solve_triangular(T, K_bJ.T, trans="T", lower=False, check_finite=False)
        quad[rows] = np.einsum("ij,ij->j", Z, Z)
    scores = (diag - quad) / ridge
    # Rounding can make the residual slightly negative for pilot points; keep every point drawable.
    floor = 1e-12 * max(float(np.max(scores)), 1e-300)
    return np.maximum(scores, floor)



def check_n_centers(n_centers, X):
    """Validate a number of Nystrom centres for the rows of ``X``: an int in [1, n]."""
    n = X.shape[0]
    if isinstance(n_centers, (bool, np.bool_)) or not isinstance(n_centers, (int, np.integer)):
        raise TypeError(f"n_centers must be an int, got {type(n_centers).__name__}")
    if n_centers < 1:
        raise ValueError(f"n_centers must be >= 1 (no centres, no preconditioner), got {n_centers}")
    if n_centers > n:
        raise ValueError(f"n_centers={n_centers} exceeds the number of samples n={n} "
                         f"(X has shape {X.shape})")


#: Centres sized to the spectrum capture every Gram eigenvalue above this multiple of the
#: ridge, which leaves the preconditioned system a condition number of about 1 + SPECTRAL_FACTOR.
SPECTRAL_FACTOR = 10.0


def spectral_n_centers(kernel, d: int, n: int, ridge: float, *,
                       factor: float = SPECTRAL_FACTOR) -> tuple[int, float]:
    """Nystrom centres a dot-product kernel's spectrum asks for at this ridge, and what is left.

    On S^(d-1) a dot-product kernel has Funk-Hecke eigenvalues mu_l with multiplicity N(d, l)
    (``kernel.eigenvalues``), and the Gram matrix of n uniform points has about N(d, l)
    eigenvalues near ``n mu_l``. A Nystrom preconditioner of rank M leaves conjugate gradients
    a condition number of about ``1 + lambda_{M+1} / ridge`` (Rudi, Carratino and Rosasco
    2017; Frangella, Tropp and Udell 2023), so M should cover every eigenvalue above
    ``factor * ridge``: the sum of N(d, l) over those levels (at most n).

    Returns
    -------
    n_centers : int
        That count, between 1 and n.
    next_eigenvalue : float
        The largest Gram eigenvalue ``n mu_l`` left out (0 when every level is covered), for
        estimating the condition number a smaller M leaves.
    """
    if not hasattr(kernel, "eigenvalues"):
        raise TypeError(f"n_centers='spectrum' needs a dot-product kernel with eigenvalues "
                        f"(NTK, QuadKernel, ...), got {type(kernel).__name__}")
    levels, total = [], 0
    while total < n:  # every level that can hold one of the n Gram eigenvalues
        levels.append(harmonic_dimension(d, len(levels)))
        total += levels[-1]
    levels.append(harmonic_dimension(d, len(levels)))  # one more: odd levels may vanish
    mu = np.asarray(kernel.eigenvalues(d, len(levels) - 1), dtype=np.float64)
    gram = n * mu
    keep = gram > factor * ridge
    count = int(min(n, max(1, np.sum(np.asarray(levels)[keep]))))
    left = gram[~keep]
    return count, float(left.max()) if left.size else 0.0


def select_centers(X, n_centers, *, kernel=None, ridge=None, method="uniform", seed=None,
                   n_pilot=None, nm_blocks_factory=None):
    """Indices of Nystrom centres among the rows of X.

    Parameters
    ----------
    X : ndarray (n, d)
    n_centers : int, 1 <= n_centers <= n
    method : {"uniform", "leverage"}
        ``"uniform"``: without replacement. ``"leverage"``: without replacement with probability
        proportional to approximate ridge leverage scores (:func:`approximate_leverage_scores`),
        which puts centres where the kernel's feature space is least covered.
    kernel, ridge, n_pilot, nm_blocks_factory
        Needed for ``"leverage"`` only; ``n_pilot`` defaults to ``min(n, 2 * n_centers)``.
    seed : int, Generator or None
        Same seed, same centres.

    Returns
    -------
    ndarray of int64, sorted, shape (n_centers,)
    """
    n = X.shape[0]
    check_n_centers(n_centers, X)
    rng = np.random.default_rng(seed)
    if method == "uniform":
        return np.sort(rng.choice(n, size=n_centers, replace=False)).astype(np.int64)
    if method == "leverage":
        if kernel is None or ridge is None or nm_blocks_factory is None:
            raise ValueError("centers='leverage' needs kernel, ridge and nm_blocks_factory")
        if n_centers == n:
            return np.arange(n, dtype=np.int64)
        pilot_seed, draw_seed = rng.integers(0, 2**63 - 1, size=2)
        scores = approximate_leverage_scores(
            X, kernel, ridge, n_pilot=n_pilot or min(n, 2 * n_centers), seed=int(pilot_seed),
            nm_blocks_factory=nm_blocks_factory)
        p = scores / scores.sum()
        draw = np.random.default_rng(int(draw_seed)).choice(n, size=n_centers, replace=False, p=p)
        return np.sort(draw).astype(np.int64)
    raise ValueError(f"centers must be 'uniform' or 'leverage', got {method!r}")


class NystromPreconditioner:
    """Inverse of P = U U^T + ridge I with U = K_nC T^{-1} (K_CC = T^T T), by Woodbury.

    P^{-1} r = (r - U (ridge I + U^T U)^{-1} U^T r) / ridge.

    Setup streams the blocks K[rows, C] once: ``U_b^T = T^{-T} K_Cb`` in place (``dtrsm``) and
    ``U^T U += U_b^T U_b`` (``dsyrk``), 2 n M^2 flops. The n x M matrix U is kept only when
    ``cache`` is true (the caller decides from its memory budget); otherwise each application
    computes ``U^T r = T^{-T} (K_Cn r)`` and ``U s = K_nC (T^{-1} s)`` with the kernel's own
    products ``cross`` (2 n M kernel evaluations, small next to the n^2 of one product with K)
    and one triangular solve each way.

    Parameters
    ----------
    T : ndarray (M, M), upper Cholesky factor of K_CC (+ jitter), zeros below the diagonal
    nm_blocks : callable() -> iterable of (rows slice, K[rows, C])
        Used once, at setup; each block is overwritten (solved in place), so it may be a
        buffer the next block reuses but not a view of anything the caller keeps.
    n : int
    ridge : float > 0
    cache : bool
    cross : (callable, callable), optional
        ``(w -> K_nC w, r -> K_Cn r)``; required when ``cache`` is false.
    """

    def __init__(self, T, nm_blocks, n, ridge, *, cache, cross=None):
        if not cache and cross is None:
            raise ValueError("an uncached NystromPreconditioner needs the products cross")
        self.T = T
        self._L = np.asfortranarray(T.T)  # lower, F-ordered: BLAS reads it without a copy
        self.ridge = float(ridge)
        self._cross = cross
        self.n = n
        M = T.shape[0]
        self.U = np.empty((n, M)) if cache else None
        G = np.zeros((M, M), order="F")
        for rows, K_bC in nm_blocks():
            # K_bC^T is (M, b) F-ordered for a C-ordered block: solved and accumulated in place
            Ut = _blas.dtrsm(1.0, self._L, K_bC.T, lower=1, overwrite_b=1)
            if self.U is not None:
                self.U[rows] = Ut.T
            G = syrk_update(Ut, G)
        # dsyrk filled the upper triangle of the F-ordered G: the lower one of the C-ordered G.T
        G = G.T
        _mirror_lower_to_upper(G)
        G[np.diag_indices_from(G)] += self.ridge
        self.R, _ = jittered_cholesky(G, what="ridge I + U^T U", overwrite=True)
        self._Rl = self.R.T  # F-ordered lower factor: dpotrs reads it without a copy

    def __call__(self, r):
        if self.U is not None:
            Utr = self.U.T @ r
        else:
            # U^T r = T^{-T} (K_Cn r): one triangular solve (M^2), not one per block
            Utr = _blas.dtrsv(self._L, self._cross[1](r), lower=1)
        s, info = _lapack.dpotrs(self._Rl, Utr, lower=1)
        if info != 0:  # pragma: no cover - argument error, cannot happen here
            raise ValueError(f"illegal value in argument {-info} of dpotrs")
        if self.U is not None:
            return (r - self.U @ s) / self.ridge
        # U s = K_nC (T^{-1} s)
        w = _blas.dtrsv(self._L, s, lower=1, trans=1)
        return (r - self._cross[0](w)) / self.ridge


class FalkonPreconditioner:
    """Falkon's preconditioner B = T^{-1} A^{-1}, B B^T = ((n/M) K_CC^2 + ridge K_CC)^{-1}.

    T is the upper Cholesky factor of K_CC and A the upper Cholesky factor of
    (n/M) T T^T + ridge I (Rudi, Carratino, Rosasco 2017, Alg. 1, with their lambda n written
    as our ridge). ``apply(v) = B v`` and ``apply_t(v) = B^T v``.
    """

    def __init__(self, T, n, ridge):
        M = T.shape[0]
        self.T = T
        inner = (n / M) * gram_product(T)
        inner[np.diag_indices_from(inner)] += ridge
        self.A, _ = jittered_cholesky(inner, what="(n/M) T T^T + ridge I", overwrite=True)

    def apply(self, v):
        w = scipy.linalg.solve_triangular(self.A, v, lower=False, check_finite=False)
        return scipy.linalg.solve_triangular(self.T, w, lower=False, check_finite=False)

    def apply_t(self, v):
        w = scipy.linalg.solve_triangular(self.T, v, trans="T", lower=False, check_finite=False)
        return scipy.linalg.solve_triangular(self.A, w, trans="T", lower=False, check_finite=False)
