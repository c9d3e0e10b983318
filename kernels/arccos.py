"""Arc-cosine functions in numpy: the reference the numba leaf is tested against.

Cho & Saul, "Kernel Methods for Deep Learning" (NIPS 2009), eq. 1-3: for w ~ N(0, I) and
vectors a, b at angle theta, ``E[relu(w.a)^n relu(w.b)^n] = |a|^n |b|^n J_n(theta) / (2 pi)``,
relu^0 = step. The tables ``ARCCOS_A``/``ARCCOS_B`` and the near-pi series live with the numba
formulas (:mod:`hierlearn.kernels._numba.angles`); this module evaluates them vectorised.
"""

from __future__ import annotations

import numpy as np

from ._numba.angles import ARCCOS_A, ARCCOS_B, MAX_ORDER, SERIES, SERIES_PHI_MAX

__all__ = ["ARCCOS_A", "ARCCOS_B", "MAX_ORDER", "arccos_J", "relu_ntk_formula", "stable_angle"]


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


def relu_ntk_formula(A, B=None, *, trained="both"):
    """The textbook numpy relu NTK: the reference benchmarks and tests compare against.

    K_L = (a.b) (pi - theta) / (2 pi) and K_NTK = K_L + ``|a| |b|`` (sin theta + (pi - theta)
    cos theta) / (2 pi), theta = arccos of the clipped cosine (Cho & Saul 2009). Accurate to
    ~1e-8 relative near theta = 0 and pi (arccos of a rounded cosine), unlike the engine's
    stable angle; written in place to bound its temporaries.
    """
    B = A if B is None else B
    na = np.sqrt(np.einsum("ij,ij->i", A, A))[:, None]
    nb = np.sqrt(np.einsum("ij,ij->i", B, B))[None, :]
    dot = A @ B.T
    nn = na * nb
    c = np.divide(dot, nn)
    np.clip(c, -1.0, 1.0, out=c)
    s = None
    if trained == "both":            # sin theta, before theta: at most five arrays live
        s = c * c
        np.subtract(1.0, s, out=s)
        np.maximum(s, 0.0, out=s)
        np.sqrt(s, out=s)
    th = np.arccos(c)
    np.subtract(np.pi, th, out=th)   # pi - theta
    dot *= th                        # x.y (pi - theta)
    if s is not None:
        c *= th
        s += c
        s *= nn                      # |x||y| (sin + (pi - theta) cos)
        dot += s
    dot /= 2 * np.pi
    return dot
