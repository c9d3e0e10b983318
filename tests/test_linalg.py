"""Safe linear algebra: memory guard, blocked Cholesky, thread limits, large-n crash guard."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.linalg
from scipy.linalg import LinAlgWarning

from hierlearn.solvers import linalg


def spd(n, rank=6, jitter=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, rank))
    return X @ X.T + jitter * np.eye(n)


# -- memory guard ---------------------------------------------------------------------------
def test_available_memory_is_plausible():
    avail = linalg.available_memory()
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < avail <= total


def test_check_memory_raises_with_size_and_pcg():
    with pytest.raises(linalg.GramTooLargeError) as info:
        linalg.check_memory(100_000, copies=2, budget=10 * 2**30, name="Gram matrix K")
    msg = str(info.value)
    assert "(100000, 100000)" in msg and "149.01 GiB" in msg and "10.00 GiB" in msg
    assert 'solver="pcg"' in msg
    # both kinds so either style of handler catches it
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)


def test_check_memory_passes_and_returns_bytes():
    assert linalg.check_memory(1000, 10, budget=10**6) == 80_000
    with pytest.raises(linalg.GramTooLargeError):
        linalg.check_memory(1000, 10, budget=79_999)


def test_default_budget_is_fraction_of_available():
    avail = linalg.available_memory()
    n_ok = int(np.sqrt(0.3 * avail / 8))
    linalg.check_memory(n_ok)  # 30% of available: fine at the default fraction 0.5
    n_bad = int(np.sqrt(0.8 * avail / 8))
    with pytest.raises(MemoryError):
        linalg.check_memory(n_bad)


# -- Cholesky -------------------------------------------------------------------------------
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("blocked", [False, True])
def test_cho_factor_matches_scipy(lower, blocked):
    A = spd(257)
    A0 = A.copy()
    c, low = linalg.cho_factor(A, lower=lower, blocked=blocked, block_size=64)
    assert np.array_equal(A, A0)  # caller's matrix untouched
    ref, _ = scipy.linalg.cho_factor(A0, lower=lower)
    tri = np.tril if lower else np.triu
    np.testing.assert_allclose(tri(c), tri(ref), rtol=0, atol=1e-12)
    b = np.random.default_rng(1).standard_normal((257, 3))
    x = linalg.cho_solve((c, low), b)
    np.testing.assert_allclose(A0 @ x, b, atol=1e-10)


def test_blocked_factor_in_place_keeps_other_triangle():
    A = np.asfortranarray(spd(300))
    upper = np.triu(A, 1).copy()
    c, _ = linalg.cho_factor(A, overwrite_a=True, blocked=True, block_size=70)
    assert c is A  # no copy was made
    np.testing.assert_array_equal(np.triu(c, 1), upper)
    L = np.tril(c)
    np.testing.assert_allclose(L @ L.T, upper + upper.T + np.diag(np.diag(L @ L.T)),
                               atol=1e-12)


def test_shift_adds_ridge_without_touching_input():
    A = spd(50)
    A0 = A.copy()
    c, _ = linalg.cho_factor(A, shift=0.7)
    L = np.tril(c)
    np.testing.assert_allclose(L @ L.T, A0 + 0.7 * np.eye(50), atol=1e-12)
    assert np.array_equal(A, A0)


def test_ill_conditioned_warns_with_rcond():
    A = spd(60, rank=3, jitter=1e-17 * 60)  # PD in floating point but rcond << eps
    A = A + 1e-14 * np.eye(60)
    with pytest.warns(LinAlgWarning, match="rcond="):
        linalg.cho_factor(A)


def test_not_positive_definite_raises():
    A = -np.eye(4)
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        linalg.cho_factor(A)


@pytest.mark.parametrize("bad, err, match", [
    (np.ones((3, 4)), ValueError, "square"),
    (np.ones(3), ValueError, "square"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), ValueError, "NaN"),
    (np.array([["a"]]), TypeError, "real"),
])
def test_cho_factor_bad_input(bad, err, match):
    with pytest.raises(err, match=match):
        linalg.cho_factor(bad)


def test_cho_solve_checks_rhs_length():
    c = linalg.cho_factor(spd(5))
    with pytest.raises(ValueError, match="rows"):
        linalg.cho_solve(c, np.ones(4))


def test_strategy_choice():
    assert linalg.cholesky_strategy(20000, threads=2) == "blocked"
    assert linalg.cholesky_strategy(20000, threads=2, blocked=False) == "single-thread"
    assert linalg.cholesky_strategy(20000, threads=1) == "lapack"
    assert linalg.cholesky_strategy(linalg.SAFE_POTRF_N - 1, threads=2) == "lapack"


def test_single_threaded_blas_limits_threads():
    with linalg.single_threaded_blas():
        assert linalg.blas_threads() == 1


def test_pinv_eigh_solve_is_minimum_norm():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4))
    K = X @ X.T  # rank 4
    b = rng.standard_normal(30)
    x, rank = linalg.pinv_eigh_solve(K, b, return_rank=True)
    assert rank == 4
    np.testing.assert_allclose(x, np.linalg.pinv(K, rcond=1e-10, hermitian=True) @ b,
                               atol=1e-8 * np.abs(x).max())


# -- the large-n crash guard ------------------------------------------------------------------
_LARGE = textwrap.dedent("""
    import numpy as np
    from hierlearn.solvers import linalg
    n = {n}
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 8))
    A = np.asfortranarray(X @ X.T / 8.0)   # one n x n matrix (F order: factored in place)
    A[np.diag_indices(n)] += 1.0
    print("strategy", linalg.cholesky_strategy(n), "threads", linalg.blas_threads(), flush=True)
    c, low = linalg.cho_factor(A, overwrite_a=True, check_finite=False)
    b = rng.standard_normal(n)
    x = linalg.cho_solve((c, low), b)
    resid = X @ (X.T @ x) / 8.0 + x - b     # A x - b without storing A again
    print("residual", float(np.abs(resid).max()), flush=True)
