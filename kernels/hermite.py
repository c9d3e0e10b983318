"""Gaussian expectations for smooth activations through the Hermite (Mehler) series.

For (u, v) standard bivariate normal with correlation rho (Mehler's formula; e.g. O'Donnell,
"Analysis of Boolean Functions", ch. 11; Daniely, Frostig & Singer 2016, section 4):

    E[f(u) g(v)] = sum_k f_k g_k rho^k,   f_k = E[f(z) h_k(z)],   h_k = He_k / sqrt(k!),

so with w ~ N(0, I), ``E[f(w.a) g(w.b)] = sum_k f_k(|a|) g_k(|b|) cos(theta)^k`` where
f_k(r) = E[f(r z) h_k(z)]. The coefficients depend on a point only through its norm, so the
Gram loops get them per point (one row per point) and pay O(K) per entry.

The 1-d coefficients come from Gauss-Hermite quadrature (probabilists' weights) with
``QUAD_NODES`` nodes, exact for polynomials of degree < 2 * QUAD_NODES. The series is cut at
the smallest K whose neglected tail sum_{k >= K} f_k^2 is below ``tol * E[f^2]`` for every
point, which bounds the truncation error by tol * sqrt(E f^2 E g^2) (Cauchy-Schwarz).
Parseval (sum_k f_k^2 = E[f^2]) measures what even ``max_terms`` coefficients miss; beyond
1e-10 relative (norms far above 1: the series converges too slowly) a ValueError is raised
rather than returning inaccurate kernels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

__all__ = ["QUAD_NODES", "MAX_TERMS", "hermite_coefficients", "gaussian_expectation_2d"]

QUAD_NODES = 240  # numpy's hermegauss overflows somewhere past ~350 nodes
MAX_TERMS = 160


@lru_cache(maxsize=8)
def _nodes(q: int):
    z, w = hermegauss(q)
    w = w / np.sqrt(2.0 * np.pi)  # weights of the standard normal density
    if not (np.all(np.isfinite(w)) and abs(w.sum() - 1.0) < 1e-13):
        raise RuntimeError(f"Gauss-Hermite rule with {q} nodes is not accurate")
    return z, w


@lru_cache(maxsize=8)
def _hermite_table(q: int, K: int):
    """h_k(z_i) for the quadrature nodes: orthonormal recurrence (stable, no factorials)."""
    z, _ = _nodes(q)
    H = np.empty((K, q))
    H[0] = 1.0
    if K > 1:
        H[1] = z
    for k in range(1, K - 1):
        H[k + 1] = (z * H[k] - np.sqrt(k) * H[k - 1]) / np.sqrt(k + 1)
    return H


def hermite_coefficients(fn, norms, *, tol=1e-16, max_terms=MAX_TERMS):
    """Hermite coefficients f_k(r) = E[fn(r z) h_k(z)] for each r in ``norms``.

    Parameters
    ----------
    fn : callable
        Vectorised activation (or derivative).
    norms : array_like of shape (n,)
        Nonnegative norms r.
    tol : float
        Relative truncation tolerance (see module docstring).
    max_terms : int
        Largest number of coefficients computed.

    Returns
    -------
    C : ndarray of shape (n, K)
        Truncated coefficient rows, K <= max_terms chosen by the tail criterion.
    """
    r = np.asarray(norms, dtype=float).reshape(-1)
    z, w = _nodes(QUAD_NODES)
    H = _hermite_table(QUAD_NODES, max_terms)
    F = np.asarray(fn(r[:, None] * z[None, :]), dtype=float)  # (n, q)
    Fw = F * w
    C = Fw @ H.T  # (n, max_terms)
    energy = np.sum(Fw * F, axis=1)  # E[f(r z)^2]
    sq = C * C
    tails = np.cumsum(sq[:, ::-1], axis=1)[:, ::-1]  # tails[:, K] = sum_{k >= K} c_k^2
    resid = np.abs(energy - sq.sum(axis=1))
    scale = np.maximum(energy, np.finfo(float).tiny)
    if np.any(resid > 1e-10 * scale):
        bad = int(np.argmax(resid / scale))
        raise ValueError(
            f"Hermite series of {getattr(fn, '__name__', 'activation')} does not converge in "
            f"{max_terms} terms at norm {r[bad]:.3g} (Parseval residual "
            f"{resid[bad] / scale[bad]:.2e}); smooth closed-form kernels need input norms of "
            f"order 1 -- rescale X or use width= (random features)"
        )
    ok = tails <= tol * scale[:, None]
    # first K with the tail from K on negligible, for every point
    K = int(np.max(np.argmax(ok, axis=1))) if ok.shape[0] else 1
    if not ok.any(axis=1).all():
        K = max_terms
    return np.ascontiguousarray(C[:, : max(K, 1)])


def gaussian_expectation_2d(f, g, a, b, rho, *, nodes=80):
    """Reference E[f(a u) g(b v)] for standard (u, v) with correlation rho, by a tensor
    Gauss-Hermite rule on u = z1, v = rho z1 + sqrt(1 - rho^2) z2 (scalar inputs).

    Used to validate the Mehler series; costs nodes^2 evaluations.
    """
    z, w = _nodes(nodes)
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    W = np.outer(w, w)
    u = z1
    v = rho * z1 + np.sqrt(max(1.0 - rho * rho, 0.0)) * z2
    return float(np.sum(W * f(a * u) * g(b * v)))
