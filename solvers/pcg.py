"""Kernel ridge regression without the n x n Gram: exact PCG, and Falkon.

:func:`pcg_kernel_ridge`
    Solves the full kernel ridge system ``(K + ridge I) alpha = y`` (the convention of
    scikit-learn's KernelRidge and of :mod:`hierlearn.solvers.ridge`) by conjugate gradients
    preconditioned with the Nystrom approximation ``K_nC K_CC^{-1} K_Cn + ridge I`` (inverted
    by Woodbury, :mod:`.nystrom`). K is never stored: each iteration is one product with the
    kernel's own matvec (:mod:`.operators`). The iterates converge to the *dense* solution:
    this is exact kernel ridge, matrix-free. Cost per iteration: about n^2 / 2 kernel
    evaluations (+ 2 n M for the preconditioner when its n x M factor is not cached).
:func:`falkon`
    Falkon (Rudi, Carratino, Rosasco 2017; Meanti, Carratino, Rosasco, Rudi 2020): the
    Nystrom-restricted estimator f(x) = sum_j beta_j k(x, c_j) with
    ``(K_Cn K_nC + ridge K_CC) beta = K_Cn y``, by CG preconditioned with Falkon's
    B = T^{-1} A^{-1}. Cost per iteration 2 n M kernel evaluations (none when K_nC is cached).
    A *different estimator* from kernel ridge (it converges to the Nystrom solution), cheaper.

Both stop when the relative residual of the (preconditioned-variable) CG system drops to
``tol`` and report iterations and the residual history.

Memory budget: ``memory_budget`` (bytes) bounds what the solver allocates besides its inputs
(M x M factors, a few n-vectors, the optional n x M factor cache, the kernel's blocks); it
decides block sizes and whether the n x M factor is cached.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import _validation as V
from .._memory import DEFAULT_MEMORY_BUDGET, check_budget
from ..kernels import as_kernel
from .cg import conjugate_gradient, solve_columns
from .curves import _check_normalizer, _check_sizes, _frame, _validation_points
from .ridge import check_ridges
from .nystrom import (FalkonPreconditioner, NystromPreconditioner, check_n_centers,
                      jittered_cholesky, select_centers, spectral_n_centers)
from .operators import DaskKernelOperator, KernelOperator

__all__ = ["MatrixFreeResult", "PCGResult", "default_n_centers", "falkon", "learning_curve_pcg",
           "pcg_kernel_ridge"]

_F64 = 8


@dataclass
class MatrixFreeResult:
    """Outcome of :func:`pcg_kernel_ridge` or :func:`falkon`.

    Attributes
    ----------
    coef : ndarray
        ``alpha`` (n,) for the exact solver; ``beta`` (M,) on the centres for Falkon.
    support : ndarray
        The points ``coef`` multiplies: X itself (exact) or X[centers] (Falkon).
    centers : ndarray of int
        Indices of the Nystrom centres in X.
    iterations : int
        CG iterations (the largest over the columns of a 2-d y).
    residuals : ndarray, or list of ndarray for 2-d y (one history per column)
        Relative residual history (entry 0 is 1 at x_0 = 0).
    converged : bool
    solver : {"pcg", "falkon"}
    ridge, tol : as passed
    jitter : float
        Diagonal jitter that made K_CC factorisable.
    cached_factor : bool
        Whether the n x M factor was kept in memory.
    kernel : Kernel
    memory_budget : int
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
    solver: str
    ridge: float
    tol: float
    jitter: float
    cached_factor: bool
    kernel: object = field(repr=False)
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    timings: dict = field(default_factory=dict)
    kernel_evaluations: int = 0

    def predict(self, X_new, *, memory_budget=None):
        """Predictions k(X_new, support) @ coef (the kernel's matvec, within the budget)."""
        X_new = V.check_array(X_new, "X_new")
        if X_new.shape[1] != self.support.shape[1]:
            raise ValueError(f"X_new has {X_new.shape[1]} features but the model was fitted "
                             f"with {self.support.shape[1]} (X_new shape {X_new.shape})")
        return self.kernel.matvec(X_new, self.coef, Y=self.support,
                                  memory_budget=memory_budget or self.memory_budget)


