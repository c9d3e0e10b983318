"""The Dask path of the kernel matvec (solvers.operators) on a real LocalCluster
(2 worker processes, 1 thread each): equals the local matvec and the dense product, and a whole
PCG solve over it equals the local solve."""

from __future__ import annotations

import functools

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel  # noqa: E402

from hierlearn.kernels import as_kernel, ntk_gram  # noqa: E402
from hierlearn.solvers import DaskKernelOperator, KernelOperator, pcg_kernel_ridge  # noqa: E402
from hierlearn.solvers.operators import dask_kernel_matvec  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _data(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# Kernels that pickle by reference (module-level functions of an installed package).
KERNELS = [
    as_kernel(rbf_kernel, gamma=0.5),
    as_kernel(functools.partial(polynomial_kernel, degree=3, coef0=1.0)),
]


@pytest.mark.parametrize("kern", KERNELS, ids=["rbf", "poly"])
@pytest.mark.parametrize("n_blocks", [None, 1, 7])
def test_dask_matvec_equals_local(client, kern, n_blocks):
    X = _data(203, 5, 0)
    v = np.random.default_rng(1).standard_normal(203)
    local = KernelOperator(X, kern, 20_000).matvec(v)
    with DaskKernelOperator(X, kern, client, memory_budget=30_000, n_blocks=n_blocks) as op:
        assert op.shape == (203, 203)
        remote = op.matvec(v)
        # the scattered X is reused across products
        remote2 = op.matvec(2 * v)
    np.testing.assert_allclose(remote, local, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(remote2, 2 * local, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(remote, kern(X, X) @ v, rtol=1e-12, atol=1e-12)


def test_dask_matvec_function_and_address(client):
    X = _data(64, 3, 2)
    V = np.random.default_rng(3).standard_normal((64, 2))
    kern = KERNELS[0]
    # by scheduler address: the operator opens and closes its own client
    got = dask_kernel_matvec(X, V, rbf_kernel, client.scheduler.address,
                             kernel_params={"gamma": 0.5})
    np.testing.assert_allclose(got, kern(X, X) @ V, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="v must have 64 rows"):
        with DaskKernelOperator(X, kern, client) as op:
            op.matvec(np.ones(5))
    with pytest.raises(TypeError, match="scheduler must be"):
        DaskKernelOperator(X, kern, 42)


def test_pcg_solve_on_dask_equals_local(client):
    X = _data(150, 4, 4)
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    kern = KERNELS[0]
    kw = dict(kernel=kern, ridge=1e-2, n_centers=30, tol=1e-10, seed=0)
    local = pcg_kernel_ridge(X, y, **kw)
    remote = pcg_kernel_ridge(X, y, scheduler=client, **kw)
    # the two products round differently (row blocks vs symmetric tiles), so the residual
    # may cross tol = 1e-10 one iteration apart; the solutions must still agree
    assert remote.converged and abs(remote.iterations - local.iterations) <= 1
    np.testing.assert_allclose(remote.coef, local.coef, rtol=1e-9, atol=1e-9)
    K = kern(X, X)
    alpha = np.linalg.solve(K + 1e-2 * np.eye(150), y)
    np.testing.assert_allclose(remote.coef, alpha, rtol=1e-6, atol=1e-6 * np.abs(alpha).max())


def test_package_kernel_on_dask(client):
    kern = as_kernel("ntk", activation="relu", trained="both")
    X = _data(120, 6, 5)
    v = np.random.default_rng(6).standard_normal(120)
    with DaskKernelOperator(X, kern, client, n_blocks=3) as op:
        np.testing.assert_allclose(op.matvec(v), ntk_gram(X, activation="relu",
                                                          trained="both") @ v,
                                   rtol=1e-11, atol=1e-11)
