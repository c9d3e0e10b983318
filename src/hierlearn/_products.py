"""``A @ A.T`` without OpenBLAS's threaded ``dsyrk`` crash.

numpy hands ``A @ A.T`` (one buffer, transposed) to BLAS ``dsyrk``. The threaded ``dsyrk`` of
the OpenBLAS in the numpy/scipy wheels (0.3.30/0.3.31, SkylakeX kernels, 2 threads) writes past
its output and kills the process with SIGSEGV once the output is large: n = 18 500 and 19 661
rows with k = 270 columns and n = 19 661 with k = 1000 died; n = 17 000 with k = 270 and
n = 19 661 with k = 17 or 64 survived; one thread never died (2026-12-02, numpy 2.4.6, one child
process per case). It is probably the bug behind the threaded ``dpotrf`` crash that
:data:`hierlearn._measured.SAFE_POTRF_N` guards (in OpenBLAS issue 2821 a threaded ``dpotrf``
died inside ``dsyrk_thread_UT``), so the same order is the limit here. Above it the product runs
on one BLAS thread, which cost nothing where measured (n = 16 384, k = 270: 3.6 s on one
thread, 8.9 s on two, another job holding the second core). Switching to ``dgemm`` on a copy
would also avoid the crash, but changes the last bits of some entries, and with them results
already published.
"""

from __future__ import annotations

import numpy as np

from ._measured import SAFE_POTRF_N
from ._threads import blas_threads, limit_threads

__all__ = ["gram_product"]


def gram_product(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """``A @ B.T`` (``A @ A.T`` when ``B`` is None), safe from the threaded ``dsyrk`` crash."""
    if B is not None and not np.may_share_memory(A, B):
        return A @ B.T  # two buffers: numpy calls dgemm
    B = A if B is None else B
    big = max(A.shape[0], B.shape[0]) >= SAFE_POTRF_N and blas_threads() > 1
    with limit_threads(1 if big else None, numba=False):
        return A @ B.T
