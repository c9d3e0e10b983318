"""Kernel ridge on every nested training prefix from one Cholesky factor per ridge.

The training points are one sample in a fixed order; prefix ``m`` is points ``0..m-1``. For
one ridge, factor ``K_M + ridge I = L L^T`` at the largest prefix ``M`` of interest. Its
leading ``m x m`` block ``L_m`` is the factor of ``K_m + ridge I`` and the leading block of
``L^{-1}`` is ``L_m^{-1}``, so one factor serves every prefix ``m <= M`` exactly:

* ``alpha_m = L_m^{-T} (L_m^{-1} y_m)``: the forward solve is nested (``(L^{-1} y)[:m] =
  L_m^{-1} y_m``); the backward solves for all prefixes run as one triangular solve with one
  zero-padded column per prefix.
* ``diag(G_m)``, ``G_m = (K_m + ridge I)^{-1} = L_m^{-T} L_m^{-1}``: entry ``j`` is the
  squared norm of column ``j`` of ``L^{-1}`` over rows ``j..m-1``. :func:`inverse_column_norms`
  forms ``L^{-1}`` one panel of columns at a time (BLAS ``dtrsm`` on the trailing factor, about
  ``M^3/3`` flops like the factorisation itself) and keeps only these partial sums, so memory
  stays one factor plus one trailing copy.

Ridge convention of :mod:`solvers`: ``(K_m + ridge I) alpha = y_m`` (no factor m).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import LinAlgWarning
from scipy.linalg import blas as _blas
from scipy.linalg import lapack as _lapack

from .linalg import check_memory, cho_factor

__all__ = ["PANEL", "inverse_column_norms", "inverse_workspace", "prefix_fits", "workspace_size"]

#: Columns of ``L^{-1}`` formed per ``dtrsm`` call in :func:`inverse_column_norms`.
PANEL = 1024


def _factor(K, M, ridge, work=None):
    """Lower Cholesky factor (F-ordered) of ``K[:M, :M] + ridge I``; None if singular.

    ``work``: a float64 buffer of at least ``M * M`` entries the factor is written into (one
    buffer for every ridge of a curve), else a new array. A fresh copy's page faults can cost
    as much as the factorisation on a virtual machine: :func:`prefix_fits` at M = 8000 took
    3.8-6.5 s with a fresh copy and 2.2-2.6 s with a reused buffer (2026-12-02).
    """
    if work is None:
        a, overwrite = K[:M, :M].T, False
    else:
        a, overwrite = work[:M * M].reshape(M, M, order="F"), True
        np.copyto(a, K[:M, :M].T)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", LinAlgWarning)
            # K is symmetric: the transposed view of a C-ordered K is column-major, so the
            # copy is a row-by-row memcpy.
            c, _ = cho_factor(a, lower=True, overwrite_a=overwrite, check_finite=False,
                              shift=ridge)
    except (LinAlgWarning, np.linalg.LinAlgError):
        return None
    return c


def inverse_workspace(M: int, panel: int = PANEL) -> int:
    """Float64 entries :func:`inverse_column_norms` needs for its panels and trailing copies."""
    return M * max(min(panel, M), M - panel)


def workspace_size(M: int, diag: bool = True, panel: int = PANEL) -> int:
    """Float64 entries of the ``work`` buffer :func:`prefix_fits` uses at order ``M``."""
    return M * M + (inverse_workspace(M, panel) if diag else 0)


def inverse_column_norms(c, sizes, *, panel: int = PANEL, method: str = "trsm", work=None):
    """Squared column norms of ``L^{-1}`` over the row ranges of nested prefixes.

    Parameters
    ----------
    c : (M, M) ndarray, F-ordered
        Lower Cholesky factor ``L`` (only the lower triangle is read).
    sizes : sequence of int
        Strictly increasing prefix sizes, the last one ``<= M``.
    panel : int, default=PANEL
        Columns of ``L^{-1}`` formed per ``dtrsm`` call.
    method : {"trsm", "trtri"}, default="trsm"
        ``"trsm"``: panels of ``L^{-1}`` from ``dtrsm`` on a copy of the trailing factor.
        ``"trtri"``: LAPACK ``dtrtri`` on a copy of ``c`` (one extra ``M x M`` array).
    work : float64 ndarray, optional
        At least :func:`inverse_workspace` entries for ``"trsm"``'s panels and trailing
        copies (reused by the caller across factors); default: allocated here.

    Returns
    -------
    (len(sizes), M) ndarray
        Row ``k`` holds ``diag((K_m + ridge I)^{-1})`` for ``m = sizes[k]`` in its first ``m``
        entries (zeros after).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    M = c.shape[0]
    out = np.zeros((len(sizes), M))
    if method == "trtri":
        X, info = _lapack.dtrtri(c, lower=1)
        if info != 0:  # pragma: no cover - a successful Cholesky has a non-singular factor
            raise np.linalg.LinAlgError(f"dtrtri failed with info={info}")
        _accumulate(np.tril(X), 0, sizes, out)
        return out
    if method != "trsm":
        raise ValueError(f"method must be 'trsm' or 'trtri', got {method!r}")
    if work is None or work.size < inverse_workspace(M, panel):
        work = np.empty(inverse_workspace(M, panel))
    for j in range(0, min(M, int(sizes[-1])), panel):
        e = min(j + panel, M)
        rows, width = M - j, e - j
        # Columns j..e-1 of L^{-1} are zero above row j: solve with the trailing factor only.
        X = work[:rows * width].reshape(rows, width, order="F")
        X[...] = 0.0
        X[np.arange(width), np.arange(width)] = 1.0
        if j == 0:
            trailing = c
        else:  # dtrsm needs it contiguous
            trailing = work[rows * width:rows * (width + rows)].reshape(rows, rows, order="F")
            np.copyto(trailing, c[j:, j:])
        X = _blas.dtrsm(1.0, trailing, X, lower=1, overwrite_b=1)
        _accumulate(X, j, sizes, out)
    return out


