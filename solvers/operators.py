"""Kernel matrices as matrix-free operators: local (fused or blocked) and on a Dask cluster.

:class:`KernelOperator` multiplies K = k(X, X) by vectors through the kernel's own matvec
(the numba leaf evaluates each entry of the symmetric K once, in registers, for both of its
products; other kernels stream tiles of one triangle) and serves column blocks K[:, C] for
Nystrom preconditioners. :class:`DaskKernelOperator` runs the same product as row blocks on
a Dask cluster: X is scattered once to every worker, each product scatters v and runs one
task per row block ``k(X[rows], X) @ v`` (the kernel's own rectangular matvec, within the
per-task memory budget); only vectors of length n cross the network. Both expose ``shape``
and ``matvec``; the Dask one needs the ``dist`` extra (``dask[distributed]``).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int
from ..kernels import as_kernel

__all__ = ["DaskKernelOperator", "KernelOperator", "dask_kernel_matvec"]

_F64 = 8


class KernelOperator:
    """K = k(X, X) without the n x n matrix: products and column blocks.

    Parameters
    ----------
    X : ndarray (n, d), validated
    kernel : hierlearn.kernels.Kernel
    workspace : int
        Bytes one block of kernel entries may take (including the kernel's temporaries).

    Attributes
    ----------
    n_kernel_evals : int
        Kernel entries evaluated so far (benchmark bookkeeping; a symmetric product counts
        n (n + 1) / 2).
    """

    def __init__(self, X, kernel, workspace):
        self.X = X
        self.kernel = kernel
        self.n = X.shape[0]
        self.workspace = int(workspace)
        self.n_kernel_evals = 0

    @property
    def shape(self):
        return (self.n, self.n)

    def matvec(self, v):
        """K @ v (v of shape (n,) or (n, r))."""
        v = np.asarray(v, dtype=np.float64)
        self.n_kernel_evals += self.n * (self.n + 1) // 2
        out = self.kernel._matvec(self.X, None, v.reshape(self.n, -1), self.workspace)
        return out.reshape(v.shape)

    def rows_per_block(self, n_cols, extra_factor=0.0):
        """Rows of an (rows x n_cols) block that fit the workspace (at least 1)."""
        per_row = _F64 * n_cols * (self.kernel.workspace_factor + extra_factor)
        return int(max(1, min(self.n, self.workspace // per_row)))

    def column_blocks(self, idx, extra_factor=2.0):
        """Yield ``(rows, K[rows, idx])`` for consecutive row slices covering all n rows.

        Every block is written into one buffer, which the next block overwrites: copy a
        block to keep it. (A fresh array per block costs page faults, which on a virtual
        machine can cost more than the kernel evaluations.)
        """
        C = self.X[idx]
        m = len(idx)
        b = self.rows_per_block(m, extra_factor)
        buf = np.empty(min(b, self.n) * m)
        for s in range(0, self.n, b):
            e = min(s + b, self.n)
            K_b = self.kernel._gram_into(self.X[s:e], C, buf[:(e - s) * m].reshape(e - s, m))
            self.n_kernel_evals += K_b.size
            yield slice(s, e), K_b

    def cross_matvec(self, C, w):
        """``k(X, C) @ w`` by the kernel's own matvec (no block of K is stored)."""
        self.n_kernel_evals += self.n * C.shape[0]
        return self.kernel._matvec(self.X, C, w.reshape(C.shape[0], -1),
                                   self.workspace).reshape((self.n,) + w.shape[1:])

    def cross_rmatvec(self, C, r):
        """``k(C, X) @ r``, the transposed product of :meth:`cross_matvec`."""
        self.n_kernel_evals += self.n * C.shape[0]
        return self.kernel._matvec(C, self.X, r.reshape(self.n, -1),
                                   self.workspace).reshape((C.shape[0],) + r.shape[1:])


def _row_block_matvec(X, kernel, start, stop, v, workspace):
    """k(X[start:stop], X) @ v on a worker (the kernel's rectangular matvec)."""
    return kernel._matvec(X[start:stop], X, v, workspace)


def _get_client(scheduler):
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    if isinstance(scheduler, str):
        return Client(scheduler), True
    raise TypeError(f"scheduler must be a distributed.Client or a scheduler address string, "
                    f"got {type(scheduler).__name__}")


class DaskKernelOperator:
    """K = k(X, X) as a matrix-free operator whose products run on a Dask cluster.

    Parameters
    ----------
    X : ndarray (n, d), validated
    kernel : hierlearn.kernels.Kernel
        Must pickle: kernel objects do (a CallableKernel needs a module-level function or a
        functools.partial); the workers need hierlearn installed.
    scheduler : distributed.Client or str
        A client, or the address of a scheduler (a client is then opened and closed by
        :meth:`close`).
    memory_budget : int
        Bytes one task may use for its kernel blocks.
    n_blocks : int, optional
        Row blocks per product; default: twice the workers' threads (within ``n``).
    """

    def __init__(self, X, kernel, scheduler, *, memory_budget=1 << 28, n_blocks=None):
        self.X = X
        self.kernel = kernel
        self.n = X.shape[0]
        self.client, self._own = _get_client(scheduler)
        self.workspace = int(memory_budget)
        if n_blocks is None:
            n_blocks = 2 * (sum(self.client.nthreads().values()) or 1)
        n_blocks = min(check_int(n_blocks, "n_blocks", minimum=1), self.n)
        bounds = np.linspace(0, self.n, n_blocks + 1).round().astype(int)
        self.blocks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        self._X_future = self.client.scatter(self.X, broadcast=True, hash=False)

    @property
    def shape(self):
        return (self.n, self.n)

    def matvec(self, v):
        """K @ v, one Dask task per row block."""
        v = np.ascontiguousarray(v, dtype=np.float64)
        if v.shape[0] != self.n:
            raise ValueError(f"v must have {self.n} rows, got shape {v.shape}")
        V = v.reshape(self.n, -1)
        v_future = self.client.scatter(V, broadcast=True, hash=False)
        futures = [self.client.submit(_row_block_matvec, self._X_future, self.kernel, a, b,
                                      v_future, self.workspace, pure=False)
                   for a, b in self.blocks]
        parts = self.client.gather(futures)
        del futures, v_future
        return np.concatenate(parts, axis=0).reshape(v.shape)

    def close(self):
        """Release the scattered data (and the client if this operator opened it)."""
        self._X_future = None
        if self._own:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def dask_kernel_matvec(X, v, kernel, scheduler, *, kernel_params=None, memory_budget=1 << 28,
                       n_blocks=None):
    """One product ``k(X, X) @ v`` computed as row blocks on a Dask cluster.

    ``kernel`` is anything :func:`hierlearn.kernels.as_kernel` accepts (with
    ``kernel_params``). See :class:`DaskKernelOperator` (which reuses the scattered X).
    """
    with DaskKernelOperator(check_array(X), as_kernel(kernel, **(kernel_params or {})),
                            scheduler, memory_budget=memory_budget, n_blocks=n_blocks) as op:
        return op.matvec(v)
