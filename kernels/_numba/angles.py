"""Arc-cosine functions J_n and a stable angle: numba scalar helpers (part of the leaf).

Gaussian expectations of the relu family (Cho & Saul, "Kernel Methods for Deep Learning",
NIPS 2009, eq. 1-3): for w ~ N(0, I) and vectors a, b at angle theta::

    E[relu(w.a)^n relu(w.b)^n] = |a|^n |b|^n J_n(theta) / (2 pi),
    J_n(theta) = (-1)^n sin(theta)^(2n+1) ((1/sin theta) d/dtheta)^n ((pi - theta)/sin theta),

with relu^0 = step (1{t >= 0}). Expanding the derivative (done once, exactly, with rational
arithmetic) gives J_n = (pi - theta) A_n(cos theta) + sin(theta) B_n(cos theta)::

    J_0 = pi - theta
    J_1 = sin t + (pi - t) cos t
    J_2 = 3 sin t cos t + (pi - t)(1 + 2 cos^2 t)
    J_3 = sin t (4 + 11 cos^2 t) + (pi - t)(9 cos t + 6 cos^3 t)
    J_4 = sin t (55 cos t + 50 cos^3 t) + (pi - t)(9 + 72 cos^2 t + 24 cos^4 t)

(J_0..J_3 as printed in Cho & Saul; J_4 from their eq. 3.)

Numerics. The angle never comes from arccos of a rounded cosine (which loses half the
digits near theta = 0 and theta = pi). For unit vectors u, v with ``M = |u - v|^2`` and
``P = |u + v|^2``, both computed from the vectors themselves::

    theta = 2 atan2(sqrt M, sqrt P),   pi - theta = 2 atan2(sqrt P, sqrt M),
    cos theta = (P - M) / (P + M),     sin theta = 2 sqrt(M P) / (P + M),

all accurate to a few ulps relative, including the diagonal (M = 0 exactly) and nearly
(anti)parallel pairs. Near theta = pi the two terms of J_n (n >= 1) cancel (J_n ~ phi^(2n+1)
with phi = pi - theta); there a Taylor series in phi, derived exactly from A_n and B_n, is used.
``atan`` is a branch-free Cephes rational approximation so that loops over it vectorise.
Where the cosine alone is accurate enough (``|cos| <= 0.9``, far from both poles),
``pi - theta = pi/2 + asin(cos)`` with ``asin_abs``: a branch-free polynomial with no division
(a Chebyshev-economised Taylor series, derived exactly at import), so the Gram loops' hot path
costs two square roots and a dozen fused multiply-adds per pair.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb, factorial, pi

import numpy as np
from numba import njit

__all__ = ["ARCCOS_A", "ARCCOS_B", "MAX_ORDER", "SERIES", "SERIES_PHI_MAX", "J_stable",
           "asin_abs", "half_angles", "ipow"]

#: Highest arc-cosine order with a closed form here (relu^4/4! needs J_4).
MAX_ORDER = 4

#: J_n = (pi - theta) * sum_a ARCCOS_A[n][a] cos^a + sin * sum_a ARCCOS_B[n][a] cos^a.
ARCCOS_A = ((1,), (0, 1), (1, 0, 2), (0, 9, 0, 6), (9, 0, 72, 0, 24))
ARCCOS_B = ((0,), (1,), (0, 3), (4, 0, 11), (0, 55, 0, 50))

_FM = {"contract"}  # fused multiply-add only: no reassociation, NaN/inf semantics kept
_PIO2 = pi / 2.0
_PIO4 = pi / 4.0
_MOREBITS = 6.123233995736765886130e-17  # pi/2 - float(pi/2), Cephes

# Cephes atan.c rational approximation on |x| <= 0.66 (relative error ~ 1e-16).
_P0, _P1, _P2, _P3, _P4 = (
    -8.750608600031904122785e-1,
    -1.615753718733365076637e1,
    -7.500855792314704667340e1,
    -1.228866684490136173410e2,
    -6.485021904942025371773e1,
)
_Q0, _Q1, _Q2, _Q3, _Q4 = (
    2.485846490142306297962e1,
    1.650270098316988542046e2,
    4.328810604912902668951e2,
    4.853903996359136964868e2,
    1.945506571482613964425e2,
)


# -- series near theta = pi (Taylor in phi = pi - theta), derived exactly at import --------

_SERIES_TERMS = 14
SERIES_PHI_MAX = 1.0  # direct formula loses < ~300x cancellation beyond this; series exact below


def _series_coefficients(n: int, terms: int) -> np.ndarray:
    """Coefficients c_t with J_n(pi - phi) = phi^(2n+1) sum_t c_t phi^(2t) (exact rationals)."""
    N = 2 * n + 2 * terms + 3
    cos = [Fraction((-1) ** (k // 2), factorial(k)) if k % 2 == 0 else Fraction(0) for k in range(N)]
    sin = [Fraction((-1) ** (k // 2), factorial(k)) if k % 2 == 1 else Fraction(0) for k in range(N)]

    def mul(a, b):
        r = [Fraction(0)] * N
        for i, x in enumerate(a):
            if x:
                for j in range(N - i):
                    r[i + j] += x * b[j]
        return r

    def poly_of(coefs, c):
        r, p = [Fraction(0)] * N, [Fraction(1)] + [Fraction(0)] * (N - 1)
        for co in coefs:
            r = [x + co * y for x, y in zip(r, p)]
            p = mul(p, c)
        return r

    mcos = [-x for x in cos]  # cos(pi - phi) = -cos(phi); sin(pi - phi) = sin(phi)
    phi = [Fraction(0), Fraction(1)] + [Fraction(0)] * (N - 2)
    s = [x + y for x, y in zip(mul(phi, poly_of(ARCCOS_A[n], mcos)),
                               mul(sin, poly_of(ARCCOS_B[n], mcos)))]
    lead = 2 * n + 1
    assert all(v == 0 for v in s[:lead]), "J_n must vanish to order 2n+1 at theta = pi"
    return np.array([float(s[lead + 2 * t]) for t in range(terms)])


SERIES = np.zeros((MAX_ORDER + 1, _SERIES_TERMS))
for _n in range(1, MAX_ORDER + 1):
    SERIES[_n] = _series_coefficients(_n, _SERIES_TERMS)


# -- asin polynomial (derived exactly at import) --------------------------------------------

_ASIN_DEGREE = 12  # Chebyshev truncation bound 1.6e-17 (relative to asin(w)/w >= 1)


def _asin_coefficients(m: int = _ASIN_DEGREE, taylor: int = 44):
    """Monomial coefficients r_q with asin(w) ~ w + w z sum_{q<m} r_q z^q, z = w^2 in [0, 1/4].

    asin(w)/w = sum_k (2k)! / (4^k k!^2 (2k+1)) z^k (Taylor, truncated where the next term is
    below 1e-26), re-expanded in Chebyshev polynomials on z in [0, 1/4] and cut at degree m
    (Chebyshev economisation: close to the minimax polynomial). All in exact rationals.

    Returns
    -------
    coefs : tuple of m floats
    bound : float
        Sum of the dropped Chebyshev coefficients' magnitudes (a bound on the cut's error).
    """
    a = [Fraction(factorial(2 * k), 4**k * factorial(k) ** 2 * (2 * k + 1))
         for k in range(taylor + 1)]

    def mul(p, q):
        r = [Fraction(0)] * (len(p) + len(q) - 1)
        for i, x in enumerate(p):
            for j, y in enumerate(q):
                r[i + j] += x * y
        return r

    f_t = [Fraction(0)] * (taylor + 1)  # asin(w)/w in t = 8 z - 1 (z = (t + 1) / 8)
    zk = [Fraction(1)]
    for k in range(taylor + 1):
        for i, x in enumerate(zk):
            f_t[i] += a[k] * x
        zk = mul(zk, [Fraction(1, 8), Fraction(1, 8)])
    cheb = [Fraction(0)] * (taylor + 1)  # t^n = 2^(1-n) sum_k C(n, k) T_(n-2k) (T_0 once)
    for n, x in enumerate(f_t):
        for k in range(n // 2 + 1):
            cheb[n - 2 * k] += x * Fraction(comb(n, k), 2**n) * (1 if n == 2 * k else 2)
    bound = sum(abs(x) for x in cheb[m + 1:])
    T = [[Fraction(1)], [Fraction(0), Fraction(1)]]  # Chebyshev T_j in t, then t -> 8 z - 1
    for j in range(2, m + 1):
        T.append([2 * x for x in [Fraction(0)] + T[-1]])
        for i, x in enumerate(T[-3]):
            T[-1][i] -= x
    f_z = [Fraction(0)] * (m + 1)
    tp = [Fraction(1)]
    for i in range(m + 1):
        ci = sum(cheb[j] * T[j][i] for j in range(i, m + 1) if i < len(T[j]))
        for q, x in enumerate(tp):
            f_z[q] += ci * x
        tp = mul(tp, [Fraction(-1), Fraction(8)])
    assert abs(f_z[0] - 1) < Fraction(1, 10**16), "asin(w)/w -> 1 as w -> 0"
    return tuple(float(x) for x in f_z[1:]), float(bound)


(_AS0, _AS1, _AS2, _AS3, _AS4, _AS5, _AS6, _AS7, _AS8, _AS9, _AS10, _AS11), _ASIN_BOUND = \
    _asin_coefficients()
assert _ASIN_BOUND < 2e-17
_PIO2_HI = 1.57079632679489655800e00  # float(pi/2)
_PIO2_LO = 6.12323399573676603587e-17  # pi/2 - _PIO2_HI


# -- numba scalar helpers (inlined into the Gram loops) ------------------------------------


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def atan01(x):
    """atan(x) for 0 <= x <= 2.414 (tan 3pi/8), branch-free (Cephes atan.c range reduction
    + rational)."""
    big = x > 0.66
    # reduce x > 0.66 with atan(x) = pi/4 + atan((x-1)/(x+1)); both paths computed, one kept
    t = (x - 1.0) / (x + 1.0) if big else x
    y0 = _PIO4 if big else 0.0
    extra = 0.5 * _MOREBITS if big else 0.0
    z = t * t
    num = (((_P0 * z + _P1) * z + _P2) * z + _P3) * z + _P4
    den = ((((z + _Q0) * z + _Q1) * z + _Q2) * z + _Q3) * z + _Q4
    return y0 + ((t * z * num / den + extra) + t)


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def asin_abs(x):
    """asin(x) for 0 <= x <= 1, branch-free, no division (a few ulps; module docstring).

    Beyond x = 1/2 the argument is reduced with asin(x) = pi/2 - 2 asin(sqrt((1 - x)/2))
    (1 - x is exact there), so the polynomial only ever sees z = w^2 <= 1/4.
    """
    big = x > 0.5
    z = 0.5 * (1.0 - x) if big else x * x
    w = np.sqrt(z) if big else x
    r = ((((((((((_AS11 * z + _AS10) * z + _AS9) * z + _AS8) * z + _AS7) * z + _AS6) * z
               + _AS5) * z + _AS4) * z + _AS3) * z + _AS2) * z + _AS1) * z + _AS0
    a = w + w * (z * r)
    return ((_PIO2_HI - 2.0 * a) + _PIO2_LO) if big else a


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def half_angles(M, P):
    """(theta, pi - theta) from M = |u - v|^2 and P = |u + v|^2 of unit vectors."""
    sm = np.sqrt(M)
    sp = np.sqrt(P)
    small = sm <= sp
    num = sm if small else sp
    den = sp if small else sm
    # max(M, P) >= 2 for unit vectors, so den > 0
    a = atan01(num / den)
    other = (_PIO2 - a) + _MOREBITS
    theta = 2.0 * (a if small else other)
    phi = 2.0 * (other if small else a)
    return theta, phi


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def J_direct(n, c, s, phi):
    """J_n from cos, sin and phi = pi - theta (closed forms above)."""
    if n == 0:
        return phi
    c2 = c * c
    if n == 1:
        return s + phi * c
    if n == 2:
        return 3.0 * s * c + phi * (1.0 + 2.0 * c2)
    if n == 3:
        return s * (4.0 + 11.0 * c2) + phi * c * (9.0 + 6.0 * c2)
    return s * c * (55.0 + 50.0 * c2) + phi * (9.0 + c2 * (72.0 + 24.0 * c2))


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def ipow(x, n):
    """x**n for a small int n >= 0 by repeated multiplication (``**`` with a runtime int
    exponent compiles to a libm pow call, which keeps the loop from vectorising)."""
    r = 1.0
    for _ in range(n):
        r *= x
    return r


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def J_stable(n, c, s, phi, series):
    """J_n with the Taylor series in phi near theta = pi (n >= 1)."""
    direct = J_direct(n, c, s, phi)
    if n == 0:
        return direct
    p2 = phi * phi
    acc = 0.0
    for t in range(series.shape[1] - 1, -1, -1):
        acc = acc * p2 + series[n, t]
    ser = acc * ipow(phi, 2 * n + 1)
    return ser if phi < SERIES_PHI_MAX else direct
