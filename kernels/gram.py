"""Numba Gram builders, generic over kernels: dense symmetric, rectangular, blocked, matvec.

One loop structure serves every kernel. Per square tile (side ``tile_size``) the loop takes
rows two at a time and

1. computes the cosines c = u.v of the unit (augmented) rows against the tile's columns
   (``_cosines2``), and from them M = |u - v|^2 = 2 - 2c and P = |u + v|^2 = 2 + 2c, where
   |c| <= 0.9 (both then are >= 0.2, so the rounding of c, a few 1e-16 absolute, is a few
   1e-15 of them). Only the pairs with |c| > 0.9 (the diagonal, nearly (anti)parallel points;
   rare for data in general position) accumulate M and P exactly from the vectors, so the
   angle is stable everywhere (``kernels.arccos``) for the price of one dot product per pair.
   With at most 4 coordinates M and P are summed exactly for every pair. Inner loops run over
   columns so they vectorise; each entry's sums run in a fixed order, so a block of K has the
   same bits as the same rows of the whole K;
2. optionally maps the raw geometry to the representation's (G(x,y), G(x,x), G(y,y)) and
   back to an angle between the representation's feature vectors (``_rep_step``,
   ``_rep_relu``);
3. evaluates the kernel's pairwise formula of (angle, norms) (``_relu_kernel`` for the relu
   family in closed form, a Mehler sum for smooth activations). The relu K_L and K_NTK on raw
   inputs, the kernels of the large matrix-free solves, go straight from the cosine
   (``_relu_ntk_fast``: no division) and take the stable angle only for the far pairs.

A new kernel adds a pairwise function and one branch in ``_row_values``, never a loop.
Symmetric Grams compute tiles on and above the diagonal and mirror them. Shapes, dtypes and
finiteness are validated in Python before any loop indexes memory.
"""

from __future__ import annotations

import os
from math import factorial, pi

import numba
import numpy as np
from numba import njit, prange

from .arccos import _SERIES, J_stable, asin_abs, half_angles, ipow
from .spec import (
    KIND_NTK_BOTH,
    KIND_NTK_FIRST,
    KIND_QUAD,
    KIND_REP,
    MODE_RELU,
    REP_NONE,
    REP_STEP,
    KernelSpec,
    as_spec,
    check_array_2d,
    check_pair,
)

__all__ = ["gram", "gram_blocks", "gram_matvec", "block_rows_for_budget", "tile_size"]
_FM = {"contract"}
# error_model="numpy" on every loop: IEEE division (x/0 = inf) instead of Python's
# ZeroDivisionError check, whose branch keeps LLVM from vectorising any loop that divides
# (measured 4.4x on the relu NTK loop here). Inputs are validated before any loop runs.
# |cos| up to which M = 2 - 2c, P = 2 + 2c from the cosine are accurate (module doc, step 1)
_DOT_SAFE = 0.9
# the relu hot paths' fast formula holds for |cos| <= 0.9, i.e. M, P >= 0.05 (M + P)
_FAST_EDGE = (1.0 - _DOT_SAFE) / 2.0
_INV2PI = 1.0 / (2.0 * pi)
_PIO2 = pi / 2.0
_FACT2 = np.array([1.0, 1.0, 4.0, 36.0, 576.0])  # (m!)^2
# theta cos(theta) - sin(theta) = theta^3 sum_{k>=1} (-1)^k 2k/(2k+1)! theta^(2k-2);
# 10 terms: truncation < 1e-20 relative for theta < 1
_TCS = np.array([(-1) ** k * 2 * k / float(factorial(2 * k + 1)) for k in range(1, 11)])


