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
- Spectrum for the exact population error (:func:`kernel_spectrum`): eigenvalues up to L and
  bounds on the dropped degrees, T_L = sum_{l>L} N mu_l and S_L = sum_{l>L} N mu_l^2, from
  sums of non-negative terms (no cancellation), for :class:`solvers.PopulationError`.
- Predicted sample complexity (:func:`predicted_nstar`): the first n where the
  eigenlearning error falls to eps, at a fixed ridge, at the ridge a learner selected per n,
  or at the optimal ridge per n.
"""

from __future__ import annotations

import functools
import json
from typing import NamedTuple

import numpy as np
from scipy import optimize

from ..targets.harmonics import funk_hecke_eigenvalues, harmonic_dimensions, sphere_quadrature
from .build import kernel_from_config

__all__ = [
    "Spectrum",
    "NStar",
    "kernel_spectrum",
    "population_spectrum",
    "config_spectrum",
    "log_crossing",
    "predicted_error",
    "predicted_nstar",
    "predicted_nstar_for_config",
    "dot_product_kernel",
    "predicted_krr_error",
    "staircase_error",
    "target_powers",
    "theory_curves",
]


def dot_product_kernel(config: dict):
    """kappa(t) of a closed-form kernel job config, for unit vectors with inner product t: the
    profile of the config's kernel object (:func:`hierlearn.bench.build.kernel_from_config`;
    fields a job config always has default here as in the sweep schema)."""
    if config.get("model") not in ("ntk", "kq"):
        raise ValueError(f"no dot-product kernel for model {config.get('model')!r}")
    if config.get("width") is not None:
        raise ValueError("random-feature kernels have no closed-form eigenvalues")
    if config.get("input", "raw") == "repr" and config.get("repr_width") is not None:
        raise ValueError("finite-width representations are not rotation-invariant kernels")
    full = {"trained": "first", "bias": 0.0, "input": "raw", "repr_activation": "step",
            **config}
    return kernel_from_config(full).profile


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
    cum = np.cumsum(harmonic_dimensions(d, shares.size - 1))
    n = np.atleast_1d(np.asarray(n, float))
    out = np.empty(n.shape)
    for i, nn in enumerate(n):
        learned = np.flatnonzero(cum <= nn)
        L = learned[-1] if learned.size else -1
        out[i] = shares[L + 1:].sum()
    return out


class Spectrum(NamedTuple):
    """Eigenvalues of a dot-product kernel up to degree L and bounds on the degrees above.

    Attributes
    ----------
    mu : ndarray of shape (L + 1,)
        mu_0..mu_L (values below zero at quadrature-error level are set to 0).
    N : ndarray of shape (L + 1,)
        Multiplicities N(d, l).
    tail_trace : float
        Upper bound on T_L = sum_{l>L} N mu_l (the trace the truncation drops).
    tail_power : float
        Upper bound on S_L = sum_{l>L} N mu_l^2 (what bounds the dropped degrees'
        contribution to the population error, :class:`solvers.PopulationError`).
    kappa_one : float
        kappa(1) = sum_l N mu_l.
    tail_estimate : float
        Best estimate of T_L (no padding): the extra ridge the dropped degrees act as in
        eigenlearning.
    quadrature_error : float
        Largest change of mu_0..mu_L when the quadrature nodes are doubled.
    method : str
        The quadrature rule (:func:`sphere_quadrature`).
    """

    mu: np.ndarray
    N: np.ndarray
    tail_trace: float
    tail_power: float
    kappa_one: float
    tail_estimate: float
    quadrature_error: float
    method: str


def kernel_spectrum(kappa, d: int, l_max: int, *, l_far: int | None = None,
                    n_nodes: int | None = None) -> Spectrum:
    """mu_0..mu_L of ``kappa`` on S^(d-1) and rigorous bounds on the degrees above L.

    The degrees L < l <= ``l_far`` are summed term by term (non-negative terms, each padded
    by its quadrature error estimate ``|mu_l(n nodes) - mu_l(2n nodes)|``); above ``l_far`` the
    remaining trace T = kappa(1) - sum_{l<=l_far} N mu_l (padded the same way) bounds both
    sum N mu_l <= T and sum N mu_l^2 <= T^2 / N(d, l_far + 1) (N(d, l) is non-decreasing in l,
    and mu_l >= 0 for a positive-definite kernel). The bounds are rigorous up to the
    quadrature error, which the padding estimates.

    Parameters
    ----------
    kappa : callable
        Vectorised kappa(t) on [-1, 1].
    d : int
        Sphere dimension (>= 3).
    l_max : int
        L, the last degree kept.
    l_far : int, optional
        Degrees summed explicitly in the tail; default max(2 L, L + 60).
    n_nodes : int, optional
        Quadrature nodes; default max(400, 2 l_far + 100).

    Raises
    ------
    ValueError
        An eigenvalue is negative beyond its quadrature error (kappa is not positive
        definite on the sphere).
    """
    d, L = int(d), int(l_max)
    if L < 0:
        raise ValueError(f"l_max must be >= 0, got {l_max}")
    far = max(2 * L, L + 60) if l_far is None else int(l_far)
    if far < L:
        raise ValueError(f"l_far must be >= l_max={L}, got {l_far}")
    nodes = max(400, 2 * far + 100) if n_nodes is None else int(n_nodes)
    # two rules, the second with twice the nodes: their difference bounds the quadrature error
    mus = [funk_hecke_eigenvalues(kappa, d, far, n_nodes=m) for m in (nodes, 2 * nodes)]
    method = sphere_quadrature(d, 2 * nodes)[2]
    mu_all, delta = mus[1], np.abs(mus[0] - mus[1])
    N = harmonic_dimensions(d, far + 1)
    tol = delta + 1e-12 * np.max(np.abs(mu_all))
    bad = np.flatnonzero(mu_all < -tol)
    if bad.size:
        raise ValueError(f"kappa is not positive definite on S^{d - 1}: mu_{int(bad[0])} = "
                         f"{mu_all[bad[0]]:.3g} (quadrature error {delta[bad[0]]:.1g})")
    mu_all = np.maximum(mu_all, 0.0)
    k1 = float(np.asarray(kappa(np.array([1.0])), dtype=float)[0])
    Nf = N[: far + 1]
    rest = max(k1 - float(np.sum(Nf * mu_all)), 0.0) + float(np.sum(Nf * delta)) \
        + 1e-14 * abs(k1)
    up = mu_all + delta
    tail_trace = float(np.sum(Nf[L + 1:] * up[L + 1:])) + rest
    tail_power = float(np.sum(Nf[L + 1:] * up[L + 1:] ** 2)) + rest * rest / float(N[far + 1])
    estimate = max(k1 - float(np.sum(Nf[: L + 1] * mu_all[: L + 1])), 0.0)
    return Spectrum(mu_all[: L + 1].copy(), N[: L + 1].copy(), tail_trace, tail_power, k1,
                    estimate, float(np.max(delta[: L + 1])), method)


def population_spectrum(kappa, d: int, *, tail_power_max: float = 1e-16,
                        l_options=(20, 40, 80, 160)) -> Spectrum:
    """The smallest L in ``l_options`` whose dropped power S_L is <= ``tail_power_max``.

    For :class:`solvers.PopulationError`, whose truncation bound is S_L ||a||_1^2 and whose
    cost grows linearly with L. Measured S_L (relu NTK): 3.6e-16 at d = 10, L = 40 and
    5.6e-14 at d = 6, L = 80; smooth activations reach 1e-28 by L = 20. Returns the largest
    option when none is small enough (check the bound it reports).
    """
    spec = None
    for L in l_options:
        spec = kernel_spectrum(kappa, d, int(L))
        if spec.tail_power <= tail_power_max:
            break
    return spec


def _kernel_key(config: dict) -> str:
    keys = ("model", "input", "activation", "trained", "bias", "repr_activation", "repr_width",
            "width", "degree", "rank", "basis", "distribution")
    return json.dumps({k: config.get(k) for k in keys}, sort_keys=True, default=str)


@functools.lru_cache(maxsize=256)
def _config_spectrum(key: str, d: int, l_max: int):
    config = json.loads(key)
    if config.get("distribution", "sphere") != "sphere":
        raise ValueError("the eigenvalue theory covers sphere inputs only")
    kappa = dot_product_kernel(config)
    spec = kernel_spectrum(kappa, d, l_max)
    v, var = target_powers(d, int(config["degree"]), rank=int(config.get("rank", 1)),
                           basis=config.get("basis", "harmonic"), l_max=l_max)
    return spec, v, var


def config_spectrum(config: dict, d: int, *, n_max: float = 1e5, l_max: int | None = None):
    """Spectrum, target powers and Var f* of a closed-form kernel job at dimension ``d``.

    ``l_max`` defaults to the first L >= p whose cumulative multiplicity exceeds
    20 ``n_max`` (the degrees above act as extra ridge in eigenlearning). Cached.

    Returns
    -------
    (Spectrum, v, variance)

    Raises
    ------
    ValueError
        The config has no dot-product kernel (trained nets, random features, finite
        representations, Gaussian inputs).
    """
    d = int(d)
    if l_max is None:
        l_max = int(config["degree"])
        while harmonic_dimensions(d, l_max).sum() < 20 * n_max and l_max < 60:
            l_max += 1
    return _config_spectrum(_kernel_key(config), d, int(l_max))


class NStar(NamedTuple):
    """A sample complexity: ``n_star`` and whether the curve reached eps (else a lower bound)."""

    n_star: float
    reached: bool


def log_crossing(n, err, eps: float) -> NStar:
    """First crossing of ``err`` below ``eps``, interpolated linearly in (log n, log err).

    Returns ``NStar(n[0], True)`` when the first size already reaches eps (n* <= n[0]) and
    ``NStar(n[-1], False)`` when no size does (n* > n[-1]: a lower bound).
    """
    n = np.asarray(n, dtype=float)
    err = np.asarray(err, dtype=float)
    if n.ndim != 1 or n.shape != err.shape:
        raise ValueError(f"n and err must be 1-d of equal length, got {n.shape} and {err.shape}")
    if n.size == 0:
        raise ValueError("n must not be empty")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if np.any(np.diff(n) <= 0):
        raise ValueError("n must be strictly increasing")
    below = np.flatnonzero(err <= eps)
    if below.size == 0:
        return NStar(float(n[-1]), False)
    i = int(below[0])
    if i == 0:
        return NStar(float(n[0]), True)
    e0, e1 = max(err[i - 1], 1e-300), max(err[i], 1e-300)
    if e1 == e0:
        return NStar(float(n[i]), True)
    l0, l1 = np.log(n[i - 1]), np.log(n[i])
    t = (np.log(eps) - np.log(e0)) / (np.log(e1) - np.log(e0))
    return NStar(float(np.exp(l0 + t * (l1 - l0))), True)


def predicted_error(mu, N, v, n, ridge, *, noise=0.0, tail=0.0, variance=1.0):
    """:func:`predicted_krr_error` at each n (array) with one ridge or one ridge per n."""
    ns = np.atleast_1d(np.asarray(n, dtype=float))
    rs = np.broadcast_to(np.asarray(ridge, dtype=float), ns.shape)
    out = np.array([predicted_krr_error(mu, N, v, nn, rr, noise=noise, tail=tail,
                                        variance=variance) for nn, rr in zip(ns, rs)])
    return out if np.ndim(n) else float(out[0])


def _optimal_error(mu, N, v, n, ridges, **kw):
    if ridges is not None:
        return min(predicted_krr_error(mu, N, v, n, r, **kw) for r in ridges)
    scale = float(np.sum(np.asarray(N) * np.asarray(mu))) + kw.get("tail", 0.0)
    grid = scale * np.logspace(-14, 3, 35)
    errs = [predicted_krr_error(mu, N, v, n, r, **kw) for r in grid]
    j = int(np.argmin(errs))
    lo, hi = np.log(grid[max(j - 1, 0)]), np.log(grid[min(j + 1, grid.size - 1)])
    if hi <= lo:
        return errs[j]
    res = optimize.minimize_scalar(lambda lr: predicted_krr_error(mu, N, v, n, np.exp(lr), **kw),
                                   bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-3})
    return float(min(res.fun, errs[j]))


def predicted_nstar(mu, N, target_powers, eps, *, ridge=None, ridge_of_n=None, ridges=None,
                    variance=1.0, noise=0.0, tail=0.0, n_min=1.0, n_max=1e9,
                    per_decade=12) -> NStar:
    """Finite-d eigenlearning prediction of n*(eps) (docs/math.md, section 6).

    Parameters
    ----------
    mu, N, target_powers : array_like
        Eigenvalue and multiplicity per degree, target power v_l per degree (v_0 = mean^2).
    eps : float
        Target normalised error.
    ridge : float or "optimal", optional
        A fixed ridge, or the ridge minimising the predicted error at each n (over
        ``ridges`` when given, else continuously over 17 decades around the kernel's trace).
    ridge_of_n : callable or (ns, ridges) pair, optional
        The ridge a learner selected at each n: a function of n, or the measured grid with
        its selected ridges (then the prediction is made at those n only and n* is
        interpolated between them exactly like a measured n*, :func:`log_crossing`).
    variance, noise, tail
        As in :func:`predicted_krr_error` (``variance`` normalises the error).
    n_min, n_max : float
        Range searched for a continuous ridge rule (log grid with ``per_decade`` points,
        then a root of err(n) = eps refined between the bracketing points).

    Returns
    -------
    NStar
        ``reached=False`` with ``n_star`` the largest n considered when the prediction
        stays above eps.
    """
    if (ridge is None) == (ridge_of_n is None):
        raise ValueError("give exactly one of ridge= and ridge_of_n=")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    kw = dict(noise=noise, tail=tail, variance=variance)
    if ridge_of_n is not None and not callable(ridge_of_n):
        ns, rs = (np.asarray(a, dtype=float) for a in ridge_of_n)
        if ns.shape != rs.shape or ns.ndim != 1:
            raise ValueError("ridge_of_n must be a callable or a pair (ns, ridges) of equal-length "
                             "1-d arrays")
        return log_crossing(ns, predicted_error(mu, N, target_powers, ns, rs, **kw), eps)
    if ridge_of_n is not None:
        def f(n):
            return predicted_krr_error(mu, N, target_powers, n, float(ridge_of_n(n)), **kw)
    elif isinstance(ridge, str):
        if ridge != "optimal":
            raise ValueError(f"ridge must be a number or 'optimal', got {ridge!r}")

        def f(n):
            return _optimal_error(mu, N, target_powers, n, ridges, **kw)
    else:
        r = float(ridge)
        if not r >= 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")

        def f(n):
            return predicted_krr_error(mu, N, target_powers, n, r, **kw)
    grid = np.geomspace(n_min, n_max, max(2, int(round(per_decade * np.log10(n_max / n_min))) + 1))
    prev = None
    for nn in grid:
        e = f(nn)
        if e <= eps:
            if prev is None:
                return NStar(float(nn), True)
            lo = np.log(prev)
            root = optimize.brentq(lambda ln: f(np.exp(ln)) - eps, lo, np.log(nn), xtol=1e-6)
            return NStar(float(np.exp(root)), True)
        prev = nn
    return NStar(float(grid[-1]), False)


def predicted_nstar_for_config(config: dict, eps: float) -> float:
    """Eigenlearning n*(eps) of a closed-form kernel job at its d, at the best ridge of its
    ``ridges`` grid (continuous when it has none): what sweep files use to size a kernel's
    grid (``n_max = {predicted_eps = .., factor = ..}``). Independent of the seed.

    Raises
    ------
    ValueError
        The job has no dot-product kernel, or the prediction stays above eps up to n = 1e8.
    """
    spec, v, var = config_spectrum(config, int(config["d"]))
    res = predicted_nstar(spec.mu, spec.N, v, eps, ridge="optimal", ridges=config.get("ridges"),
                          variance=var, noise=float(config.get("noise", 0.0)),
                          tail=spec.tail_estimate, n_min=1.0, n_max=1e8)
    if not res.reached:
        raise ValueError(f"the eigenlearning prediction stays above eps = {eps:g} up to n = 1e8")
    return float(res.n_star)


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
        while harmonic_dimensions(d, l_max).sum() < 20 * ns.max() and l_max < 60:
            l_max += 1
    kappa = dot_product_kernel(config)
    mu = funk_hecke_eigenvalues(kappa, d, l_max, n_nodes=n_nodes)
    N = harmonic_dimensions(d, l_max)
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
