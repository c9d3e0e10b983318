"""Preconditioned conjugate gradients for symmetric positive definite operators."""

from __future__ import annotations

import numpy as np

__all__ = ["conjugate_gradient", "solve_columns"]


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

    Raises
    ------
    numpy.linalg.LinAlgError
        When p^T A p <= 0 (the operator is not positive definite).
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
            return x, np.asarray(history), True
        z = precond(r) if precond is not None else r
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, np.asarray(history), False


def solve_columns(solve, B):
    """Run ``solve(b) -> (x, history, converged)`` on a vector or on each column of a matrix.

    Returns (x, history or list of histories, all converged).
    """
    if B.ndim == 1:
        return solve(B)
    outs = [solve(np.ascontiguousarray(B[:, j])) for j in range(B.shape[1])]
    return (np.column_stack([o[0] for o in outs]), [o[1] for o in outs],
            all(o[2] for o in outs))
