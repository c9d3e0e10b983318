"""One memory guard and one budget default, used by every dense and blocked computation.

:func:`check_memory` estimates the bytes of ``copies`` dense float64 matrices and raises
:class:`GramTooLargeError` (a MemoryError and a ValueError) naming the size, the budget and
the matrix-free path when they do not fit. The default budget is :data:`MEMORY_FRACTION` of
the memory available now (``MemAvailable``). Blocked computations (row blocks, tiles,
predictions) use :data:`DEFAULT_MEMORY_BUDGET` unless told otherwise.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["DEFAULT_MEMORY_BUDGET", "GramTooLargeError", "MEMORY_FRACTION",
           "available_memory", "check_budget", "check_memory"]

#: Fraction of available memory a dense solve may take by default.
MEMORY_FRACTION = 0.5
#: Bytes a blocked computation (kernel tiles, row blocks, predictions) may hold: 1 GiB.
DEFAULT_MEMORY_BUDGET = 1 << 30


class GramTooLargeError(MemoryError, ValueError):
    """A dense matrix would not fit in the memory budget (catch as MemoryError or ValueError)."""


def available_memory() -> int:
    """Bytes available to new allocations (``MemAvailable`` in ``/proc/meminfo``)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 2**63 - 1


def check_budget(memory_budget, name: str = "memory_budget") -> int:
    """A positive number of bytes (None -> :data:`DEFAULT_MEMORY_BUDGET`)."""
    if memory_budget is None:
        return DEFAULT_MEMORY_BUDGET
    if isinstance(memory_budget, (bool, np.bool_)) or not isinstance(
            memory_budget, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of bytes, got {memory_budget!r}")
    if not np.isfinite(memory_budget) or memory_budget < 1:
        raise ValueError(f"{name} must be a positive number of bytes, got {memory_budget!r}")
    return int(memory_budget)


def check_memory(n_rows: int, n_cols: int | None = None, *, copies: float = 1.0,
                 itemsize: int = 8, budget: int | None = None, name: str = "Gram matrix",
                 fraction: float = MEMORY_FRACTION) -> int:
    """Raise if ``copies`` dense ``n_rows x n_cols`` matrices exceed the memory budget.

    Parameters
    ----------
    n_rows, n_cols : int
        Shape of the matrix (``n_cols`` defaults to ``n_rows``).
    copies : float, default=1
        How many such matrices the algorithm holds at once.
    itemsize : int, default=8
        Bytes per entry (float64).
    budget : int, optional
        Budget in bytes. Default: ``fraction`` of :func:`available_memory`.
    name : str
        What the matrix is, for the message.
    fraction : float, default=0.5
        Fraction of available memory used as the default budget.

    Returns
    -------
    nbytes : int

    Raises
    ------
    GramTooLargeError
        With both sizes and the matrix-free alternative ``solver="pcg"`` in the message.
    """
    n_cols = n_rows if n_cols is None else n_cols
    if n_rows < 0 or n_cols < 0:
        raise ValueError(f"matrix shape must be non-negative, got ({n_rows}, {n_cols})")
    nbytes = int(np.ceil(float(n_rows) * float(n_cols) * itemsize * copies))
    if budget is None:
        budget = int(fraction * available_memory())
    if nbytes > budget:
        raise GramTooLargeError(
            f"{name} of shape ({n_rows}, {n_cols}) needs {nbytes / 2**30:.2f} GiB "
            f"({copies:g} cop{'y' if copies == 1 else 'ies'} of float64), over the memory "
            f"budget of {budget / 2**30:.2f} GiB; use the matrix-free solver "
            '(solver="pcg": Nystrom-preconditioned CG over blocked matvecs), '
            "hierlearn.kernels.gram_blocks / gram_matvec, or a smaller n")
    return nbytes
