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

from .._products import gram_product
from ..targets import harmonic_dimension

__all__ = [
    "SPECTRAL_FACTOR",
    "spectral_n_centers",
    "select_centers",
    "approximate_leverage_scores",
    "NystromPreconditioner",
    "FalkonPreconditioner",
    "jittered_cholesky",
]


def jittered_cholesky(K, *, what="K_CC"):
    """Upper Cholesky factor T of ``K + jitter I`` with K = T^T T, raising the jitter until it works.

    Kernel matrices of centres are often numerically singular (close or repeated points, or a
    low-rank random-feature kernel). The jitter starts at ``1e-12 * mean(diag K)`` (never more
    than a relative perturbation the solver's tolerance could notice) and grows by 100 up to
    ``1e-4``; beyond that the matrix is not a kernel matrix.
    """
    K = np.asarray(K, dtype=np.float64)
    scale = float(np.mean(np.diag(K))) if K.shape[0] else 1.0
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{what} has a non-positive or non-finite diagonal (mean {scale!r}); "
                         "the kernel is not positive definite on the centres")
    jitter = 1e-12 * scale
    eye = np.eye(K.shape[0])
    while jitter <= 1e-4 * scale:
        try:
            return scipy.linalg.cholesky(K + jitter * eye, lower=False, check_finite=False), jitter
        except np.linalg.LinAlgError:
            jitter *= 100.0
    raise np.linalg.LinAlgError(
        f"{what} ({K.shape[0]} x {K.shape[0]}) is not positive definite even with jitter "
        f"{jitter / 100:.3g}; is the kernel positive semi-definite?")


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
    T, _ = jittered_cholesky(K_JJ + ridge * (s / n) * np.eye(s), what="K_JJ + ridge (s/n) I")
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

    The n x M matrix U is kept only when ``cache`` is true (the caller decides from its memory
    budget); otherwise each application streams K[rows, C] twice (2 n M kernel evaluations,
    small next to the n^2 of one product with K) and solves with T once each way.

    Parameters
    ----------
    T : ndarray (M, M), upper Cholesky factor of K_CC (+ jitter)
    nm_blocks : callable() -> iterable of (rows slice, K[rows, C])
    n : int
    ridge : float > 0
    cache : bool
    """

    def __init__(self, T, nm_blocks, n, ridge, *, cache):
        self.T = T
        self.ridge = float(ridge)
        self._nm_blocks = nm_blocks
        self.n = n
        M = T.shape[0]
        self.U = np.empty((n, M)) if cache else None
        G = np.zeros((M, M))
        for rows, K_bC in nm_blocks():
            U_b = self._u_block(K_bC)
            if self.U is not None:
                self.U[rows] = U_b
            G += U_b.T @ U_b
        G[np.diag_indices_from(G)] += self.ridge
        self.R, _ = jittered_cholesky(G, what="ridge I + U^T U")

    def _u_block(self, K_bC):
        # U_b = K_bC T^{-1}  <=>  T^T U_b^T = K_bC^T
        return scipy.linalg.solve_triangular(self.T, K_bC.T, trans="T", lower=False,
                                             check_finite=False).T

    def __call__(self, r):
        if self.U is not None:
            Utr = self.U.T @ r
        else:
            # U^T r = T^{-T} (K_nC^T r): stream the blocks for K_nC^T r (n M flops), then one
            # triangular solve (M^2), not one per block (n M^2 flops: 136 s per CG iteration
            # at n = 100 000, M = 10 362, where this takes a few seconds)
            kr = np.zeros(self.T.shape[0])
            for rows, K_bC in self._nm_blocks():
                kr += K_bC.T @ r[rows]
            Utr = scipy.linalg.solve_triangular(self.T, kr, trans="T", lower=False,
                                                check_finite=False)
        s = scipy.linalg.cho_solve((self.R, False), Utr, check_finite=False)
        if self.U is not None:
            return (r - self.U @ s) / self.ridge
        out = r.copy()
        # U s = K_nC (T^{-1} s)
        w = scipy.linalg.solve_triangular(self.T, s, lower=False, check_finite=False)
        for rows, K_bC in self._nm_blocks():
            out[rows] -= K_bC @ w
        out /= self.ridge
        return out


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
        self.A, _ = jittered_cholesky(inner, what="(n/M) T T^T + ridge I")

    def apply(self, v):
        w = scipy.linalg.solve_triangular(self.A, v, lower=False, check_finite=False)
        return scipy.linalg.solve_triangular(self.T, w, lower=False, check_finite=False)

    def apply_t(self, v):
        w = scipy.linalg.solve_triangular(self.T, v, trans="T", lower=False, check_finite=False)
        return scipy.linalg.solve_triangular(self.A, w, trans="T", lower=False, check_finite=False)
