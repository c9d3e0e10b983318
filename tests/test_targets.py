"""targets: samplers, exact target statistics against Monte Carlo, harmonic structure, errors."""

import itertools
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierlearn import targets
from hierlearn.targets import LowRankPolynomial, gegenbauer, harmonic_dimension, make_task, sample_inputs

Z = 5.0  # z-score bound for Monte Carlo comparisons: a false alarm has probability ~ 1e-6


def _mc_close(samples, exact, z=Z):
    """Assert the sample mean of ``samples`` equals ``exact`` within z standard errors."""
    samples = np.asarray(samples, dtype=float)
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert abs(samples.mean() - exact) <= z * se + 1e-12, (samples.mean(), exact, se)


# -- inputs ------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 50), d=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_sphere_samples_have_unit_norm(n, d, seed):
    X = sample_inputs(n, d, seed=seed)
    assert X.shape == (n, d) and X.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=0, atol=1e-14)


@pytest.mark.parametrize("distribution", ["sphere", "gaussian"])
def test_moments_are_rotation_invariant(distribution):
    d, n = 5, 200_000
    X = sample_inputs(n, d, distribution=distribution, seed=0)
    # Second moments: E[x x^T] = I/d for both distributions.
    for i, j in itertools.combinations_with_replacement(range(d), 2):
        _mc_close(X[:, i] * X[:, j], (i == j) / d)
    # Fourth moment along random directions: the same for every direction, and equal to
    # 3/(d(d+2)) on the sphere and 3/d^2 for N(0, I/d).
    exact = 3 / (d * (d + 2)) if distribution == "sphere" else 3 / d**2
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.standard_normal(d)
        v /= np.linalg.norm(v)
        _mc_close((X @ v) ** 4, exact)


def test_same_seed_same_arrays():
    np.testing.assert_array_equal(sample_inputs(7, 4, seed=3), sample_inputs(7, 4, seed=3))
    assert not np.array_equal(sample_inputs(7, 4, seed=3), sample_inputs(7, 4, seed=4))
    f1, f2 = (LowRankPolynomial(6, 4, 2, seed=9) for _ in range(2))
    np.testing.assert_array_equal(f1.directions, f2.directions)
    t1, t2 = (make_task(f1, 20, 10, noise=0.1, seed=5) for _ in range(2))
    for a, b in zip([t1.X_train, t1.y_train, t1.X_test, t1.f_test],
                    [t2.X_train, t2.y_train, t2.X_test, t2.f_test]):
        np.testing.assert_array_equal(a, b)


# -- exact statistics against Monte Carlo -------------------------------------------------

CASES = [
    (d, p, r, basis, dist)
    for (d, p, r) in [(3, 4, 1), (6, 4, 3), (5, 3, 2), (8, 2, 1)]
    for basis in ("monomial", "harmonic")
    for dist in ("sphere", "gaussian")
]


@pytest.mark.parametrize("d,p,r,basis,dist", CASES)
def test_mean_and_variance_match_monte_carlo(d, p, r, basis, dist):
    f = LowRankPolynomial(d, p, r, basis=basis, distribution=dist, seed=11)
    y = f(sample_inputs(200_000, d, distribution=dist, seed=12))
    _mc_close(y, f.mean)
    _mc_close((y - f.mean) ** 2, f.variance)


@pytest.mark.parametrize("dist", ["sphere", "gaussian"])
def test_monomial_terms_have_unit_second_moment(dist):
    for p in range(1, 7):
        f = LowRankPolynomial(7, p, 1, coefficients=[1.0], distribution=dist, seed=p)
        assert np.isclose(f.variance + f.mean**2, 1.0, rtol=1e-12)


def test_sphere_fourth_moment_formula():
    # docs/math.md, section 2: E[(u.x)^(2k)] = (2k-1)!! / prod_{j<k} (d + 2j); the
    # normalised monomial
    # of degree 2 therefore has mean E[t^2] / sqrt(E[t^4]) = (1/d) / sqrt(3 / (d (d+2))).
    d = 9
    f = LowRankPolynomial(d, 2, 1, coefficients=[1.0], seed=0)
    assert np.isclose(f.mean, (1 / d) / np.sqrt(3 / (d * (d + 2))), rtol=1e-13)


