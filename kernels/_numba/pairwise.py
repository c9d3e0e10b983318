"""Pairwise formulas of the leaf: one small closed form per layer and per readout.

A kernel of this package is evaluated per pair (x, y) in three stages, each a small function
here (the tile loops in :mod:`.tiles` call them; no formula is written twice):

1. geometry: unit (augmented) vectors u, v with ``M = |u - v|^2``, ``P = |u + v|^2`` and the norms
   (computed by the loops);
2. an optional fixed infinite-width layer phi (the neural representation, docs/math.md, section 3):
   ``(M, P, |a|, |b|) -> (G(x,y), G(x,x), G(y,y), |phi_x - phi_y|^2, |phi_x + phi_y|^2)``, then back
   to a unit geometry of the feature vectors with the trained layer's bias (``to_unit``)
   -- the neural-tangents way of composing a fixed layer's NNGP into a trained layer
   (Novak et al., "Neural Tangents", ICLR 2020);
3. the trained layer's readout: K_L = (a.b) E[s' s'], K_NTK = E[s s] + K_L,
   K_Q = (a.b)^2 / 4 E[s'' s''] (docs/math.md, section 4), closed form for s = relu^k / k!
   (Cho & Saul 2009) or a Mehler sum for smooth activations (Daniely, Frostig & Singer 2016).

Codes (small ints, the only thing the loops branch on): ``READ_*`` the readout, ``FAM_*`` the
activation family, ``LAYER_*`` the fixed layer.
"""

from __future__ import annotations

from math import factorial, pi

import numpy as np
from numba import njit

from .angles import J_stable, asin_abs, half_angles, ipow

__all__ = [
    "FAM_HERMITE", "FAM_RELU", "LAYER_HERMITE", "LAYER_NONE", "LAYER_RELU", "LAYER_STEP",
    "READ_G", "READ_L", "READ_NTK", "READ_Q",
]

READ_L, READ_NTK, READ_Q, READ_G = 0, 1, 2, 3
FAM_RELU, FAM_HERMITE = 0, 1
LAYER_NONE, LAYER_STEP, LAYER_RELU, LAYER_HERMITE = 0, 1, 2, 3

_FM = {"contract"}  # fused multiply-add only: no reassociation, NaN/inf semantics kept
_INV2PI = 1.0 / (2.0 * pi)
_PIO2 = pi / 2.0
_FACT2 = np.array([1.0, 1.0, 4.0, 36.0, 576.0])  # (m!)^2
# theta cos(theta) - sin(theta) = theta^3 sum_{k>=1} (-1)^k 2k/(2k+1)! theta^(2k-2);
# 10 terms: truncation < 1e-20 relative for theta < 1
_TCS = np.array([(-1) ** k * 2 * k / float(factorial(2 * k + 1)) for k in range(1, 11)])


# -- stage 3: readouts ------------------------------------------------------------------


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def relu_moment(m, c, s, phi, ab, series):
    """E[r_m(w.a) r_m(w.b)], r_m = relu^m/m!: (|a||b|)^m J_m / (2 pi m!^2) (Cho & Saul 2009)."""
    return ipow(ab, m) * J_stable(m, c, s, phi, series) * (_INV2PI / _FACT2[m])


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def relu_readout(read, k, M, P, ab, series):
    """Trained-layer kernel for s = relu^k/k! from unit-vector M, P and ab = |a||b|,
    with s^(p) = relu^(k-p)/(k-p)!."""
    theta, phi = half_angles(M, P)
    tot = M + P
    c = (P - M) / tot
    s = 2.0 * np.sqrt(M * P) / tot
    dot = c * ab
    if read == READ_Q:
        return 0.25 * dot * dot * relu_moment(k - 2, c, s, phi, ab, series)
    val = 0.0
    if k >= 1:  # step (k = 0) has s' = 0 a.e.: K_L vanishes
        val = dot * relu_moment(k - 1, c, s, phi, ab, series)
    if read == READ_NTK:
        val += relu_moment(k, c, s, phi, ab, series)
    return val


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def relu_ntk_fast(c, both):
    """relu K_L (both = 0) or K_NTK (both = 1) over |a||b|, from the cosine, for |c| <= 0.9.

    K_L = |a||b| cos (pi - theta) / (2 pi) and K_NTK = |a||b| (J_1 + cos J_0) / (2 pi) =
    |a||b| (sin + 2 (pi - theta) cos) / (2 pi), with pi - theta = pi/2 + asin(cos) and
    sin = sqrt(1 - cos^2), accurate and cheap (no division) away from the poles. No Taylor
    series near theta = pi for K_NTK: its K_L part (~ -|a||b| phi / 2 pi) dominates J_1
    (~ phi^3), so sin + phi cos keeps its rounding ulps relative.
    """
    s = np.sqrt(1.0 - c * c)
    phi = _PIO2 + np.copysign(asin_abs(abs(c)), c)
    return (both * s + (1.0 + both) * phi * c) * _INV2PI


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def relu_ntk_stable(M, P, both):
    """As :func:`relu_ntk_fast`, from M, P with the stable angle (valid at every angle)."""
    tot = M + P
    theta, phi = half_angles(M, P)
    c = (P - M) / tot
    s = 2.0 * np.sqrt(M * P) / tot
    return (both * s + (1.0 + both) * phi * c) * _INV2PI


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def hermite_readout(read, c, ab, CXi, CYT, j, K):
    """Smooth-activation readout: Mehler sums sum_q f_q(|a|) f_q(|b|) c^q over per-point
    Hermite rows (orders stacked by K: quad (2,), first (1,), both (0, 1))."""
    dot = c * ab
    norders = 2 if read == READ_NTK else 1
    val = 0.0
    for t in range(norders):
        acc = 0.0
        base = t * K
        for q in range(K - 1, -1, -1):
            acc = acc * c + CXi[base + q] * CYT[base + q, j]
        if read == READ_Q:
            val += 0.25 * dot * dot * acc
        elif read == READ_L or t == 1:
            val += dot * acc
        else:
            val += acc
    return val