# -- pairwise formulas ----------------------------------------------------------------------


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _relu_moment(m, c, s, phi, ab, series):
    """E[r_m(w.a) r_m(w.b)], r_m = relu^m/m!: (|a||b|)^m J_m / (2 pi m!^2) (Cho & Saul 2009)."""
    return ipow(ab, m) * J_stable(m, c, s, phi, series) * (_INV2PI / _FACT2[m])


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _relu_kernel(kind, k, M, P, ab, series):
    """Trained-layer kernel for sigma = relu^k/k! from unit-vector M, P and ab = |a||b|.

    K_L = (a.b) E[s' s'], K_NTK = E[s s] + K_L, K_Q = (a.b)^2/4 E[s'' s''] (MATH.md sec. 4),
    with s^(p) = relu^(k-p)/(k-p)!.
    """
    theta, phi = half_angles(M, P)
    tot = M + P
    c = (P - M) / tot
    s = 2.0 * np.sqrt(M * P) / tot
    dot = c * ab
    if kind == KIND_QUAD:
        return 0.25 * dot * dot * _relu_moment(k - 2, c, s, phi, ab, series)
    val = 0.0
    if k >= 1:  # step (k = 0) has sigma' = 0 a.e.: K_L vanishes
        val = dot * _relu_moment(k - 1, c, s, phi, ab, series)
    if kind == KIND_NTK_BOTH:
        val += _relu_moment(k, c, s, phi, ab, series)
    return val


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
def _to_unit(Gxy, Gxx, Gyy, D, S, sb2):
    """Unit-vector (M', P', |a'|, |b'|) of feature vectors a, b with a.b = Gxy, |a|^2 = Gxx,
    |b|^2 = Gyy, |a-b|^2 = D, |a+b|^2 = S, after appending the trained bias s_b to each.

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


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _rep_step(M, P, na, nb):
    """G for phi = step(v.x + b): G = (pi - theta)/(2 pi), G(x,x) = 1/2 (arc-cosine J_0).

    Returns (Gxy, Gxx, Gyy, D = |phi_x - phi_y|^2 = theta/pi, S = |phi_x + phi_y|^2).
    """
    theta, phi = half_angles(M, P)
    return phi * _INV2PI, 0.5, 0.5, theta / pi, 1.0 + phi / pi


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _rep_relu(M, P, na, nb, series):
    """G for phi = relu(v.x + b): G = |a||b| J_1/(2 pi), G(x,x) = |a|^2/2 (a = [x; s_r]).

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


