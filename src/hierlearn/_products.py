"""``A @ A.T`` without OpenBLAS's threaded ``dsyrk`` crash (:func:`gram_product`, and
:func:`syrk_update` for ``C += A @ A.T`` in place).

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
from scipy.linalg import blas as _blas

from ._measured import SAFE_POTRF_N
from ._threads import blas_threads, limit_threads

__all__ = ["gram_product", "syrk_update"]


def _one_thread(n: int) -> int | None:
    """BLAS threads for a ``dsyrk`` with an ``n x n`` output: one above the crash order."""
    return 1 if n >= SAFE_POTRF_N and blas_threads() > 1 else None


def gram_product(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """``A @ B.T`` (``A @ A.T`` when ``B`` is None), safe from the threaded ``dsyrk`` crash."""
    if B is not None and not np.may_share_memory(A, B):
        return A @ B.T  # two buffers: numpy calls dgemm
    B = A if B is None else B
    with limit_threads(_one_thread(max(A.shape[0], B.shape[0])), numba=False):
        return A @ B.T


def syrk_update(A: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``C += A @ A.T`` in the upper triangle of the F-ordered ``C``, in place (BLAS
    ``dsyrk``; ``A`` F-ordered is read without a copy), safe from the threaded crash."""
    with limit_threads(_one_thread(C.shape[0]), numba=False):
        return _blas.dsyrk(1.0, A, beta=1.0, c=C, overwrite_c=1)
