"""The blocked kernel matvec on a Dask cluster: row blocks of K v computed on workers.

X is scattered once to every worker (``broadcast=True``); each product scatters v and runs
one task per row block, ``K[rows, :] @ v``, each within the per-task memory budget; the client
concatenates the blocks. Only vectors of length n cross the network per product, never a
kernel block. Requires the ``dist`` extra (``dask[distributed]``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DaskKernelOperator", "dask_kernel_matvec"]

_F64 = 8


def _row_block_matvec(X, kernel, start, stop, v, workspace):
    """K[start:stop, :] @ v on a worker, in column chunks within ``workspace`` bytes."""
    rows = X[start:stop]
    n = X.shape[0]
    per_col = _F64 * (stop - start) * kernel.workspace_factor
    c = int(max(1, min(n, workspace // per_col)))
    out = np.zeros((stop - start,) + v.shape[1:])
    for s in range(0, n, c):
        out += kernel(rows, X[s:s + c]) @ v[s:s + c]
    return out


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
    X : ndarray (n, d)
    kernel : kernel adapter (``solvers.pcg.as_kernel``); must pickle (a module-level callable,
        a functools.partial, or a ``kernels`` name).
    scheduler : distributed.Client or str
        A client, or the address of a scheduler (a client is then opened and closed by
        :meth:`close`).
    memory_budget : int
        Bytes one task may use for its kernel block (including temporaries).
    n_blocks : int, optional
        Row blocks per product; default: enough to keep every worker thread busy twice over and
        every block within ``memory_budget``.
    """

    def __init__(self, X, kernel, scheduler, *, memory_budget=1 << 28, n_blocks=None):
        from .pcg import _check_X, as_kernel

        self.X = _check_X(X)
        self.kernel = as_kernel(kernel)
        self.n = self.X.shape[0]
        self.client, self._own = _get_client(scheduler)
        self.workspace = int(memory_budget)
        if n_blocks is None:
            threads = sum(self.client.nthreads().values()) or 1
            n_blocks = 2 * threads
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        n_blocks = min(int(n_blocks), self.n)
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
        v_future = self.client.scatter(v, broadcast=True, hash=False)
        futures = [self.client.submit(_row_block_matvec, self._X_future, self.kernel, a, b,
                                      v_future, self.workspace, pure=False)
                   for a, b in self.blocks]
        parts = self.client.gather(futures)
        del futures, v_future
        return np.concatenate(parts, axis=0)

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

    See :class:`DaskKernelOperator` (which reuses the scattered X across products).
    """
    from .pcg import as_kernel

    with DaskKernelOperator(X, as_kernel(kernel, kernel_params), scheduler,
                            memory_budget=memory_budget, n_blocks=n_blocks) as op:
        return op.matvec(v)
