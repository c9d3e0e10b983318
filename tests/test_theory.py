"""bench.theory: eigenvalues by validated quadrature, tail bounds, eigenlearning predictions of
the learning curve and of n*, and the dot-product profile of the engine's kernels."""

import math

import numpy as np
import pytest
from scipy import integrate

from hierlearn import kernels
from hierlearn.bench.theory import (config_spectrum, dot_product_kernel, kernel_spectrum,
                                    log_crossing, population_spectrum, predicted_error,
                                    predicted_krr_error, predicted_nstar, staircase_error)
from hierlearn.targets.harmonics import (funk_hecke_eigenvalues, gegenbauer_table,
                                         harmonic_dimensions, sphere_quadrature)


def _arccos1(t):
    th = np.arccos(np.clip(t, -1, 1))
    return (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)


@pytest.mark.parametrize("d", [3, 4, 7])
def test_eigenvalues_match_direct_integration(d):
    # relu arc-cosine kernel (kink at t = 1): Gauss-Jacobi vs adaptive quad with the
    # algebraic weight (1 - t)^a (1 + t)^a
    mu = funk_hecke_eigenvalues(_arccos1, d, 6, n_nodes=400)
    a = (d - 3) / 2
    norm = integrate.quad(lambda t: 1.0, -1, 1, weight="alg", wvar=(a, a))[0]
    for l in range(7):
        f = lambda t, l=l: _arccos1(np.array([t]))[0] * gegenbauer_table(l, d, np.array([t]))[l, 0]
        direct = integrate.quad(f, -1, 1, weight="alg", wvar=(a, a), limit=200, epsabs=1e-13)[0] / norm
        assert mu[l] == pytest.approx(direct, rel=1e-5, abs=1e-9)


def test_eigen_expansion_reconstructs_kernel():
    d = 5
    mu = funk_hecke_eigenvalues(np.exp, d, 25)
    t = np.linspace(-1, 1, 11)
    recon = (harmonic_dimensions(d, 25) * mu) @ gegenbauer_table(25, d, t)
    np.testing.assert_allclose(recon, np.exp(t), rtol=1e-10)


@pytest.mark.parametrize("d,nodes", [(1000, 1000), (10000, 300)])
def test_quadrature_fallback_when_scipy_nodes_fail(d, nodes):
    t, w, method = sphere_quadrature(d, nodes)
    assert method == "gauss-legendre"  # scipy's Jacobi nodes are NaN here
    assert np.all(np.isfinite(w)) and w.sum() == pytest.approx(1.0)
    # exact sphere moments of t = u.x: E t^2 = 1/d, E t^4 = 3/(d(d+2))
    assert w @ t ** 2 == pytest.approx(1 / d, rel=1e-9)
    assert w @ t ** 4 == pytest.approx(3 / (d * (d + 2)), rel=1e-9)
    t2, w2, m2 = sphere_quadrature(50, 100)
    assert m2 == "gauss-jacobi" and w2 @ t2 ** 4 == pytest.approx(3 / (50 * 52), rel=1e-12)


def test_staircase_and_eigenlearning_limits():
    d = 10
    shares = np.array([0, 0.5, 0, 0, 0.5])
    cum = np.cumsum(harmonic_dimensions(d, 4))
    assert list(cum) == [1, 11, 65, 275, 935]
    assert list(staircase_error(d, shares, [5, 11, 64, 300, 935])) == [1.0, 0.5, 0.5, 0.5, 0.0]
    mu = np.array([1.0, 0.1, 0.01, 0.001, 1e-4])
    N = harmonic_dimensions(d, 4)
    v = shares.copy()
    # with the ridge tuned the predicted curve falls monotonically; at a tiny ridge it rises
    # again past n = 20 (a double-descent bump before the next degree)
    ridges = 10.0 ** np.arange(-6, 1)
    ns = (2, 20, 200, 900, 2000, 20000)
    errs = [min(predicted_krr_error(mu, N, v, n, r) for r in ridges) for n in ns]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert predicted_krr_error(mu, N, v, 200, 1e-6) > predicted_krr_error(mu, N, v, 20, 1e-6)
    assert errs[0] == pytest.approx(1.0, abs=0.2) and errs[-1] < 1e-3


# -- spectrum with tail bounds -----------------------------------------------------------

@pytest.mark.parametrize("d", [5, 9])
def test_kernel_spectrum_tail_bounds_hold(d):
    spec = kernel_spectrum(_arccos1, d, 8)
    far = kernel_spectrum(_arccos1, d, 200)
    N = harmonic_dimensions(d, 200)
    true_T = np.sum(N[9:] * far.mu[9:]) + far.tail_trace
    true_S = np.sum(N[9:] * far.mu[9:] ** 2)
    assert np.sum(N[9:] * far.mu[9:]) <= spec.tail_trace <= true_T * (1 + 1e-6) + 1e-12
    assert true_S <= spec.tail_power <= 4 * true_S + 1e-18  # a bound, and not a loose one
    np.testing.assert_allclose(spec.mu, far.mu[:9], rtol=1e-10, atol=1e-15)
    assert spec.kappa_one == pytest.approx(_arccos1(np.array([1.0]))[0])
    assert spec.quadrature_error < 1e-12


def test_population_spectrum_picks_the_smallest_sufficient_degree():
    options = (5, 10, 20, 40)
    spec = population_spectrum(_arccos1, 9, tail_power_max=1e-12, l_options=options)
    L = spec.mu.size - 1
    assert spec.tail_power <= 1e-12 and L in options[1:]
    assert kernel_spectrum(_arccos1, 9, options[options.index(L) - 1]).tail_power > 1e-12
    assert population_spectrum(np.exp, 5, l_options=(20,)).mu.size == 21