#: Old name of :class:`MatrixFreeResult`.
PCGResult = MatrixFreeResult


def default_n_centers(n):
    """Default number of Nystrom centres: min(n, max(200, 10 sqrt(n)))."""
    return int(min(n, max(200, round(10 * math.sqrt(n)))))


@dataclass
class _Problem:
    """Validated inputs and the budget split shared by both solvers."""
    X: np.ndarray
    y: np.ndarray
    kernel: object
    ridge: float
    n_centers: int
    budget: int
    cache: bool
    workspace: int


def _problem(X, y, kernel, kernel_params, ridge, n_centers, tol, max_iter, memory_budget):
    X = V.check_array(X, "X")
    n = X.shape[0]
    y = V.check_vector(y, "y", n, allow_2d=True)
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"y must have at least one column, got shape {y.shape}")
    ridge = V.check_float(ridge, "ridge", minimum=0.0, strict=True)
    V.check_float(tol, "tol", minimum=0.0, strict=True)
    V.check_int(max_iter, "max_iter", minimum=1)
    budget = check_budget(memory_budget)
    kern = as_kernel(kernel, **(kernel_params or {}))
    if isinstance(n_centers, str):
        V.check_choice(n_centers, "n_centers", ("spectrum",))
        n_centers = _spectral_centers(kern, X, ridge, budget)
    n_centers = default_n_centers(n) if n_centers is None else n_centers
    check_n_centers(n_centers, X)
    M = int(n_centers)
    # fixed: K_CC, its factor, the M x M factors and temporaries (about 5 M^2), and about
    # 10 work n-vectors (CG state, preconditioner scratch, y copies)
    targets = 1 if y.ndim == 1 else y.shape[1]
    free = budget - _F64 * (5 * M * M + (10 + 2 * targets) * n)
    min_block = _F64 * kern.workspace_factor * max(M, 64) * 4
    if free < min_block:
        raise ValueError(
            f"memory_budget={budget} bytes is too small for n={n}, n_centers={M}: the M x M "
            f"factors and work vectors need {budget - free} bytes and one kernel block about "
            f"{min_block}; raise memory_budget or lower n_centers")
    cache = _F64 * n * M <= free // 2
    return _Problem(X, y, kern, ridge, M, budget, cache,
                    free - _F64 * n * M if cache else free)


def _spectral_centers(kern, X, ridge, budget):
    """``n_centers="spectrum"``: :func:`spectral_n_centers`, within half the memory budget
    (the M x M factors take about 5 M^2 floats), with a warning when the budget cuts it."""
    n, d = X.shape
    wanted, _ = spectral_n_centers(kern, d, n, ridge)
    cap = max(1, int(math.sqrt(budget / 2 / (5 * _F64))))
    if wanted > cap:
        warnings.warn(
            f"n_centers='spectrum': the kernel's spectrum asks for {wanted} Nystrom centres at "
            f"ridge={ridge:g} (n={n}, d={d}) but memory_budget={budget} bytes allows {cap}; "
            "conjugate gradients will need more iterations (raise memory_budget or the ridge)",
            UserWarning, stacklevel=4)
    return min(wanted, cap)


def _centers(prob, op, centers, seed):
    idx = select_centers(prob.X, prob.n_centers, kernel=prob.kernel, ridge=prob.ridge,
                         method=centers, seed=seed, nm_blocks_factory=op.column_blocks)
    T, jitter = jittered_cholesky(prob.kernel._gram(prob.X[idx], None), overwrite=True)
    return idx, T, jitter


