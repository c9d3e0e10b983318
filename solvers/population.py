"""Exact population test error of a dot-product kernel predictor on the sphere.

For a kernel k(x, y) = kappa(x.y) = sum_l mu_l N(d, l) P_l(x.y) on S^(d-1) (P_l the Gegenbauer
polynomial with P_l(1) = 1, mu_l >= 0 its eigenvalue of multiplicity N(d, l), docs/math.md,
section 6), a target f* = sum_l f*_l with known harmonic parts (``targets.LowRankPolynomial``)
and a predictor f_hat = sum_i a_i k(x_i, .), the addition theorem
E_x[P_l(u.x) P_k(v.x)] = delta_lk P_l(u.v) / N(d, l) gives the error degree by degree::

    E_x (f_hat - f*)^2 = sum_l e_l,   e_l = ||P_l f_hat - f*_l||^2
                       = mu_l^2 N_l a'P_l(XX')a - 2 mu_l a'f*_l(X) + ||f*_l||^2.

Summed over l this is a'Ma - 2a'b + ||f*||^2 with M_ij = sum_l N_l mu_l^2 P_l(x_i.x_j) and
b_i = sum_l mu_l f*_l(x_i). Summed naively it loses digits: the three terms are O(1) while
their sum (the error) is small, and each term is a sum of products of large coefficients a_i
(||a|| ~ 1e5 for smooth kernels at ridge 1e-6) whose rounding is ``eps |a|' |M| |a|``.

Stable formulation used here (every term is a square of a difference or a PSD form):

* **The lowest degrees** (0, 1, 2, ... while their total dimension sum N(d, l) fits
  ``feature_max``: the degrees with the largest eigenvalues, where the cancellation is
  worst): explicit features.
  With m = 2 N_l points z_k on the sphere (a fixed seed per (d, l)) and the eigendecomposition
  P_l(ZZ') = V S V', the map psi(x) = S_N^(-1/2) V_N' P_l(Z x) (top N_l eigenpairs; the rest
  vanish because the zonal functions P_l(z_k . x) span the N_l-dimensional degree-l space)
  satisfies psi(x).psi(y) = P_l(x.y). Then P_l f_hat = mu_l N_l (Psi'a).psi and
  f*_l = (sum_s w_s psi(u_s)).psi with f*_l(x) = sum_s w_s P_l(u_s.x) (the target's zonal
  weights), so ``e_l = ||mu_l N_l Psi'a - sum_s w_s psi(u_s)||^2 / N_l``: the difference of
  two N_l-vectors is formed first, then squared. Rounding enters as ``eps |Psi|' |a|`` (not its
  square), as in a Monte Carlo estimate, but without sampling error.
* **The other degrees**: one PSD form a'M_Q a with
  M_Q = sum_{l in Q} N_l mu_l^2 P_l(XX') built in one pass (numba), minus 2 a'b_Q plus
  ||f*_Q||^2 for the target's degrees among them. Their eigenvalues are small
  (mu_l N_l <= kappa(1)), so ``eps |a|' |M_Q| |a|`` stays far below the error; the result carries
  an estimate of that rounding (``rounding``).
* **Degrees above L = len(kernel_eigenvalues) - 1** are dropped with a rigorous bound:
  their contribution is sum_{l>L} N_l mu_l^2 a'P_l a <= S_L ``||a||_1^2`` (``|P_l| <= 1`` on [-1, 1]),
  S_L = sum_{l>L} N_l mu_l^2 (``tail_power``; from ``tail_trace`` T_L = sum_{l>L} N_l mu_l =
  kappa(1) - sum_{l<=L} N_l mu_l one gets S_L <= T_L^2 / N(d, L+1), since N(d, l) is
  non-decreasing in l). The target has no degree above L, so the exact error lies in
  [error, error + truncation_bound].

Accuracy (measured 2026-12, this machine). Against the naive sum evaluated in 80-bit extended
precision (np.longdouble, ``tests/test_population.py``), softplus NTK, noise-free degree-4
target, ridges 1e-6, 1e-9 and 0 (||a|| ~ 5e4 to 9e4): relative error 4e-9 to 1e-8 at d = 10,
n = 2000 and 1.4e-9 to 2e-9 at d = 12, n = 2500, where the naive float64 sum is off by
1.3e-6 to 1.4e-5; the residual is the problem's own conditioning (moving the float64 points
onto the sphere within their rounding changes the error by as much). Against Monte Carlo with
10^6 test points (d = 10, n = 2000, ridges 1e-6 and 1, relu NTK, K_Q with relu^2, softplus
NTK, shifted-sigmoid K_Q; ``python -m hierlearn.bench.population_check``): every ``|z| < 2``.
Cost at n = 6000, d = 12 (relu NTK, L = 40): building 0.4x one Cholesky of the Gram,
evaluating 7 coefficient vectors 0.13x (same run).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .._memory import check_budget, check_memory
from .._products import gram_product
from .._validation import check_array, check_float, check_int, check_vector
from ..targets import LowRankPolynomial, gegenbauer, harmonic_dimension, sample_inputs

__all__ = ["PopulationError", "PopulationErrorResult", "population_error"]

_U = np.finfo(float).eps / 2  # unit roundoff
_UNIT_TOL = 1e-10  # |x| must be 1 within this (sample_inputs gives 1e-15)


class PopulationErrorResult(NamedTuple):
    """Population error of one or several predictors (arrays of shape (k,), or floats).

    Attributes
    ----------
    error : ndarray or float
        E_x (f_hat - f*)^2 over the degrees 0..L (not normalised by Var f*). The exact error
        lies in [error, error + truncation_bound] up to ``rounding``.
    truncation_bound : ndarray or float
        Rigorous bound on the dropped degrees' contribution, S_L ||a||_1^2.
    rounding : ndarray or float
        Estimate of the floating-point error of ``error`` ((sqrt(n) + L) u times the sums
        of absolute values of the terms; an estimate, not a bound).
    """

    error: np.ndarray
    truncation_bound: np.ndarray
    rounding: np.ndarray


@njit(cache=True, inline="always")
def _fill_row(T, r, j0, coef, ra, rb, i0, mirror):  # pragma: no cover - compiled
    n = T.shape[1]
    L = coef.shape[0] - 1
    for j in range(j0, n):
        t = T[r, j]
        if i0 + r == j:
            t = 1.0
        elif t > 1.0:
            t = 1.0
        elif t < -1.0:
            t = -1.0
        p0 = 1.0
        acc = coef[0]
        if L >= 1:
            p1 = t
            acc += coef[1] * t
            for k in range(1, L):
                p2 = ra[k] * t * p1 - rb[k] * p0
                acc += coef[k + 1] * p2
                p0 = p1
                p1 = p2
        T[r, j] = acc
        if mirror:
            T[j, r] = acc


@njit(parallel=True, cache=True)
def _zonal_fill(T, coef, ra, rb, i0, symmetric):  # pragma: no cover - compiled
    """Replace inner products t in T by sum_l coef[l] P_l(t), in place.

    Row r of T holds x_(i0 + r) . x_j; the diagonal (j == i0 + r) is taken as t = 1.
    ``symmetric``: T is the whole square matrix; only j >= i is computed and mirrored
    (rows paired i, n - 1 - i so the threads get equal work).
    """
    rows = T.shape[0]
    if symmetric:
        for q in prange((rows + 1) // 2):
            _fill_row(T, q, q, coef, ra, rb, 0, True)
            r2 = rows - 1 - q
            if r2 != q:
                _fill_row(T, r2, r2, coef, ra, rb, 0, True)
    else:
        for r in prange(rows):
            _fill_row(T, r, 0, coef, ra, rb, i0, False)


def _recurrence(d: int, L: int):
    k = np.arange(max(L, 1), dtype=float)
    ra = (2 * k + d - 2) / np.maximum(k + d - 2, 1)
    rb = k / np.maximum(k + d - 2, 1)
    return ra, rb


def zonal_matrix(X, Y, coef, *, symmetric=False, i0=0) -> np.ndarray:
    """sum_l coef[l] P_l(x_i . y_j) for unit rows of X and Y (rows i0 + r of a square matrix
    when ``Y`` is the whole sample: its diagonal entries use t = 1 exactly)."""
    d = X.shape[1]
    coef = np.ascontiguousarray(coef, dtype=float)
    ra, rb = _recurrence(d, coef.size - 1)
    T = np.ascontiguousarray(X @ Y.T)
    _zonal_fill(T, coef, ra, rb, i0, symmetric)
    return T


@functools.lru_cache(maxsize=32)
def _harmonic_basis(d: int, l: int) -> tuple[np.ndarray, np.ndarray]:
    """Points Z (m, d) and W (m, N) with psi(x) = W' P_l(Z x), psi(x).psi(y) = P_l(x.y)."""
    N = harmonic_dimension(d, l)
    for attempt in range(3):
        m = 2 * N + 2 + attempt * N
        ss = np.random.SeedSequence([0x5EED, d, l, attempt])
        Z = sample_inputs(m, d, seed=ss)
        G = gegenbauer(l, d, np.clip(gram_product(Z), -1.0, 1.0))
        s, V = np.linalg.eigh(G)
        s, V = s[::-1], V[:, ::-1]
        # the zonal functions span exactly N dimensions: a clean gap after the N-th eigenvalue
        if s[N - 1] > 1e-6 * s[0] and s[N] < 1e-9 * s[0]:
            W = V[:, :N] / np.sqrt(s[:N])
            Z.setflags(write=False)
            W.setflags(write=False)
            return Z, W
    raise FloatingPointError(  # pragma: no cover - never seen for d >= 2
        f"could not build an orthonormal basis of degree-{l} harmonics on S^{d - 1}")