def test_kernel_spectrum_rejects_indefinite_kernels_and_bad_arguments():
    with pytest.raises(ValueError, match="not positive definite"):
        kernel_spectrum(lambda t: t - 0.5 * np.ones_like(t), 5, 4)  # mu_0 = -0.5
    with pytest.raises(ValueError, match="l_max"):
        kernel_spectrum(np.exp, 5, -1)
    with pytest.raises(ValueError, match="finite"):
        kernel_spectrum(lambda t: np.full_like(t, np.nan), 5, 3)


def test_dot_product_kernel_matches_the_gram_functions():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 7))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    T = np.clip(X @ X.T, -1, 1)
    np.fill_diagonal(T, 1.0)  # kappa has a sqrt singularity at t = 1: 1 - 2e-16 gives 1 - 2e-9
    for cfg, gram in [
        (dict(model="ntk", input="raw", activation="relu", trained="both"),
         kernels.ntk_gram(X, activation="relu", trained="both")),
        (dict(model="kq", input="raw", activation="relu2"), kernels.quad_gram(X, activation="relu2")),
        (dict(model="ntk", input="repr", activation="relu", trained="first", repr_activation="step"),
         kernels.ntk_gram(X, activation="relu", representation="step")),
    ]:
        kappa = dot_product_kernel(cfg)
        np.testing.assert_allclose(kappa(T.ravel()).reshape(T.shape), gram, rtol=1e-10, atol=1e-12)
    for bad in (dict(model="quadnet", input="raw", activation="relu"),
                dict(model="ntk", input="raw", activation="relu", width=100),
                dict(model="ntk", input="repr", activation="relu", repr_activation="step",
                     repr_width=50)):
        with pytest.raises(ValueError):
            dot_product_kernel(bad)


# -- n* predictions ------------------------------------------------------------------------

def test_log_crossing_bounds():
    assert log_crossing([10, 20, 40], [1.0, 0.9, 0.8], 0.5) == (40.0, False)  # lower bound
    assert log_crossing([10, 20, 40], [0.4, 0.3, 0.2], 0.5) == (10.0, True)
    r = log_crossing([10, 20, 40], [1.0, 0.25, 0.9], 0.5)
    assert r.reached and r.n_star == pytest.approx(10 * 2 ** 0.5)
    with pytest.raises(ValueError, match="increasing"):
        log_crossing([10, 5], [1, 1], 0.5)


def _toy():
    d = 8
    N = harmonic_dimensions(d, 6)
    mu = np.array([0.3, 0.2, 0.05, 0.0, 2e-3, 0.0, 5e-5])
    v = np.array([0, 0, 0, 0, 1.0, 0, 0])
    return mu, N, v


def test_predicted_nstar_solves_the_prediction():
    mu, N, v = _toy()
    for ridge in (1e-4, 1e-2):
        res = predicted_nstar(mu, N, v, 0.5, ridge=ridge)
        assert res.reached
        assert predicted_krr_error(mu, N, v, res.n_star, ridge) == pytest.approx(0.5, abs=1e-4)
        # first crossing: every n below it is predicted above eps (on a fine grid)
        below = np.geomspace(1, res.n_star * 0.999, 200)
        assert min(predicted_error(mu, N, v, below, ridge)) > 0.5
    opt = predicted_nstar(mu, N, v, 0.5, ridge="optimal")
    fixed = [predicted_nstar(mu, N, v, 0.5, ridge=r).n_star for r in (0.0, 1e-4, 1e-2, 1e-1)]
    assert opt.n_star <= min(fixed) * (1 + 1e-3)
    grid = predicted_nstar(mu, N, v, 0.5, ridge="optimal", ridges=[1e-4, 1e-2])
    assert opt.n_star <= grid.n_star * (1 + 1e-3) and grid.n_star <= min(fixed[1:3]) * (1 + 1e-3)
    assert predicted_nstar(mu, N, v, 1e-9, ridge=1e-2, n_max=1e4) == (1e4, False)


def test_predicted_nstar_with_the_selected_ridges():
    mu, N, v = _toy()
    ns = np.array([50.0, 100, 200, 400, 800, 1600, 3200])
    rs = np.array([1e-1, 1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4])
    res = predicted_nstar(mu, N, v, 0.5, ridge_of_n=(ns, rs))
    errs = predicted_error(mu, N, v, ns, rs)
    assert res == log_crossing(ns, errs, 0.5)
    lookup = dict(zip(ns, rs))
    cont = predicted_nstar(mu, N, v, 0.5, ridge_of_n=lambda n: lookup.get(n, 1e-3))
    assert cont.reached
    with pytest.raises(ValueError, match="exactly one"):
        predicted_nstar(mu, N, v, 0.5)
    with pytest.raises(ValueError, match="exactly one"):
        predicted_nstar(mu, N, v, 0.5, ridge=1.0, ridge_of_n=(ns, rs))
    with pytest.raises(ValueError, match="optimal"):
        predicted_nstar(mu, N, v, 0.5, ridge="best")


def test_config_spectrum_for_a_job_config():
    cfg = dict(model="ntk", input="raw", activation="relu", trained="first", bias=0.0, degree=4,
               rank=1, basis="harmonic", distribution="sphere", d=99)
    spec, v, var = config_spectrum(cfg, 8, n_max=2000)
    assert var == pytest.approx(1.0) and v[4] == pytest.approx(1.0) and v[:4].sum() == 0
    assert harmonic_dimensions(8, spec.mu.size - 1).sum() >= 40_000
    assert config_spectrum(cfg, 8, n_max=2000)[0] is spec  # cached
    with pytest.raises(ValueError):
        config_spectrum(dict(cfg, model="quadnet"), 8)
    assert math.isfinite(spec.tail_trace) and spec.tail_power >= 0