def _warn_unconverged(name, hist, converged, tol, max_iter, y):
    if not converged:
        last = hist[-1] if y.ndim == 1 else max(h[-1] for h in hist)
        warnings.warn(f"{name} did not reach tol={tol:g} in max_iter={max_iter} iterations "
                      f"(relative residual {last:.3g}); raise max_iter or n_centers",
                      ConvergenceWarning, stacklevel=3)
    return len(hist) - 1 if y.ndim == 1 else max(len(h) - 1 for h in hist)


def pcg_kernel_ridge(X, y, kernel="ntk", *, ridge=1.0, kernel_params=None, n_centers=None,
                     centers="uniform", preconditioner=True, tol=1e-6, max_iter=200,
                     memory_budget=None, seed=None, scheduler=None, callback=None):
    """Exact kernel ridge regression without the n x n Gram (Nystrom-preconditioned CG).

    Parameters
    ----------
    X : array-like (n, d)
        Training inputs (raw, or a representation from NeuralRepresentation).
    y : array-like (n,) or (n, k)
        Targets; a 2-d y is solved column by column (same centres and preconditioner).
    kernel : Kernel, name or Gram callable, default="ntk"
        Anything :func:`hierlearn.kernels.as_kernel` accepts, with ``kernel_params``.
    ridge : float > 0
        ``(K + ridge I) alpha = y`` (scikit-learn KernelRidge's ``alpha``; not divided by n).
    kernel_params : dict, optional
    n_centers : int or "spectrum", optional
        Nystrom centres M, 1 <= M <= n. Default :func:`default_n_centers`. ``"spectrum"``
        (dot-product kernels, inputs on the sphere): as many as the kernel has Gram
        eigenvalues above 10 x ridge (:func:`hierlearn.solvers.nystrom.spectral_n_centers`),
        so that the preconditioned condition number stays near 11, within half of
        ``memory_budget`` (a UserWarning says when the budget cuts it).
    centers : {"uniform", "leverage"}
        How the centres are drawn (:func:`hierlearn.solvers.nystrom.select_centers`).
    preconditioner : bool
        False runs plain CG on the same system (for comparisons).
    tol : float > 0
        Relative residual at which CG stops.
    max_iter : int >= 1
    memory_budget : int, optional
        Bytes the solver may allocate besides X and y (default 1 GiB).
    seed : None, int, Generator
        Draws the centres. Same seed, same answer.
    scheduler : dask.distributed.Client, scheduler address, or None
        The products with K run as row blocks on the Dask cluster
        (:class:`hierlearn.solvers.operators.DaskKernelOperator`); the preconditioner stays local.
    callback : callable(k, x, relres), optional

    Returns
    -------
    MatrixFreeResult

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        When ``max_iter`` iterations do not reach ``tol``.
    """
    prob = _problem(X, y, kernel, kernel_params, ridge, n_centers, tol, max_iter, memory_budget)
    V.check_choice(centers, "centers", ("uniform", "leverage"))
    V.check_bool(preconditioner, "preconditioner")
    op = KernelOperator(prob.X, prob.kernel, prob.workspace)
    timings = {}
    t0 = time.perf_counter()
    idx, precond, jitter = np.empty(0, dtype=np.int64), None, 0.0
    if preconditioner:
        idx, T, jitter = _centers(prob, op, centers, seed)
        timings["centers"] = time.perf_counter() - t0
        C = prob.X[idx]
        precond = NystromPreconditioner(
            T, lambda: op.column_blocks(idx), prob.X.shape[0], prob.ridge, cache=prob.cache,
            cross=(lambda w: op.cross_matvec(C, w), lambda r: op.cross_rmatvec(C, r)))
    timings["preconditioner"] = time.perf_counter() - t0
    dask_op = None
    if scheduler is not None:
        dask_op = DaskKernelOperator(prob.X, prob.kernel, scheduler, memory_budget=prob.workspace)
    matvec = dask_op.matvec if dask_op is not None else op.matvec
    t0 = time.perf_counter()
    try:
        alpha, hist, converged = solve_columns(
            lambda b: conjugate_gradient(lambda v: matvec(v) + prob.ridge * v, b, precond=precond,
                                         tol=tol, max_iter=max_iter, callback=callback), prob.y)
    finally:
        if dask_op is not None:
            dask_op.close()
    timings["iterations"] = time.perf_counter() - t0
    iterations = _warn_unconverged("pcg_kernel_ridge", hist, converged, tol, max_iter, prob.y)
    return MatrixFreeResult(
        coef=alpha, support=prob.X, centers=idx, iterations=iterations, residuals=hist,
        converged=converged, solver="pcg", ridge=prob.ridge, tol=float(tol),
        jitter=float(jitter), cached_factor=bool(prob.cache and preconditioner),
        kernel=prob.kernel, memory_budget=prob.budget, timings=timings,
        kernel_evaluations=op.n_kernel_evals)


