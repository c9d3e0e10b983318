"""Exact population error of kernel ridge on the sphere: harmonic parts of targets, closed
forms, an 80-bit reference, Monte Carlo, truncation bounds, prefixes and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hierlearn import kernels
from hierlearn.bench.theory import dot_product_kernel, kernel_spectrum
from hierlearn.solvers import PopulationError, population_error
from hierlearn.solvers.population import zonal_matrix
from hierlearn.targets import LowRankPolynomial, gegenbauer, harmonic_dimension, sample_inputs


# -- harmonic components of the targets ---------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(d=st.integers(2, 9), p=st.integers(0, 5), r=st.integers(1, 2),
       basis=st.sampled_from(["monomial", "harmonic"]),
       dist=st.sampled_from(["sphere", "gaussian"]), seed=st.integers(0, 2**16))
def test_harmonic_components_sum_to_target(d, p, r, basis, dist, seed):
    r = min(r, d)
    f = LowRankPolynomial(d, p, r, basis=basis, distribution=dist, seed=seed)
    X = sample_inputs(50, d, distribution=dist, seed=seed + 1)
    parts = np.array([f.harmonic_component(X, l) for l in range(p + 2)])
    np.testing.assert_allclose(parts.sum(0), f(X), rtol=1e-12, atol=1e-12)
    assert not parts[p + 1].any()  # above the degree: nothing
    if basis == "harmonic":  # one degree only
        np.testing.assert_allclose(parts[p], f(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dist", ["sphere", "gaussian"])
def test_harmonic_components_are_orthogonal_with_exact_norms(dist):
    d = 5
    f = LowRankPolynomial(d, [4, 3], 2, distribution=dist, seed=3)
    X = sample_inputs(400_000, d, distribution=dist, seed=4)
    parts = np.array([f.harmonic_component(X, l) for l in range(5)])
    gram = parts @ parts.T / X.shape[0]
    exact = np.zeros(5)
    exact[1:] = f.degree_profile(4)[1:] * f.variance
    exact[0] = f.mean ** 2
    # E[part_l part_k] = delta_lk * level variance, within 5 Monte Carlo standard errors
    prods = parts[:, None, :] * parts[None, :, :]
    se = prods.std(axis=2) / np.sqrt(X.shape[0])
    assert np.all(np.abs(gram - np.diag(exact)) <= 5 * se + 1e-12)


def test_zonal_coefficients_and_errors():
    f = LowRankPolynomial(6, 3, 2, basis="harmonic", seed=0)
    assert f.zonal_coefficients(2).tolist() == [0.0, 0.0]
    w = f.zonal_coefficients(3)
    X = sample_inputs(7, 6, seed=1)
    np.testing.assert_allclose(f.harmonic_component(X, 3),
                               gegenbauer(3, 6, X @ f.directions.T) @ w, rtol=1e-13)
    with pytest.raises(ValueError, match="degree"):
        f.harmonic_component(X, -1)
    with pytest.raises(ValueError, match="features"):
        f.harmonic_component(X[:, :5], 2)


# -- population error ---------------------------------------------------------------------

def _setup(name, d, n, seed=0, rank=1):
    cfgs = {"relu": dict(model="ntk", input="raw", activation="relu", trained="first"),
            "softplus": dict(model="ntk", input="raw", activation="softplus", trained="first"),
            "kq": dict(model="kq", input="raw", activation="relu2")}
    cfg = cfgs[name]
    f = LowRankPolynomial(d, 4, rank, basis="harmonic", seed=seed)
    X = sample_inputs(n, d, seed=seed + 1)
    gram = kernels.ntk_gram if cfg["model"] == "ntk" else kernels.quad_gram
    kw = {"trained": cfg["trained"]} if cfg["model"] == "ntk" else {}
    K = gram(X, activation=cfg["activation"], **kw)
    spec = kernel_spectrum(dot_product_kernel(dict(cfg, bias=0.0)), d, 40)
    return cfg, f, X, K, spec, (lambda Y: gram(Y, X, activation=cfg["activation"], **kw))


def _alphas(K, y, ridges):
    return np.stack([np.linalg.solve(K + r * np.eye(K.shape[0]), y) for r in ridges], axis=1)


def test_zero_predictor_and_a_finite_kernel_that_contains_the_target():
    d, n = 5, 300
    f = LowRankPolynomial(d, [4, 2], 2, seed=1)  # monomial: degrees 0, 2, 4 (nonzero mean)
    X = sample_inputs(n, d, seed=2)
    mu = np.array([0.3, 0.2, 0.1, 0.05, 0.02])
    res = population_error(X, np.zeros(n), kernel_eigenvalues=mu, target=f, tail_trace=0.0)
    assert res.error == pytest.approx(f.mean ** 2 + f.variance, rel=1e-12)
    assert res.truncation_bound == 0.0
    # the kernel's RKHS holds f*, and n > sum_l N(d, l) = 105: ridge -> 0 recovers f* exactly
    K = zonal_matrix(X, X, harmonic_dimensions(d, 4) * mu, symmetric=True)
    A = _alphas(K, f(X), [1e-12, 1e-3])
    err = population_error(X, A, kernel_eigenvalues=mu, target=f, tail_trace=0.0).error
    assert 0 <= err[0] < 1e-12 and err[1] > 1e3 * err[0]


def harmonic_dimensions(d, L):
    return np.array([harmonic_dimension(d, l) for l in range(L + 1)], float)


def _extended_reference(X, A, mu, f):
    """a'Ma - 2a'b + ||f*||^2 summed naively in 80-bit extended precision (np.longdouble)."""
    d, L = X.shape[1], mu.size - 1
    Xl = X.astype(np.longdouble)
    T = Xl @ Xl.T
    N = harmonic_dimensions(d, L)
    prev, cur = np.ones_like(T), T.copy()
    M = N[0] * mu[0] ** 2 * prev + np.longdouble(N[1] * mu[1] ** 2) * cur
    for k in range(1, L):
        prev, cur = cur, ((2 * k + d - 2) * T * cur - k * prev) / (k + d - 2)
        M += np.longdouble(N[k + 1] * mu[k + 1] ** 2) * cur
    b = sum(mu[l] * f.harmonic_component(X, l) for l in range(f.degree + 1)).astype(np.longdouble)
    Al = A.astype(np.longdouble)
    out = np.einsum("ij,ij->j", Al, M @ Al) - 2 * (b @ Al) + np.longdouble(f.mean ** 2 + f.variance)
    naive = (np.einsum("ij,ij->j", A, M.astype(float) @ A) - 2 * (b.astype(float) @ A)
             + f.mean ** 2 + f.variance)
    return out.astype(float), naive


def test_matches_extended_precision_where_the_naive_sum_loses_digits():
    # smooth kernel, tiny ridges: ||alpha|| ~ 1e4 and the three terms cancel
    cfg, f, X, K, spec, _ = _setup("softplus", 6, 400)
    ridges = [1e-6, 1e-9, 1e-2]
    A = _alphas(K, f(X), ridges)
    pe = PopulationError(X, spec.mu, f, tail_power=spec.tail_power, feature_max=120)
    res = pe.evaluate(A)
    ref, naive = _extended_reference(X, A, spec.mu, f)
    rel = np.abs(res.error - ref) / ref
    assert np.all(rel < 1e-7), (rel, res.error, ref)
    assert np.all(np.abs(res.error - ref) <= 10 * res.rounding + 1e-15)
    assert np.all(res.truncation_bound < 1e-9 * res.error)
    assert res.error[0] < 0.05 and np.abs(A[:, 0]).max() > 1e2  # the hard regime
    # all degrees through the one matrix form: same numbers, less accurate
    plain = PopulationError(X, spec.mu, f, tail_power=spec.tail_power, feature_max=0).evaluate(A)
    np.testing.assert_allclose(plain.error, ref, rtol=1e-4)
    assert np.all(np.abs(naive - ref) <= np.abs(plain.error - ref) * 10 + 1e-12)


@pytest.mark.parametrize("name", ["relu", "kq"])
def test_agrees_with_monte_carlo(name):
    d, n, n_test = 6, 150, 40_000
    cfg, f, X, K, spec, cross = _setup(name, d, n, seed=2, rank=2)
    A = _alphas(K, f(X), [1e-6, 1.0])
    res = PopulationError(X, spec.mu, f, tail_power=spec.tail_power).evaluate(A)
    Xt = sample_inputs(n_test, d, seed=99)
    r2 = (cross(Xt) @ A - f(Xt)[:, None]) ** 2
    mc, se = r2.mean(0), r2.std(0) / np.sqrt(n_test)
    assert np.all(np.abs(mc - res.error) <= 4 * se), ((mc - res.error) / se)
    assert np.all(res.truncation_bound < 1e-3 * se)


def test_truncation_bound_holds():
    cfg, f, X, K, spec, _ = _setup("relu", 5, 120)
    A = _alphas(K, f(X), [1e-6, 1e-2])
    kappa = dot_product_kernel(dict(cfg, bias=0.0))
    full = kernel_spectrum(kappa, 5, 60)
    exact = PopulationError(X, full.mu, f, tail_power=full.tail_power).evaluate(A)
    for L in (6, 12, 24):
        short = kernel_spectrum(kappa, 5, L)
        res = PopulationError(X, short.mu, f, tail_power=short.tail_power).evaluate(A)
        assert np.all(res.error <= exact.error + 1e-13)
        assert np.all(exact.error <= res.error + res.truncation_bound + exact.truncation_bound)
        # tail_trace gives a weaker but valid bound
        weak = PopulationError(X, short.mu, f, tail_trace=short.tail_trace).evaluate(A)
        assert np.all(weak.truncation_bound >= res.truncation_bound)
    assert np.all(res.error < exact.error)  # the dropped degrees matter at L = 24 ...
    assert np.all(exact.error - res.error < res.truncation_bound)  # ... within the bound


def test_prefixes_blocks_and_hook_shapes():
    cfg, f, X, K, spec, _ = _setup("relu", 5, 90)
    pe = PopulationError(X, spec.mu, f, tail_power=spec.tail_power)
    blocked = PopulationError(X, spec.mu, f, tail_power=spec.tail_power, memory_budget=4096)
    assert pe._M is not None and blocked._M is None
    for n in (30, 90):
        A = _alphas(K[:n, :n], f(X[:n]), [1e-4, 0.1])
        one = population_error(X[:n], A, kernel_eigenvalues=spec.mu, target=f,
                               tail_power=spec.tail_power)
        np.testing.assert_allclose(pe.evaluate(A, n).error, one.error, rtol=1e-12)
        np.testing.assert_allclose(blocked(A, n), one.error, rtol=1e-12)
        assert isinstance(pe(A[:, 0], n), float) and pe(A[:, 0]) == pytest.approx(one.error[0])


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(X=np.ones((4, 3))), ValueError, "unit vectors"),
    (dict(target=LowRankPolynomial(3, 2, distribution="gaussian", seed=0)), ValueError, "sphere"),
    (dict(target=lambda x: x), TypeError, "LowRankPolynomial"),
    (dict(kernel_eigenvalues=[1.0, 0.5]), ValueError, "cover the target's degrees"),
    (dict(kernel_eigenvalues=[1.0, -0.5, 0.1]), ValueError, ">= 0"),
    (dict(kernel_eigenvalues=np.ones((3, 1))), ValueError, "1-d"),
    (dict(tail_power=None), ValueError, "tail_trace"),
    (dict(tail_power=-1.0), ValueError, "tail_power"),
    (dict(alpha=np.ones(5)), ValueError, "alpha"),
    (dict(X=sample_inputs(4, 4, seed=0)), ValueError, "d=3"),
])
def test_bad_input_names_the_argument(kwargs, exc, match):
    args = dict(X=sample_inputs(4, 3, seed=0), alpha=np.ones(4), kernel_eigenvalues=[1.0, 0.5, 0.1],
                target=LowRankPolynomial(3, 2, seed=0), tail_power=0.0)
    args.update(kwargs)
    X, alpha = args.pop("X"), args.pop("alpha")
    with pytest.raises(exc, match=match):
        population_error(X, alpha, **args)