def _accumulate(X, j, sizes, out):
    """Add the prefix sums of squares of panel ``X`` (rows ``j..M-1``, columns from ``j``);
    ``X`` is squared in place."""
    width = X.shape[1]
    live = sizes[sizes > j]
    if live.size == 0:
        return
    cuts = (live - j).tolist()
    # sums of squares over the row segments [j, m_1), [m_1, m_2), ... then cumulative
    seg = np.add.reduceat(np.square(X, out=X), [0] + cuts[:-1], axis=0)[: len(cuts)]
    acc = np.cumsum(seg, axis=0)
    first = len(sizes) - len(live)
    for i, m in enumerate(live):
        cols = min(width, int(m) - j)
        out[first + i, j:j + cols] = acc[i, :cols]


def prefix_fits(K, y, sizes, ridge, *, diag: bool = True, panel: int = PANEL,
                inverse: str = "trsm", work=None):
    """Dual coefficients (and ``diag(G)``) of every prefix from one factor at the largest.

    Parameters
    ----------
    K : (n, n) ndarray
        Symmetric Gram matrix, float64, validated by the caller; never modified.
    y : (n,) ndarray
        Labels.
    sizes : sequence of int
        Strictly increasing prefix sizes; the factor is of order ``sizes[-1]``.
    ridge : float
        Ridge ``>= 0``.
    diag : bool, default=True
        Also return ``diag((K_m + ridge I)^{-1})`` (costs about one more factorisation).
    panel, inverse
        Passed to :func:`inverse_column_norms`.
    work : float64 ndarray, optional
        Buffer of at least :func:`workspace_size` entries for the factor and the inverse's
        scratch (reused across calls; nothing returned refers to it).

    Returns
    -------
    list of (alpha, gdiag) or None
        One pair per size (``gdiag`` is None unless ``diag``); None when ``K_M + ridge I`` is
        not numerically positive definite or its ``rcond`` is below machine epsilon (the
        caller then uses the eigendecomposition pseudo-inverse).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    M = int(sizes[-1])
    check_memory(M, copies=2, name="Cholesky factor and its trailing copy")
    c = _factor(K, M, ridge, work)
    if c is None:
        return None
    z = _blas.dtrsv(c, y[:M], lower=1)                      # L^{-1} y: nested in m
    Z = np.zeros((M, len(sizes)), order="F")
    for i, m in enumerate(sizes):
        Z[:m, i] = z[:m]
    A = _blas.dtrsm(1.0, c, Z, lower=1, trans_a=1, overwrite_b=1)   # zero padding: exact
    gd = (inverse_column_norms(c, sizes, panel=panel, method=inverse,
                               work=None if work is None else work[M * M:])
          if diag else None)
    return [(A[:m, i].copy(), None if gd is None else gd[i, :m].copy())
            for i, m in enumerate(sizes)]
