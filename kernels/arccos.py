"""Arc-cosine functions in numpy: the reference the numba leaf is tested against.

Cho & Saul, "Kernel Methods for Deep Learning" (NIPS 2009), eq. 1-3: for w ~ N(0, I) and
vectors a, b at angle theta, ``E[relu(w.a)^n relu(w.b)^n] = |a|^n |b|^n J_n(theta) / (2 pi)``,
relu^0 = step. The tables ``ARCCOS_A``/``ARCCOS_B`` and the near-pi series live with the numba
formulas (:mod:`hierlearn.kernels._numba.angles`); this module evaluates them vectorised.
"""

from __future__ import annotations

import numpy as np

from ._numba.angles import ARCCOS_A, ARCCOS_B, MAX_ORDER, SERIES, SERIES_PHI_MAX

__all__ = ["ARCCOS_A", "ARCCOS_B", "MAX_ORDER", "arccos_J", "stable_angle"]


def stable_angle(M, P):
    """Angle and its supplement from ``M = |u-v|^2``, ``P = |u+v|^2`` (unit u, v), vectorised.

    Returns
    -------
    theta, phi, cos, sin : ndarrays
        ``phi = pi - theta``; every output is accurate to a few ulps relative.
    """
    M = np.maximum(np.asarray(M, dtype=float), 0.0)
    P = np.maximum(np.asarray(P, dtype=float), 0.0)
    theta = 2.0 * np.arctan2(np.sqrt(M), np.sqrt(P))
    phi = 2.0 * np.arctan2(np.sqrt(P), np.sqrt(M))
    tot = M + P
    return theta, phi, (P - M) / tot, 2.0 * np.sqrt(M * P) / tot


def arccos_J(n: int, M, P) -> np.ndarray:
    """Arc-cosine function J_n(theta) (Cho & Saul 2009) from M, P of unit vectors.

    Parameters
    ----------
    n : int in 0..4
    M, P : array_like
        ``|u - v|^2`` and ``|u + v|^2`` for unit vectors u, v.
    """
    if not (isinstance(n, (int, np.integer)) and 0 <= n <= MAX_ORDER):
        raise ValueError(f"arc-cosine order n must be an int in 0..{MAX_ORDER}, got {n!r}")
    _, phi, c, s = stable_angle(M, P)
    A = np.polynomial.polynomial.polyval(c, ARCCOS_A[n])
    B = np.polynomial.polynomial.polyval(c, ARCCOS_B[n])
    out = phi * A + s * B
    if n > 0:  # J_n ~ phi^(2n+1) near theta = pi: the exact series instead of cancellation
        near = phi < SERIES_PHI_MAX
        p = phi[near] if np.ndim(phi) else phi
        ser = np.polynomial.polynomial.polyval(p * p, SERIES[n]) * p ** (2 * n + 1)
        if np.ndim(out):
            out[near] = ser
        elif near:
            out = ser
    return out
