"""Exact harmonic analysis of ridge functions g(u.x) under the two input distributions.

On the sphere S^(d-1), t = u.x has density proportional to (1 - t^2)^((d-3)/2), and the
degree-l zonal harmonics are the Gegenbauer polynomials P_l normalised to P_l(1) = 1, with
the addition theorem E_x[P_l(u.x) P_k(v.x)] = delta_lk P_l(u.v) / N(d, l)
(Atkinson & Han, "Spherical Harmonics and Approximations on the Unit Sphere", 2012, ch. 2).
Under N(0, I_d / d), g = sqrt(d) u.x is standard normal and the Hermite polynomials He_l
play the same role: E[He_l(sqrt(d) u.x) He_k(sqrt(d) v.x)] = delta_lk l! (u.v)^l for unit u, v.

Expansion coefficients are computed in exact rational arithmetic (``fractions.Fraction``),
so variances and degree profiles carry no quadrature error.
"""

from __future__ import annotations

from fractions import Fraction
import math
from functools import lru_cache
from math import comb, factorial

import numpy as np
from scipy import special

from .._validation import check_int

__all__ = [
    "basis_kernel",
    "funk_hecke_eigenvalues",
    "gegenbauer",
    "gegenbauer_table",
    "harmonic_dimension",
    "harmonic_dimensions",
    "monomial_expansion",
    "ridge_moment",
    "sphere_quadrature",
]


#: Highest degree of the exact rational expansions (targets' monomial and harmonic bases):
#: their cost grows about as degree^3 (degree 100 on the sphere: ~1.7 s here, 2026-12;
#: 200: ~5 s, and the Gaussian normalisers overflow float64 beyond ~150).
MAX_EXACT_DEGREE = 100
#: Highest degree of the float recurrences (:func:`gegenbauer`, :func:`gegenbauer_table`) and
#: of :func:`harmonic_dimension`; one numpy pass per degree.
MAX_DEGREE = 10_000
#: Largest dimension :func:`harmonic_dimension` takes (its exact integer grows as d^l).
MAX_DIMENSION = 1_000_000


def harmonic_dimension(d, l) -> int:
    """N(d, l): the dimension of degree-l spherical harmonics on S^(d-1).

    N(d, 0) = 1 and N(d, l) = (2l + d - 2) / l * C(l + d - 3, l - 1) for l >= 1.
    """
    d = check_int(d, "d", minimum=2, maximum=MAX_DIMENSION)
    l = check_int(l, "l", minimum=0, maximum=MAX_DEGREE)
    if l == 0:
        return 1
    return (2 * l + d - 2) * comb(l + d - 3, l - 1) // l


@lru_cache(maxsize=None)
def _gegenbauer_coefficients(l: int, d: int) -> tuple[Fraction, ...]:
    # Three-term recurrence for P_l normalised to P_l(1) = 1 (valid for every d >= 2;
    # d = 3 gives Legendre, d = 2 Chebyshev):
    #   (l + d - 2) P_{l+1}(t) = (2l + d - 2) t P_l(t) - l P_{l-1}(t).
    prev, cur = [Fraction(1)], [Fraction(0), Fraction(1)]
    if l == 0:
        return tuple(prev)
    for k in range(1, l):
        nxt = [Fraction(0)] * (k + 2)
        for j, c in enumerate(cur):
            nxt[j + 1] += Fraction(2 * k + d - 2) * c
        for j, c in enumerate(prev):
            nxt[j] -= k * c
        prev, cur = cur, [c / (k + d - 2) for c in nxt]
    return tuple(cur)


def gegenbauer(l, d, t) -> np.ndarray:
    """Evaluate the normalised Gegenbauer polynomial P_l (P_l(1) = 1) of S^(d-1) at ``t``.

    Uses the three-term recurrence in floating point, which is stable on [-1, 1].
    """
    l = check_int(l, "l", minimum=0, maximum=MAX_DEGREE)
    d = check_int(d, "d", minimum=2)
    t = np.asarray(t, dtype=float)
    prev, cur = np.ones_like(t), t.copy()
    if l == 0:
        return prev
    for k in range(1, l):
        prev, cur = cur, ((2 * k + d - 2) * t * cur - k * prev) / (k + d - 2)
    return cur


def _double_factorial_odd(k: int) -> int:
    """(2k - 1)!! = 1 * 3 * ... * (2k - 1), with (-1)!! = 1."""
    out = 1
    for j in range(1, 2 * k, 2):
        out *= j
    return out


@lru_cache(maxsize=None)
def ridge_moment(k: int, d: int, distribution: str) -> Fraction:
    """E[(u.x)^k] for a unit vector u, exactly.

    Sphere: E[(u.x)^(2m)] = (2m - 1)!! / prod_{j<m} (d + 2j) (docs/math.md, section 2).
    Gaussian N(0, I_d/d): E[(u.x)^(2m)] = (2m - 1)!! / d^m. Odd moments vanish.
    """
    if k % 2:
        return Fraction(0)
    m = k // 2
    num = _double_factorial_odd(m)
    if distribution == "sphere":
        den = 1
        for j in range(m):
            den *= d + 2 * j
        return Fraction(num, den)
    return Fraction(num, d**m)


