"""Timing helpers shared by the benchmarks: best-of wall times and the reference rates
(DGEMM, fresh-page writes) that their ratios are taken against, measured in the same run."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["best_time", "dgemm_rate", "write_rate"]


def best_time(fn, repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn`` (noise on a shared machine only adds)."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def dgemm_rate(size: int = 2000, repeat: int = 3) -> float:
    """Flops per second of one ``size x size`` DGEMM on all BLAS threads (best of repeat)."""
    A = np.random.default_rng(0).standard_normal((size, size))
    A @ A  # warm up the threads
    return 2.0 * size**3 / best_time(lambda: A @ A, repeat)


def write_rate(n: int, repeat: int) -> float:
    """float64 entries per second written into fresh pages (``np.empty`` + fill, as a Gram)."""
    return n * n / best_time(lambda: np.empty((n, n)).fill(1.0), repeat)
