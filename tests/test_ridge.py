"""Kernel ridge on precomputed Grams: scikit-learn agreement, LOO/GCV, fallbacks, bad input."""


import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.linalg import LinAlgWarning
from sklearn.kernel_ridge import KernelRidge

from hierlearn.solvers import kernel_ridge, ridge_path


def relu_ntk(X, Y):
    """Tiny local stand-in kernel (first-layer relu NTK, arc-cosine of order 0 times x.y)."""
    nx = np.linalg.norm(X, axis=1)
    ny = np.linalg.norm(Y, axis=1)
    dot = X @ Y.T
    theta = np.arccos(np.clip(dot / np.outer(nx, ny), -1, 1))
    return dot * (np.pi - theta) / (2 * np.pi)


def data(n=60, d=4, t=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = X[:, 0] ** 2 + 0.1 * rng.standard_normal(n) if t is None else rng.standard_normal((n, t))
    return X, relu_ntk(X, X), y


@pytest.mark.parametrize("ridge", [1e-4, 1e-2, 1.0])
@pytest.mark.parametrize("t", [None, 3])
@pytest.mark.parametrize("lower", [True, False])
def test_matches_sklearn_kernel_ridge(ridge, t, lower):
    _, K, y = data(t=t)
    K0 = K.copy()
    alpha = kernel_ridge(K, y, ridge, lower=lower)
    ref = KernelRidge(alpha=ridge, kernel="precomputed").fit(K, y).dual_coef_
    assert np.array_equal(K, K0)
    assert alpha.shape == ref.shape
    np.testing.assert_allclose(alpha, ref, rtol=0, atol=1e-8 * np.abs(ref).max())


def test_overwrite_a_gives_same_solution():
    _, K, y = data()
    ref = kernel_ridge(K, y, 0.1)
    Kf = np.asfortranarray(K)
    np.testing.assert_allclose(kernel_ridge(Kf, y, 0.1, overwrite_a=True), ref, atol=1e-12)


def test_interpolation_at_ridge_zero():
    _, K, y = data(n=40)
    alpha = kernel_ridge(K, y, 0.0)
    np.testing.assert_allclose(K @ alpha, y, atol=1e-8)


def test_singular_gram_warns_and_returns_minimum_norm():
    X, _, y = data(n=30)
    X = np.vstack([X, X[:5]])  # repeated points: K singular
    y = np.concatenate([y, y[:5] + 1.0])  # inconsistent labels at repeats
    K = relu_ntk(X, X)
    with pytest.warns(LinAlgWarning, match="falling back"):
        alpha = kernel_ridge(K, y, 0.0)
    ref = np.linalg.pinv(K, rcond=len(y) * np.finfo(float).eps, hermitian=True) @ y
    assert np.isfinite(alpha).all()
    np.testing.assert_allclose(alpha, ref, atol=1e-6 * np.abs(ref).max())
    # same fallback with overwrite_a (rebuilt from the untouched triangle)
    with pytest.warns(LinAlgWarning):
        alpha2 = kernel_ridge(np.asfortranarray(K), y, 0.0, overwrite_a=True)
    np.testing.assert_allclose(alpha2, alpha, atol=1e-8 * np.abs(ref).max())


def test_assume_a_sym_uses_eigh():
    _, K, y = data()
    np.testing.assert_allclose(kernel_ridge(K, y, 0.1, assume_a="sym"),
                               kernel_ridge(K, y, 0.1), atol=1e-10)


# -- ridge path --------------------------------------------------------------------------------
RIDGES = [0.0, 1e-4, 1e-2, 1.0]


def test_path_matches_per_ridge_cholesky():
    _, K, y = data()
    path = ridge_path(K, y, RIDGES)
    for j, lam in enumerate(RIDGES):
        ref = kernel_ridge(K, y, lam)
        np.testing.assert_allclose(path.dual_coef[j], ref, rtol=0,
                                   atol=1e-6 * np.abs(ref).max() if lam == 0 else 1e-9)


def test_path_loo_matches_brute_force():
    _, K, y = data(n=40)
    path = ridge_path(K, y, RIDGES)
    n = len(y)
    for j, lam in enumerate(RIDGES):
        errs = []
        for i in range(n):
            keep = np.arange(n) != i
            a = kernel_ridge(K[np.ix_(keep, keep)], y[keep], lam)
            errs.append((K[i, keep] @ a - y[i]) ** 2)
        np.testing.assert_allclose(path.loo[j], np.mean(errs), rtol=1e-6)


def test_path_gcv_and_train_error_match_hat_matrix():
    _, K, y = data(n=50)
    lams = [1e-3, 1e-1]
    path = ridge_path(K, y, lams)
    n = len(y)
    for j, lam in enumerate(lams):
        H = K @ np.linalg.inv(K + lam * np.eye(n))
        r = y - H @ y
        np.testing.assert_allclose(path.train_error[j], np.mean(r ** 2), rtol=1e-8)
        np.testing.assert_allclose(path.gcv[j], np.mean(r ** 2) / (1 - np.trace(H) / n) ** 2,
                                   rtol=1e-8)


def test_path_multitarget_and_predict():
    X, K, Y = data(t=2)
    path = ridge_path(K, Y, [1e-3, 1e-1])
    assert path.dual_coef.shape == (2, len(Y), 2)
    Xt = data(n=7, seed=5)[0]
    pred = path.predict(relu_ntk(Xt, X))
    assert pred.shape == (2, 7, 2)
    np.testing.assert_allclose(pred[1], relu_ntk(Xt, X) @ kernel_ridge(K, Y, 1e-1), atol=1e-10)
    with pytest.raises(ValueError, match="K_test"):
        path.predict(np.ones((3, 5)))


def test_path_singular_warns_pseudo_inverse():
    X, _, y = data(n=20)
    X = np.vstack([X, X[:3]])
    y = np.concatenate([y, y[:3]])
    K = relu_ntk(X, X)
    with pytest.warns(LinAlgWarning, match="singular"):
        path = ridge_path(K, y, [0.0, 1e-2])
    assert path.rank[0] < len(y) and path.rank[1] == len(y)
    assert np.isfinite(path.dual_coef).all() and np.isfinite(path.loo).all()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 25), rank=st.integers(1, 6), lam=st.floats(1e-4, 10.0),
       seed=st.integers(0, 2**16))