""")


@pytest.mark.slow
def test_large_cholesky_does_not_crash():
    # OpenBLAS's threaded dpotrf segfaults here at n >= 16000 with 2 threads. Run in a child
    # process so a regression shows up as a failed test (signal 11), not a dead test runner.
    n = 16384
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", _LARGE.format(n=n)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines["strategy"].split()[0] in {"blocked", "lapack"}
    assert float(lines["residual"]) < 1e-8


def test_syrk_update_accumulates_in_place_under_the_crash_guard(monkeypatch):
    # C += A A^T in C's upper triangle, in C's own memory; the thread rule it shares with
    # gram_product: one BLAS thread from SAFE_POTRF_N rows of output when several are active
    from hierlearn import _products

    rng = np.random.default_rng(0)
    A = np.asfortranarray(rng.standard_normal((40, 7)))
    C0 = rng.standard_normal((40, 40))
    C = np.asfortranarray(C0 + C0.T)
    out = _products.syrk_update(A, C)
    assert np.shares_memory(out, C)
    np.testing.assert_allclose(np.triu(out), np.triu(C0 + C0.T + A @ A.T), rtol=1e-13,
                               atol=1e-12)
    monkeypatch.setattr(_products, "SAFE_POTRF_N", 40)
    monkeypatch.setattr(_products, "blas_threads", lambda: 2)
    assert _products._one_thread(40) == 1 and _products._one_thread(39) is None
    monkeypatch.setattr(_products, "blas_threads", lambda: 1)
    assert _products._one_thread(40) is None


_LARGE_SYRK = textwrap.dedent("""
    import numpy as np
    from hierlearn._products import gram_product
    from hierlearn._threads import blas_threads
    A = np.random.default_rng(0).standard_normal(({n}, 270))
    G = gram_product(A)
    rows = np.random.default_rng(1).choice({n}, 50, replace=False)
    ref = np.einsum("ik,jk->ij", A[rows], A)  # no BLAS at all
    print("threads", blas_threads(), flush=True)
    print("error", float(np.abs(G[rows] - ref).max()), flush=True)
""")


@pytest.mark.slow
def test_large_gram_product_does_not_crash():
    # numpy's A @ A.T goes to OpenBLAS's threaded dsyrk, which segfaults at this size with 2
    # threads (it killed a protocol job); gram_product runs it on one thread there. Child
    # process, as above, so a regression fails this test instead of killing the runner.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", _LARGE_SYRK.format(n=19661)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert int(lines["threads"]) == 2  # the limit is restored after the product
    assert float(lines["error"]) < 1e-10
