"""learning_curve(method="search") against the full grid, the exact-error hook, ridge 0."""

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import LinAlgWarning

from hierlearn import kernels
from hierlearn.solvers import kernel_ridge, learning_curve
from hierlearn.targets import LowRankPolynomial, make_task

GRID = np.logspace(-4, 1, 20)  # the benchmark's range: the smallest ridges stay in


def kernel_problem(kind, *, d=8, n=360, n_test=300, noise=0.0, degree=2, seed=0):
    """Gram, labels, cross Gram, noise-free test targets and Var f* for a sphere task."""
    target = LowRankPolynomial(d, degree, rank=2, basis="harmonic", seed=seed)
    task = make_task(target, n, n_test, noise=noise, seed=seed)
    gram = {"ntk": lambda A, B=None: kernels.ntk_gram(A, B),
            "ntk_both": lambda A, B=None: kernels.ntk_gram(A, B, trained="both"),
            "quad": lambda A, B=None: kernels.quad_gram(A, B)}[kind]
    return (gram(task.X_train), task.y_train, gram(task.X_test, task.X_train), task.f_test,
            task.normalizer)


CASES = [  # kernel, noise, target degree: noise-free targets select the smallest ridges
    ("ntk", 0.0, 2), ("ntk_both", 0.5, 2), ("quad", 0.3, 2), ("quad", 0.0, 4),
    ("ntk_both", 0.1, 3),
]


@pytest.mark.parametrize("kind, noise, degree", CASES)
def test_search_selects_what_the_full_grid_selects(kind, noise, degree):
    K, y, Kt, ft, var = kernel_problem(kind, noise=noise, degree=degree)
    sizes = np.unique(np.geomspace(36, 288, 6).round().astype(int))
    kw = dict(sizes=sizes, ridges=GRID, normalizer=var, validation_fraction=0.2)
    full = learning_curve(K, y, Kt, ft, selection="validation", method="eigh", **kw)
    full = full.set_index(["n", "ridge"])
    for selection in ("gcv", "loo", "validation"):
        fast = learning_curve(K, y, Kt, ft, selection=selection, method="search", **kw)
        assert (fast["method"] == "search").all() and len(fast) < len(full)
        # every row it reports is exact: the full grid's numbers at the same (n, ridge)
        cols = ["test_error", "train_error", selection]
        ref = full.loc[list(zip(fast["n"], fast["ridge"])), cols].to_numpy()
        np.testing.assert_allclose(fast[cols].to_numpy(), ref, rtol=1e-6, atol=1e-12)
        chosen = fast[fast["selected"]].set_index("n")
        best = full[selection].groupby(level="n").idxmin()
        for n, (_, ridge) in best.items():
            # the issue asks for 2% on the selected test error; the search finds the same ridge
            assert chosen.loc[n, "ridge"] == ridge, (selection, n)
            np.testing.assert_allclose(chosen.loc[n, "test_error"],
                                       full.loc[(n, ridge), "test_error"], rtol=0.02)
        assert fast.attrs["cholesky_factorisations"] < len(GRID)


@pytest.mark.parametrize("method", ["eigh", "cholesky", "search"])
@pytest.mark.parametrize("selection", ["gcv", "validation"])
def test_error_hook_gives_identical_numbers(method, selection):
    K, y, Kt, ft, var = kernel_problem("ntk_both", noise=0.3, n=200)
    kw = dict(sizes=[25, 60, 150], ridges=GRID[::3], selection=selection, method=method,
              normalizer=var, seed=4)
    calls = []

    def error(alpha, n):
        calls.append(n)
        return np.mean((Kt[:, :n] @ alpha - ft) ** 2)

    hooked = learning_curve(K, y, None, None, error=error, **kw)
    plain = learning_curve(K, y, Kt, ft, **kw)
    pd.testing.assert_frame_equal(hooked, plain, check_exact=True)
    assert sorted(calls) == sorted(plain["n"].tolist())


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(error=lambda a, n: 1.0), ValueError, "normalizer is required"),
    (dict(error=lambda a, n: 1.0, normalizer=1.0, K_test="keep"), ValueError, "not both"),
    (dict(error="mse", normalizer=1.0), TypeError, "callable"),
    (dict(error=lambda a, n: np.nan, normalizer=1.0), ValueError, "finite"),
    (dict(error=lambda a, n: "0.1", normalizer=1.0), TypeError, "real number"),
    (dict(), TypeError, "K_test and f_test are required"),
])
def test_error_hook_bad_usage(kwargs, err, match):
    K, y, Kt, ft, _ = kernel_problem("ntk", n=60)
    K_test = Kt if kwargs.pop("K_test", None) == "keep" else None
    with pytest.raises(err, match=match):
        learning_curve(K, y, K_test, None, sizes=[20, 60], ridges=[1e-2], **kwargs)


@pytest.mark.parametrize("method", ["cholesky", "search"])
def test_ridge_zero_is_exact_interpolation(method):
    K, y, Kt, ft, var = kernel_problem("ntk_both", noise=0.2, n=150)
    df = learning_curve(K, y, Kt, ft, sizes=[40, 150], ridges=np.r_[0.0, GRID],
                        method=method, normalizer=var)
    zero = df[df["ridge"] == 0.0].set_index("n")
    assert list(zero.index) == [40, 150]  # the grid's first point is always evaluated
    for n in (40, 150):
        alpha = kernel_ridge(K[:n, :n], y[:n], 0.0)
        np.testing.assert_allclose(zero.loc[n, "test_error"],
                                   np.mean((Kt[:, :n] @ alpha - ft) ** 2) / var, rtol=1e-6)
        assert zero.loc[n, "train_error"] < 1e-12


def test_search_falls_back_on_a_singular_gram():
    K, y, Kt, ft, var = kernel_problem("ntk", n=80)
    idx = np.r_[np.arange(70), np.arange(10)]  # the last 10 points repeat the first 10
    K, y = K[np.ix_(idx, idx)], y[idx]
    with pytest.warns(LinAlgWarning, match="pseudo-inverse"):
        df = learning_curve(K, y, Kt[:, idx], ft, sizes=[30, 80], ridges=np.r_[0.0, GRID],
                            method="search", normalizer=var)
    assert np.isfinite(df[["test_error", "train_error", "gcv", "loo"]].to_numpy()).all()
    assert df.groupby("n")["selected"].sum().eq(1).all()


def test_search_with_repeated_ridges_reports_both_copies():
    K, y, Kt, ft, var = kernel_problem("quad", noise=0.3, n=120)
    ridges = np.r_[GRID[::2], GRID[4]]  # GRID[4] twice, out of order
    df = learning_curve(K, y, Kt, ft, sizes=[30, 120], ridges=ridges, method="search",
                        normalizer=var)
    twice = df[df["ridge"] == GRID[4]]
    for _, grp in twice.groupby("n"):
        assert len(grp) == 2
        assert grp.drop(columns="selected").nunique().max() == 1
    assert df.groupby("n")["selected"].sum().eq(1).all()