def falkon(X, y, kernel="ntk", *, ridge=1.0, kernel_params=None, n_centers=None,
           centers="uniform", tol=1e-6, max_iter=200, memory_budget=None, seed=None,
           callback=None):
    """Falkon: the Nystrom-restricted kernel ridge estimator (NOT exact kernel ridge).

    Parameters are those of :func:`pcg_kernel_ridge` (no scheduler: each iteration costs
    O(n M) and runs locally).

    Returns
    -------
    MatrixFreeResult
        ``coef`` on ``support = X[centers]``.
    """
    prob = _problem(X, y, kernel, kernel_params, ridge, n_centers, tol, max_iter, memory_budget)
    V.check_choice(centers, "centers", ("uniform", "leverage"))
    op = KernelOperator(prob.X, prob.kernel, prob.workspace)
    t0 = time.perf_counter()
    idx, T, jitter = _centers(prob, op, centers, seed)
    timings = {"centers": time.perf_counter() - t0}
    n, M = prob.X.shape[0], prob.n_centers
    pre = FalkonPreconditioner(T, n, prob.ridge)
    K_CC = prob.kernel._gram(prob.X[idx], None)
    K_nC = None
    if prob.cache:
        K_nC = np.empty((n, M))
        for rows, K_b in op.column_blocks(idx):
            K_nC[rows] = K_b

    def blocks():
        return [(slice(None), K_nC)] if K_nC is not None else op.column_blocks(idx)

    def normal_matvec(beta):  # K_Cn (K_nC beta) + ridge K_CC beta
        out = prob.ridge * (K_CC @ beta)
        for rows, K_b in blocks():
            out += K_b.T @ (K_b @ beta)
        return out

    rhs = np.zeros((M,) + prob.y.shape[1:])
    for rows, K_b in blocks():
        rhs += K_b.T @ prob.y[rows]
    timings["preconditioner"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gamma, hist, converged = solve_columns(
        lambda b: conjugate_gradient(lambda g: pre.apply_t(normal_matvec(pre.apply(g))), b,
                                     tol=tol, max_iter=max_iter, callback=callback),
        pre.apply_t(rhs))
    timings["iterations"] = time.perf_counter() - t0
    iterations = _warn_unconverged("falkon", hist, converged, tol, max_iter, prob.y)
    return MatrixFreeResult(
        coef=pre.apply(gamma), support=prob.X[idx], centers=idx, iterations=iterations,
        residuals=hist, converged=converged, solver="falkon", ridge=prob.ridge, tol=float(tol),
        jitter=float(jitter), cached_factor=bool(prob.cache), kernel=prob.kernel,
        memory_budget=prob.budget, timings=timings, kernel_evaluations=op.n_kernel_evals)


def learning_curve_pcg(X, y, X_test, f_test, *, kernel="ntk", kernel_params=None, sizes,
                       ridges, selection="validation", normalizer=None, seed=None,
                       validation_fraction=0.2, n_centers=None, tol=1e-6, max_iter=200,
                       memory_budget=None, validation_size=None):
    """:func:`learning_curve` without any n x n matrix: one matrix-free solve per (n, ridge).

    Each prefix is solved by :func:`solvers.pcg_kernel_ridge` (``method="exact"``: the same
    estimator as the dense solve, to the residual tolerance ``tol``), so memory stays within
    ``memory_budget`` at any n. There is no factorisation to share between sizes, so the cost
    is one solve per (n, ridge); LOO and GCV (which need the dense eigendecomposition) are
    not available: the ridge is chosen on held-out points (``selection="validation"``) or
    given alone (``selection="none"`` with one ridge).

    Parameters
    ----------
    X : (n_max, d) array_like
        Training inputs in sample order (raw or a representation).
    y : (n_max,) array_like
    X_test : (n_test, d) array_like
    f_test : (n_test,) array_like
        Noise-free target values at ``X_test``.
    kernel, kernel_params
        As in :func:`pcg_kernel_ridge` (a kernel object, a name or a Gram callable).
    sizes, ridges, normalizer, seed, validation_fraction
        As in :func:`learning_curve`; every ridge must be > 0.
    selection : {"validation", "none"}, default="validation"
    n_centers, tol, max_iter, memory_budget
        Passed to :func:`solvers.pcg_kernel_ridge` (``seed`` also draws its centres).
    validation_size : deprecated
        Old spelling of ``validation_fraction`` (FutureWarning), as in :func:`learning_curve`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`learning_curve` (``loo`` and ``gcv`` are NaN), ``method="pcg"``,
        plus ``iterations`` (CG iterations of each solve).
    """
    X = V.check_array(X, "X")
    X_test = V.check_array(X_test, "X_test")
    if X_test.shape[1] != X.shape[1]:
        raise ValueError(f"X_test has {X_test.shape[1]} features, X has {X.shape[1]}")
    n_max = X.shape[0]
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n_max,) or not np.isfinite(y).all():
        raise ValueError(f"y must be finite with shape ({n_max},), got {y.shape}")
    f_test = np.asarray(f_test, dtype=np.float64)
    if f_test.shape != (X_test.shape[0],) or not np.isfinite(f_test).all():
        raise ValueError(f"f_test must be finite with shape ({X_test.shape[0]},), got {f_test.shape}")
    if selection not in ("validation", "none"):
        raise ValueError(f"selection must be 'validation' or 'none' for the matrix-free curve "
                         f"(LOO/GCV need the dense Gram), got {selection!r}")
    ridges = check_ridges(ridges)
    if not (ridges > 0).all():
        raise ValueError(f"ridges must be > 0 for the matrix-free solver, got {ridges.tolist()}")
    n_val = _validation_points(selection, validation_fraction, validation_size, n_max)
    sizes = _check_sizes(sizes, n_max - n_val,
                         "n_max minus the validation points" if n_val else "n_max")
    normalizer = _check_normalizer(normalizer, f_test)
    kern = as_kernel(kernel, **(kernel_params or {}))
    X_val, y_val = X[n_max - n_val:], y[n_max - n_val:]

    shape = (len(sizes), len(ridges))
    err = {name: np.full(shape, np.nan) for name in ("test_error", "train_error", "loo", "gcv",
                                                     "validation")}
    iterations = np.zeros(shape, dtype=np.int64)
    for i, m in enumerate(sizes):
        for j, lam in enumerate(ridges):
            res = pcg_kernel_ridge(X[:m], y[:m], kernel=kern, ridge=float(lam),
                                   n_centers=None if n_centers is None else min(n_centers, m),
                                   tol=tol, max_iter=max_iter, memory_budget=memory_budget,
                                   seed=seed)
            iterations[i, j] = res.iterations
            err["test_error"][i, j] = np.mean((res.predict(X_test) - f_test) ** 2)
            # (K + lam I) alpha = y  =>  y - K alpha = lam alpha (to the solver's tolerance)
            err["train_error"][i, j] = np.mean((lam * res.coef) ** 2)
            if n_val:
                err["validation"][i, j] = np.mean((res.predict(X_val) - y_val) ** 2)
    out = _frame(sizes, ridges, selection, normalizer, seed, "pcg", **err)
    out["iterations"] = iterations.ravel()
    return out