# -- stage 2: fixed layers ----------------------------------------------------------------


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _theta_cos_minus_sin(theta, c, s):
    """theta cos(theta) - sin(theta), with its Taylor series below theta = 1 (no cancellation)."""
    t2 = theta * theta
    acc = 0.0
    for kk in range(_TCS.shape[0] - 1, -1, -1):
        acc = acc * t2 + _TCS[kk]
    ser = acc * t2 * theta
    return ser if theta < 1.0 else theta * c - s


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def layer_step(M, P):
    """phi = step(v.x + b): G = (pi - theta)/(2 pi), G(x,x) = 1/2 (arc-cosine J_0).

    Returns (Gxy, Gxx, Gyy, D = |phi_x - phi_y|^2 = theta/pi, S = |phi_x + phi_y|^2).
    """
    theta, phi = half_angles(M, P)
    return phi * _INV2PI, 0.5, 0.5, theta / pi, 1.0 + phi / pi


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def layer_relu(M, P, na, nb, series):
    """phi = relu(v.x + b): G = |a||b| J_1/(2 pi), G(x,x) = |a|^2/2 (a = [x; s_r]).

    D = (|a|-|b|)^2/2 + |a||b| (pi - J_1)/pi with pi - J_1 = pi (1 - cos) + (theta cos - sin).
    """
    theta, phi = half_angles(M, P)
    tot = M + P
    c = (P - M) / tot
    s = 2.0 * np.sqrt(M * P) / tot
    ab = na * nb
    Gxy = ab * J_stable(1, c, s, phi, series) * _INV2PI
    Gxx = 0.5 * na * na
    Gyy = 0.5 * nb * nb
    dn = (na * na - nb * nb) / (na + nb)
    D = 0.5 * dn * dn + ab * (pi * (2.0 * M / tot) + _theta_cos_minus_sin(theta, c, s)) / pi
    return Gxy, Gxx, Gyy, D, Gxx + Gyy + 2.0 * Gxy


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def layer_hermite(M, P, RXi, RYT, j, gx, gy):
    """phi = sigma_0(v.x + b) for a smooth sigma_0, by Mehler's formula over per-point rows
    f_k(|a|) = E[sigma_0(|a| z) h_k(z)] (``RXi``, column j of ``RYT``) and G(x,x) = gx.

    G = sum_k f_k(|a|) f_k(|b|) rho^k with rho the cosine of [x; s_r], [y; s_r], and, free of
    the 1 - rho cancellation near the diagonal,
    D = sum_k (f_k(|a|) - f_k(|b|))^2 + 2 f_k(|a|) f_k(|b|) (1 - rho) sum_{i<k} rho^i.
    """
    tot = M + P
    rho = (P - M) / tot
    one_minus = 2.0 * M / tot
    Gxy = 0.0
    D = 0.0
    pw = 1.0   # rho^k
    geo = 0.0  # sum_{i<k} rho^i
    for k in range(RXi.shape[0]):
        a = RXi[k]
        b = RYT[k, j]
        Gxy += a * b * pw
        D += (a - b) * (a - b) + 2.0 * a * b * one_minus * geo
        geo += pw
        pw *= rho
    return Gxy, gx, gy, D, gx + gy + 2.0 * Gxy


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def to_unit(Gxx, Gyy, D, S, sb2):
    """Unit-vector (M', P', |a'||b'|) of feature vectors a, b with |a|^2 = Gxx, |b|^2 = Gyy,
    |a-b|^2 = D, |a+b|^2 = S, after appending the trained layer's bias s_b to each.

    Uses |a^ - b^|^2 = (|a-b|^2 - (|a|-|b|)^2) / (|a||b|): no 1 - cos cancellation.
    """
    A2 = Gxx + sb2
    B2 = Gyy + sb2
    na = np.sqrt(A2)
    nb = np.sqrt(B2)
    dn = (A2 - B2) / (na + nb)
    dn2 = dn * dn
    ab = na * nb
    Mp = max(D - dn2, 0.0) / ab
    Pp = max(S + 4.0 * sb2 - dn2, 0.0) / ab
    return Mp, Pp, ab
