"""One thread-pinning helper for BLAS (threadpoolctl) and numba.

threadpoolctl only limits libraries already loaded, so this module imports scipy.linalg
(which loads OpenBLAS) before anything asks it for a limit.
"""

from __future__ import annotations

import contextlib

import scipy.linalg  # noqa: F401  (load scipy's OpenBLAS so threadpoolctl can limit it)
from threadpoolctl import threadpool_info, threadpool_limits

from ._measured import BLAS_SINGLE_THREAD_FLOPS

__all__ = ["blas_threads", "limit_threads", "threads_for_flops"]


def blas_threads() -> int:
    """Largest thread count among the loaded BLAS libraries (1 if none is reported)."""
    counts = [lib.get("num_threads", 1) for lib in threadpool_info()
              if lib.get("user_api") == "blas"]
    return max(counts, default=1)


def threads_for_flops(flops: float) -> int | None:
    """BLAS threads for a loop of products of ``flops`` each: 1 below the measured threshold
    (:data:`hierlearn._measured.BLAS_SINGLE_THREAD_FLOPS`), None (leave alone) above."""
    return 1 if flops < BLAS_SINGLE_THREAD_FLOPS else None


@contextlib.contextmanager
def limit_threads(threads: int | None, *, numba: bool = True, blas: bool = True):
    """Limit BLAS (and numba's thread pool) to ``threads`` inside the block, then restore.

    ``threads=None`` leaves everything as it is.
    """
    if threads is None:
        yield
        return
    threads = max(1, int(threads))
    old = None
    if numba:
        import numba as nb

        old = nb.get_num_threads()
        nb.set_num_threads(min(threads, nb.config.NUMBA_NUM_THREADS))
    try:
        if blas:
            with threadpool_limits(limits=threads, user_api="blas"):
                yield
        else:
            yield
    finally:
        if old is not None:
            import numba as nb

            nb.set_num_threads(old)
