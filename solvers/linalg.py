"""Safe dense linear algebra for kernel ridge: memory guard, crash-free Cholesky, fallbacks.

Three problems this module solves, each with a documented behaviour:

**Memory.** :func:`check_memory` estimates the bytes of a dense ``n x m`` float64 matrix
(times the number of copies an algorithm holds) and raises :class:`GramTooLargeError`
(a :class:`MemoryError` and a :class:`ValueError`) naming the size, the budget and the
matrix-free alternative ``solver="pcg"`` when it exceeds the budget. The default budget is
``MEMORY_FRACTION`` (0.5) of ``MemAvailable`` in ``/proc/meminfo``.

**OpenBLAS's threaded Cholesky.** OpenBLAS 0.3.30/0.3.31 (scipy's and numpy's wheels,
SkylakeX kernels) segfaults in its *threaded* ``dpotrf`` at ``n >= 16000`` with 2 threads
(measured here: the process dies within seconds, signal 11; ``n = 15000`` is fine, as is one
thread). A segfault cannot be caught, so :func:`cho_factor` never hands LAPACK a system of
order ``>= SAFE_POTRF_N`` while more than one BLAS thread is active. Instead it runs a
left-looking blocked Cholesky: ``dpotrf`` on diagonal blocks of order ``<= block_size``
(8192 by default, well inside the safe range), ``dgemm`` (numpy's matmul) for the updates and
``dtrsm`` for the panels, all threaded. Measured here on 2 cores (shared machine, same
run): n = 15000, threaded ``dpotrf`` 13.6-14.6 s, blocked with block 7500 17.5 s (1.2-1.3x),
block 4096 19.0 s; n = 16000 (prototype, block 4096): blocked 17 s, single-threaded
``dpotrf`` 26 s, threaded ``dpotrf`` killed by SIGSEGV. The alternative
(``blocked=False``) limits every loaded BLAS to one thread with threadpoolctl around the
call; threadpoolctl only limits libraries already loaded, which is why this module imports
:mod:`scipy.linalg` (and numpy) at import time.

**Ill-conditioning.** Like :func:`scipy.linalg.solve`, a factorisation whose reciprocal
condition number (LAPACK ``dpocon``) is below machine epsilon emits
:class:`scipy.linalg.LinAlgWarning` with the value of ``rcond``. By default
(``warn_rcond="auto"``) ``dpocon`` runs only when the Cholesky pivots already prove
``cond_2 >= 1e6`` (their max/min ratio is a free lower bound), so well-conditioned solves
cost what LAPACK's alone do. A Gram that is not
numerically positive definite (``dpotrf`` fails) raises :class:`numpy.linalg.LinAlgError`
from :func:`cho_factor`; the kernel ridge solvers in :mod:`solvers.ridge` catch both cases and
fall back to the symmetric eigendecomposition with a pseudo-inverse (see
:func:`pinv_eigh_solve`), i.e. the minimum-norm solution on the numerically non-singular
eigen-directions.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.linalg
from scipy.linalg import LinAlgWarning, blas as _blas, lapack as _lapack

from .._measured import CHOLESKY_BLOCK, SAFE_POTRF_N
from .._memory import MEMORY_FRACTION, GramTooLargeError, available_memory, check_memory
from .._threads import blas_threads, limit_threads

__all__ = [
    "GramTooLargeError",
    "MEMORY_FRACTION",
    "SAFE_POTRF_N",
    "available_memory",
    "blas_threads",
    "check_memory",
    "dense_or_pcg",
    "DENSE_COPIES",
    "cho_factor",
    "cholesky_strategy",
    "cho_solve",
    "pinv_eigh_solve",
    "single_threaded_blas",
]

#: cho_factor(warn_rcond="auto") runs dpocon when max/min Cholesky pivot exceeds this.
RCOND_CHECK_RATIO = 1e6
#: Default diagonal block order of the blocked Cholesky.
DEFAULT_BLOCK = CHOLESKY_BLOCK


#: Copies of the n x n Gram a dense kernel ridge fit holds (Gram, factor or eigenvectors,
#: workspace).
DENSE_COPIES = 3


def dense_or_pcg(n: int, *, matrix_free: bool, hint: str,
                 name: str = "training Gram matrix") -> str:
    """The solver ``"auto"`` picks for n training points: ``"dense"`` while
    :data:`DENSE_COPIES` n x n float64 matrices pass :func:`check_memory`, else ``"pcg"``.

    Parameters
    ----------
    n : int
    matrix_free : bool
        Whether the caller's settings allow the matrix-free solver (it needs a float
        ridge > 0, chosen without LOO/GCV).
    hint : str
        Appended to the GramTooLargeError when the Gram does not fit and ``matrix_free`` is
        False: what to change so that it can run.
    name : str
        What the matrix is, for the message.
    """
    try:
        check_memory(n, copies=DENSE_COPIES, name=name)
    except GramTooLargeError as exc:
        if not matrix_free:
            raise GramTooLargeError(f"{exc}. {hint}") from None
        return "pcg"
    return "dense"


@contextlib.contextmanager
def single_threaded_blas():
    """Context manager limiting every loaded BLAS to one thread (threadpoolctl)."""
    with limit_threads(1, numba=False):
        yield


def cholesky_strategy(n: int, blocked: bool | None = None, block_size: int = DEFAULT_BLOCK,
                      threads: int | None = None) -> str:
    """How :func:`cho_factor` factors an ``n x n`` matrix with the BLAS threads now active.

    Returns ``"lapack"`` (one threaded ``dpotrf``: small enough, or one thread),
    ``"blocked"`` (left-looking blocked factorisation, diagonal blocks ``< SAFE_POTRF_N``) or
    ``"single-thread"`` (``dpotrf`` with BLAS limited to one thread; ``blocked=False``).
    """
    threads = blas_threads() if threads is None else threads
    big = n >= SAFE_POTRF_N and threads > 1
    if blocked is None:
        blocked = big
    if blocked and n > block_size:
        return "blocked"
    return "single-thread" if big else "lapack"


def _check_square(a, name):
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square 2-D array, got shape {a.shape}")


def _as_float_array(a, name, check_finite):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if check_finite and not np.isfinite(a).all():
        raise ValueError(f"{name} must not contain NaN or infinity")
    return a


def _sym_one_norm_upper(c, diag, chunk=1024):
    """1-norm of the symmetric matrix with strict upper triangle ``c`` and diagonal ``diag``.

    dpotrf (lower) never touches the strict upper triangle, so after factoring in place it
    still holds the (mirrored) matrix. Chunked over columns: no n x n temporary.
    """
    n = c.shape[0]
    colsum = np.abs(diag).astype(np.float64)
    for j in range(0, n, chunk):
        e = min(j + chunk, n)
        blk = np.abs(np.triu(c[:e, j:e], 1 - j))  # rows i < global column index
        colsum[j:e] += blk.sum(axis=0)
        colsum[:e] += blk.sum(axis=1)
    return float(colsum.max())


def _potrf(a, overwrite):
    """LAPACK dpotrf on a (small enough) block; returns the lower factor, info."""
    c, info = _lapack.dpotrf(a, lower=1, clean=0, overwrite_a=overwrite)
    return c, info


def _blocked_potrf(a, block):
    """In-place left-looking blocked lower Cholesky of the F-ordered array ``a``.

    Returns LAPACK-style ``info`` (0 on success, k > 0 when the leading minor of order k
    is not positive definite). Only the lower triangle is referenced and written.
    """
    n = a.shape[0]
    for j in range(0, n, block):
        e = min(j + block, n)
        if j:
            # Update block column j with the already-factored columns: one big threaded gemm.
            upd = a[j:, :j] @ a[j:e, :j].T
            a[e:, j:e] -= upd[e - j:]
            a[j:e, j:e] -= np.tril(upd[:e - j])  # lower triangle only, like dpotrf
            del upd
        c, info = _lapack.dpotrf(a[j:e, j:e], lower=1, clean=1)
        if info > 0:
            return j + info
        if info < 0:  # pragma: no cover - argument error, cannot happen here
            raise ValueError(f"illegal value in argument {-info} of dpotrf")
        a[j:e, j:e] = c + np.triu(a[j:e, j:e], 1)
        if e < n:
            # Panel below the diagonal block: X L_jj^T = A  ->  X = A L_jj^{-T}.
            a[e:, j:e] = _blas.dtrsm(1.0, c, a[e:, j:e], side=1, lower=1, trans_a=1)
    return 0


def cho_factor(a, lower: bool = True, overwrite_a: bool = False, check_finite: bool = True,
               *, shift: float = 0.0, blocked: bool | None = None,
               block_size: int = DEFAULT_BLOCK, warn_rcond="auto"):
    """Cholesky factor of ``a + shift * I``, safe from OpenBLAS's large threaded dpotrf crash.

    Same contract as :func:`scipy.linalg.cho_factor`; only the ``lower`` triangle of ``a``
    is referenced.

    Parameters
    ----------
    a : (n, n) array_like
        Symmetric positive definite matrix.
    lower : bool, default=True
        Factor the lower triangle (``a = L L^T``) or the upper one (``a = U^T U``).
    overwrite_a : bool, default=False
        Allow the factor to be written into ``a`` (only honoured for a float64 array with
        a usable memory layout; the caller must not rely on ``a`` afterwards).
    check_finite : bool, default=True
        Check that ``a`` contains only finite numbers.
    shift : float, default=0
        Added to the diagonal before factoring (the ridge); the caller's array is untouched
        unless ``overwrite_a``.
    blocked : bool, optional
        Use the left-looking blocked factorisation. Default: when ``n >= SAFE_POTRF_N`` and
        more than one BLAS thread is active. ``False`` with a large ``n`` and several
        threads limits BLAS to one thread around LAPACK's dpotrf instead.
    block_size : int, default=8192
        Diagonal block order of the blocked path (kept below ``SAFE_POTRF_N``).
    warn_rcond : {"auto", True, False}, default="auto"
        Estimate the reciprocal condition number (LAPACK ``dpocon``, 1-norm) and emit
        :class:`scipy.linalg.LinAlgWarning` when it is below machine epsilon. ``"auto"``
        estimates it only when the ratio of the largest to the smallest Cholesky pivot
        ``L_ii^2`` (a free lower bound on the 2-norm condition number) exceeds
        ``RCOND_CHECK_RATIO`` (1e6), which keeps well-conditioned solves at LAPACK speed;
        ``True`` always estimates. The matrix is assumed symmetric (the 1-norm is read from
        the triangle the factorisation leaves untouched).

    Returns
    -------
    c : (n, n) ndarray
        The factor in the ``lower`` (or upper) triangle; the other triangle holds
        unspecified values.
    lower : bool
        As passed, for :func:`cho_solve`.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``a + shift * I`` is not numerically positive definite.
    """
    arr = _as_float_array(a, "a", check_finite)
    _check_square(arr, "a")
    n = arr.shape[0]
    # Work on the lower triangle of an F-ordered array: LAPACK's native layout. The upper
    # triangle of a C-ordered array is the lower triangle of its (F-ordered) transpose.
    src = arr if lower else arr.T
    if overwrite_a and arr is a and src.flags.f_contiguous:
        c = src
    else:
        c = np.array(src, order="F", copy=True)
    if shift:
        c[np.diag_indices(n)] += shift
    if warn_rcond not in (True, False, "auto"):
        raise ValueError(f"warn_rcond must be True, False or 'auto', got {warn_rcond!r}")
    diag0 = c.diagonal().copy() if (warn_rcond and n) else None
    strategy = cholesky_strategy(n, blocked, block_size)
    if strategy == "blocked":
        info = _blocked_potrf(c, min(int(block_size), SAFE_POTRF_N - 1))
    elif strategy == "single-thread":
        with single_threaded_blas():
            c, info = _potrf(c, overwrite=True)
    else:
        c, info = _potrf(c, overwrite=True)
    if info > 0:
        raise np.linalg.LinAlgError(
            f"{info}-th leading minor of the array is not positive definite")
    if info < 0:  # pragma: no cover
        raise ValueError(f"illegal value in argument {-info} of dpotrf")
    if warn_rcond and n:
        # Pivots d_i = L_ii^2 lie in [lambda_min, lambda_max], so max(d)/min(d) is a free
        # lower bound on cond_2; "auto" pays for dpocon (O(n^2), ~30% of dpotrf at n=2000)
        # only when that bound exceeds RCOND_CHECK_RATIO.
        piv = np.diagonal(c) ** 2
        suspect = piv.max() > RCOND_CHECK_RATIO * piv.min()
        rcond = np.inf
        if warn_rcond is True or suspect:
            anorm = _sym_one_norm_upper(c, diag0)
            rcond, _ = _lapack.dpocon(c, anorm, uplo="L")
        if rcond < np.finfo(np.float64).eps:
            warnings.warn(
                f"Ill-conditioned matrix (rcond={rcond:.6g}): result may not be accurate.",
                LinAlgWarning, stacklevel=2)
    return (c if lower else c.T), lower


def cho_solve(c_and_lower, b, overwrite_b: bool = False, check_finite: bool = True):
    """Solve ``A x = b`` from :func:`cho_factor`'s output (:func:`scipy.linalg.cho_solve`)."""
    c, lower = c_and_lower
    b = _as_float_array(b, "b", check_finite)
    if b.shape[0] != c.shape[0]:
        raise ValueError(
            f"b must have {c.shape[0]} rows to match the factor, got shape {b.shape}")
    return scipy.linalg.cho_solve((c, lower), b, overwrite_b=overwrite_b, check_finite=False)


