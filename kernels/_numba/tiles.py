"""The tile loops of the leaf: one set serving dense Grams, row blocks and matvecs.

Every builder works on square tiles (side ``T``, :func:`tile_size`) and, inside a tile, on
rows two at a time:

1. cosines c = u.v of the unit (augmented) rows against the tile's columns, from a numba dot
   (``_cosines2``) or, for wide inputs, one BLAS product per tile (``_cosines_blas``); from
   them ``M = |u - v|^2 = 2 - 2c`` and ``P = 2 + 2c`` where ``|c| <= 0.9`` (both then >= 0.2, so the
   rounding of c, a few 1e-16 absolute, is a few 1e-15 of them). Only pairs with ``|c| > 0.9``
   (the diagonal, nearly (anti)parallel points; rare for data in general position) sum M and
   P exactly from the vectors, so the angle is stable everywhere for the price of one dot
   product per pair. With at most 4 coordinates M and P are summed exactly for every pair;
2. the kernel's stages (:mod:`.pairwise`): fixed layer, then readout. The relu K_L and K_NTK
   on raw inputs, the kernels of the large matrix-free solves, go straight from the cosine
   (``relu_ntk_fast``: no division) and take the stable angle only for the far pairs.

Inner loops run over columns so they vectorise; each entry's sums run in a fixed order, so a
block of K has the same bits as the same rows of the whole K (with BLAS cosines, to a few
ulps: BLAS may round an entry differently when the tile's shape differs). Symmetric Grams compute the
tiles on and above the diagonal and mirror them. Every loop uses ``error_model="numpy"``
(IEEE division instead of Python's ZeroDivisionError check, whose branch keeps LLVM from
vectorising: measured 4.4x on the relu NTK loop); inputs are validated before any loop runs.

Arguments: a side of a kernel is a tuple ``(U, N, A, G)`` -- unit rows (n, d'), their norms
(n,), per-point rows of series coefficients (n, w) and the fixed layer's self-kernel G(x, x)
(n,) -- with ``U`` and ``A`` transposed, (d', m) and (w, m), for the column side, which also
carries ``U`` itself (m, d') as a fifth entry for the BLAS cosines;
``cfg = (icfg, fcfg, series)`` holds the codes (:mod:`.pairwise`) and constants.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .pairwise import (FAM_RELU, LAYER_HERMITE, LAYER_NONE, LAYER_STEP, READ_G, READ_L,
                       READ_NTK, hermite_readout, layer_hermite, layer_relu, layer_step,
                       relu_ntk_fast, relu_ntk_stable, relu_readout, to_unit)

__all__ = ["diag_values", "gram_tiles", "matvec_rows", "matvec_sym_tiles"]

_FM = {"contract"}
# |cos| up to which M = 2 - 2c, P = 2 + 2c from the cosine are accurate (module doc, step 1)
_DOT_SAFE = 0.9
# the relu hot paths' fast formula holds for |cos| <= 0.9, i.e. M, P >= 0.05 (M + P)
_FAST_EDGE = (1.0 - _DOT_SAFE) / 2.0
# index of each code in icfg
_READ, _FAM, _ORDER, _LAYER, _KR, _KO, _BLAS = range(7)


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _layer_row(icfg, fcfg, series, M, P, na, py, AXi, gx, j0, nb_, ab, o):
    """Stage 2 for one row: the fixed layer, then the unit geometry of its features in
    M, P, ab (or G itself into ``o`` for the representation kernel)."""
    NY, AYT, GY = py[1], py[2], py[3]
    layer = icfg[_LAYER]
    kr = icfg[_KR]
    RXi = AXi[:kr]
    RYT = AYT[:kr]
    for jj in range(nb_):
        j = j0 + jj
        if layer == LAYER_STEP:
            Gxy, Gxx, Gyy, D, S = layer_step(M[jj], P[jj])
        elif layer == LAYER_HERMITE:
            Gxy, Gxx, Gyy, D, S = layer_hermite(M[jj], P[jj], RXi, RYT, j, gx, GY[j])
        else:
            Gxy, Gxx, Gyy, D, S = layer_relu(M[jj], P[jj], na, NY[j], series)
        if icfg[_READ] == READ_G:
            o[jj] = Gxy
        else:
            M[jj], P[jj], ab[jj] = to_unit(Gxx, Gyy, D, S, fcfg[0])


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _row_values(cfg, M, P, na, py, AXi, gx, j0, nb_, out, off, ab, fix):
    """out[off + jj] = K(row, column j0 + jj) for jj < nb_ from the row's M, P buffers
    (``ab`` float and ``fix`` int64 scratch of at least nb_ entries).

    Loops index slice views (``o``, ``nys``) with the bare loop variable: an offset index
    such as ``out[off + jj]`` carries numba's negative-index wraparound select, which turns
    the access into a gather and keeps the loop from vectorising (measured 3x here).
    """
    icfg, fcfg, series = cfg
    NY, AYT = py[1], py[2]
    o = out[off:off + nb_]
    read = icfg[_READ]
    if icfg[_LAYER] != LAYER_NONE:
        _layer_row(icfg, fcfg, series, M, P, na, py, AXi, gx, j0, nb_, ab, o)
        if read == READ_G:
            return
    else:
        nys = NY[j0:j0 + nb_]
        for jj in range(nb_):
            ab[jj] = na * nys[jj]
    k = icfg[_ORDER]
    if icfg[_FAM] == FAM_RELU and k == 1 and (read == READ_L or read == READ_NTK):
        # the hot path: every pair as if |cos| <= 0.9 (this loop vectorises), then the pairs
        # beyond (M or P below 5% of M + P) again with the stable angle
        both = 1.0 if read == READ_NTK else 0.0
        for jj in range(nb_):
            o[jj] = ab[jj] * relu_ntk_fast((P[jj] - M[jj]) / (M[jj] + P[jj]), both)
        # gather the few pairs first: a plain `if` in this loop is if-converted, i.e. the
        # stable formula evaluated for every pair (measured 3x the whole cost)
        nfix = 0
        for jj in range(nb_):
            tot = M[jj] + P[jj]
            if M[jj] < _FAST_EDGE * tot or P[jj] < _FAST_EDGE * tot:
                fix[nfix] = jj
                nfix += 1
        for t in range(nfix):
            jj = fix[t]
            o[jj] = ab[jj] * relu_ntk_stable(M[jj], P[jj], both)
    elif icfg[_FAM] == FAM_RELU:
        for jj in range(nb_):
            o[jj] = relu_readout(read, k, M[jj], P[jj], ab[jj], series)
    else:
        kr = icfg[_KR]
        CXi = AXi[kr:]
        CYT = AYT[kr:]
        ko = icfg[_KO]
        for jj in range(nb_):
            c = (P[jj] - M[jj]) / (M[jj] + P[jj])
            o[jj] = hermite_readout(read, c, ab[jj], CXi, CYT, j0 + jj, ko)


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _accumulate_MP(UX, i, UYT, j0, nb_, M, P):
    """Exact M, P of row i against columns j0..j0+nb_ (few coordinates: no cosines).
    Deliberate twin of :func:`_exact_MP` (a row, vectorised over columns)."""
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
    """M, P of row i and column j summed from the vectors (the pairs with |cos| > 0.9).
    Deliberate twin of :func:`_accumulate_MP` (one pair, scalar)."""
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
def _values_from_cosines(cfg, px, i, py, j0, nb_, C, W, fix, out, off):
    """out[off + jj] = K(row i, column j0 + jj) from the cosines C (module docstring, step 1);
    W is (3, T) float scratch (M, P, ab)."""
    icfg = cfg[0]
    UX, NX, AX, GX = px
    UYT, NY = py[0], py[1]
    read = icfg[_READ]
    nfix = _far_pairs(C, nb_, fix)
    if (icfg[_LAYER] == LAYER_NONE and icfg[_FAM] == FAM_RELU and icfg[_ORDER] == 1
            and (read == READ_L or read == READ_NTK)):
        # raw-input relu K_L, K_NTK: straight from the cosine, far pairs again exactly
        both = 1.0 if read == READ_NTK else 0.0
        o = out[off:off + nb_]
        nys = NY[j0:j0 + nb_]
        na = NX[i]
        for jj in range(nb_):
            o[jj] = (na * nys[jj]) * relu_ntk_fast(C[jj], both)
        for t in range(nfix):
            jj = fix[t]
            m, p = _exact_MP(UX, i, UYT, j0 + jj)
            o[jj] = (na * nys[jj]) * relu_ntk_stable(m, p, both)
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
    _row_values(cfg, M, P, NX[i], py, AX[i], GX[i], j0, nb_, out, off, W[2], fix)


@njit(cache=True, fastmath=_FM, error_model="numpy", inline="always")
def _tile_cosines(cfg, px, py, i0, i1, j0, nb_):
    """The cosine tile U_X[i0:i1] U_Y[j0:j0+nb_]^T by one BLAS product when the config asks
    for it (wide inputs), else an empty array (the rows then use the numba dot)."""
    if cfg[0][_BLAS] == 0:
        return np.empty((0, 0))
    CT = np.empty((i1 - i0, nb_))
    np.dot(px[0][i0:i1], py[4][j0:j0 + nb_].T, CT)
    return CT


@njit(cache=True, fastmath=_FM, error_model="numpy")
def _pair_rows(cfg, px, py, i, i2, j0, nb_, W, fix, CT, i0, out0, off0, out1, off1):
    """K(row i, columns j0..j0+nb_) into out0[off0:], and the same for row i2 into out1
    unless i2 == i. W is (5, T) float scratch, fix (T,) int64; CT the tile's cosines from
    :func:`_tile_cosines` (rows from i0) or empty."""
    UX, NX, AX, GX = px
    UYT = py[0]
    if UX.shape[1] <= 4:  # few coordinates: exact sums cost no more than the cosines
        _accumulate_MP(UX, i, UYT, j0, nb_, W[0], W[1])
        _row_values(cfg, W[0], W[1], NX[i], py, AX[i], GX[i], j0, nb_, out0, off0, W[2], fix)
        if i2 != i:
            _accumulate_MP(UX, i2, UYT, j0, nb_, W[0], W[1])
            _row_values(cfg, W[0], W[1], NX[i2], py, AX[i2], GX[i2], j0, nb_, out1, off1, W[2],
                        fix)
        return
    if CT.shape[0] == 0:
        _cosines2(UX, i, i2, UYT, j0, nb_, W[3], W[4])
        C0 = W[3]
        C1 = W[4]
    else:
        C0 = CT[i - i0]
        C1 = CT[i2 - i0]
    _values_from_cosines(cfg, px, i, py, j0, nb_, C0, W, fix, out0, off0)
    if i2 != i:
        _values_from_cosines(cfg, px, i2, py, j0, nb_, C1, W, fix, out1, off1)


# -- builders -----------------------------------------------------------------------------


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def gram_tiles(cfg, px, py, tiles, out, row0, symmetric, T):
    """Fill out[i - row0, j] for every tile (I, J) in ``tiles`` (start indices)."""
    UX = px[0]
    UYT = py[0]
    for t in prange(tiles.shape[0]):
        i0 = tiles[t, 0]
        j0 = tiles[t, 1]
        i1 = min(i0 + T, row0 + out.shape[0], UX.shape[0])  # a block ends before UX does
        j1 = min(j0 + T, UYT.shape[1])
        nb_ = j1 - j0
        W = np.empty((5, T))
        fix = np.empty(T, dtype=np.int64)
        CT = _tile_cosines(cfg, px, py, i0, i1, j0, nb_)
        for i in range(i0, i1, 2):
            i2 = min(i + 1, i1 - 1)
            _pair_rows(cfg, px, py, i, i2, j0, nb_, W, fix, CT, i0, out[i - row0], j0,
                       out[i2 - row0], j0)
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
def matvec_rows(cfg, px, py, VT, out, T):
    """out[q, i] = sum_j K(x_i, y_j) VT[q, j] without storing K (row tiles in parallel; each
    row's sum runs over column tiles in order, whatever the cosine source)."""
    n = px[0].shape[0]
    m = py[0].shape[1]
    r = VT.shape[0]
    for t in prange((n + T - 1) // T):
        W = np.empty((5, T))
        fix = np.empty(T, dtype=np.int64)
        B = np.empty((2, T))
        i0 = t * T
        i1 = min(i0 + T, n)
        for i in range(i0, i1):
            for q in range(r):
                out[q, i] = 0.0
        for j0 in range(0, m, T):
            nb_ = min(T, m - j0)
            CT = _tile_cosines(cfg, px, py, i0, i1, j0, nb_)
            for i in range(i0, i1, 2):
                i2 = min(i + 1, i1 - 1)
                _pair_rows(cfg, px, py, i, i2, j0, nb_, W, fix, CT, i0, B[0], 0, B[1], 0)
                for q in range(r):
                    v = VT[q, j0:j0 + nb_]
                    out[q, i] += _dot_buf(B[0], v, nb_)
                    if i2 != i:
                        out[q, i2] += _dot_buf(B[1], v, nb_)


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def matvec_sym_tiles(cfg, px, py, VT, tiles, acc, T):
    """acc[thread] += K V for the symmetric K(X, X) (V = VT.T), evaluating each entry once.

    ``py`` is ``px`` with its arrays transposed. ``tiles`` are the tiles on and above the
    diagonal. An off-diagonal tile (I, J) adds K_IJ V_J to rows I and K_IJ^T V_I to rows J; a
    diagonal tile adds K_II V_I. Each thread writes its own slice
    ``acc[numba.get_thread_id()]`` (no races); the caller sums them. Vectors are stored
    transposed, (r, n), so that every inner loop reads contiguous memory.
    """
    n = px[0].shape[0]
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
        CT = _tile_cosines(cfg, px, py, i0, i1, j0, nb_)
        for i in range(i0, i1, 2):
            i2 = min(i + 1, i1 - 1)
            _pair_rows(cfg, px, py, i, i2, j0, nb_, W, fix, CT, i0, b0, 0, b1, 0)
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


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def diag_values(cfg, px, py, out):
    """out[i] = K(x_i, x_i): M = 0 and P = 4 exactly (``py`` is ``px`` transposed)."""
    for i in prange(out.shape[0]):
        W = np.empty((3, 1))
        fix = np.empty(1, dtype=np.int64)
        W[0, 0] = 0.0
        W[1, 0] = 4.0
        _row_values(cfg, W[0], W[1], px[1][i], py, px[2][i], px[3][i], i, 1, out, i, W[2], fix)
