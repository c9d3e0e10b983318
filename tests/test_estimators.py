"""KernelRegressor: scikit-learn estimator checks, agreement with the flat solvers, errors."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from hierlearn import kernels
from hierlearn import solvers
from hierlearn.solvers import KernelRegressor, kernel_ridge, ridge_path

HAVE_KERNELS = hasattr(kernels, "ntk_gram") and hasattr(kernels, "quad_gram")
needs_kernels = pytest.mark.skipif(not HAVE_KERNELS,
                                   reason="kernels.ntk_gram / quad_gram not available yet")

# scikit-learn's check data have norms far above 1, where the smooth default of K_Q raises a
# clear "rescale X" error (its Hermite series needs norms of order 1): relu2 there.
ESTIMATORS = [KernelRegressor(), KernelRegressor("quad", activation="relu2", ridge=1e-3),
              KernelRegressor(ridge="gcv", width=64),
              KernelRegressor(ridge=1e-2, solver="pcg", tol=1e-10)]


if HAVE_KERNELS:
    @parametrize_with_checks(ESTIMATORS)
    def test_sklearn_compatible(estimator, check):
        check(estimator)


def sphere(n, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def target(X):
    return X[:, 0] ** 2 + X[:, 0] * X[:, 1]


@needs_kernels
@pytest.mark.parametrize("kernel, fn", [("ntk", "ntk_gram"), ("quad", "quad_gram")])
def test_matches_flat_solver(kernel, fn):
    X, Xt = sphere(80), sphere(20, seed=1)
    y = target(X)
    est = KernelRegressor(kernel, ridge=1e-2).fit(X, y)
    K = getattr(kernels, fn)(X)
    alpha = kernel_ridge(K, y, 1e-2)
    np.testing.assert_allclose(est.dual_coef_, alpha, atol=1e-10 * np.abs(alpha).max())
    np.testing.assert_allclose(est.predict(Xt), getattr(kernels, fn)(Xt, X) @ alpha,
                               atol=1e-10)
    assert est.ridge_ == 1e-2 and est.ridges_ is None
    np.testing.assert_array_equal(est.X_fit_, X)


@needs_kernels
@pytest.mark.parametrize("criterion", ["loo", "gcv"])
def test_ridge_selection(criterion):
    X = sphere(60)
    y = target(X) + 0.1 * np.random.default_rng(2).standard_normal(60)
    grid = np.logspace(-5, 1, 13)
    est = KernelRegressor(ridge=criterion, ridges=grid).fit(X, y)
    path = ridge_path(kernels.ntk_gram(X), y, grid)
    scores = getattr(path, criterion)
    np.testing.assert_allclose(est.cv_scores_, scores, rtol=1e-10)
    assert est.ridge_ == grid[np.argmin(scores)]
    np.testing.assert_allclose(est.dual_coef_, kernel_ridge(kernels.ntk_gram(X), y, est.ridge_),
                               atol=1e-8 * np.abs(est.dual_coef_).max())


@needs_kernels
def test_random_features_reuse_fit_seed():
    X, Xt = sphere(50), sphere(10, seed=1)
    y = target(X)
    a = KernelRegressor(width=32, random_state=3, ridge=1e-2).fit(X, y)
    b = KernelRegressor(width=32, random_state=3, ridge=1e-2).fit(X, y)
    np.testing.assert_array_equal(a.predict(Xt), b.predict(Xt))
    # random_state=None: the features are drawn at fit and reused, so predict is deterministic
    c = KernelRegressor(width=32, ridge=1e-2).fit(X, y)
    assert isinstance(c.kernel_, kernels.RandomFeatures)
    np.testing.assert_array_equal(c.predict(Xt), c.predict(Xt))
    np.testing.assert_allclose(c.predict(X[:5]), c.predict(X)[:5])


@needs_kernels
def test_grid_search_and_multioutput():
    X = sphere(60)
    Y = np.column_stack([target(X), X[:, 2]])
    gs = GridSearchCV(KernelRegressor(), {"kernel": ["ntk", "quad"], "ridge": [1e-3, 1e-1]},
                      cv=3).fit(X, Y[:, 0])
    assert gs.best_params_["ridge"] in (1e-3, 1e-1)
    est = KernelRegressor(ridge=1e-2).fit(X, Y)
    assert est.predict(X[:4]).shape == (4, 2)


@needs_kernels
def test_in_pipeline_with_representation():
    if not hasattr(kernels, "NeuralRepresentation"):
        pytest.skip("kernels.NeuralRepresentation not available yet")
    X = sphere(60)
    pipe = make_pipeline(kernels.NeuralRepresentation(40, random_state=0), KernelRegressor(ridge=1e-2))
    pipe.fit(X, target(X))
    assert pipe.predict(X[:3]).shape == (3,)


@needs_kernels
@pytest.mark.parametrize("params, err, match", [
    (dict(kernel="rbf"), ValueError, "unknown kernel"),
    (dict(ridge=-1.0), ValueError, "ridge must be >= 0"),
    (dict(ridge="cv"), ValueError, "unknown ridge criterion 'cv'"),
    (dict(ridge=[0.1]), TypeError, "ridge must be a real number"),
    (dict(width=0), ValueError, "width must be >= 1"),
    (dict(width=2.5), TypeError, "width must be an integer"),
    (dict(ridges=[-1.0, 1.0]), ValueError, ">= 0"),
    (dict(solver="lsqr"), ValueError, "unknown solver 'lsqr'"),
    (dict(kernel="quad", trained="both"), ValueError, "trained applies to kernel='ntk' only"),
    (dict(kernel=kernels.NTK(), activation="relu2"), ValueError, "with a kernel object"),
    (dict(solver="pcg"), ValueError, "ridge='loo' needs the dense solver"),
    (dict(solver="pcg", ridge=0.0), ValueError, "ridge=0 .* needs solver='dense'"),
    (dict(solver="pcg", ridge=1e-2, tol=0.0), ValueError, "tol must be > 0"),
    (dict(solver="pcg", ridge=1e-2, n_centers=11), ValueError, "n_centers=11 exceeds"),
])
def test_bad_parameters(params, err, match):
    with pytest.raises(err, match=match):
        KernelRegressor(**params).fit(sphere(10), np.ones(10))


@needs_kernels
def test_bad_data():
    X = sphere(20)
    y = target(X)
    with pytest.raises(NotFittedError):
        KernelRegressor().predict(X)
    est = KernelRegressor().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(sphere(3, d=4))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KernelRegressor().fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        KernelRegressor().fit(X, y[:-1])


@needs_kernels
@pytest.mark.parametrize("params", [
    dict(kernel="ntk", trained="both"),
    dict(kernel="quad", activation="shifted_sigmoid"),
    dict(kernel="ntk", width=64, random_state=5),
    dict(kernel=kernels.NTK("relu", trained="both", representation="softplus")),
    dict(kernel="ntk", representation="step"),
])
def test_pcg_solver_equals_dense(params):
    """The matrix-free solver is the same estimator: coefficients and predictions agree."""
    X, Xt = sphere(300, d=6), sphere(40, d=6, seed=1)
    Y = np.column_stack([target(X), X[:, 3] ** 3])
    for y in (Y[:, 0], Y):
        dense = KernelRegressor(**params, ridge=1e-3, solver="dense").fit(X, y)
        pcg = KernelRegressor(**params, ridge=1e-3, solver="pcg", tol=1e-12, max_iter=500,
                              n_centers=60).fit(X, y)
        assert dense.solver_ == "dense" and pcg.solver_ == "pcg"
        assert 1 <= pcg.n_iter_ <= 500 and dense.residuals_ is None
        scale = np.abs(dense.dual_coef_).max()
        np.testing.assert_allclose(pcg.dual_coef_, dense.dual_coef_, atol=1e-7 * scale)
        np.testing.assert_allclose(pcg.predict(Xt), dense.predict(Xt), atol=1e-9)


@needs_kernels
def test_auto_solver_follows_the_memory_guard(monkeypatch):
    import hierlearn._memory as memory_mod

    X, y = sphere(200), target(sphere(200))
    assert KernelRegressor(ridge=1e-2).fit(X, y).solver_ == "dense"
    # a machine with 100 kB free: three 200 x 200 Grams (960 kB) no longer fit
    monkeypatch.setattr(memory_mod, "available_memory", lambda: 200_000)
    est = KernelRegressor(ridge=1e-2, tol=1e-10, memory_budget=4 << 20).fit(X, y)
    assert est.solver_ == "pcg" and est.n_iter_ >= 1
    with pytest.raises(memory_mod.GramTooLargeError, match="ridge='gcv' needs the dense Gram"):
        KernelRegressor(ridge="gcv").fit(X, y)
