"""NeuralRepresentation: scikit-learn contract, whitening, infinite-width limit."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hierlearn.kernels import NeuralRepresentation, representation_gram
from hierlearn.targets import sample_inputs


@parametrize_with_checks([NeuralRepresentation(8, n_unlabeled=200, random_state=0),
                          NeuralRepresentation(6, whiten=False, activation="relu", random_state=1)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_whitened_identity_covariance_on_fresh_samples():
    D, d = 30, 6
    rep = NeuralRepresentation(D, n_unlabeled=20000, random_state=3).fit(np.zeros((1, d)))
    assert rep.lambda_min_ <= rep.lambda_max_ and rep.lambda_max_ > 0
    H = rep.transform(sample_inputs(20000, d, seed=11)) * np.sqrt(D)
    lam = np.linalg.eigvalsh(np.cov(H.T))
    # floored directions (units constant on the sphere when |b_i| > |v_i|) carry ~0;
    # every other direction has unit variance up to sampling error (~ sqrt(2/n) each)
    kept = lam[rep.n_floored_:]
    assert np.all(lam[: rep.n_floored_] < 0.05)
    # nearly constant units (tiny but unfloored variance) amplify estimation noise, so
    # bound the bulk rather than every eigenvalue
    assert np.median(np.abs(kept - 1.0)) < 0.05, kept
    assert np.mean(np.abs(kept - 1.0) < 0.15) >= 0.9, kept
    assert np.abs(H.mean(0)).max() < 0.05


def test_unwhitened_tends_to_G():
    X = sample_inputs(6, 5, seed=2)
    rep = NeuralRepresentation(40000, whiten=False, random_state=4).fit(X)
    H = rep.transform(X)
    assert np.abs(H @ H.T - representation_gram(X)).max() < 0.02


def test_seed_and_bad_params():
    X = sample_inputs(5, 3, seed=0)
    a = NeuralRepresentation(10, n_unlabeled=100, random_state=1).fit_transform(X)
    b = NeuralRepresentation(10, n_unlabeled=100, random_state=1).fit_transform(X)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="width"):
        NeuralRepresentation(0).fit(X)
    with pytest.raises(ValueError, match="unknown activation"):
        NeuralRepresentation(5, activation="tanh").fit(X)
    with pytest.raises(ValueError, match="distribution"):
        NeuralRepresentation(5, distribution="cube").fit(X)
    with pytest.raises(ValueError):
        NeuralRepresentation(5, n_unlabeled=100).fit(np.array([[np.nan, 1, 2]]))
    rep = NeuralRepresentation(5, n_unlabeled=100, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        rep.transform(np.ones((2, 4)))
    rep_data = NeuralRepresentation(3, distribution="data", random_state=0).fit(sample_inputs(50, 3, seed=1))
    assert rep_data.transform(X).shape == (5, 3)


def test_diagnostics_and_the_numerical_floor():
    X = sample_inputs(5, 4, seed=0)
    rep = NeuralRepresentation(30, activation="softplus", n_unlabeled=3000, random_state=2).fit(X)
    diag = rep.diagnostics()
    assert diag["repr_n_components"] == 30 - rep.n_floored_ == rep.n_components_
    assert 1.0 <= rep.effective_rank_ <= 30 and 0 < rep.lambda_min_ <= rep.lambda_max_
    # smooth units: no direction is without variance, so the numerical floor keeps them all
    assert rep.n_floored_ == 0
    # a floor above the smallest eigenvalues shrinks those directions instead of whitening
    coarse = NeuralRepresentation(30, activation="softplus", n_unlabeled=3000,
                                  eigenvalue_floor=1e-2, random_state=2).fit(X)
    assert coarse.n_floored_ > 0 and coarse.n_components_ < 30
    with pytest.raises(ValueError, match="eigenvalue_floor must be <= 1"):
        NeuralRepresentation(5, eigenvalue_floor=2.0).fit(X)


def test_deprecated_spellings_warn():
    X = sample_inputs(5, 3, seed=0)
    with pytest.warns(FutureWarning, match="random_state"):
        old = NeuralRepresentation(6, n_unlabeled=100, seed=3).fit_transform(X)
    new = NeuralRepresentation(6, n_unlabeled=100, random_state=3).fit_transform(X)
    np.testing.assert_array_equal(old, new)
    with pytest.warns(FutureWarning, match="standard deviation"):
        on = NeuralRepresentation(6, n_unlabeled=100, bias=True, random_state=3).fit_transform(X)
    np.testing.assert_array_equal(on, new)
