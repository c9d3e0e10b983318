"""The trained linearised network f_L: its ridge solution is random-feature K_L kernel
ridge at the same width and seed; GD agrees; scikit-learn compliance; errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.linalg import solve
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from hierlearn.kernels import get_activation
from hierlearn.solvers import LinearizedNetRegressor


def _data(n=70, D=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.05 * rng.standard_normal(n)
    Xt = rng.standard_normal((40, D))
    return X, y, Xt / np.linalg.norm(Xt, axis=1, keepdims=True)


def _features(est, X):
    """phi_r(x) = a_r sigma'(w0_r.x) x / sqrt(m), flattened: f_L(x) = phi(x) . vec(W)."""
    act = get_activation(est.activation)
    m = est.W0_.shape[0]
    S = act.d1(X @ est.W0_.T) * est.a_ / np.sqrt(m)
    return (S[:, :, None] * X[:, None, :]).reshape(len(X), -1)


def _krr(est, X, y, Xt, ridge):
    """Random-feature K_L ridge: K = (1/m) sum_r sigma'(w0_r.x) sigma'(w0_r.y) (x.y)."""
    act = get_activation(est.activation)
    m = est.W0_.shape[0]
    gram = lambda A, B: (act.d1(A @ est.W0_.T) @ act.d1(B @ est.W0_.T).T / m) * (A @ B.T)  # noqa: E731
    K = gram(X, X)
    # the Gram through the feature map equals the kernel formula (a_r^2 = 1)
    Phi = _features(est, X)
    np.testing.assert_allclose(Phi @ Phi.T, K, rtol=1e-10, atol=1e-13)
    return gram(Xt, X) @ solve(K + ridge * np.eye(len(X)), y, assume_a="pos")


@pytest.mark.parametrize("act", ["shifted_sigmoid", "relu"])
def test_ridge_solution_is_random_feature_kl_kernel_ridge(act):
    X, y, Xt = _data()
    reg = 1e-3
    est = LinearizedNetRegressor(30, activation=act, reg=reg, random_state=3, max_iter=20000, tol=1e-15,
                                 fit_intercept=False, standardize=False)
    with warnings.catch_warnings():
        # L-BFGS-B may stop on "ABNORMAL" line search at machine precision, not a failure
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    expect = _krr(est, X, y, Xt, ridge=len(X) * reg)
    # L-BFGS-B on a convex quadratic to gtol 1e-15: agreement to ~1e-7 relative
    np.testing.assert_allclose(est.predict(Xt), expect, rtol=1e-5, atol=1e-6 * np.abs(expect).max())