@lru_cache(maxsize=None)
def monomial_expansion(q: int, d: int, distribution: str) -> tuple[Fraction, ...]:
    """Exact coefficients A_l (l = 0..q) of a power in the orthogonal basis Q_l.

    Sphere: (u.x)^q = sum_l A_l P_l(u.x). Gaussian: g^q = sum_l A_l He_l(g) with
    g = sqrt(d) u.x (so the expansion does not depend on d). See :func:`basis_kernel`.
    """
    out = [Fraction(0)] * (q + 1)
    if distribution == "sphere":
        for l in range(q % 2, q + 1, 2):
            # A_l = N(d, l) E[t^q P_l(t)], since E[P_l(t)^2] = 1 / N(d, l).
            inner = sum(
                c * ridge_moment(q + j, d, "sphere")
                for j, c in enumerate(_gegenbauer_coefficients(l, d))
            )
            out[l] = harmonic_dimension(d, l) * inner
    else:
        # Expand in g = sqrt(d) u.x ~ N(0, 1) instead (d^(q/2) is irrational for odd q):
        # g^q = sum_l q! / (l! m! 2^m) He_l(g), m = (q - l) / 2.
        for l in range(q % 2, q + 1, 2):
            m = (q - l) // 2
            out[l] = Fraction(factorial(q), factorial(l) * factorial(m) * 2**m)
    return tuple(out)


def basis_kernel(l: int, d: int, distribution: str, rho) -> np.ndarray:
    """E_x[Q_l(u.x) Q_l(v.x)] as a function of rho = u.v for unit u, v.

    Sphere: P_l(rho) / N(d, l). Gaussian: l! rho^l.
    """
    rho = np.asarray(rho, dtype=float)
    if distribution == "sphere":
        return gegenbauer(l, d, rho) / harmonic_dimension(d, l)
    return factorial(l) * rho**l


def gegenbauer_table(l_max, d, t) -> np.ndarray:
    """P_0 .. P_{l_max} of S^(d-1) at ``t``: shape (l_max + 1,) + t.shape (stable recurrence)."""
    l_max = check_int(l_max, "l_max", minimum=0, maximum=MAX_DEGREE)
    d = check_int(d, "d", minimum=2)
    t = np.asarray(t, dtype=float)
    out = np.empty((l_max + 1,) + t.shape)
    out[0] = 1.0
    if l_max >= 1:
        out[1] = t
    for k in range(1, l_max):
        out[k + 1] = ((2 * k + d - 2) * t * out[k] - k * out[k - 1]) / (k + d - 2)
    return out


def _log_normaliser(d: int) -> float:
    # int_{-1}^{1} (1 - t^2)^a dt = B(1/2, a + 1), a = (d - 3) / 2
    return float(special.betaln(0.5, (d - 3) / 2 + 1.0))


def _quadrature_ok(t, w, d) -> bool:
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(w)) and np.all(w >= 0)):
        return False
    s = w.sum()
    return s > 0 and abs(math.log(s) - _log_normaliser(d)) < 1e-7


@lru_cache(maxsize=64)
def _sphere_quadrature(d: int, n_nodes: int):
    a = (d - 3) / 2
    with np.errstate(all="ignore"):
        try:
            t, w = special.roots_jacobi(n_nodes, a, a)
        except (ValueError, ArithmeticError):
            t = w = np.array([np.nan])
    if _quadrature_ok(t, w, d):
        return t, w / w.sum(), "gauss-jacobi"
    # scipy's Gauss-Jacobi nodes come back NaN for large d times node counts (d = 1000 with
    # 1000 nodes): Legendre nodes carrying the weight (1 - t^2)^a in log space instead; the
    # mass sits within ~1/sqrt(d) of 0, so use enough nodes to resolve it.
    m = max(n_nodes, int(8 * math.sqrt(d)) + 200, 2000)
    t, wl = special.roots_legendre(m)
    w = np.exp(np.log(wl) + a * np.log1p(-t * t) - _log_normaliser(d))
    if not (np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-8):
        raise FloatingPointError(f"sphere quadrature failed validation for d={d} (sum {w.sum()})")
    return t, w / w.sum(), "gauss-legendre"


def sphere_quadrature(d, n_nodes=400):
    """Nodes and probability weights for t = u.x with x uniform on S^(d-1), u fixed.

    Gauss-Jacobi (alpha = beta = (d-3)/2), validated: finite, positive weights whose sum
    matches the exact normaliser B(1/2, (d-1)/2); where scipy's nodes fail that check, a
    Gauss-Legendre rule with the weight evaluated in log space.

    Returns
    -------
    t, w : ndarray
        Nodes in (-1, 1) and weights summing to 1 (read-only, cached).
    method : {"gauss-jacobi", "gauss-legendre"}
    """
    d = check_int(d, "d", minimum=3)
    n_nodes = check_int(n_nodes, "n_nodes", minimum=2)
    t, w, method = _sphere_quadrature(d, n_nodes)
    return t.copy(), w.copy(), method  # the cache keeps its own


def harmonic_dimensions(d, l_max) -> np.ndarray:
    """N(d, 0) .. N(d, l_max) as floats (exact integers below 2^53)."""
    l_max = check_int(l_max, "l_max", minimum=0, maximum=MAX_DEGREE)
    return np.array([float(harmonic_dimension(d, l)) for l in range(l_max + 1)])


def funk_hecke_eigenvalues(kappa, d, l_max, *, n_nodes=400) -> np.ndarray:
    """Eigenvalues mu_0 .. mu_{l_max} of the dot-product kernel k(x, y) = kappa(x.y) on
    S^(d-1) (Funk-Hecke): mu_l = E_t[kappa(t) P_l(t)], each with multiplicity N(d, l), by
    :func:`sphere_quadrature` with ``n_nodes`` nodes.

    Parameters
    ----------
    kappa : callable
        Vectorised function of t in [-1, 1] returning finite values of t's shape.
    """
    t, w, _ = sphere_quadrature(d, n_nodes)
    k = np.asarray(kappa(t), dtype=float)
    if k.shape != t.shape or not np.all(np.isfinite(k)):
        raise ValueError("kappa must return finite values of the same shape as its input")
    return gegenbauer_table(l_max, d, t) @ (w * k)