def test_path_invariants(n, rank, lam, seed):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, rank))
    K = F @ F.T
    y = rng.standard_normal(n)
    path = ridge_path(K, y, [lam])
    alpha = path.dual_coef[0]
    # the solution solves the system, and LOO error >= training error (0 <= H_ii < 1)
    np.testing.assert_allclose(K @ alpha + lam * alpha, y, atol=1e-8 * (1 + np.abs(y).max()))
    assert path.loo[0] >= path.train_error[0] * (1 - 1e-9)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("K, y, ridge, err, match", [
    (np.ones((3, 4)), np.ones(3), 0.1, ValueError, "square"),
    (np.eye(3), np.ones(4), 0.1, ValueError, "y has 4 rows"),
    (np.eye(3), np.ones(3), -1.0, ValueError, "ridge must be finite and >= 0"),
    (np.eye(3), np.ones(3), np.nan, ValueError, "ridge"),
    (np.eye(3), np.ones(3), "big", TypeError, "ridge"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), np.ones(2), 0.1, ValueError, "NaN"),
    (np.eye(2), np.array([1.0, np.inf]), 0.1, ValueError, "NaN"),
    (np.eye(2), np.ones((2, 1, 1)), 0.1, ValueError, "1-D or 2-D"),
    (np.zeros((0, 0)), np.ones(0), 0.1, ValueError, "at least one"),
])
def test_kernel_ridge_bad_input(K, y, ridge, err, match):
    with pytest.raises(err, match=match):
        kernel_ridge(K, y, ridge)


@pytest.mark.parametrize("ridges, match", [
    ([], "non-empty"), ([0.1, -1.0], ">= 0"), ([[0.1]], "1-D"), ([np.inf], "finite"),
])
def test_ridge_path_bad_ridges(ridges, match):
    with pytest.raises(ValueError, match=match):
        ridge_path(np.eye(3), np.ones(3), ridges)


def test_overwrite_a_c_ordered_factors_in_place():
    X, K, y = data(n=50)
    ref = kernel_ridge(K, y, 1e-2)
    Kc = np.array(K, order="C", copy=True)
    alpha = kernel_ridge(Kc, y, 1e-2, overwrite_a=True)
    np.testing.assert_allclose(alpha, ref, atol=1e-12)
    assert not np.array_equal(Kc, K)  # the memory was reused for the factor
