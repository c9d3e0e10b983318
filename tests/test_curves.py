"""Prefix learning curves: agreement with independent fits, selection, the algorithms, the
exact-error hook and the argument checks."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.linalg import LinAlgWarning

from hierlearn.solvers import kernel_ridge, learning_curve, ridge_path


def relu_ntk(X, Y):
    nx = np.linalg.norm(X, axis=1)
    ny = np.linalg.norm(Y, axis=1)
    dot = X @ Y.T
    theta = np.arccos(np.clip(dot / np.outer(nx, ny), -1, 1))
    return dot * (np.pi - theta) / (2 * np.pi)


def problem(n=120, n_test=50, d=4, noise=0.1, seed=0, repeat=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Xtr, Xte = X[:n], X[n:]
    if repeat:
        Xtr = np.vstack([Xtr[:n - repeat], Xtr[:repeat]])
    f = lambda Z: Z[:, 0] ** 2 + Z[:, 0] * Z[:, 1]  # noqa: E731
    y = f(Xtr) + noise * rng.standard_normal(n)
    return relu_ntk(Xtr, Xtr), y, relu_ntk(Xte, Xtr), f(Xte)


SIZES = [10, 25, 60, 120]
RIDGES = [1e-4, 1e-2, 1.0]
COLUMNS = {"n", "ridge", "test_error", "train_error", "loo", "gcv", "validation", "selected",
           "seed"}


@pytest.mark.parametrize("method", ["eigh", "cholesky", "search"])
def test_matches_independent_fits(method):
    K, y, Kt, ft = problem()
    K0 = K.copy()
    df = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=RIDGES, method=method, seed=7)
    assert np.array_equal(K, K0)
    assert isinstance(df, pd.DataFrame) and COLUMNS <= set(df.columns)
    assert (df["seed"] == 7).all()
    if method == "search":  # 3 ridges: all of them are initial points of the search
        assert df.groupby("n")["selected"].sum().eq(1).all()
    else:
        assert len(df) == len(SIZES) * len(RIDGES)
    assert (df["method"] == method).all()
    var = np.var(ft)
    for row in df.itertuples():
        m, lam = row.n, row.ridge
        alpha = kernel_ridge(K[:m, :m], y[:m], lam)
        test = np.mean((Kt[:, :m] @ alpha - ft) ** 2) / var
        train = np.mean((K[:m, :m] @ alpha - y[:m]) ** 2) / var
        path = ridge_path(K[:m, :m], y[:m], [lam])
        np.testing.assert_allclose(row.test_error, test, rtol=1e-7)
        np.testing.assert_allclose(row.train_error, train, rtol=1e-6, atol=1e-14)
        np.testing.assert_allclose(row.loo, path.loo[0] / var, rtol=1e-7)
        np.testing.assert_allclose(row.gcv, path.gcv[0] / var, rtol=1e-7)


@pytest.mark.parametrize("method", ["cholesky", "search"])
@pytest.mark.parametrize("selection", ["loo", "gcv"])
def test_selection_picks_criterion_minimum(selection, method):
    K, y, Kt, ft = problem()
    df = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=RIDGES, selection=selection,
                        method=method)
    for n, grp in df.groupby("n"):
        assert grp["selected"].sum() == 1
        assert grp.loc[grp["selected"], selection].item() == grp[selection].min()


@pytest.mark.parametrize("method", ["eigh", "cholesky", "search"])
def test_validation_selection_uses_held_out_tail(method):
    K, y, Kt, ft = problem()
    df = learning_curve(K, y, Kt, ft, sizes=[20, 50, 96], ridges=RIDGES, method=method,
                        selection="validation", validation_fraction=0.2)
    for row in df.itertuples():
        alpha = kernel_ridge(K[:row.n, :row.n], y[:row.n], row.ridge)
        ref = np.mean((K[96:, :row.n] @ alpha - y[96:]) ** 2) / np.var(ft)
        np.testing.assert_allclose(row.validation, ref, rtol=1e-8)
    assert df.groupby("n")["selected"].sum().eq(1).all()
    with pytest.raises(ValueError, match=r"sizes must lie in \[1, 96\]"):
        learning_curve(K, y, Kt, ft, sizes=[20, 100], ridges=RIDGES, selection="validation",
                       validation_fraction=0.2)


def test_validation_size_is_deprecated_but_works():
    K, y, Kt, ft = problem()
    kw = dict(sizes=[20, 50, 96], ridges=RIDGES, selection="validation")
    new = learning_curve(K, y, Kt, ft, validation_fraction=0.2, **kw)
    with pytest.warns(FutureWarning, match="validation_fraction"):
        old_count = learning_curve(K, y, Kt, ft, validation_size=24, **kw)
    with pytest.warns(FutureWarning):
        old_frac = learning_curve(K, y, Kt, ft, validation_size=0.2, **kw)
    pd.testing.assert_frame_equal(old_count, new)
    pd.testing.assert_frame_equal(old_frac, new)
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="not both"):
        learning_curve(K, y, Kt, ft, validation_size=24, validation_fraction=0.3, **kw)


def test_selection_none_and_single_ridge():
    K, y, Kt, ft = problem()
    df = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=RIDGES, selection="none")
    assert not df["selected"].any()
    df1 = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=[1e-2], selection="none")
    assert df1["selected"].all()


def test_normalizer():
    K, y, Kt, ft = problem()
    a = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=RIDGES)
    b = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=RIDGES, normalizer=1.0)
    np.testing.assert_allclose(b["test_error"] / np.var(ft), a["test_error"], rtol=1e-12)


def test_auto_method_and_agreement():
    K, y, Kt, ft = problem()
    grid = np.logspace(-4, 0, 20)
    few = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=[1e-2])
    many = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=grid, selection="none")
    # several large sizes: the eigendecompositions cost more than the search's factorisations
    searched = learning_curve(K, y, Kt, ft, sizes=[30, 60, 90, 120], ridges=grid)
    assert few["method"].iloc[0] == "cholesky" and many["method"].iloc[0] == "eigh"
    assert searched["method"].iloc[0] == "search" and len(searched) < len(many)
    other = learning_curve(K, y, Kt, ft, sizes=SIZES, ridges=grid, method="cholesky",
                           selection="none")
    cols = ["test_error", "train_error", "loo", "gcv"]
    np.testing.assert_allclose(other[cols].to_numpy(), many[cols].to_numpy(), rtol=1e-6,
                               atol=1e-12)
    assert (other["selected"] == many["selected"]).all()


def test_interpolation_on_singular_gram_falls_back():
    K, y, Kt, ft = problem(repeat=8)  # the last 8 points repeat the first 8: K singular
    with pytest.warns(LinAlgWarning):
        df = learning_curve(K, y, Kt, ft, sizes=[50, 120], ridges=[0.0, 1e-2],
                            method="cholesky")
    assert np.isfinite(df[["test_error", "train_error", "loo", "gcv"]].to_numpy()).all()
    with pytest.warns(LinAlgWarning):
        ref = learning_curve(K, y, Kt, ft, sizes=[50, 120], ridges=[0.0, 1e-2], method="eigh")
    np.testing.assert_allclose(df["test_error"], ref["test_error"], rtol=1e-5)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(sizes=[50, 20]), ValueError, "strictly increasing"),
    (dict(sizes=[10, 500]), ValueError, r"sizes must lie in \[1, 120\]"),
    (dict(sizes=[0, 10]), ValueError, "sizes must lie"),
    (dict(sizes=[10.5]), TypeError, "integers"),
    (dict(ridges=[-1.0]), ValueError, ">= 0"),
    (dict(selection="oracle"), ValueError, "unknown selection"),
    (dict(method="qr"), ValueError, "unknown method"),
    (dict(normalizer=0.0), ValueError, "normalizer"),
    (dict(selection="validation", validation_fraction=1.5), ValueError, "validation_fraction"),
    (dict(selection="validation", validation_fraction=24), ValueError, "validation_fraction"),
    (dict(method="search", selection="none"), ValueError, "needs|searches"),
])
def test_bad_arguments(kwargs, err, match):
    K, y, Kt, ft = problem()
    args = dict(sizes=SIZES, ridges=RIDGES) | kwargs
    with pytest.raises(err, match=match):
        learning_curve(K, y, Kt, ft, **args)


def test_bad_shapes():
    K, y, Kt, ft = problem()
    with pytest.raises(ValueError, match="square"):
        learning_curve(K[:, :100], y, Kt, ft, sizes=SIZES, ridges=RIDGES)
    with pytest.raises(ValueError, match="y has 119 rows"):
        learning_curve(K, y[:-1], Kt, ft, sizes=SIZES, ridges=RIDGES)
    with pytest.raises(ValueError, match=r"K_test must have shape \(n_test, 120\)"):
        learning_curve(K, y, Kt[:, :50], ft, sizes=SIZES, ridges=RIDGES)
    with pytest.raises(ValueError, match="f_test must have shape"):
        learning_curve(K, y, Kt, ft[:-1], sizes=SIZES, ridges=RIDGES)
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        learning_curve(K, bad, Kt, ft, sizes=SIZES, ridges=RIDGES)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(4, 40), k=st.integers(1, 4), seed=st.integers(0, 2**16),
       method=st.sampled_from(["eigh", "cholesky"]))
def test_curve_invariants(n, k, seed, method):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + 10, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    K = relu_ntk(X[:n], X[:n]) + 1e-3 * np.eye(n)
    y = X[:n, 0] + 0.1 * rng.standard_normal(n)
    sizes = np.unique(np.linspace(2, n, k).astype(int))
    df = learning_curve(K, y, relu_ntk(X[n:], X[:n]), X[n:, 0], sizes=sizes,
                        ridges=[1e-3, 1e-1], method=method, normalizer=1.0)
    # errors are non-negative, LOO >= training error when ridge > 0, one pick per n
    assert (df[["test_error", "train_error", "loo", "gcv"]] >= 0).all().all()
    assert (df["loo"] >= df["train_error"] * (1 - 1e-9)).all()
    assert df.groupby("n")["selected"].sum().eq(1).all()


def test_matrix_free_curve_equals_dense_curve():
    """learning_curve_pcg reproduces the dense learning_curve (same estimator, same holdout)."""
    from hierlearn.solvers import learning_curve_pcg

    rng = np.random.default_rng(4)
    X = rng.standard_normal((170, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Xtr, Xte = X[:120], X[120:]
    f = lambda Z: Z[:, 0] ** 2 + Z[:, 0] * Z[:, 1]  # noqa: E731
    y = f(Xtr) + 0.1 * rng.standard_normal(120)
    kw = dict(sizes=[20, 50, 96], ridges=RIDGES, selection="validation", seed=3)
    dense = learning_curve(relu_ntk(Xtr, Xtr), y, relu_ntk(Xte, Xtr), f(Xte),
                           validation_fraction=0.2, method="cholesky", **kw)
    free = learning_curve_pcg(Xtr, y, Xte, f(Xte), kernel=relu_ntk, tol=1e-12, max_iter=500,
                              validation_fraction=0.2, **kw)
    assert (free["method"] == "pcg").all() and free["loo"].isna().all()
    assert (free["iterations"] >= 1).all()
    for col in ("test_error", "train_error", "validation"):
        np.testing.assert_allclose(free[col], dense[col], rtol=1e-6, atol=1e-10, err_msg=col)
    pd.testing.assert_series_equal(free["selected"], dense["selected"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(selection="gcv"), "selection must be 'validation' or 'none'"),
    (dict(ridges=[0.0, 1.0]), "ridges must be > 0"),
    (dict(sizes=[10, 200]), r"sizes must lie in \[1, 40\]"),
])
def test_matrix_free_curve_bad_arguments(kwargs, match):
    from hierlearn.solvers import learning_curve_pcg

    X = np.random.default_rng(0).standard_normal((50, 3))
    args = dict(sizes=[10, 20], ridges=[1e-2], selection="validation", kernel=relu_ntk)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        learning_curve_pcg(X, X[:, 0], X[:5], X[:5, 0], **args)