# -- row evaluation (shared by every builder) -------------------------------------------


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _relu_ntk_fast(c, both):
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
def _relu_ntk_stable(M, P, both):
    """As :func:`_relu_ntk_fast`, from M, P with the stable angle (valid at every angle)."""
    tot = M + P
    theta, phi = half_angles(M, P)
    c = (P - M) / tot
    s = 2.0 * np.sqrt(M * P) / tot
    return (both * s + (1.0 + both) * phi * c) * _INV2PI


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _row_values(icfg, fcfg, series, M, P, na, NY, j0, nb_, CXi, CYT, out, off, ab_buf, fix):
    """out[off + jj] = K(row, column j0 + jj) for jj < nb_, from M, P buffers
    (``ab_buf`` float and ``fix`` int64 scratch of at least nb_ entries).

    Loops index slice views (``o``, ``nys``) with the bare loop variable: an offset index
    such as ``out[off + jj]`` carries numba's negative-index wraparound select, which turns
    the access into a gather and keeps the loop from vectorising (measured 3x on the cosine
    loop here).
    """
    o = out[off:off + nb_]
    nys = NY[j0:j0 + nb_]
    kind = icfg[0]
    mode = icfg[1]
    k = icfg[2]
    rep = icfg[3]
    sb2 = fcfg[0]
    if rep != REP_NONE:
        for jj in range(nb_):
            nbj = nys[jj]
            if rep == REP_STEP:
                Gxy, Gxx, Gyy, D, S = _rep_step(M[jj], P[jj], na, nbj)
            else:
                Gxy, Gxx, Gyy, D, S = _rep_relu(M[jj], P[jj], na, nbj, series)
            if kind == KIND_REP:
                o[jj] = Gxy
            else:
                Mp, Pp, ab = _to_unit(Gxy, Gxx, Gyy, D, S, sb2)
                M[jj] = Mp
                P[jj] = Pp
                ab_buf[jj] = ab
        if kind == KIND_REP:
            return
    else:
        for jj in range(nb_):
            ab_buf[jj] = na * nys[jj]
    if mode == MODE_RELU:
        if k == 1 and (kind == KIND_NTK_FIRST or kind == KIND_NTK_BOTH):
            # the hot path: every pair as if |cos| <= 0.9 (this loop vectorises), then the
            # pairs beyond (M or P below 5% of M + P) again with the stable angle
            both = 1.0 if kind == KIND_NTK_BOTH else 0.0
            for jj in range(nb_):
                c = (P[jj] - M[jj]) / (M[jj] + P[jj])
                o[jj] = ab_buf[jj] * _relu_ntk_fast(c, both)
            # gather the few pairs first: a plain `if` in this loop is if-converted, i.e.
            # the stable formula evaluated for every pair (measured 3x the whole cost)
            nfix = 0
            for jj in range(nb_):
                tot = M[jj] + P[jj]
                if M[jj] < _FAST_EDGE * tot or P[jj] < _FAST_EDGE * tot:
                    fix[nfix] = jj
                    nfix += 1
            for t in range(nfix):
                jj = fix[t]
                o[jj] = ab_buf[jj] * _relu_ntk_stable(M[jj], P[jj], both)
        else:
            for jj in range(nb_):
                o[jj] = _relu_kernel(kind, k, M[jj], P[jj], ab_buf[jj], series)
        return
    # smooth activation: Mehler sums over per-point Hermite coefficients
    nc = CXi.shape[0]
    len_orders = 1
    if kind == KIND_NTK_BOTH:
        len_orders = 2
    K = nc // len_orders
    for jj in range(nb_):
        Mj = M[jj]
        Pj = P[jj]
        c = (Pj - Mj) / (Mj + Pj)
        ab = ab_buf[jj]
        dot = c * ab
        val = 0.0
        for t in range(len_orders):
            acc = 0.0
            base = t * K
            for q in range(K - 1, -1, -1):
                acc = acc * c + CXi[base + q] * CYT[base + q, j0 + jj]
            # orders: quad -> (2,), first -> (1,), both -> (0, 1)
            if kind == KIND_QUAD:
                val += 0.25 * dot * dot * acc
            elif kind == KIND_NTK_FIRST or t == 1:
                val += dot * acc
            else:
                val += acc
        o[jj] = val


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _accumulate_MP(UX, i, UYT, j0, nb_, M, P):
    """Exact M, P of row i against columns j0..j0+nb_ (few coordinates: no cosines)."""
    for jj in range(nb_):
        M[jj] = 0.0
        P[jj] = 0.0
    for kk in range(UX.shape[1]):
        xk = UX[i, kk]
        col = UYT[kk, j0:j0 + nb_]
        for jj in range(nb_):
            y = col[jj]
            t = xk - y
            M[jj] += t * t
            t = xk + y
            P[jj] += t * t


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _exact_MP(UX, i, UYT, j):
    """M, P of row i and column j summed from the vectors (the pairs with |cos| > 0.9)."""
    m = 0.0
    p = 0.0
    for kk in range(UX.shape[1]):
        x = UX[i, kk]
        y = UYT[kk, j]
        t = x - y
        m += t * t
        t = x + y
        p += t * t
    return m, p


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _cosines2(UX, i, i2, UYT, j0, nb_, C0, C1):
    """C0[jj] = u_i . u_(j0+jj) and C1[jj] = u_i2 . u_(j0+jj) for jj < nb_.

    Two rows per pass and four coordinates per update: each column value is loaded once for
    both rows and each accumulator is loaded and stored once per four coordinates (a one-row,
    one-coordinate update is bound by those loads and stores: measured 2.2x slower at d = 16).
    Both rows use the same expression, so a row's bits do not depend on its partner.
    """
    c0 = C0[:nb_]
    c1 = C1[:nb_]
    for jj in range(nb_):
        c0[jj] = 0.0
        c1[jj] = 0.0
    d = UX.shape[1]
    d4 = d - d % 4
    for kk in range(0, d4, 4):
        x0 = UX[i, kk]
        x1 = UX[i, kk + 1]
        x2 = UX[i, kk + 2]
        x3 = UX[i, kk + 3]
        y0 = UX[i2, kk]
        y1 = UX[i2, kk + 1]
        y2 = UX[i2, kk + 2]
        y3 = UX[i2, kk + 3]
        u0 = UYT[kk, j0:j0 + nb_]
        u1 = UYT[kk + 1, j0:j0 + nb_]
        u2 = UYT[kk + 2, j0:j0 + nb_]
        u3 = UYT[kk + 3, j0:j0 + nb_]
        for jj in range(nb_):
            a = u0[jj]
            b = u1[jj]
            c = u2[jj]
            e = u3[jj]
            c0[jj] += (x0 * a + x1 * b) + (x2 * c + x3 * e)
            c1[jj] += (y0 * a + y1 * b) + (y2 * c + y3 * e)
    for kk in range(d4, d):
        x = UX[i, kk]
        y = UX[i2, kk]
        u = UYT[kk, j0:j0 + nb_]
        for jj in range(nb_):
            c0[jj] += x * u[jj]
            c1[jj] += y * u[jj]


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _far_pairs(C, nb_, fix):
    """Indices jj < nb_ with |C[jj]| > 0.9 into ``fix``; returns their count.

    Counted first by a vectorised reduction: in most rows there are none.
    """
    nfar = 0
    for jj in range(nb_):
        nfar += 1 if abs(C[jj]) > _DOT_SAFE else 0
    if nfar == 0:
        return 0
    n = 0
    for jj in range(nb_):
        if abs(C[jj]) > _DOT_SAFE:
            fix[n] = jj
            n += 1
    return n


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _values_from_cosines(icfg, fcfg, series, UX, i, UYT, NX, NY, CXi, CYT, j0, nb_, C, W,
                         fix, out, off):
    """out[off + jj] = K(row i, column j0 + jj) from the cosines C (module docstring, step 1);
    W is (3, T) float scratch (M, P, ab)."""
    kind = icfg[0]
    mode = icfg[1]
    nfix = _far_pairs(C, nb_, fix)
    if (icfg[3] == REP_NONE and mode == MODE_RELU and icfg[2] == 1
            and (kind == KIND_NTK_FIRST or kind == KIND_NTK_BOTH)):
        # raw-input relu K_L, K_NTK: straight from the cosine, far pairs again exactly
        both = 1.0 if kind == KIND_NTK_BOTH else 0.0
        o = out[off:off + nb_]
        nys = NY[j0:j0 + nb_]
        na = NX[i]
        for jj in range(nb_):
            o[jj] = (na * nys[jj]) * _relu_ntk_fast(C[jj], both)
        for t in range(nfix):
            jj = fix[t]
            m, p = _exact_MP(UX, i, UYT, j0 + jj)
            o[jj] = (na * nys[jj]) * _relu_ntk_stable(m, p, both)
        return
    M = W[0]
    P = W[1]
    for jj in range(nb_):
        c = C[jj]
        M[jj] = 2.0 - 2.0 * c
        P[jj] = 2.0 + 2.0 * c
    for t in range(nfix):
        jj = fix[t]
        M[jj], P[jj] = _exact_MP(UX, i, UYT, j0 + jj)
    _row_values(icfg, fcfg, series, M, P, NX[i], NY, j0, nb_, CXi, CYT, out, off, W[2], fix)


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _pair_rows(icfg, fcfg, series, UX, NX, CX, UYT, NY, CYT, i, i2, j0, nb_, W, fix,
               out0, off0, out1, off1):
    """K(row i, columns j0..j0+nb_) into out0[off0:], and the same for row i2 into out1
    unless i2 == i. W is (5, T) float scratch, fix (T,) int64."""
    if UX.shape[1] <= 4:  # few coordinates: exact sums cost no more than the cosines
        _accumulate_MP(UX, i, UYT, j0, nb_, W[0], W[1])
        _row_values(icfg, fcfg, series, W[0], W[1], NX[i], NY, j0, nb_, CX[i], CYT, out0, off0,
                    W[2], fix)
        if i2 != i:
            _accumulate_MP(UX, i2, UYT, j0, nb_, W[0], W[1])
            _row_values(icfg, fcfg, series, W[0], W[1], NX[i2], NY, j0, nb_, CX[i2], CYT, out1,
                        off1, W[2], fix)
        return
    _cosines2(UX, i, i2, UYT, j0, nb_, W[3], W[4])
    _values_from_cosines(icfg, fcfg, series, UX, i, UYT, NX, NY, CX[i], CYT, j0, nb_, W[3], W,
                         fix, out0, off0)
    if i2 != i:
        _values_from_cosines(icfg, fcfg, series, UX, i2, UYT, NX, NY, CX[i2], CYT, j0, nb_,
                             W[4], W, fix, out1, off1)


