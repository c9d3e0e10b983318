"""The numba leaf: pairwise formulas and tile loops, generic over kernels.

Imports nothing of hierlearn but its measured constants. The kernel objects of
:mod:`hierlearn.kernels` describe themselves to it by codes (:mod:`.pairwise`) and per-point
arrays (:mod:`.tiles`, "Arguments"); the functions here run the loops. Callers validate every
array first: nothing here checks shapes.
"""

from __future__ import annotations

import numba
import numpy as np

from ..._measured import TILE_COLS
from .angles import SERIES
from .pairwise import (FAM_HERMITE, FAM_RELU, LAYER_HERMITE, LAYER_NONE, LAYER_RELU, LAYER_STEP,
                       READ_G, READ_L, READ_NTK, READ_Q)
from .tiles import diag_values, gram_tiles, matvec_rows, matvec_sym_tiles

__all__ = [
    "FAM_HERMITE", "FAM_RELU", "LAYER_HERMITE", "LAYER_NONE", "LAYER_RELU", "LAYER_STEP",
    "READ_G", "READ_L", "READ_NTK", "READ_Q", "config", "diagonal", "fill_gram", "matvec",
    "matvec_symmetric", "tile_size",
]


def config(read, family, order, layer, n_layer_coef, n_readout_coef, trained_bias, blas):
    """The ``cfg`` tuple the loops take: int codes, float constants, the arc-cosine series.
    ``blas``: cosines by one BLAS product per tile (wide inputs; the caller limits BLAS to one
    thread around the loops, which run their own threads)."""
    icfg = np.array([read, family, order, layer, n_layer_coef, n_readout_coef, int(blas)],
                    dtype=np.int64)
    fcfg = np.array([trained_bias ** 2], dtype=np.float64)
    return icfg, fcfg, SERIES


def tile_size(n_cols: int) -> int:
    """Side of the square tiles for a matrix with ``n_cols`` columns
    (:data:`hierlearn._measured.TILE_COLS`: it depends on the columns only, so row blocks of K
    are tiled exactly as the whole K and have the same bits)."""
    for at_least, side in TILE_COLS:
        if n_cols >= at_least:
            return side
    return TILE_COLS[-1][1]


def _tiles(n_rows, n_cols, symmetric, T, row0=0):
    I = np.arange(row0, row0 + n_rows, T) if not symmetric else np.arange(0, n_rows, T)
    J = np.arange(0, n_cols, T)
    II, JJ = np.meshgrid(I, J, indexing="ij")
    tiles = np.stack([II.ravel(), JJ.ravel()], axis=1)
    if symmetric:
        tiles = tiles[tiles[:, 1] >= tiles[:, 0]]
    return np.ascontiguousarray(tiles, dtype=np.int64)


def fill_gram(cfg, px, py, out, *, symmetric, row0=0):
    """out[i - row0, j] = K(x_i, y_j) for the rows row0 .. row0 + len(out) of X.

    ``symmetric`` (py is px transposed, row0 = 0): one triangle of tiles, mirrored.
    """
    T = tile_size(out.shape[1])
    gram_tiles(cfg, px, py, _tiles(out.shape[0], out.shape[1], symmetric, T, row0), out, row0,
               symmetric, T)
    return out


def matvec(cfg, px, py, VT):
    """K(X, Y) @ V for V = VT.T, shape (r, n_X), never storing K."""
    out = np.empty((VT.shape[0], px[0].shape[0]))
    matvec_rows(cfg, px, py, VT, out, tile_size(py[0].shape[1]))
    return out


def matvec_symmetric(cfg, px, py, VT):
    """K(X, X) @ V for V = VT.T, each entry evaluated once for both of its products (about
    n^2 / 2 evaluations plus one accumulator per numba thread)."""
    n = px[0].shape[0]
    T = tile_size(n)
    acc = np.zeros((numba.get_num_threads(), VT.shape[0], n))
    matvec_sym_tiles(cfg, px, py, VT, _tiles(n, n, True, T), acc, T)
    return acc.sum(axis=0)


def diagonal(cfg, px, py):
    """K(x_i, x_i) for every row (``py`` is ``px`` transposed)."""
    out = np.empty(px[0].shape[0])
    diag_values(cfg, px, py, out)
    return out