def test_ridge_agreement_with_centring_and_scaling():
    """Defaults centre and standardise y: the solution is KRR on centred y, ridge n * reg."""
    X, y, Xt = _data(seed=1)
    reg = 1e-2
    est = LinearizedNetRegressor(20, reg=reg, random_state=4, max_iter=20000, tol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    expect = y.mean() + _krr(est, X, y - y.mean(), Xt, ridge=len(X) * reg)
    np.testing.assert_allclose(est.predict(Xt), expect, rtol=1e-5, atol=1e-6)


def test_gd_converges_to_the_same_ridge_solution():
    X, y, Xt = _data(n=50, seed=2)
    reg = 1e-2
    kw = dict(reg=reg, random_state=5, fit_intercept=False, standardize=False, tol=1e-14)
    gd = LinearizedNetRegressor(16, optimizer="gd", momentum=0.5, max_iter=20000, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gd.fit(X, y)
    expect = _krr(gd, X, y, Xt, ridge=len(X) * reg)
    # strongly convex (ridge): GD converges linearly; 1e-3 relative after the budget
    np.testing.assert_allclose(gd.predict(Xt), expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())
    assert np.all(np.diff(gd.loss_curve_) <= 1e-12)


def test_ridge_solution_is_kernels_ntk_gram_random_feature_ridge():
    """The documented equivalence through the public functional API: the network's m/2
    distinct w0 rows are the first draws of the W0 stream of ``random_state`` (child 0 of
    its SeedSequence), which ``kernels.ntk_gram(width=m // 2, seed=<that stream>)`` draws
    too; duplicating rows for the +- pairs leaves the 1/m-normalised K_L unchanged. So the
    fitted predictions are kernel ridge with that Gram and ridge n * reg."""
    from hierlearn.kernels import ntk_gram

    X, y, Xt = _data(n=40)
    m, reg, state = 20, 1e-3, 11
    est = LinearizedNetRegressor(m, activation="relu", reg=reg, random_state=state,
                                 max_iter=20000, tol=1e-15, fit_intercept=False,
                                 standardize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    stream = lambda: np.random.SeedSequence(state).spawn(1)[0]  # noqa: E731
    K = ntk_gram(X, activation="relu", trained="first", width=m // 2, seed=stream())
    Kt = ntk_gram(Xt, X, activation="relu", trained="first", width=m // 2, seed=stream())
    np.testing.assert_allclose(K, _gram_of(est, X, X), rtol=1e-10, atol=1e-13)
    expect = Kt @ solve(K + len(X) * reg * np.eye(len(X)), y, assume_a="pos")
    np.testing.assert_allclose(est.predict(Xt), expect, rtol=1e-5, atol=1e-6 * np.abs(expect).max())


def _gram_of(est, A, B):
    act = get_activation(est.activation)
    m = est.W0_.shape[0]
    return (act.d1(A @ est.W0_.T) @ act.d1(B @ est.W0_.T).T / m) * (A @ B.T)


def test_random_feature_kl_converges_to_closed_form():
    """The network's K_L (m/2 independent w0 rows, each used twice) estimates the
    infinite-width K_L = (x.y) (pi - theta) / (2 pi) for relu (sigma' = step)."""
    X, y, _ = _data(n=12, D=5)
    m = 40000
    est = LinearizedNetRegressor(m, activation="relu", reg=1e-3, random_state=0, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    S = (X @ est.W0_.T >= 0).astype(float)
    prod = S[:, None, :] * S[None, :, :]  # per-neuron sigma'(w.x) sigma'(w.y)
    mc = prod.mean(-1) * (X @ X.T)
    # duplicated rows: the effective sample is m/2 independent draws
    se = prod[..., : m // 2].std(-1) / np.sqrt(m // 2) * np.abs(X @ X.T)
    theta = np.arccos(np.clip(X @ X.T, -1, 1))
    exact = (X @ X.T) * (np.pi - theta) / (2 * np.pi)
    assert np.all(np.abs(mc - exact) <= 4.5 * se + 1e-12)


def test_diagnostics_and_reproducibility():
    X, y, _ = _data()
    a = LinearizedNetRegressor(10, reg=1e-3, random_state=7, max_iter=2000).fit(X, y)
    b = LinearizedNetRegressor(10, reg=1e-3, random_state=7, max_iter=2000).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.converged_ and a.loss_curve_[-1] < a.loss_curve_[0]
    assert a.norm24_ == pytest.approx(np.sum(np.sum(a.coef_**2, 1) ** 2) ** 0.25)
    assert a.reg_ == 1e-3 and a.validation_scores_ is None
    # the Taylor gap of the linearised model: the network against f_L, directly
    fl = a.net_.linear(X, a.coef_)
    gap = np.linalg.norm(a.net_.full(X, a.coef_) - fl) / np.linalg.norm(fl)
    assert a.taylor_gap_ == pytest.approx(gap, rel=1e-12)
    with pytest.warns(FutureWarning, match="random_state"):
        c = LinearizedNetRegressor(10, reg=1e-3, seed=7, max_iter=2000).fit(X, y)
    np.testing.assert_array_equal(c.coef_, a.coef_)


def test_auto_reg_grid_scales_with_n():
    X, y, _ = _data()
    est = LinearizedNetRegressor(10, random_state=0, max_iter=300).fit(X, y)
    assert est.reg_ in est.reg_grid_ and est.validation_scores_.shape == est.reg_grid_.shape
    e1 = get_activation("shifted_sigmoid").d1
    t, w = np.polynomial.hermite_e.hermegauss(80)
    m2 = np.sum(w * e1(t) ** 2) / np.sqrt(2 * np.pi)
    n_train = len(X) - est.validation_indices_.size
    # relative kernel ridges, largest first (the path's order), over the training part
    np.testing.assert_allclose(est.reg_grid_ * n_train / m2, [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6],
                               rtol=1e-12)


def test_warm_path_equals_cold_fits():
    """Convex: every fit along the warm-started path is the unique ridge solution, so the
    chosen strength refitted cold gives the same weights within the optimizer's tolerance."""
    X, y, Xt = _data(seed=3)
    kw = dict(random_state=1, max_iter=20000, tol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        path = LinearizedNetRegressor(12, reg=[1e-1, 1e-2, 1e-3, 1e-4], **kw).fit(X, y)
        cold = LinearizedNetRegressor(12, reg=path.reg_, **kw).fit(X, y)
    np.testing.assert_allclose(path.predict(Xt), cold.predict(Xt), rtol=1e-5, atol=1e-6)
    assert path.timing_["fits"] == 5


@pytest.mark.parametrize("params, exc, match", [
    (dict(activation="step"), ValueError, "sigma' = 0"),
    (dict(width=3), ValueError, "even"),
    (dict(reg=np.nan), ValueError, "reg must be finite"),
    (dict(optimizer="newton"), ValueError, "unknown optimizer"),
    (dict(huber_delta=0.0), ValueError, "huber_delta"),
    (dict(validation_fraction=1.5, reg=[0.1, 1.0]), ValueError, "validation_fraction"),
])
def test_bad_parameters(params, exc, match):
    X, y, _ = _data(n=10)
    kw = dict(width=4, max_iter=3)
    kw.update(params)
    with pytest.raises(exc, match=match):
        LinearizedNetRegressor(**kw).fit(X, y)


def test_randomized_is_not_a_parameter():
    with pytest.raises(TypeError):
        LinearizedNetRegressor(4, randomized=True)


@parametrize_with_checks(
    [LinearizedNetRegressor(),
     LinearizedNetRegressor(8, max_iter=50, reg=1e-3, optimizer="gd", loss="huber")],
)
def test_sklearn_compatible(estimator, check):
    # default arguments: scikit-learn fixes random_state=0 itself
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