def pinv_eigh_solve(a, b, shift: float = 0.0, *, rcond: float | None = None,
                    check_finite: bool = True, return_rank: bool = False):
    """Minimum-norm solution of ``(a + shift I) x = b`` by symmetric eigendecomposition.

    The documented fallback for singular or ill-conditioned systems: with
    ``a = V diag(s) V^T``, eigen-directions whose shifted eigenvalue ``s_k + shift`` is at most
    ``rcond * max_k |s_k + shift|`` (default ``rcond = n * eps``) are dropped, so the result is
    ``V diag(1/(s + shift))_+ V^T b`` -- the pseudo-inverse solution, which for ``shift = 0`` is
    the minimum-norm interpolant on the numerical range of ``a``.

    Parameters
    ----------
    a : (n, n) array_like
        Symmetric matrix (lower triangle referenced).
    b : (n,) or (n, k) array_like
        Right-hand side.
    shift : float, default=0
        Added to the diagonal.
    rcond : float, optional
        Relative eigenvalue cut-off; default ``n * eps``.
    check_finite : bool, default=True
        Check inputs for NaN/inf.
    return_rank : bool, default=False
        Also return the number of kept directions.
    """
    a = _as_float_array(a, "a", check_finite)
    _check_square(a, "a")
    b = _as_float_array(b, "b", check_finite)
    n = a.shape[0]
    s, v = scipy.linalg.eigh(a, lower=True, check_finite=False, driver="evd")
    s = s + shift
    if rcond is None:
        rcond = max(n, 1) * np.finfo(np.float64).eps
    tol = rcond * (np.abs(s).max() if n else 0.0)
    keep = s > tol
    inv = np.zeros_like(s)
    inv[keep] = 1.0 / s[keep]
    coef = v.T @ b
    coef = (inv[:, None] * coef) if coef.ndim == 2 else inv * coef
    x = v @ coef
    if return_rank:
        return x, int(keep.sum())
    return x