# -- builders -----------------------------------------------------------------------------


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _gram_tiles(UX, NX, CX, UYT, NY, CYT, icfg, fcfg, series, tiles, out, row0, symmetric, T):
    """Fill out[i - row0, j] for every tile (I, J) in ``tiles`` (start indices)."""
    ntile = tiles.shape[0]
    for t in prange(ntile):
        i0 = tiles[t, 0]
        j0 = tiles[t, 1]
        i1 = min(i0 + T, row0 + out.shape[0], UX.shape[0])  # a block ends before UX does
        j1 = min(j0 + T, UYT.shape[1])
        nb_ = j1 - j0
        W = np.empty((5, T))
        fix = np.empty(T, dtype=np.int64)
        for i in range(i0, i1, 2):
            i2 = min(i + 1, i1 - 1)
            _pair_rows(icfg, fcfg, series, UX, NX, CX, UYT, NY, CYT, i, i2, j0, nb_, W, fix,
                       out[i - row0], j0, out[i2 - row0], j0)
        if symmetric and j0 != i0:
            for jj in range(j0, j1):
                for i in range(i0, i1):
                    out[jj - row0, i] = out[i - row0, jj]
        elif symmetric:  # diagonal tile: mirror its upper triangle so K == K.T exactly
            for i in range(i0, i1):
                for jj in range(i0, i):
                    out[i - row0, jj] = out[jj - row0, i]


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _dot_buf(buf, v, nb_):
    """sum_jj buf[jj] v[jj] with four partial sums (a single chain would wait on every add;
    'contract' alone does not let LLVM reassociate it)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    n4 = nb_ // 4
    for t in range(n4):
        s0 += buf[4 * t] * v[4 * t]
        s1 += buf[4 * t + 1] * v[4 * t + 1]
        s2 += buf[4 * t + 2] * v[4 * t + 2]
        s3 += buf[4 * t + 3] * v[4 * t + 3]
    for jj in range(4 * n4, nb_):
        s0 += buf[jj] * v[jj]
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _matvec_rows(UX, NX, CX, UYT, NY, CYT, icfg, fcfg, series, VT, out, T):
    """out[q, i] = sum_j K(x_i, y_j) VT[q, j] without storing K (row tiles in parallel)."""
    n = UX.shape[0]
    m = UYT.shape[1]
    r = VT.shape[0]
    nrt = (n + T - 1) // T
    for t in prange(nrt):
        W = np.empty((5, T))
        fix = np.empty(T, dtype=np.int64)
        B = np.empty((2, T))
        i1 = min((t + 1) * T, n)
        for i in range(t * T, i1, 2):
            i2 = min(i + 1, i1 - 1)
            for q in range(r):
                out[q, i] = 0.0
                out[q, i2] = 0.0
            for j0 in range(0, m, T):
                nb_ = min(T, m - j0)
                _pair_rows(icfg, fcfg, series, UX, NX, CX, UYT, NY, CYT, i, i2, j0, nb_, W, fix,
                           B[0], 0, B[1], 0)
                for q in range(r):
                    v = VT[q, j0:j0 + nb_]
                    out[q, i] += _dot_buf(B[0], v, nb_)
                    if i2 != i:
                        out[q, i2] += _dot_buf(B[1], v, nb_)


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _matvec_sym_tiles(UX, NX, CX, UXT, CXT, icfg, fcfg, series, VT, tiles, acc, T):
    """acc[thread] += K V for the symmetric K(X, X) (V = VT.T), evaluating each entry once.

    ``tiles`` are the tiles on and above the diagonal. An off-diagonal tile (I, J) adds
    K_IJ V_J to rows I and K_IJ^T V_I to rows J; a diagonal tile adds K_II V_I. Each thread
    writes its own slice ``acc[numba.get_thread_id()]`` (no races); the caller sums them.
    Vectors are stored transposed, (r, n), so that every inner loop reads contiguous memory.
    """
    n = UX.shape[0]
    r = VT.shape[0]
    for t in prange(tiles.shape[0]):
        tid = numba.get_thread_id()
        i0 = tiles[t, 0]
        j0 = tiles[t, 1]
        i1 = min(i0 + T, n)
        nb_ = min(j0 + T, n) - j0
        W = np.empty((5, T))
        fix = np.empty(T, dtype=np.int64)
        B = np.empty((2, T))
        b0 = B[0]
        b1 = B[1]
        for i in range(i0, i1, 2):
            i2 = min(i + 1, i1 - 1)
            _pair_rows(icfg, fcfg, series, UX, NX, CX, UXT, NX, CXT, i, i2, j0, nb_, W, fix,
                       b0, 0, b1, 0)
            for q in range(r):
                v = VT[q, j0:j0 + nb_]
                a = acc[tid, q, j0:j0 + nb_]
                acc[tid, q, i] += _dot_buf(b0, v, nb_)
                if i2 != i:
                    acc[tid, q, i2] += _dot_buf(b1, v, nb_)
                if j0 != i0 and i2 != i:
                    vi = VT[q, i]
                    vi2 = VT[q, i2]
                    for jj in range(nb_):
                        a[jj] += b0[jj] * vi + b1[jj] * vi2
                elif j0 != i0:
                    vi = VT[q, i]
                    for jj in range(nb_):
                        a[jj] += b0[jj] * vi


# -- Python front ends -------------------------------------------------------------------


def _prepared(spec, X, Y):
    icfg, fcfg = spec.codes()
    UX, NX, CX = spec.plan(X)
    if Y is None:
        UY, NY, CY = UX, NX, CX
    else:
        UY, NY, CY = spec.plan(Y)
    if CX.shape[1] != CY.shape[1]:  # different truncations for X and Y: pad to the longer
        L = max(CX.shape[1], CY.shape[1])
        nord = len(spec.derivative_orders)
        CX, CY = _pad_orders(CX, L, nord), _pad_orders(CY, L, nord)
    return (UX, NX, CX, np.ascontiguousarray(UY.T), NY, np.ascontiguousarray(CY.T), icfg, fcfg,
            _SERIES)


def _pad_orders(C, L, nord):
    if C.shape[1] == L:
        return C
    K_old, K_new = C.shape[1] // nord, L // nord
    out = np.zeros((C.shape[0], L))
    for t in range(nord):
        out[:, t * K_new : t * K_new + K_old] = C[:, t * K_old : (t + 1) * K_old]
    return out


def _check_memory(nbytes, what):
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return
    if nbytes > 0.75 * total:
        raise MemoryError(
            f"{what} needs {nbytes / 2**30:.1f} GiB, more than 75% of this machine's "
            f"{total / 2**30:.1f} GiB; use kernels.gram_blocks (row blocks within a memory "
            f"budget) or kernels.gram_matvec (matrix-free K @ v) instead"
        )


def tile_size(n_cols):
    """Side of the square tiles the loops work on, for a matrix with ``n_cols`` columns.

    Long rows amortise each row's fixed costs (measured single-threaded at n = 12 000, d = 16,
    relu K_NTK matvec: 7.5 / 6.1 / 5.1 ns per entry at 128 / 256 / 512), short ones leave
    enough tiles to share among threads on small matrices. It depends on the columns only, so
    row blocks of K (``gram_blocks``) are tiled exactly as the whole K.
    """
    return 512 if n_cols >= 16384 else 256 if n_cols >= 2048 else 128


def _tiles(n_rows, n_cols, symmetric, T):
    I = np.arange(0, n_rows, T)
    J = np.arange(0, n_cols, T)
    II, JJ = np.meshgrid(I, J, indexing="ij")
    tiles = np.stack([II.ravel(), JJ.ravel()], axis=1)
    if symmetric:
        tiles = tiles[tiles[:, 1] >= tiles[:, 0]]
    # largest work first is irrelevant here (equal tiles); interleave for balance
    return np.ascontiguousarray(tiles, dtype=np.int64)


def gram(X, Y=None, kernel=None, *, out=None, **spec_kwargs):
    """Dense Gram matrix K(X, Y) of a closed-form kernel.

    Parameters
    ----------
    X : array_like of shape (n_X, d)
    Y : array_like of shape (n_Y, d) or None
        None: the symmetric K(X, X), computed on one triangle of tiles and mirrored.
    kernel : KernelSpec or str or None
        The kernel; a str is taken as ``kind`` with ``spec_kwargs`` (e.g.
        ``gram(X, kernel="ntk", activation="relu", trained="both")``).
    out : ndarray of shape (n_X, n_Y), float64, C-contiguous, optional
        Written in place and returned.

    Returns
    -------
    K : ndarray of shape (n_X, n_Y), float64
    """
    spec = as_spec(kernel, **spec_kwargs)
    X, Y = check_pair(X, Y)
    n, m = X.shape[0], (X if Y is None else Y).shape[0]
    if out is None:
        _check_memory(8 * n * m, f"a dense ({n}, {m}) float64 Gram matrix")
        out = np.empty((n, m))
    else:
        _check_out(out, (n, m))
    args = _prepared(spec, X, Y)
    T = tile_size(m)
    _gram_tiles(*args, _tiles(n, m, Y is None, T), out, 0, Y is None, T)
    return out


def _check_out(out, shape):
    if not isinstance(out, np.ndarray) or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise TypeError("out must be a C-contiguous float64 ndarray")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")


def block_rows_for_budget(n_cols, memory_budget):
    """Rows per block so that one (rows, n_cols) float64 block fits in ``memory_budget`` bytes."""
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer, float)):
        raise TypeError(f"memory_budget must be a number of bytes, got {memory_budget!r}")
    rows = int(memory_budget // (8 * max(int(n_cols), 1)))
    if rows < 1:
        raise ValueError(
            f"memory_budget={memory_budget} bytes cannot hold one row of {n_cols} float64 "
            f"entries ({8 * n_cols} bytes)"
        )
    return rows


def _block_rows(n_cols, block_rows, memory_budget):
    if block_rows is not None and memory_budget is not None:
        raise TypeError("pass block_rows or memory_budget, not both")
    if block_rows is None:
        return block_rows_for_budget(n_cols, 256 * 2**20 if memory_budget is None else memory_budget)
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)):
        raise TypeError(f"block_rows must be an int, got {type(block_rows).__name__}")
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    return int(block_rows)


def gram_blocks(X, Y=None, kernel=None, *, block_rows=None, memory_budget=None, **spec_kwargs):
    """Generate row blocks of K(X, Y) within a memory budget.

    Parameters
    ----------
    X, Y, kernel, **spec_kwargs
        As in :func:`gram`; ``Y=None`` means Y = X.
    block_rows : int, optional
        Rows per block.
    memory_budget : int, optional
        Bytes one block may use (default 256 MiB when neither is given).

    Yields
    ------
    start, stop : int
        Row range of the block in K.
    block : ndarray of shape (stop - start, n_Y)
        A fresh array per block (safe to keep).
    """
    spec = as_spec(kernel, **spec_kwargs)
    X, Y = check_pair(X, Y)
    Yv = X if Y is None else Y
    rows = _block_rows(Yv.shape[0], block_rows, memory_budget)
    UX, NX, CX, UYT, NY, CYT, icfg, fcfg, series = _prepared(spec, X, Yv)
    m = Yv.shape[0]
    T = tile_size(m)
    for start in range(0, X.shape[0], rows):
        stop = min(start + rows, X.shape[0])
        blk = np.empty((stop - start, m))
        tiles = _tiles(stop - start, m, False, T) + np.array([start, 0])
        _gram_tiles(UX, NX, CX, UYT, NY, CYT, icfg, fcfg, series, tiles, blk, start, False, T)
        yield start, stop, blk


def gram_matvec(X, v, kernel=None, *, Y=None, **spec_kwargs):
    """K(X, Y) @ v without storing K (fused numba loop; memory O(n_X + n_Y)).

    With ``Y=None`` (K symmetric) each entry above the diagonal tiles is evaluated once, for
    both of its products: about half the kernel evaluations of the general case, plus one
    length-n_X accumulator per numba thread.

    Parameters
    ----------
    X : array_like of shape (n_X, d)
    v : array_like of shape (n_Y,) or (n_Y, r)
    kernel, **spec_kwargs : as in :func:`gram`
    Y : array_like of shape (n_Y, d), optional (default: X)

    Returns
    -------
    ndarray of shape (n_X,) or (n_X, r)
    """
    spec = as_spec(kernel, **spec_kwargs)
    X, Y = check_pair(X, Y)
    Yv = X if Y is None else Y
    V = np.asarray(v)
    if V.dtype == object or not np.issubdtype(V.dtype, np.number) or np.iscomplexobj(V):
        raise TypeError(f"v must be a real numeric array, got dtype {V.dtype}")
    if V.ndim not in (1, 2) or V.shape[0] != Yv.shape[0]:
        raise ValueError(
            f"v must have shape ({Yv.shape[0]},) or ({Yv.shape[0]}, r) to match "
            f"{'Y' if Y is not None else 'X'}.shape = {Yv.shape}, got {V.shape}"
        )
    VT = np.ascontiguousarray(V.reshape(V.shape[0], -1).T, dtype=np.float64)
    if not np.all(np.isfinite(VT)):
        raise ValueError("v contains NaN or inf")
    args = _prepared(spec, X, Y)
    T = tile_size(Yv.shape[0])
    if Y is None:  # symmetric: one triangle of tiles, per-thread accumulators
        UX, NX, CX, UXT, _, CXT, icfg, fcfg, series = args
        acc = np.zeros((numba.get_num_threads(), VT.shape[0], X.shape[0]))
        _matvec_sym_tiles(UX, NX, CX, UXT, CXT, icfg, fcfg, series, VT,
                          _tiles(X.shape[0], X.shape[0], True, T), acc, T)
        out = acc.sum(axis=0)
    else:
        out = np.empty((VT.shape[0], X.shape[0]))
        _matvec_rows(*args, VT, out, T)
    return out[0] if V.ndim == 1 else np.ascontiguousarray(out.T)