def _features(X, d, l):
    Z, W = _harmonic_basis(d, l)
    return gegenbauer(l, d, np.clip(X @ Z.T, -1.0, 1.0)) @ W


def _check_unit_rows(X, name="X"):
    dev = np.abs(np.einsum("ij,ij->i", X, X) - 1.0)
    if dev.size and dev.max() > _UNIT_TOL:
        i = int(np.argmax(dev))
        raise ValueError(f"{name} must hold unit vectors (points on the sphere); row {i} has "
                         f"squared norm {1 + dev[i]:.6g}")


def _check_eigenvalues(mu, degree):
    arr = np.asarray(mu)
    if arr.ndim != 1:
        raise ValueError(f"kernel_eigenvalues must be 1-d (mu_0..mu_L), got shape {arr.shape}")
    mu = check_vector(arr, "kernel_eigenvalues", arr.shape[0])
    if mu.size < degree + 1:
        raise ValueError(f"kernel_eigenvalues must cover the target's degrees 0..{degree}, "
                         f"got {mu.size} values")
    scale = float(np.max(np.abs(mu))) if mu.size else 0.0
    bad = np.flatnonzero(mu < -1e-12 * max(scale, 1e-300))
    if bad.size:
        raise ValueError(f"kernel_eigenvalues must be >= 0 (a positive-definite dot-product "
                         f"kernel); degree {int(bad[0])} has {mu[bad[0]]:.3g}")
    return np.maximum(mu, 0.0)