def _polynomial_features(X, max_degree):
    """All monomials of the coordinates of total degree <= max_degree."""
    n, d = X.shape
    cols = [np.ones(n)]
    for k in range(1, max_degree + 1):
        for idx in itertools.combinations_with_replacement(range(d), k):
            cols.append(np.prod(X[:, idx], axis=1))
    return np.column_stack(cols)


@pytest.mark.parametrize("dist", ["sphere", "gaussian"])
@pytest.mark.parametrize("p", [3, 4])
def test_harmonic_target_is_orthogonal_to_lower_degrees(dist, p):
    d, n = 4, 40_000
    f = LowRankPolynomial(d, p, 2, basis="harmonic", distribution=dist, seed=2)
    X = sample_inputs(n, d, distribution=dist, seed=3)
    y = f(X)
    F = _polynomial_features(X, p - 1)
    # Orthogonality: E[f*(x) m(x)] = 0 for every monomial m of degree < p. Check each
    # inner product against its own Monte Carlo standard error.
    for j in range(F.shape[1]):
        _mc_close(y * F[:, j], 0.0)
    # Control: the same fit does capture the lower-degree part of the monomial target.
    g = LowRankPolynomial(d, p, 2, basis="monomial", distribution=dist, seed=2)
    yg = g(X)
    coef, *_ = np.linalg.lstsq(F, yg, rcond=None)
    low = 1 - g.degree_profile(p)[p]  # share of variance below degree p
    resid = np.mean((yg - F @ coef) ** 2) / g.variance
    assert abs(resid - g.degree_profile(p)[p]) < 0.05 and low > 0.05


@settings(max_examples=30, deadline=None)
@given(
    d=st.integers(2, 30), p=st.integers(1, 6), r=st.integers(1, 3),
    basis=st.sampled_from(["monomial", "harmonic"]),
    dist=st.sampled_from(["sphere", "gaussian"]), seed=st.integers(0, 1000),
)
def test_degree_profile_sums_to_one(d, p, r, basis, dist, seed):
    r = min(r, d)
    f = LowRankPolynomial(d, p, r, basis=basis, distribution=dist, seed=seed)
    prof = f.degree_profile(p + 2)
    if f.variance == 0:  # exact cancellation, e.g. (u1.x)^2 + (u2.x)^2 = 1 on the circle
        y = f(sample_inputs(50, d, distribution=dist, seed=seed))
        assert np.ptp(y) < 1e-12 and not prof.any()
        return
    assert prof[0] == 0 and np.all(prof >= 0)
    assert np.isclose(prof.sum(), 1.0, rtol=1e-10)
    # Parity: a degree-p power has only degrees of p's parity.
    assert np.all(prof[(p + 1) % 2 :: 2] == 0)


@pytest.mark.parametrize("dist", ["sphere", "gaussian"])
def test_degree_profile_matches_monte_carlo_projection(dist):
    """Project f* by least squares onto {Q_l(u_s.x)}: the fit recovers each degree-l
    component; its mean square by Monte Carlo must match the exact profile."""
    d, p, r = 5, 4, 2
    f = LowRankPolynomial(d, p, r, distribution=dist, seed=4)
    X = sample_inputs(100_000, d, distribution=dist, seed=5)
    T = X @ f.directions.T
    if dist == "sphere":
        Q = {l: gegenbauer(l, d, T) for l in range(p + 1)}
    else:
        from numpy.polynomial.hermite_e import hermeval
        Q = {l: hermeval(np.sqrt(d) * T, np.eye(l + 1)[l]) for l in range(p + 1)}
    basis = np.column_stack([Q[l][:, s] for l in range(p + 1) for s in range(r)])
    coef, *_ = np.linalg.lstsq(basis, f(X), rcond=None)
    prof = f.degree_profile(p)
    for l in range(1, p + 1):
        comp = Q[l] @ coef[l * r : (l + 1) * r]
        _mc_close(comp**2 / f.variance, prof[l])


