"""Matrix-free kernel ridge (solvers.pcg, solvers.nystrom, solvers.operators): PCG and Falkon
against dense solves, the preconditioner's effect, the memory budget (tracemalloc), leverage
scores, bad input."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.linalg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import rbf_kernel

from hierlearn.kernels import NTK, CallableKernel, QuadKernel, RandomFeatures, as_kernel
from hierlearn.kernels.arccos import relu_ntk_formula
from hierlearn.solvers import KernelOperator, conjugate_gradient, falkon, pcg_kernel_ridge
from hierlearn.solvers.nystrom import (approximate_leverage_scores, select_centers,
                                       spectral_n_centers)

SOLVERS = {"exact": pcg_kernel_ridge, "nystrom": falkon}


def relu_ntk(A, B):
    """Closed-form relu NTK (both layers) by the numpy formula: an independent reference."""
    return relu_ntk_formula(A, B, trained="both")


def sphere(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def target(X):
    return X[:, 0] ** 3 - X[:, 1] * X[:, 2] + 0.5 * X[:, 3]


def dense_alpha(K, y, ridge):
    return scipy.linalg.solve(K + ridge * np.eye(K.shape[0]), y, assume_a="pos")


KERNELS = {
    "relu_ntk": CallableKernel(relu_ntk),
    "rbf": CallableKernel(rbf_kernel, {"gamma": 0.7}),
}


# ------------------------------------------------------------------ PCG against dense solves
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(5, 160), d=st.integers(2, 12), kname=st.sampled_from(sorted(KERNELS)),
       log_ridge=st.floats(-3, 1), frac=st.floats(0.05, 1.0),
       centers=st.sampled_from(["uniform", "leverage"]), seed=st.integers(0, 2**16))
def test_exact_pcg_matches_dense_solve(n, d, kname, log_ridge, frac, centers, seed):
    X = sphere(n, d, seed)
    y = target(np.pad(X, ((0, 0), (0, 4)))) + np.random.default_rng(seed + 1).standard_normal(n)
    ridge = 10.0 ** log_ridge
    kern = KERNELS[kname]
    K = kern(X, X)
    M = max(1, int(frac * n))
    res = pcg_kernel_ridge(X, y, kernel=kern, ridge=ridge, n_centers=M, centers=centers,
                           tol=1e-11, max_iter=4 * n + 50, seed=seed)
    alpha = dense_alpha(K, y, ridge)
    assert res.converged
    # the true residual of the returned solution, not just CG's recursive one
    true_res = np.linalg.norm(K @ res.coef + ridge * res.coef - y) / np.linalg.norm(y)
    assert true_res < 1e-8
    cond = np.linalg.cond(K + ridge * np.eye(n))
    assert np.linalg.norm(res.coef - alpha) <= 1e-9 * cond * np.linalg.norm(alpha)
    assert res.residuals[0] == 1.0 and res.residuals[-1] <= 1e-11
    assert len(res.residuals) == res.iterations + 1


@pytest.mark.parametrize("kname", sorted(KERNELS))
def test_exact_predictions_match_dense(kname):
    X, Xt = sphere(300, 8, 0), sphere(100, 8, 1)
    y = target(X)
    kern = KERNELS[kname]
    alpha = dense_alpha(kern(X, X), y, 1e-2)
    res = pcg_kernel_ridge(X, y, kernel=kern, ridge=1e-2, n_centers=60, tol=1e-10, seed=0)
    pred, ref = res.predict(Xt), kern(Xt, X) @ alpha
    assert np.linalg.norm(pred - ref) <= 1e-7 * np.linalg.norm(ref)
    # blocked prediction under a tiny budget gives the same numbers
    np.testing.assert_allclose(res.predict(Xt, memory_budget=20_000), pred, rtol=1e-12, atol=1e-14)


def test_preconditioner_reduces_iterations():
    X = sphere(300, 10, 3)
    y = target(X)
    kw = dict(kernel=relu_ntk, ridge=1e-3, tol=1e-8, max_iter=2000, seed=0)
    plain = pcg_kernel_ridge(X, y, preconditioner=False, **kw)
    uni = pcg_kernel_ridge(X, y, n_centers=100, centers="uniform", **kw)
    lev = pcg_kernel_ridge(X, y, n_centers=100, centers="leverage", **kw)
    assert plain.converged and uni.converged and lev.converged
    assert uni.iterations <= plain.iterations / 3, (uni.iterations, plain.iterations)
    assert lev.iterations <= plain.iterations / 3, (lev.iterations, plain.iterations)
    # more centres, a better preconditioner
    many = pcg_kernel_ridge(X, y, n_centers=200, **kw)
    assert many.iterations < uni.iterations
    np.testing.assert_allclose(uni.coef, plain.coef, rtol=0, atol=1e-6 * np.abs(plain.coef).max())


@pytest.mark.parametrize("method", ["exact", "nystrom"])
def test_two_dimensional_y_is_solved_per_column(method):
    X = sphere(150, 5, 14)
    Y = np.column_stack([target(np.pad(X, ((0, 0), (0, 0)))), X[:, 0], np.zeros(150)])
    kw = dict(kernel=relu_ntk, ridge=0.05, n_centers=40, tol=1e-10, max_iter=300, seed=2)
    both = SOLVERS[method](X, Y, **kw)
    assert both.coef.shape == (both.support.shape[0], 3) and len(both.residuals) == 3
    for j in range(2):
        one = SOLVERS[method](X, Y[:, j], **kw)
        np.testing.assert_allclose(both.coef[:, j], one.coef, rtol=1e-8, atol=1e-10)
    assert np.all(both.coef[:, 2] == 0)
    assert both.predict(X[:7]).shape == (7, 3)


def test_seed_determinism():
    X = sphere(200, 6, 4)
    y = target(X)
    a = pcg_kernel_ridge(X, y, kernel=relu_ntk, ridge=0.1, n_centers=30, centers="leverage", seed=7)
    b = pcg_kernel_ridge(X, y, kernel=relu_ntk, ridge=0.1, n_centers=30, centers="leverage", seed=7)
    c = pcg_kernel_ridge(X, y, kernel=relu_ntk, ridge=0.1, n_centers=30, centers="leverage", seed=8)
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert not np.array_equal(a.centers, c.centers)


# ------------------------------------------------------------------------- Falkon (nystrom)
@pytest.mark.parametrize("cached", [True, False])
def test_nystrom_matches_direct_normal_equations(cached):
    X, Xt = sphere(250, 8, 5), sphere(50, 8, 6)
    y = target(X)
    ridge, M = 1e-2, 40
    budget = (1 << 26) if cached else 200_000
    res = falkon(X, y, kernel=relu_ntk, ridge=ridge, n_centers=M, tol=1e-12, max_iter=500,
                 seed=1, memory_budget=budget)
    assert res.cached_factor is cached and res.converged
    C = X[res.centers]
    K_nC, K_CC = relu_ntk(X, C), relu_ntk(C, C)
    beta = scipy.linalg.lstsq(K_nC.T @ K_nC + ridge * K_CC, K_nC.T @ y)[0]
    ref = relu_ntk(Xt, C) @ beta
    assert np.linalg.norm(res.predict(Xt) - ref) <= 1e-6 * np.linalg.norm(ref)


def test_nystrom_with_all_points_is_dense_krr():
    X, Xt = sphere(120, 5, 8), sphere(40, 5, 9)
    y = target(np.pad(X, ((0, 0), (0, 0))))
    ridge = 0.05
    res = falkon(X, y, kernel=relu_ntk, ridge=ridge, n_centers=120, tol=1e-12, max_iter=500,
                 seed=0)
    ref = relu_ntk(Xt, X) @ dense_alpha(relu_ntk(X, X), y, ridge)
    assert np.linalg.norm(res.predict(Xt) - ref) <= 1e-6 * np.linalg.norm(ref)


# ---------------------------------------------------------------------------- leverage scores
def test_leverage_scores_with_full_pilot_are_exact():
    X = sphere(150, 6, 10)
    kern = as_kernel(relu_ntk)
    ridge = 0.3
    K = kern(X, X)
    exact = np.diag(K @ np.linalg.inv(K + ridge * np.eye(150)))
    op = KernelOperator(X, kern, 50_000)
    approx = approximate_leverage_scores(X, kern, ridge, n_pilot=150, seed=0,
                                         nm_blocks_factory=op.column_blocks)
    np.testing.assert_allclose(approx, exact, rtol=1e-7, atol=1e-9)
    # a pilot subset gives positive finite scores of the right overall size (effective dimension)
    sub = approximate_leverage_scores(X, kern, ridge, n_pilot=40, seed=0,
                                      nm_blocks_factory=op.column_blocks)
    assert np.all(np.isfinite(sub)) and np.all(sub > 0)
    assert 0.3 < sub.sum() / exact.sum() < 3


def test_select_centers_basic():
    X = sphere(50, 3, 0)
    idx = select_centers(X, 10, seed=0)
    assert idx.shape == (10,) and len(set(idx)) == 10 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, select_centers(X, 10, seed=0))


# ------------------------------------------------------------------------ blocked operator
@pytest.mark.parametrize("workspace", [200, 5_000, 60_000, 10**8])
def test_blocked_matvec_equals_dense(workspace):
    X = sphere(137, 7, 11)
    kern = as_kernel(relu_ntk)
    op = KernelOperator(X, kern, workspace)
    K = kern(X, X)
    v = np.random.default_rng(0).standard_normal(137)
    V = np.random.default_rng(1).standard_normal((137, 3))
    np.testing.assert_allclose(op.matvec(v), K @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.matvec(V), K @ V, rtol=1e-12, atol=1e-12)
    # column blocks cover every row once
    idx = np.array([3, 50, 99])
    got = np.vstack([b.copy() for _, b in op.column_blocks(idx)])  # one buffer, overwritten
    np.testing.assert_allclose(got, K[:, idx], rtol=1e-13, atol=1e-15)
    # the kernel's own products with K[:, idx] and its transpose
    C = X[idx]
    w = np.random.default_rng(2).standard_normal(3)
    np.testing.assert_allclose(op.cross_matvec(C, w), K[:, idx] @ w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.cross_rmatvec(C, v), K[:, idx].T @ v, rtol=1e-12,
                               atol=1e-12)


def test_conjugate_gradient_zero_rhs_and_indefinite():
    x, hist, ok = conjugate_gradient(lambda v: 2 * v, np.zeros(4))
    assert ok and np.all(x == 0)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        conjugate_gradient(lambda v: -v, np.ones(4))


# ----------------------------------------------------------------------------- memory budget
@pytest.mark.parametrize("method", ["exact", "nystrom"])
def test_memory_budget_respected(method):
    n, M = 1000, 50
    X = sphere(n, 8, 12)
    y = target(X)
    budget = 1_500_000  # the n x n Gram alone would be 8 MB
    kw = dict(kernel=relu_ntk, ridge=1e-2, n_centers=M, tol=1e-6, max_iter=60, seed=0)
    tracemalloc.start()
    try:
        res = SOLVERS[method](X, y, memory_budget=budget, **kw)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        big = SOLVERS[method](X, y, memory_budget=1 << 27, **kw)
        _, peak_big = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.converged
    assert peak <= budget, f"peak {peak} bytes over budget {budget}"
    # the large budget really uses larger blocks (so the measurement sees the blocks)
    assert peak_big > budget
    np.testing.assert_allclose(res.predict(X[:20]), big.predict(X[:20]), rtol=1e-4, atol=1e-6)


# -------------------------------------------------------------------------------- bad input
def test_bad_parameters_raise_clear_errors():
    X = sphere(30, 3, 0)
    y = target(np.pad(X, ((0, 0), (0, 2))))
    kw = dict(kernel=relu_ntk, ridge=0.1)
    with pytest.raises(ValueError, match="n_centers must be >= 1"):
        pcg_kernel_ridge(X, y, n_centers=0, **kw)
    with pytest.raises(ValueError, match="n_centers=31 exceeds the number of samples n=30"):
        pcg_kernel_ridge(X, y, n_centers=31, **kw)
    with pytest.raises(TypeError, match="n_centers must be an int"):
        pcg_kernel_ridge(X, y, n_centers=2.5, **kw)
    for tol in (0.0, -1e-6, float("nan")):
        with pytest.raises(ValueError, match="tol must be"):
            pcg_kernel_ridge(X, y, tol=tol, **kw)
    for ridge in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="ridge must be"):
            pcg_kernel_ridge(X, y, kernel=relu_ntk, ridge=ridge)
    with pytest.raises(ValueError, match="max_iter"):
        pcg_kernel_ridge(X, y, max_iter=0, **kw)
    with pytest.raises(ValueError, match="memory_budget"):
        pcg_kernel_ridge(X, y, memory_budget=-5, **kw)
    with pytest.raises(ValueError, match="memory_budget=1000 bytes is too small"):
        pcg_kernel_ridge(X, y, memory_budget=1000, **kw)
    with pytest.raises(ValueError, match=r"y must have shape \(30,\) or \(30, r\), got \(29,\)"):
        pcg_kernel_ridge(X, y[:-1], **kw)
    with pytest.raises(ValueError, match=r"X must be 2-d .*\(30,\)"):
        pcg_kernel_ridge(X[:, 0], y, **kw)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        pcg_kernel_ridge(Xn, y, **kw)
    with pytest.raises(ValueError, match="unknown centers 'kmeans'"):
        pcg_kernel_ridge(X, y, centers="kmeans", **kw)
    with pytest.raises(ValueError, match="unknown centers 'kmeans'"):
        falkon(X, y, centers="kmeans", **kw)
    with pytest.raises(TypeError, match="kernel must be"):
        pcg_kernel_ridge(X, y, kernel=3, ridge=0.1)
    with pytest.raises(ValueError, match="unknown kernel 'gauss'"):
        pcg_kernel_ridge(X, y, kernel="gauss", ridge=0.1)
    res = pcg_kernel_ridge(X, y, n_centers=5, **kw)
    with pytest.raises(ValueError, match="X_new has 4 features but the model was fitted with 3"):
        res.predict(np.ones((2, 4)))


def test_convergence_warning():
    X = sphere(80, 4, 2)
    y = target(np.pad(X, ((0, 0), (0, 0))))
    with pytest.warns(ConvergenceWarning, match="did not reach tol"):
        res = pcg_kernel_ridge(X, y, kernel=relu_ntk, ridge=1e-3, n_centers=3, tol=1e-12,
                               max_iter=2, seed=0)
    assert not res.converged and res.iterations == 2


# ---------------------------------------------------------------- the kernels package's Grams
@pytest.mark.parametrize("kern", [
    NTK("relu", trained="both"), NTK("relu", bias=0.5),
    RandomFeatures(NTK("relu"), 256, random_state=3), NTK("shifted_sigmoid", trained="both"),
    NTK("relu", trained="both", representation="step"), QuadKernel("relu2"),
    RandomFeatures(QuadKernel("relu3"), 128, random_state=0)], ids=repr)
def test_package_kernel_matches_dense(kern):
    X = sphere(200, 6, 13)
    y = target(X)
    alpha = dense_alpha(kern(X), y, 1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = pcg_kernel_ridge(X, y, kern, ridge=1e-2, n_centers=50, tol=1e-10, max_iter=500,
                               seed=0, memory_budget=400_000)
    assert np.linalg.norm(res.coef - alpha) <= 1e-6 * np.linalg.norm(alpha)


@pytest.mark.parametrize("lo, hi", [(1, 2), (2, 4), (4, 6)])
def test_spectral_count_matches_the_gram_eigenvalues(lo, hi):
    # a threshold between two eigen-levels n mu_lo > t > n mu_hi: the predicted count (whole
    # levels, from the Funk-Hecke eigenvalues) equals the number of Gram eigenvalues above t
    # (relu NTK, both layers: odd levels >= 3 vanish; N(5, l) = 1, 5, 14, 30, 55, 91, 140)
    kern, d, n = NTK("relu", trained="both"), 5, 1500
    mu = np.asarray(kern.eigenvalues(d, 8))
    t = n * np.sqrt(mu[lo] * mu[hi])
    eig = np.linalg.eigvalsh(kern(sphere(n, d, 0)))
    count, left = spectral_n_centers(kern, d, n, t / 10)
    assert count == int((eig > t).sum())
    assert left == pytest.approx(n * mu[hi])


def test_spectrum_sized_centres_cut_iterations():
    X = sphere(2000, 6, 1)
    y = target(X)
    ntk = NTK("relu", trained="both")
    kw = dict(kernel=ntk, ridge=1e-4, tol=1e-8, max_iter=3000, seed=0)
    sized = pcg_kernel_ridge(X, y, n_centers="spectrum", **kw)
    want, _ = spectral_n_centers(ntk, 6, 2000, 1e-4)
    assert len(sized.centers) == want > 447  # more than the sqrt rule's 10 sqrt(n)
    default = pcg_kernel_ridge(X, y, **kw)
    assert sized.converged and default.converged
    # condition number about 1 + SPECTRAL_FACTOR = 11: CG's bound sqrt(11) / 2 ln(2 / tol) = 32
    assert sized.iterations <= 32 < default.iterations, (sized.iterations, default.iterations)
    np.testing.assert_allclose(sized.coef, default.coef, rtol=0,
                               atol=1e-5 * np.abs(default.coef).max())
    with pytest.warns(UserWarning, match="spectrum asks for 1293 .* allows 300"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 5 iterations: not the point here
        capped = pcg_kernel_ridge(X, y, n_centers="spectrum", memory_budget=7_200_000,
                                  **dict(kw, max_iter=5))
    assert len(capped.centers) == 300  # sqrt(budget / 2 / 40): M x M factors in half of it
    with pytest.raises(ValueError, match="n_centers"):
        pcg_kernel_ridge(X, y, n_centers="sqrt", **kw)
    with pytest.raises(TypeError, match="dot-product kernel"):
        pcg_kernel_ridge(X, y, n_centers="spectrum",
                         kernel=CallableKernel(relu_ntk), ridge=1e-2)


def test_bench_smoke(capsys):
    from hierlearn.bench import pcg_bench

    code = pcg_bench.main(["--sizes", "300", "--methods", "exact,nystrom", "--n-test", "50",
                           "--no-isolate", "--ref-tile", "64", "--threads", "1", "--d", "6",
                           "--ridges", "1e-2,1e-4", "--trained", "first,both"])
    out = capsys.readouterr().out
    assert code == 0
    assert "dense" in out and "exact" in out and "nystrom" in out
    for kern in ("kl", "ntk"):  # K_L and K_NTK
        for ridge in ("1e-02", "1e-04"):
            line = next(line for line in out.splitlines()
                        if line.split()[:4] == [kern, "300", ridge, "exact"]).split()
            assert float(line[14]) < 1e-3  # rel diff of test error vs the dense solve
            assert int(line[4]) == int(line[5])  # the spectrum's M fits the budget here
    assert pcg_bench.main(["--methods", "gauss"]) == 2


def test_nystrom_preconditioner_streamed_equals_cached_and_dense():
    # P^{-1} r for P = U U^T + ridge I, U = K_nC T^{-1}: the streamed application (products
    # with K_nC, one triangular solve each way) equals the cached one and a dense solve with P
    from hierlearn.solvers.nystrom import NystromPreconditioner

    X = sphere(400, 5, 2)
    idx = np.arange(0, 400, 5)
    K = relu_ntk(X, X)
    T = scipy.linalg.cholesky(K[np.ix_(idx, idx)] + 1e-10 * np.eye(len(idx)), lower=False)

    def blocks():
        for s in range(0, 400, 64):
            yield slice(s, min(s + 64, 400)), K[s:s + 64][:, idx]

    r = np.random.default_rng(0).standard_normal(400)
    cross = (lambda w: K[:, idx] @ w, lambda r: K[:, idx].T @ r)
    out = {c: NystromPreconditioner(T, blocks, 400, 1e-3, cache=c, cross=cross)(r)
           for c in (True, False)}
    U = scipy.linalg.solve_triangular(T, K[:, idx].T, trans="T").T
    dense = np.linalg.solve(U @ U.T + 1e-3 * np.eye(400), r)
    np.testing.assert_allclose(out[False], out[True], rtol=1e-10, atol=1e-10 * np.abs(dense).max())
    np.testing.assert_allclose(out[False], dense, rtol=1e-6, atol=1e-6 * np.abs(dense).max())


def test_jittered_cholesky_in_place_retries_like_a_copy():
    # slightly indefinite: jitters 1e-12 and 1e-10 (x mean diagonal) fail, 1e-8 works; the
    # in-place attempts must restore the matrix between tries and end where the copy does
    from hierlearn.solvers.nystrom import jittered_cholesky

    A = np.random.default_rng(0).standard_normal((60, 6))
    K = A @ A.T
    scale = float(np.mean(np.diag(K)))
    K -= 5e-10 * scale * np.eye(60)
    T, jitter = jittered_cholesky(K)
    work = K.copy()
    T2, jitter2 = jittered_cholesky(work, overwrite=True)
    assert jitter == jitter2 == pytest.approx(1e-8 * scale)
    assert np.shares_memory(T2, work)
    np.testing.assert_array_equal(np.tril(T, -1), 0.0)
    np.testing.assert_array_equal(T2, T)
    np.testing.assert_allclose(T.T @ T, K + jitter * np.eye(60), rtol=0, atol=1e-12 * scale)
