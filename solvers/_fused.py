"""Fused elementwise passes of the Taylor-model objectives (numba, one pass over ``n x m``).

One evaluation of the linearised or quadratic model's objective is two matrix products
(``P = Z W^T`` and ``grad = G^T Z``) and, between them, an elementwise pass over the
``n x m`` array ``P``: the row sums that give the model outputs, the per-sample loss and its
derivative, and the backward weights ``G``. numpy needs four or five passes and as many
temporaries for that; here it is one pass that reads ``C`` and ``P`` and overwrites ``P``
with ``G`` (each row is read twice, the second time from cache).

The kernels are serial on purpose: they run between two BLAS calls inside an optimizer loop,
where a second thread pool competes with BLAS's own (see ``hierlearn._threads``), and on
the problem sizes of the sweeps the pass costs a fraction of the products
(``python -m hierlearn quadnet`` prints the split).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["taylor_pass", "taylor_rows"]

# 'reassoc' lets the row sums vectorise; no 'nnan'/'ninf', so NaN and inf propagate.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=_FASTMATH, nogil=True)
def _loss(r, huber, delta):
    """Per-sample loss of the residual ``r`` and its derivative (docs/math.md, section 5)."""
    if huber and abs(r) > delta:
        return 2.0 * delta * abs(r) - delta * delta, 2.0 * delta * np.sign(r)
    return r * r, 2.0 * r


@njit(cache=True, fastmath=_FASTMATH, nogil=True)
def taylor_pass(P, C, y, quadratic, huber, delta):
    """Mean loss of a Taylor model and, in place, its backward weights.

    Parameters
    ----------
    P : ndarray of shape (n, m), C-contiguous
        On entry ``Z W^T``; on exit ``G = d(mean loss) / dP``, so that the gradient in ``W``
        is ``G^T Z``.
    C : ndarray of shape (n, m)
        The fixed features of ``W0``: ``a_r sigma'(w0_r.z_i) / sqrt(m)`` (linear) or
        ``a_r sigma''(w0_r.z_i) / (2 sqrt(m))`` (quadratic).
    y : ndarray of shape (n,)
    quadratic : bool
        ``f_i = sum_j C_ij P_ij^2`` (True) or ``sum_j C_ij P_ij`` (False).
    huber : bool
        Huber loss with threshold ``delta`` (False: squared loss).
    delta : float

    Returns
    -------
    float
        ``(1/n) sum_i loss(f_i - y_i)``.
    """
    n, m = P.shape
    inv_n = 1.0 / n
    total = 0.0
    for i in range(n):
        f = 0.0
        if quadratic:
            for j in range(m):
                f += C[i, j] * P[i, j] * P[i, j]
        else:
            for j in range(m):
                f += C[i, j] * P[i, j]
        value, deriv = _loss(f - y[i], huber, delta)
        total += value
        g = deriv * inv_n
        if quadratic:
            g *= 2.0
            for j in range(m):
                P[i, j] = g * C[i, j] * P[i, j]
        else:
            for j in range(m):
                P[i, j] = g * C[i, j]
    return total * inv_n


@njit(cache=True, fastmath=_FASTMATH, nogil=True)
def taylor_rows(P, C, quadratic, out):
    """Model outputs ``out_i = sum_j C_ij P_ij^2`` (quadratic) or ``sum_j C_ij P_ij``."""
    n, m = P.shape
    for i in range(n):
        f = 0.0
        if quadratic:
            for j in range(m):
                f += C[i, j] * P[i, j] * P[i, j]
        else:
            for j in range(m):
                f += C[i, j] * P[i, j]
        out[i] = f
    return out
