"""Matrix-free kernel ridge regression: Nystrom-preconditioned conjugate gradients.

Two problems, one machinery (centres, blocked kernel evaluations, a memory budget):

``method="exact"`` (default)
    Solves the full kernel ridge system ``(K + ridge I) alpha = y`` (the convention of
    scikit-learn's KernelRidge and of ``solvers.ridge``) by preconditioned conjugate gradients.
    K is never stored: each iteration streams K in square tiles (one triangle: the kernel is
    symmetric) and multiplies on the fly. The preconditioner is the Nystrom approximation
    ``K_nC K_CC^{-1} K_Cn + ridge I`` (see :mod:`solvers.nystrom`), inverted by Woodbury. The
    iterates converge to the *dense* solution, so the answer equals the Cholesky solve up to the
    residual tolerance: this is exact KRR, matrix-free. Cost per iteration: about n^2 / 2 kernel
    evaluations (+ 2 n M for the preconditioner when its n x M factor is not cached).

``method="nystrom"``
    Falkon (Rudi, Carratino, Rosasco 2017; Meanti, Carratino, Rosasco, Rudi 2020): the
    Nystrom-restricted estimator f(x) = sum_j beta_j k(x, c_j) with
    ``(K_Cn K_nC + ridge K_CC) beta = K_Cn y``, solved by CG preconditioned with Falkon's
    B = T^{-1} A^{-1}. Cost per iteration 2 n M kernel evaluations (or none when K_nC fits the
    budget and is cached). This is a *different estimator* from dense KRR (it converges to the
    Nystrom solution, whose test error approaches the dense one as M grows); use it beyond the
    reach of ``"exact"``.

Both stop when the relative residual ||r_k|| / ||r_0|| of the (preconditioned-variable) CG
system drops to ``tol`` and report the iterations and the residual history.

Memory budget
-------------
``memory_budget`` (bytes) bounds what the solver allocates besides its inputs: the M x M
factors, a few n-vectors, the optional cache of the n x M Nystrom factor, and the kernel tiles
(tile bytes times the kernel's ``workspace_factor``, an estimate of its temporaries). It decides
the tile sizes and whether the n x M factor is cached. ``tests/test_pcg.py`` measures the peak
with tracemalloc.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .nystrom import (check_n_centers, FalkonPreconditioner, NystromPreconditioner, jittered_cholesky,
                      select_centers)

__all__ = [
    "as_kernel",
    "CallableKernel",
    "PackageKernel",
    "BlockedKernelOperator",
    "conjugate_gradient",
    "pcg_kernel_ridge",
    "PCGResult",
    "kernel_predict",
    "DEFAULT_MEMORY_BUDGET",
]

#: Default memory budget of the matrix-free solver: 1 GiB.
DEFAULT_MEMORY_BUDGET = 1 << 30
_F64 = 8
# Largest square tile side: beyond it larger tiles buy nothing and only raise the peak.
_MAX_TILE = 4096


# ---------------------------------------------------------------------------- kernel adapters
class CallableKernel:
    """Adapter around any ``fn(A, B, **params) -> (len(A), len(B)) Gram`` callable.

    Parameters
    ----------
    fn : callable
        Must be picklable (a module-level function or functools.partial) for the Dask path.
    params : dict, optional
        Extra keyword arguments for ``fn``.
    workspace_factor : float
        Bytes the call needs per output entry, in units of 8 bytes (output + temporaries).
        A numpy formula with a few elementwise temporaries needs about 4-6.
    """

    def __init__(self, fn, params=None, *, workspace_factor=6.0):
        if not callable(fn):
            raise TypeError(f"kernel must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.params = dict(params or {})
        self.workspace_factor = float(workspace_factor)

    def __call__(self, A, B):
        K = np.asarray(self.fn(A, B, **self.params), dtype=np.float64)
        if K.shape != (A.shape[0], B.shape[0]):
            raise ValueError(f"kernel returned shape {K.shape} for blocks of shapes {A.shape} "
                             f"and {B.shape}; expected {(A.shape[0], B.shape[0])}")
        return K

    def symmetric(self, A):
        """k(A, A); :class:`PackageKernel` computes one triangle of it."""
        return self(A, A)

    #: ``fn(X, v) -> k(X, X) @ v`` evaluated without tiles in memory, or None (then the
    #: operator streams tiles of k and multiplies them).
    fused_matvec = None

    def diag(self, A, block=256):
        """k(a_i, a_i) for each row, from small diagonal blocks (n * block evaluations)."""
        out = np.empty(A.shape[0])
        for s in range(0, A.shape[0], block):
            out[s:s + block] = np.diagonal(self(A[s:s + block], A[s:s + block]))
        return out

    def __repr__(self):
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"CallableKernel({name}, {self.params})"


class PackageKernel(CallableKernel):
    """A kernel of the ``kernels`` package by name: ``"ntk"`` -> ``kernels.ntk_gram``,
    ``"quad"`` -> ``kernels.quad_gram``, with their keyword arguments (activation, trained,
    bias, representation, width, seed, ...).

    Random-feature kernels (``width=m``) draw their features from ``seed`` on every call, so
    every block sees the same features; a ``seed`` is therefore required with ``width``.
    The import is deferred so that this module works before and without ``kernels``'s Gram
    functions, and so that the adapter pickles by name for Dask workers.
    """

    _FUNCS = {"ntk": "ntk_gram", "quad": "quad_gram"}

    def __init__(self, name, params=None, *, workspace_factor=None):
        if name not in self._FUNCS:
            raise ValueError(f"kernel must be one of {sorted(self._FUNCS)} or a callable, "
                             f"got {name!r}")
        params = dict(params or {})
        if params.get("width") is not None and params.get("seed") is None:
            raise ValueError("a random-feature kernel (width=...) needs a seed: every block must "
                             "see the same random features")
        self.name = name
        self.params = params
        if workspace_factor is None:
            # closed forms: numba writes the output tile and little else; random features hold
            # feature matrices and several block-sized products
            workspace_factor = 1.5 if params.get("width") is None else 6.0
        self.workspace_factor = float(workspace_factor)

    @property
    def fn(self):
        from hierlearn import kernels

        fn = getattr(kernels, self._FUNCS[self.name], None)
        if fn is None:  # not (yet) re-exported by the package: take it from its module
            try:
                from hierlearn.kernels import closed_form
            except ImportError:
                raise ImportError(f"kernels.{self._FUNCS[self.name]} is not available in this "
                                  "installation of the kernels package") from None
            fn = getattr(closed_form, self._FUNCS[self.name])
        return fn

    def symmetric(self, A):
        """k(A, A) with ``Y=None``: the ``kernels`` Gram builders compute one triangle."""
        return np.asarray(self.fn(A, None, **self.params), dtype=np.float64)

    @property
    def fused_matvec(self):
        """Closed forms: ``kernels.gram_matvec`` (each entry of the symmetric k(X, X)
        evaluated once, in registers, for both of its products); None for random features."""
        if self.params.get("width") is not None:
            return None
        import inspect

        from hierlearn import kernels

        # the Gram function's own defaults (e.g. quad_gram's activation) complete the spec
        sig = inspect.signature(self.fn).parameters
        spec = {k: self.params.get(k, sig[k].default) for k in
                ("activation", "trained", "bias", "representation", "representation_bias")
                if k in sig}
        return lambda X, v: kernels.gram_matvec(X, v, kernel=self.name, **spec)

    def __repr__(self):
        return f"PackageKernel({self.name!r}, {self.params})"


def as_kernel(kernel, kernel_params=None):
    """Turn ``kernel`` into an adapter with ``__call__(A, B)``, ``diag(A)``, ``workspace_factor``.

    Parameters
    ----------
    kernel : {"ntk", "quad"}, callable, or an adapter
        A name of the ``kernels`` package, a Gram callable ``fn(A, B, **kernel_params)``, or an
        object already exposing ``__call__``, ``diag`` and ``workspace_factor``.
    kernel_params : dict, optional
    """
    if isinstance(kernel, CallableKernel):
        if kernel_params:
            raise ValueError("kernel_params given with an already configured kernel adapter")
        return kernel
    if isinstance(kernel, str):
        return PackageKernel(kernel, kernel_params)
    if callable(kernel) and hasattr(kernel, "diag") and hasattr(kernel, "workspace_factor") \
            and not kernel_params:
        return kernel
    if callable(kernel):
        return CallableKernel(kernel, kernel_params)
    raise TypeError(f"kernel must be 'ntk', 'quad' or a callable Gram function, got "
                    f"{type(kernel).__name__}")


# ------------------------------------------------------------------------ blocked operator
class BlockedKernelOperator:
    """K = k(X, X) as a matrix-free operator: products and column blocks, never the n x n Gram.

    Parameters
    ----------
    X : ndarray (n, d)
    kernel : kernel adapter (:func:`as_kernel`)
    workspace : int
        Bytes allowed for one kernel tile including its temporaries.
    """

    def __init__(self, X, kernel, workspace):
        self.X = X
        self.kernel = kernel
        self.n = X.shape[0]
        self.workspace = int(workspace)
        per_entry = _F64 * kernel.workspace_factor
        self.tile = int(max(1, min(self.n, _MAX_TILE, math.isqrt(int(self.workspace // per_entry)))))
        self.n_kernel_evals = 0  # bookkeeping for benchmarks

    @property
    def shape(self):
        return (self.n, self.n)

    def rows_per_block(self, n_cols, extra_factor=0.0):
        """Rows of an (rows x n_cols) block that fit the workspace (at least 1)."""
        per_row = _F64 * n_cols * (self.kernel.workspace_factor + extra_factor)
        return int(max(1, min(self.n, self.workspace // per_row)))

    def matvec(self, v):
        """K @ v: the kernel's fused matvec where it has one, else square tiles of the upper
        triangle (each off-diagonal tile used twice): about n^2 / 2 evaluations either way."""
        v = np.asarray(v, dtype=np.float64)
        fused = self.kernel.fused_matvec if hasattr(self.kernel, "fused_matvec") else None
        if fused is not None:
            from hierlearn.kernels.gram import tile_size  # diagonal tiles are evaluated whole

            n = self.n
            t = tile_size(n)
            self.n_kernel_evals += (n * n + (n // t) * t * t + (n % t) ** 2) // 2
            return fused(self.X, v)
        out = np.zeros_like(v)
        X, t, n = self.X, self.tile, self.n
        for i in range(0, n, t):
            Xi = X[i:i + t]
            for j in range(i, n, t):
                K_ij = self.kernel(Xi, X[j:j + t])
                self.n_kernel_evals += K_ij.size
                out[i:i + t] += K_ij @ v[j:j + t]
                if j != i:
                    out[j:j + t] += K_ij.T @ v[i:i + t]
                del K_ij
        return out

    def column_blocks(self, idx, extra_factor=2.0):
        """Yield ``(rows, K[rows, idx])`` for consecutive row slices covering all n rows."""
        C = self.X[idx]
        b = self.rows_per_block(len(idx), extra_factor)
        for s in range(0, self.n, b):
            rows = slice(s, min(s + b, self.n))
            K_b = self.kernel(self.X[rows], C)
            self.n_kernel_evals += K_b.size
            yield rows, K_b
            del K_b


def kernel_predict(kernel, X_support, coef, X_new, *, memory_budget=None):
    """``k(X_new, X_support) @ coef`` in row blocks within ``memory_budget`` bytes.

    Parameters
    ----------
    kernel : kernel adapter or anything :func:`as_kernel` accepts
    X_support : ndarray (m, d)
    coef : ndarray (m,) or (m, k)
    X_new : ndarray (q, d)
    memory_budget : int, optional (default :data:`DEFAULT_MEMORY_BUDGET`)
    """
    kernel = as_kernel(kernel)
    X_new = _check_X(X_new, "X_new")
    if X_new.shape[1] != X_support.shape[1]:
        raise ValueError(f"X_new has {X_new.shape[1]} features but the model was fitted with "
                         f"{X_support.shape[1]} (X_new shape {X_new.shape})")
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else _check_budget(memory_budget)
    m = X_support.shape[0]
    b = int(max(1, budget // (_F64 * m * kernel.workspace_factor)))
    out = np.empty((X_new.shape[0],) + np.shape(coef)[1:])
    for s in range(0, X_new.shape[0], b):
        out[s:s + b] = kernel(X_new[s:s + b], X_support) @ coef
    return out


# ------------------------------------------------------------------------------------- CG
def conjugate_gradient(matvec, b, *, precond=None, tol=1e-6, max_iter=200, callback=None):
    """Preconditioned conjugate gradients for a symmetric positive definite operator.

    Parameters
    ----------
    matvec : callable(v) -> A v
    b : ndarray (n,)
    precond : callable(r) -> P^{-1} r, optional (symmetric positive definite)
    tol : float > 0
        Stop when ||b - A x_k|| / ||b|| <= tol (recursively updated residual).
    max_iter : int >= 1
    callback : callable(k, x, relres), optional

    Returns
    -------
    x : ndarray
    residuals : ndarray
        Relative residual norms, entry 0 for x_0 = 0 (equal to 1).
    converged : bool
    """
    b = np.asarray(b, dtype=np.float64)
    x = np.zeros_like(b)
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return x, np.zeros(1), True
    r = b.copy()
    z = precond(r) if precond is not None else r.copy()
    p = z.copy()
    rz = float(r @ z)
    history = [1.0]
    converged = False
    for k in range(1, max_iter + 1):
        Ap = matvec(p)
        pAp = float(p @ Ap)
        if not pAp > 0.0:
            raise np.linalg.LinAlgError(
                f"conjugate gradients met p^T A p = {pAp:.3g} <= 0 at iteration {k}: the system "
                "is not positive definite (negative ridge or indefinite kernel?)")
        a = rz / pAp
        x += a * p
        r -= a * Ap
        rel = float(np.linalg.norm(r)) / bnorm
        history.append(rel)
        if callback is not None:
            callback(k, x, rel)
        if rel <= tol:
            converged = True
            break
        z = precond(r) if precond is not None else r
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, np.asarray(history), converged


# ------------------------------------------------------------------------------ the solver
@dataclass
class PCGResult:
    """Outcome of :func:`pcg_kernel_ridge`.

    Attributes
    ----------
    coef : ndarray
        ``alpha`` (n,) for ``method="exact"``; ``beta`` (M,) on the centres for ``"nystrom"``.
    support : ndarray
        The points ``coef`` multiplies: X itself (exact) or X[centers] (nystrom).
    centers : ndarray of int
        Indices of the Nystrom centres in X.
    iterations : int
        CG iterations (the largest over the columns of a 2-d y).
    residuals : ndarray, or list of ndarray for 2-d y (one history per column)
        Relative residual history (entry 0 is 1 at x_0 = 0).
    converged : bool
    method, ridge, tol : as passed
    jitter : float
        Diagonal jitter that made K_CC factorisable.
    cached_factor : bool
        Whether the n x M factor was kept in memory.
    tile : int
        Side of the square kernel tiles used by the exact products.
    timings : dict
        Seconds spent in "centers", "preconditioner", "iterations".
    kernel_evaluations : int
        Kernel entries evaluated in total (benchmark bookkeeping).
    """

    coef: np.ndarray
    support: np.ndarray
    centers: np.ndarray
    iterations: int
    residuals: np.ndarray
    converged: bool
    method: str
    ridge: float
    tol: float
    jitter: float
    cached_factor: bool
    tile: int
    kernel: object = field(repr=False)
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    timings: dict = field(default_factory=dict)
    kernel_evaluations: int = 0

    def predict(self, X_new, *, memory_budget=None):
        """Predictions k(X_new, support) @ coef, in row blocks."""
        return kernel_predict(self.kernel, self.support, self.coef, X_new,
                              memory_budget=memory_budget or self.memory_budget)


def _solve_columns(solve, B):
    """Run ``solve(b) -> (x, history, converged)`` on a vector or on each column of a matrix."""
    if B.ndim == 1:
        return solve(B)
    outs = [solve(np.ascontiguousarray(B[:, j])) for j in range(B.shape[1])]
    return (np.column_stack([o[0] for o in outs]), [o[1] for o in outs],
            all(o[2] for o in outs))


def _check_X(X, name="X"):
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{name} must be a 2-d float array, got {type(X).__name__}")
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-d (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} needs at least one sample and one feature, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} (shape {X.shape}) contains NaN or infinity")
    return X


def _check_budget(memory_budget):
    if isinstance(memory_budget, (bool, np.bool_)) or not isinstance(
            memory_budget, (int, np.integer, float, np.floating)):
        raise TypeError(f"memory_budget must be a number of bytes, got {type(memory_budget).__name__}")
    if not (np.isfinite(memory_budget) and memory_budget > 0):
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    return int(memory_budget)


def default_n_centers(n):
    """Default number of Nystrom centres: min(n, max(200, 10 sqrt(n)))."""
    return int(min(n, max(200, round(10 * math.sqrt(n)))))


def pcg_kernel_ridge(X, y, *, kernel="ntk", kernel_params=None, ridge=1.0, method="exact",
                     n_centers=None, centers="uniform", preconditioner=True, tol=1e-6,
                     max_iter=200, memory_budget=None, seed=None, scheduler=None,
                     callback=None):
    """Kernel ridge regression without the n x n Gram (Nystrom-preconditioned CG).

    Parameters
    ----------
    X : array-like (n, d)
        Training inputs (raw, or a representation h_bar(x) from ``kernels.NeuralRepresentation``).
    y : array-like (n,) or (n, k)
        Targets; a 2-d y is solved column by column (same centres and preconditioner).
    kernel : {"ntk", "quad"} or callable
        A ``kernels`` Gram function by name, with ``kernel_params`` (activation, trained, bias,
        representation, width, seed, ...), or any ``fn(A, B, **kernel_params)`` Gram callable.
    kernel_params : dict, optional
    ridge : float > 0
        ``(K + ridge I) alpha = y`` (scikit-learn KernelRidge's ``alpha``; not divided by n).
    method : {"exact", "nystrom"}
        ``"exact"``: the full system, matrix-free (converges to the dense solution).
        ``"nystrom"``: Falkon's Nystrom-restricted estimator (a different, cheaper estimator).
        See the module docstring.
    n_centers : int, optional
        Nystrom centres M, 1 <= M <= n. Default :func:`default_n_centers`.
    centers : {"uniform", "leverage"}
        How the centres are drawn (:func:`solvers.nystrom.select_centers`).
    preconditioner : bool
        False runs plain CG on the same system (for comparisons; ``"exact"`` only).
    tol : float > 0
        Relative residual at which CG stops.
    max_iter : int >= 1
    memory_budget : int, optional
        Bytes the solver may allocate besides X and y (default 1 GiB); sets tile sizes and
        whether the n x M factor is cached. Raises ValueError when even the M x M factors and
        the work vectors do not fit.
    seed : int, Generator or None
        Draws the centres. Same seed, same answer.
    scheduler : dask.distributed.Client, scheduler address, or None
        With ``method="exact"``, the products with K run as row blocks on the Dask cluster
        (:class:`solvers.dask_ops.DaskKernelOperator`); the preconditioner stays local.
    callback : callable(k, x, relres), optional

    Returns
    -------
    PCGResult
        ``coef``, ``iterations``, ``residuals`` (history), ``converged``, ``predict(X_new)``.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When ``max_iter`` iterations do not reach ``tol``.
    """
    X = _check_X(X)
    n = X.shape[0]
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        raise TypeError(f"y must be numeric, got dtype {y.dtype}")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim not in (1, 2) or y.shape[0] != n or (y.ndim == 2 and y.shape[1] == 0):
        raise ValueError(f"y must be 1-d (or 2-d, one column per target) with one entry per row "
                         f"of X (n={n}), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y (shape {y.shape}) contains NaN or infinity")
    if isinstance(ridge, (bool, np.bool_)) or not isinstance(ridge, (int, float, np.integer, np.floating)):
        raise TypeError(f"ridge must be a positive float, got {type(ridge).__name__}")
    if not (np.isfinite(ridge) and ridge > 0):
        raise ValueError(f"ridge must be positive and finite for the iterative solver, got {ridge!r} "
                         "(ridge 0 needs the dense solver)")
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, (int, float, np.integer, np.floating)):
        raise TypeError(f"tol must be a positive float, got {type(tol).__name__}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be positive and finite, got {tol!r}")
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, (int, np.integer)) \
            or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    if method not in ("exact", "nystrom"):
        raise ValueError(f"method must be 'exact' or 'nystrom', got {method!r}")
    if centers not in ("uniform", "leverage"):
        raise ValueError(f"centers must be 'uniform' or 'leverage', got {centers!r}")
    if method == "nystrom" and not preconditioner:
        raise ValueError("preconditioner=False is only supported with method='exact'")
    if method == "nystrom" and scheduler is not None:
        raise ValueError("scheduler (the Dask matvec) is only supported with method='exact'; "
                         "method='nystrom' costs O(n M) per iteration and runs locally")
    if n_centers is None:
        n_centers = default_n_centers(n)
    check_n_centers(n_centers, X)
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else _check_budget(memory_budget)
    kern = as_kernel(kernel, kernel_params)
    M = int(n_centers)

    # Fixed allocations: K_CC, its factor, the Woodbury/Falkon M x M factors and temporaries
    # (about 5 M^2), and about 10 work n-vectors (CG state, preconditioner scratch, y copies).
    n_targets = 1 if y.ndim == 1 else y.shape[1]
    fixed = _F64 * (5 * M * M + (10 + 2 * n_targets) * n)
    free = budget - fixed
    min_tile = _F64 * kern.workspace_factor * max(M, 64) * 4
    if free < min_tile:
        raise ValueError(
            f"memory_budget={budget} bytes is too small for n={n}, n_centers={M}: the M x M "
            f"factors and work vectors need {fixed} bytes and one kernel block about {min_tile}; "
            "raise memory_budget or lower n_centers")
    cache_bytes = _F64 * n * M
    cache = cache_bytes <= free // 2
    workspace = free - cache_bytes if cache else free
    op = BlockedKernelOperator(X, kern, workspace)
    timings = {}

    t0 = time.perf_counter()
    if preconditioner:
        idx = select_centers(X, M, kernel=kern, ridge=float(ridge), method=centers, seed=seed,
                             nm_blocks_factory=op.column_blocks)
    else:  # plain CG: no centres
        idx = np.empty(0, dtype=np.int64)
    timings["centers"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if preconditioner:
        K_CC = kern.symmetric(X[idx]) if hasattr(kern, "symmetric") else kern(X[idx], X[idx])
        T, jitter = jittered_cholesky(K_CC)
    else:
        jitter = 0.0

    if method == "exact":
        dask_op = None
        if scheduler is not None:
            from .dask_ops import DaskKernelOperator

            dask_op = DaskKernelOperator(X, kern, scheduler, memory_budget=workspace)
            matvec = dask_op.matvec
        else:
            matvec = op.matvec
        precond = None
        if preconditioner:
            precond = NystromPreconditioner(T, lambda: op.column_blocks(idx), n, float(ridge),
                                            cache=cache)
        timings["preconditioner"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            alpha, hist, converged = _solve_columns(
                lambda b: conjugate_gradient(lambda v: matvec(v) + ridge * v, b, precond=precond,
                                             tol=tol, max_iter=max_iter, callback=callback), y)
        finally:
            if dask_op is not None:
                dask_op.close()
        timings["iterations"] = time.perf_counter() - t0
        coef, support = alpha, X
    else:
        falkon = FalkonPreconditioner(T, n, float(ridge))
        K_nC = None
        if cache:
            K_nC = np.empty((n, M))
            for rows, K_b in op.column_blocks(idx):
                K_nC[rows] = K_b

        def normal_matvec(beta_like, with_ridge=True):
            # K_Cn (K_nC v) + ridge K_CC v
            if K_nC is not None:
                out = K_nC.T @ (K_nC @ beta_like)
            else:
                out = np.zeros(M)
                for rows, K_b in op.column_blocks(idx):
                    out += K_b.T @ (K_b @ beta_like)
            if with_ridge:
                out += ridge * (K_CC @ beta_like)
            return out

        if K_nC is not None:
            rhs0 = K_nC.T @ y
        else:
            rhs0 = np.zeros((M,) + y.shape[1:])
            for rows, K_b in op.column_blocks(idx):
                rhs0 += K_b.T @ y[rows]
        timings["preconditioner"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        gamma, hist, converged = _solve_columns(
            lambda b: conjugate_gradient(lambda g: falkon.apply_t(normal_matvec(falkon.apply(g))),
                                         b, tol=tol, max_iter=max_iter, callback=callback),
            falkon.apply_t(rhs0))
        timings["iterations"] = time.perf_counter() - t0
        coef, support = falkon.apply(gamma), X[idx]
        del K_nC

    iterations = (len(hist) - 1 if y.ndim == 1 else max(len(h) - 1 for h in hist))
    if not converged:
        last = hist[-1] if y.ndim == 1 else max(h[-1] for h in hist)
        from sklearn.exceptions import ConvergenceWarning

        warnings.warn(f"pcg_kernel_ridge did not reach tol={tol:g} in max_iter={max_iter} "
                      f"iterations (relative residual {last:.3g}); raise max_iter or "
                      "n_centers", ConvergenceWarning, stacklevel=2)
    return PCGResult(coef=coef, support=support, centers=idx, iterations=iterations,
                     residuals=hist, converged=converged, method=method, ridge=float(ridge),
                     tol=float(tol), jitter=float(jitter), cached_factor=bool(cache),
                     tile=op.tile, kernel=kern, memory_budget=budget, timings=timings,
                     kernel_evaluations=op.n_kernel_evals)