def test_harmonic_dimension():
    # N(3, l) = 2l + 1 (ordinary spherical harmonics); N(2, l) = 2; the sum over
    # l <= k of N(d, l) for d = 4 counts harmonic polynomials: (k+1)(k+2)(2k+3)/6.
    assert [harmonic_dimension(3, l) for l in range(5)] == [1, 3, 5, 7, 9]
    assert [harmonic_dimension(2, l) for l in range(1, 5)] == [2, 2, 2, 2]
    assert sum(harmonic_dimension(4, l) for l in range(4)) == sum((l + 1) ** 2 for l in range(4))
    # Homogeneous polynomials of degree l restricted to the sphere: C(l+d-1, d-1) = N(d,l) + N(d,l-2) + ...
    d, l = 7, 5
    assert comb(l + d - 1, d - 1) == sum(harmonic_dimension(d, k) for k in range(l % 2, l + 1, 2))


def test_gegenbauer_is_legendre_for_d3():
    t = np.linspace(-1, 1, 11)
    from numpy.polynomial.legendre import legval
    for l in range(7):
        np.testing.assert_allclose(gegenbauer(l, 3, t), legval(t, np.eye(l + 1)[l]), atol=1e-13)


# -- tasks --------------------------------------------------------------------------------

def test_task_noise_and_error():
    f = LowRankPolynomial(6, 4, 2, seed=0)
    t = make_task(f, 5000, 100, noise=0.5, seed=1)
    np.testing.assert_allclose(t.f_train, f(t.X_train))
    np.testing.assert_allclose(t.f_test, f(t.X_test))
    assert abs(np.std(t.y_train - t.f_train) - 0.5) < 0.03
    assert t.normalizer == f.variance
    assert t.test_error(t.f_test) == 0.0
    assert np.isclose(t.test_error(t.f_test + 1.0), 1.0 / f.variance)
    # A larger test set does not change the training sample.
    t2 = make_task(f, 5000, 300, noise=0.5, seed=1)
    np.testing.assert_array_equal(t.X_train, t2.X_train)


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: sample_inputs(-1, 3), ValueError, "n must be >= 0"),
        (lambda: sample_inputs(3, 0), ValueError, "d must be >= 1"),
        (lambda: sample_inputs(3.0, 2), TypeError, "n must be an integer"),
        (lambda: sample_inputs(3, True), TypeError, "d must be an integer"),
        (lambda: sample_inputs(3, 2, distribution="cube"), ValueError, "distribution"),
        (lambda: sample_inputs(3, 2, seed="x"), TypeError, "seed"),
        (lambda: LowRankPolynomial(0, 2), ValueError, "d must be >= 1"),
        (lambda: LowRankPolynomial(1, 2), ValueError, "d must be >= 2"),
        (lambda: LowRankPolynomial(4, -1), ValueError, "degree must be >= 0"),
        (lambda: LowRankPolynomial(4, 2.5), TypeError, "degree"),
        (lambda: LowRankPolynomial(4, 2, rank=5), ValueError, "rank must be <= d"),
        (lambda: LowRankPolynomial(4, 2, rank=0), ValueError, "rank must be >= 1"),
        (lambda: LowRankPolynomial(4, [2, 3], rank=1), ValueError, "degree has 2 entries"),
        (lambda: LowRankPolynomial(4, 2, basis="legendre"), ValueError, "basis"),
        (lambda: LowRankPolynomial(4, 2, distribution="cube"), ValueError, "distribution"),
        (lambda: LowRankPolynomial(4, 2, rank=2, coefficients=[1.0]), ValueError, "coefficients"),
        (lambda: LowRankPolynomial(4, 2)(np.ones((3, 5))), ValueError, "5 features"),
        (lambda: LowRankPolynomial(4, 2)(np.ones(4)), ValueError, "2-d"),
        (lambda: LowRankPolynomial(4, 2)(np.full((2, 4), np.nan)), ValueError, "NaN"),
        (lambda: make_task(LowRankPolynomial(4, 2), 10, 0), ValueError, "n_test"),
        (lambda: make_task(LowRankPolynomial(4, 2), 10, 5, noise=-1.0), ValueError, "noise"),
        (lambda: make_task("f", 10, 5), TypeError, "target"),
        (lambda: LowRankPolynomial(4, 2).degree_profile(-1), ValueError, "max_degree"),
    ],
)
def test_bad_arguments_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_public_names():
    for name in targets.__all__:
        assert hasattr(targets, name)