def _tail_power(tail_trace, tail_power, N_next):
    if tail_power is not None:
        return check_float(tail_power, "tail_power", minimum=0.0)
    if tail_trace is not None:
        T = check_float(tail_trace, "tail_trace", minimum=0.0)
        return T * T / N_next
    raise ValueError("pass tail_trace (kappa(1) - sum_{l<=L} N(d,l) mu_l) or tail_power "
                     "(sum_{l>L} N(d,l) mu_l^2) to bound the dropped degrees; 0 for a kernel "
                     "with no degree above L")


class PopulationError:
    """Exact population error E_x (f_hat - f*)^2 of predictors f_hat = sum_i a_i k(x_i, .).

    Built once per training sample (the expensive parts: explicit harmonic features of the
    low degrees and the matrix M_Q of the others, at the largest n), then evaluated for any
    prefix ``X[:n]`` and any number of coefficient vectors: the ``error=callable(alpha, n)``
    hook of :func:`solvers.learning_curve`. See the module docstring for the formulation.

    Parameters
    ----------
    X : (n_max, d) array_like
        Training inputs on the unit sphere, in sample order (prefix ``X[:n]`` for size n).
    kernel_eigenvalues : (L + 1,) array_like
        mu_0..mu_L of the dot-product kernel (``bench.theory.kernel_spectrum``); >= 0.
    target : targets.LowRankPolynomial
        With ``distribution="sphere"`` and degree <= L.
    tail_trace, tail_power : float, optional
        T_L = sum_{l>L} N mu_l or S_L = sum_{l>L} N mu_l^2 (one is required; 0 when the
        kernel has no degree above L). ``tail_power`` wins when both are given.
    feature_max : int, default=1024
        Total dimension of the explicit features: degrees 0, 1, ... (those with mu_l > 0)
        use them while sum N(d, l) <= feature_max (e.g. degrees 0..4 at d = 10, 0..3 at
        d = 16, 0..6 at d = 6); 0 puts every degree in the matrix form.
    memory_budget : int, optional
        Bytes for M_Q at n_max; default half the available memory. Beyond it, M_Q is
        recomputed in row blocks at every call (slower, same numbers).

    Attributes
    ----------
    feature_degrees_, matrix_degrees_ : list of int
        Degrees evaluated by features and by the matrix M_Q.
    tail_power_ : float
        S_L used by the truncation bound.
    """

    def __init__(self, X, kernel_eigenvalues, target, *, tail_trace=None, tail_power=None,
                 feature_max=1024, memory_budget=None):
        X = check_array(X, "X")
        _check_unit_rows(X)
        if not isinstance(target, LowRankPolynomial):
            raise TypeError(f"target must be a targets.LowRankPolynomial, got {type(target).__name__}")
        if target.distribution != "sphere":
            raise ValueError(f"the population error is exact on the sphere only; target has "
                             f"distribution={target.distribution!r}")
        d = X.shape[1]
        if target.d != d:
            raise ValueError(f"X has {d} features but the target was built for d={target.d}")
        if d < 2:
            raise ValueError("d must be >= 2")
        mu = _check_eigenvalues(kernel_eigenvalues, target.degree)
        L = mu.size - 1
        self.feature_max = check_int(feature_max, "feature_max", minimum=0)
        N = [harmonic_dimension(d, l) for l in range(L + 2)]
        self.tail_power_ = _tail_power(tail_trace, tail_power, float(N[L + 1]))
        self.X, self.d, self.L, self.mu, self.target = X, d, L, mu, target
        self.n_max = X.shape[0]
        U = target.directions
        w = {l: target.zonal_coefficients(l) for l in range(target.degree + 1)}
        norms = {l: float(w[l] @ gegenbauer(l, d, np.clip(gram_product(U), -1, 1)) @ w[l]) / N[l]
                 for l in w if np.any(w[l])}
        self.unlearnable_ = float(sum(v for l, v in norms.items() if mu[l] == 0))
        # features for the lowest degrees (largest eigenvalues, worst cancellation) while
        # their total dimension fits feature_max; the matrix form for the rest
        self.feature_degrees_, used = [], 0
        for l in range(L + 1):
            if mu[l] > 0:
                if used + N[l] > self.feature_max:
                    break
                self.feature_degrees_.append(l)
                used += N[l]
        self.matrix_degrees_ = [l for l in range(L + 1)
                                if mu[l] > 0 and l not in self.feature_degrees_]
        self._features = []
        for l in self.feature_degrees_:
            beta = np.zeros(N[l])
            if l in norms:
                beta = _features(U, d, l).T @ w[l]
            self._features.append((l, float(N[l]), _features(X, d, l), beta))
        Q = self.matrix_degrees_
        self._coef = np.zeros((max(Q) + 1) if Q else 0)
        for l in Q:
            self._coef[l] = float(N[l]) * mu[l] ** 2
        self._b = np.zeros(self.n_max)
        self._c = 0.0
        for l in Q:
            if l in norms:
                self._b += mu[l] * target.harmonic_component(X, l)
                self._c += norms[l]
        self._M = None
        self._block_budget = check_budget(None)
        if Q:
            try:
                check_memory(self.n_max, copies=1, budget=memory_budget,
                             name="population-error matrix M_Q")
            except MemoryError:
                self._block_budget = check_budget(memory_budget) if memory_budget else self._block_budget
            else:
                self._M = zonal_matrix(X, X, self._coef, symmetric=True)

    # -- evaluation ---------------------------------------------------------------------
    def __call__(self, alpha, n=None):
        """The error only (the learning-curve hook): float for 1-d ``alpha``, else (k,)."""
        return self.evaluate(alpha, n).error

    def evaluate(self, alpha, n=None) -> PopulationErrorResult:
        """Error, truncation bound and rounding estimate for coefficients on ``X[:n]``.

        Parameters
        ----------
        alpha : (n,) or (n, k) array_like
            Dual coefficients a (one column per predictor, e.g. per ridge).
        n : int, optional
            Prefix size; default ``alpha.shape[0]``.
        """
        arr = np.asarray(alpha)
        n = check_int(arr.shape[0] if n is None and arr.ndim else n, "n", minimum=1,
                      maximum=self.n_max)
        A = check_vector(alpha, "alpha", n, allow_2d=True)
        one = A.ndim == 1
        A = A.reshape(n, -1)
        err = np.full(A.shape[1], self.unlearnable_)
        rnd = np.zeros(A.shape[1])
        for l, N, Psi, beta in self._features:
            e, r = self._feature_term(Psi[:n], N, self.mu[l], beta, A, l)
            err += e
            rnd += r
        if self._coef.size:
            e, r = self._matrix_term(A, n)
            err += e
            rnd += r
        bound = self.tail_power_ * np.abs(A).sum(axis=0) ** 2
        if one:
            return PopulationErrorResult(float(err[0]), float(bound[0]), float(rnd[0]))
        return PopulationErrorResult(err, bound, rnd)

    def _feature_term(self, Psi, N, mu, beta, A, l):
        c = (mu * N) * (Psi.T @ A)
        D = c - beta[:, None]
        e = np.einsum("ij,ij->j", D, D) / N
        # rounding of each component: the sum over i and the features' own error
        dD = ((math.sqrt(Psi.shape[0]) + l + 4) * _U) * ((mu * N) * (np.abs(Psi).T @ np.abs(A))
                                                      + np.abs(beta)[:, None])
        r = (2 * np.sqrt(np.einsum("ij,ij->j", D, D) * np.einsum("ij,ij->j", dD, dD))
             + np.einsum("ij,ij->j", dD, dD)) / N
        return e, r

    def _matrix_term(self, A, n):
        b = self._b[:n]
        absA = np.abs(A)
        if self._M is not None:
            M = self._M[:n, :n]
            MA = M @ A
            absM = np.zeros_like(A)
            step = max(1, self._block_budget // (8 * n))
            for i0 in range(0, n, step):
                absM[i0:i0 + step] = np.abs(M[i0:i0 + step]) @ absA
        else:
            MA, absM = self._blocked_products(A, absA, n)
        quad = np.einsum("ij,ij->j", A, MA)
        cross = b @ A
        e = quad - 2 * cross + self._c
        scale = np.einsum("ij,ij->j", absA, absM) + 2 * (np.abs(b) @ absA) + self._c
        return e, ((math.sqrt(n) + self._coef.size + 4) * _U) * scale

    def _blocked_products(self, A, absA, n):
        MA = np.zeros_like(A)
        absM = np.zeros_like(A)
        step = max(1, self._block_budget // (16 * n))
        X = self.X[:n]
        for i0 in range(0, n, step):
            block = zonal_matrix(X[i0:i0 + step], X, self._coef, i0=i0)
            MA[i0:i0 + step] = block @ A
            absM[i0:i0 + step] = np.abs(block) @ absA
        return MA, absM


def population_error(X, alpha, *, kernel_eigenvalues, target, tail_trace=None, tail_power=None,
                     feature_max=1024, memory_budget=None) -> PopulationErrorResult:
    """Exact population error of f_hat = sum_i alpha_i k(x_i, .) against ``target``.

    One-off form of :class:`PopulationError` (build it once instead when evaluating many
    prefixes of one sample). ``alpha`` is (n,) or (n, k) for k predictors (e.g. one per
    ridge); ``X`` is (n, d) on the unit sphere. Returns a :class:`PopulationErrorResult`
    (error not normalised: divide by ``target.variance`` for the normalised test error).

    Examples
    --------
    >>> from hierlearn.bench.theory import kernel_spectrum            # doctest: +SKIP
    >>> spec = kernel_spectrum(kappa, d, 40)                           # doctest: +SKIP
    >>> res = population_error(X, alpha, kernel_eigenvalues=spec.mu, target=f,
    ...                        tail_power=spec.tail_power)             # doctest: +SKIP
    """
    X = check_array(X, "X")
    pe = PopulationError(X, kernel_eigenvalues, target, tail_trace=tail_trace,
                         tail_power=tail_power, feature_max=feature_max,
                         memory_budget=memory_budget)
    return pe.evaluate(alpha, X.shape[0])
