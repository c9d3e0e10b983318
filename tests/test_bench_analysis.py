"""bench analysis and theory: n*(eps), exponent fits, bootstrap, eigenvalues by quadrature."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate

from hierlearn.bench.analysis import exponent_table, fit_exponent, n_star, nstar_table
from hierlearn.bench.theory import (gegenbauer_P, harmonic_dims, kernel_eigenvalues, predicted_krr_error,
                          sphere_quadrature, staircase_error)


# -- n* and exponents ------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(a=st.floats(0.5, 3.0), n0=st.floats(1.0, 100.0), eps=st.floats(1e-3, 0.9))
def test_n_star_exact_on_power_law(a, n0, eps):
    # err = (n / n0)^(-a) is a straight line in log-log: interpolation is exact
    n = np.geomspace(1, 1e12, 25)
    err = (n / n0) ** (-a)  # >= 1 at n[0] = 1 <= n0, so the crossing is interior
    assert n_star(n, err, eps) == pytest.approx(n0 * eps ** (-1 / a), rel=1e-9)


def test_n_star_edge_cases():
    n = [10, 20, 40]
    assert math.isnan(n_star(n, [1.0, 0.9, 0.8], 0.5))  # never reached
    assert n_star(n, [0.4, 0.3, 0.2], 0.5) == 10  # reached at the first size
    # first crossing counts, even if the curve goes up again afterwards
    assert n_star(n, [1.0, 0.25, 0.9], 0.5) == pytest.approx(10 * 2 ** 0.5)
    with pytest.raises(ValueError, match="eps"):
        n_star(n, [1, 1, 1], 0.0)
    with pytest.raises(ValueError, match="increasing"):
        n_star([10, 5, 40], [1, 1, 1], 0.5)
    with pytest.raises(ValueError, match="equal length"):
        n_star([10, 20], [1, 1, 1], 0.5)


@settings(max_examples=30, deadline=None)
@given(k=st.floats(0.5, 5.0), c=st.floats(0.1, 10.0))
def test_fit_exponent_recovers_power(k, c):
    d = np.array([6, 8, 12, 16])
    slope, intercept = fit_exponent(d, c * d ** k)
    assert slope == pytest.approx(k, abs=1e-9)
    assert intercept == pytest.approx(math.log(c), abs=1e-8)


def test_fit_exponent_needs_two_finite_points():
    assert math.isnan(fit_exponent([4, 8], [100, np.nan])[0])
    assert fit_exponent([4, 8, 16], [16, np.nan, 256])[0] == pytest.approx(2.0)


def _synthetic(k_true, noise, seeds=8, ds=(6, 8, 11, 16), n0=1.0, degree=4):
    """Curves err = (n / (n0 d^k))^-1 with log-normal scatter per seed."""
    rng = np.random.default_rng(1)
    rows = []
    n = np.unique(np.geomspace(4, 1e7, 60).round().astype(int))
    for d in ds:
        for s in range(seeds):
            shift = np.exp(noise * rng.standard_normal())
            err = np.minimum(1.0, n0 * d ** k_true * shift / n)
            for nn, e in zip(n, err):
                rows.append(dict(label="M on raw x", model="ntk", input="raw", d=d, degree=degree,
                                 seed=s, n=nn, test_error=e))
    return pd.DataFrame(rows)


def test_exponent_table_recovers_known_exponent_with_ci():
    df = _synthetic(3.0, 0.15, seeds=12)
    table = exponent_table(df, eps=0.1, n_boot=100)
    row = table.iloc[0]
    assert row["paper_exponent"] == 4.0  # NTK raw: p
    assert row["measured_exponent"] == pytest.approx(3.0, abs=0.15)
    assert row["ci_low"] <= row["measured_exponent"] <= row["ci_high"]
    assert row["ci_high"] - row["ci_low"] > 0.01
    assert row["ci_low"] - 0.1 < 3.0 < row["ci_high"] + 0.1
    # without scatter over seeds the bootstrap interval collapses onto the estimate
    exact = exponent_table(_synthetic(2.0, 0.0), eps=0.1, n_boot=20).iloc[0]
    assert exact["measured_exponent"] == pytest.approx(2.0, abs=1e-6)
    assert exact["ci_high"] - exact["ci_low"] < 1e-6
    nst = nstar_table(df, 0.1)
    assert list(nst["d"]) == [6, 8, 11, 16] and (nst["seeds"] == 12).all()


# -- theory overlay --------------------------------------------------------------------

def _arccos1(t):
    th = np.arccos(np.clip(t, -1, 1))
    return (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)


@pytest.mark.parametrize("d", [3, 4, 7])
def test_eigenvalues_match_direct_integration(d):
    # relu arc-cosine kernel (kink at t = 1): Gauss-Jacobi vs adaptive quad with the
    # algebraic weight (1 - t)^a (1 + t)^a
    mu = kernel_eigenvalues(_arccos1, d, 6, n_nodes=400)
    a = (d - 3) / 2
    norm = integrate.quad(lambda t: 1.0, -1, 1, weight="alg", wvar=(a, a))[0]
    for l in range(7):
        f = lambda t, l=l: _arccos1(np.array([t]))[0] * gegenbauer_P(l, d, np.array([t]))[l, 0]
        direct = integrate.quad(f, -1, 1, weight="alg", wvar=(a, a), limit=200, epsabs=1e-13)[0] / norm
        assert mu[l] == pytest.approx(direct, rel=1e-5, abs=1e-9)


def test_eigen_expansion_reconstructs_kernel():
    d = 5
    mu = kernel_eigenvalues(np.exp, d, 25)
    t = np.linspace(-1, 1, 11)
    recon = (harmonic_dims(d, 25) * mu) @ gegenbauer_P(25, d, t)
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
    cum = np.cumsum(harmonic_dims(d, 4))
    assert list(cum) == [1, 11, 65, 275, 935]
    assert list(staircase_error(d, shares, [5, 11, 64, 300, 935])) == [1.0, 0.5, 0.5, 0.5, 0.0]
    # eigenlearning: error falls with n, one-mode-per-degree sanity, n -> 0 gives ~ 1
    mu = np.array([1.0, 0.1, 0.01, 0.001, 1e-4])
    N = harmonic_dims(d, 4)
    v = shares.copy()
    # with the ridge tuned (as GCV does) the predicted curve falls monotonically; at a tiny
    # ridge it rises again past n = 20 (a double-descent bump before the next degree)
    ridges = 10.0 ** np.arange(-6, 1)
    ns = (2, 20, 200, 900, 2000, 20000)
    errs = [min(predicted_krr_error(mu, N, v, n, r) for r in ridges) for n in ns]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert predicted_krr_error(mu, N, v, 200, 1e-6) > predicted_krr_error(mu, N, v, 20, 1e-6)
    assert errs[0] == pytest.approx(1.0, abs=0.2) and errs[-1] < 1e-3
