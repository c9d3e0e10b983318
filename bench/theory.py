"""Theory overlays for rotation-invariant kernels on the sphere (docs/math.md, section 6).

- Eigenvalues of a dot-product kernel kappa(x.y) on S^(d-1):
  mu_l = E_t[kappa(t) P_l(t)], t with density proportional to (1 - t^2)^((d-3)/2), P_l the
  Gegenbauer polynomial with P_l(1) = 1; each mu_l has multiplicity N(d, l).
- Quadrature: Gauss-Jacobi nodes (alpha = beta = (d-3)/2), *validated*: finite, positive
  weights whose sum matches the exact normaliser B(1/2, (d-1)/2) (in log space). scipy's
  Gauss-Gegenbauer/Jacobi nodes come back NaN for large d times node counts (d = 1000 with
  1000 nodes here); then a Gauss-Legendre rule in t with the weight evaluated in log space
  is used instead, validated the same way.
- Predicted KRR learning curve (Canatar, Bordelon, Pehlevan 2021; Simon et al.,
  "eigenlearning"): solve sum_l N mu_l / (mu_l + kappa) + lambda / kappa = n for kappa, then
  error = E0 (sum_l (1 - L_l)^2 v_l + s^2) - s^2 with L_l = mu_l / (mu_l + kappa),
  E0 = n / (n - sum_l N L_l^2), v_l the target's power in degree l. Degrees above the
  truncation enter through their total trace kappa(1) - sum_{l<=L} N mu_l, which acts like
  extra ridge (their mu << kappa).
- Staircase: with sum_{k<=l} N(d, k) <= n, a rotation-invariant kernel learns the degree <= l
  part; the error is the share of variance above l.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, special

from .build import kernel_from_config

__all__ = [
    "sphere_quadrature",
    "gegenbauer_P",
    "kernel_eigenvalues",
    "dot_product_kernel",
    "predicted_krr_error",
    "staircase_error",
    "target_powers",
    "theory_curves",
]


def _log_normaliser(d: int) -> float:
    # int_{-1}^{1} (1 - t^2)^a dt = B(1/2, a + 1), a = (d - 3) / 2
    a = (d - 3) / 2
    return float(special.betaln(0.5, a + 1.0))


def _valid(t, w, d, rtol=1e-8) -> bool:
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(w)) and np.all(w >= 0)):
        return False
    s = w.sum()
    return s > 0 and abs(math.log(s) - _log_normaliser(d)) < rtol * 10 + 1e-10


@functools.lru_cache(maxsize=64)
def sphere_quadrature(d: int, n_nodes: int = 400) -> tuple[np.ndarray, np.ndarray, str]:
    """Nodes and probability weights for t = u.x, x uniform on S^(d-1), u fixed.

    Returns
    -------
    t, w : ndarray
        Nodes in (-1, 1) and weights summing to 1.
    method : str
        ``"gauss-jacobi"`` or ``"gauss-legendre"`` (the fallback when scipy's nodes fail
        validation).
    """
    if d < 3:
        raise ValueError(f"d must be >= 3 for the sphere quadrature, got {d}")
    if n_nodes < 2:
        raise ValueError(f"n_nodes must be >= 2, got {n_nodes}")
    a = (d - 3) / 2
    with np.errstate(all="ignore"):
        try:
            t, w = special.roots_jacobi(n_nodes, a, a)
        except (ValueError, ArithmeticError):
            t = w = np.array([np.nan])
    if _valid(t, w, d):
        return t, w / w.sum(), "gauss-jacobi"
    # Fallback: Legendre nodes carry the weight (1 - t^2)^a computed in log space; the mass
    # sits within ~1/sqrt(d) of 0, so use enough nodes to resolve it.
    m = max(n_nodes, int(8 * math.sqrt(d)) + 200, 2000)
    t, wl = special.roots_legendre(m)
    logw = np.log(wl) + a * np.log1p(-t * t)
    w = np.exp(logw - _log_normaliser(d))
    if not (np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-8):
        raise FloatingPointError(f"sphere quadrature failed validation for d={d} (sum {w.sum()})")
    return t, w / w.sum(), "gauss-legendre"


def gegenbauer_P(l_max: int, d: int, t) -> np.ndarray:
    """P_0..P_{l_max} at ``t`` (normalised P_l(1) = 1), shape (l_max + 1, len(t)); stable recurrence."""
    t = np.asarray(t, dtype=float)
    out = np.empty((l_max + 1,) + t.shape)
    out[0] = 1.0
    if l_max >= 1:
        out[1] = t
    for k in range(1, l_max):
        out[k + 1] = ((2 * k + d - 2) * t * out[k] - k * out[k - 1]) / (k + d - 2)
    return out


def harmonic_dims(d: int, l_max: int) -> np.ndarray:
    """N(d, l) for l = 0..l_max as floats (exact integers below 2^53)."""
    out = [1.0]
    for l in range(1, l_max + 1):
        out.append(float((2 * l + d - 2) * math.comb(l + d - 3, l - 1) // l))
    return np.array(out)


def kernel_eigenvalues(kappa, d: int, l_max: int, *, n_nodes: int = 400) -> np.ndarray:
    """mu_0..mu_{l_max} of the dot-product kernel ``kappa`` (a vectorised function of t)."""
    t, w, _ = sphere_quadrature(int(d), int(n_nodes))
    k = np.asarray(kappa(t), dtype=float)
    if k.shape != t.shape or not np.all(np.isfinite(k)):
        raise ValueError("kappa must return finite values of the same shape as its input")
    return gegenbauer_P(l_max, d, t) @ (w * k)


def dot_product_kernel(config: dict):
    """kappa(t) of a closed-form kernel job config, for unit vectors with inner product t
    (the kernel object's profile; see :func:`hierlearn.bench.build.kernel_from_config`)."""
    if config["model"] not in ("ntk", "kq"):
        raise ValueError(f"no dot-product kernel for model {config['model']!r}")
    if config["input"] == "repr" and config.get("repr_width") is not None:
        raise ValueError("finite-width representations are not rotation-invariant kernels")
    if config.get("width") is not None:
        raise ValueError("random-feature kernels have no closed-form eigenvalues")
    return kernel_from_config(config).profile


def target_powers(d: int, degree: int, *, rank: int = 1, basis: str = "harmonic",
                  l_max: int | None = None) -> tuple[np.ndarray, float]:
    """Power v_l of f* in each harmonic degree (v_0 = mean^2) and Var f*, on the sphere."""
    from hierlearn import targets

    f = targets.LowRankPolynomial(d, degree, rank, basis=basis, distribution="sphere", seed=0)
    L = degree if l_max is None else l_max
    v = f.degree_profile(L) * f.variance
    v[0] = f.mean ** 2
    return v, float(f.variance)


def predicted_krr_error(mu, N, v, n, ridge, *, noise=0.0, tail=0.0, variance=1.0) -> float:
    """Eigenlearning prediction of the normalised test error of KRR with ``n`` samples.

    Parameters
    ----------
    mu, N : ndarray
        Eigenvalue per degree and its multiplicity.
    v : ndarray
        Target power per degree (same length; zero-padded if shorter).
    n : int
    ridge : float
        lambda in (K + lambda I) alpha = y.
    noise : float
        Label-noise standard deviation.
    tail : float
        Trace of the truncated degrees (acts as extra ridge).
    variance : float
        Var f*, the normaliser.
    """
    mu = np.maximum(np.asarray(mu, float), 0.0)
    N = np.asarray(N, float)
    v = np.pad(np.asarray(v, float), (0, max(0, mu.size - len(v))))[: mu.size]
    lam = ridge + max(tail, 0.0)

    def g(logk):
        k = np.exp(logk)
        return np.sum(N * mu / (mu + k)) + lam / k - n

    if lam <= 0 and np.sum(N[mu > 0]) <= n:
        # ridgeless with more samples than positive modes: those modes are fit exactly
        # (noise aside); degrees with mu = 0 stay unlearned
        return float(np.sum(v[mu <= 0]) / variance)
    lo, hi = -700.0, 700.0
    kappa = np.exp(optimize.brentq(g, lo, hi, xtol=1e-12, maxiter=500))
    L = mu / (mu + kappa)
    denom = n - np.sum(N * L * L)
    E0 = n / denom if denom > 0 else np.inf
    err = E0 * (np.sum((1 - L) ** 2 * v) + noise ** 2) - noise ** 2
    return float(err / variance)


def staircase_error(d: int, shares, n) -> np.ndarray:
    """Share of variance above the largest degree l with sum_{k<=l} N(d, k) <= n."""
    shares = np.asarray(shares, float)
    cum = np.cumsum(harmonic_dims(d, shares.size - 1))
    n = np.atleast_1d(np.asarray(n, float))
    out = np.empty(n.shape)
    for i, nn in enumerate(n):
        learned = np.flatnonzero(cum <= nn)
        L = learned[-1] if learned.size else -1
        out[i] = shares[L + 1:].sum()
    return out


def theory_curves(config: dict, ns, *, l_max: int | None = None, n_nodes: int = 400) -> dict:
    """Staircase and eigenlearning predictions for a closed-form kernel job on the sphere.

    The eigenlearning error is minimised over the job's ridge grid at each n (the measured
    curves choose the ridge by GCV/LOO, which approximates that optimum).

    Returns
    -------
    dict with ``n``, ``staircase``, ``eigenlearning`` arrays and the ``method`` of quadrature.
    """
    d, p = int(config["d"]), int(config["degree"])
    ns = np.asarray(ns, float)
    if l_max is None:  # enough degrees that the truncated modes outnumber n by far
        l_max = p
        while harmonic_dims(d, l_max).sum() < 20 * ns.max() and l_max < 60:
            l_max += 1
    kappa = dot_product_kernel(config)
    mu = kernel_eigenvalues(kappa, d, l_max, n_nodes=n_nodes)
    N = harmonic_dims(d, l_max)
    tail = float(kappa(np.array([1.0]))[0] - np.sum(N * np.maximum(mu, 0)))
    v, var = target_powers(d, p, rank=config["rank"], basis=config["basis"], l_max=l_max)
    shares = v / var
    shares[0] = 0.0  # the mean is learned from n = 1 on (N(d, 0) = 1)
    pred = []
    for n in ns:
        errs = [predicted_krr_error(mu, N, v, n, r, noise=config["noise"], tail=tail, variance=var)
                for r in config["ridges"]]
        pred.append(min(errs))
    return {"n": ns, "staircase": staircase_error(d, shares, ns), "eigenlearning": np.array(pred),
            "mu": mu, "N": N, "method": sphere_quadrature(d, n_nodes)[2]}
