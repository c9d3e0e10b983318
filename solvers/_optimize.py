"""Optimizers of the network estimators: L-BFGS-B, gradient descent, noisy sign-sampled SGD.

All minimise ``fun(x) -> (value, gradient)`` over a flat vector and stop by one rule,
:func:`stalled`: the objective fell by at most ``tol`` times its own size over the last
``window`` iterations. A rule on the *relative* progress of the objective (rather than
scipy's absolute ``ftol``/``gtol``) ends a fit when further iterations cannot change it at
the precision that matters, whatever the scale of the weights; an interpolating fit whose
loss keeps halving is not stopped by it (the floor ``floor`` bounds its length: below
``floor`` the decrease is measured against ``floor``).

The stochastic optimizer :func:`noisy_sgd` is the randomized-coupling learner of Bai & Lee
(2020): each step draws a fresh sign vector, takes the gradient of the loss of the network
at ``W0 + S W`` there (an unbiased estimate of the gradient of ``E_S loss``), adds isotropic
Gaussian noise (perturbed gradient descent, which escapes strict saddles), and runs a fixed
number of steps with a step length that decays to zero over the last half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["OptimizeResult", "stalled", "lbfgs", "gradient_descent", "noisy_sgd",
           "STALL_WINDOW"]

#: Iterations over which :func:`stalled` measures progress.
STALL_WINDOW = 10


@dataclass
class OptimizeResult:
    """What an optimizer returns.

    Attributes
    ----------
    x : ndarray
        The final iterate.
    losses : ndarray
        Objective at the start and after each iteration (GD: each accepted or rejected step).
    grad_norm : float
        Euclidean norm of the gradient at ``x`` (for SGD: of the last stochastic gradient).
    n_iter : int
    converged : bool
        The stopping rule (or scipy's own precision limit) ended the run before ``max_iter``.
    message : str
    n_evaluations : int
        Objective evaluations (filled in by the caller, which owns the counter).
    objective_seconds : float
        Seconds inside those evaluations (likewise).
    optimizer_seconds : float
        Seconds of the run outside the evaluations (likewise).
    """

    x: np.ndarray
    losses: np.ndarray
    grad_norm: float
    n_iter: int
    converged: bool
    message: str
    n_evaluations: int = 0
    objective_seconds: float = 0.0
    optimizer_seconds: float = 0.0


def stalled(losses, tol: float, floor: float, window: int = STALL_WINDOW) -> bool:
    """Whether ``losses[-window-1] - losses[-1] <= tol * max(losses[-1], floor)``.

    Parameters
    ----------
    losses : sequence of float
        Objective values, one per iteration, the start first.
    tol : float
        Relative decrease over ``window`` iterations below which the run has stalled.
    floor : float
        Scale below which decreases are measured against ``floor`` instead of the current
        value (the estimators pass a small multiple of the zero predictor's loss).
    window : int
    """
    if len(losses) <= window:
        return False
    cur = losses[-1]
    return bool(losses[-window - 1] - cur <= tol * max(abs(cur), floor))


# The optimizer's vector work is explicit loops, never BLAS: a level-1 BLAS call runs
# threaded on long vectors, and a thread hand-off per dot product costs more than the dot.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _vdot(a, b):
    """``a . b`` for 1-d arrays (serial; see above)."""
    acc = 0.0
    for i in range(a.size):
        acc += a[i] * b[i]
    return acc


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _two_loop(g, S, Y, rho, head, count, gamma):
    """L-BFGS direction ``-H g`` from the ``count`` newest pairs (ring buffer ending at
    ``head``), with initial Hessian ``gamma I`` (Nocedal & Wright, Algorithm 7.4)."""
    k, p = S.shape
    q = g.copy()
    alpha = np.empty(k)
    for t in range(count):
        i = (head - t) % k
        a = rho[i] * _vdot(S[i], q)
        alpha[i] = a
        for j in range(p):
            q[j] -= a * Y[i, j]
    for j in range(p):
        q[j] *= gamma
    for t in range(count - 1, -1, -1):
        i = (head - t) % k
        b = alpha[i] - rho[i] * _vdot(Y[i], q)
        for j in range(p):
            q[j] += b * S[i, j]
    for j in range(p):
        q[j] = -q[j]
    return q


def _norm(v) -> float:
    return float(np.sqrt(_vdot(v, v)))


def _cubic_min(a, fa, da, b, fb, db):
    """Minimiser of the cubic through (a, fa, da), (b, fb, db), kept inside the middle 80%
    of [a, b] (bisection when the cubic has no usable minimum)."""
    lo, hi = min(a, b), max(a, b)
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    x = 0.5 * (a + b)
    if disc >= 0 and np.isfinite(disc):
        d2 = np.copysign(np.sqrt(disc), b - a)
        den = db - da + 2.0 * d2
        if den != 0:
            x = b - (b - a) * (db + d2 - d1) / den
    margin = 0.1 * (hi - lo)
    if not np.isfinite(x) or x < lo + margin or x > hi - margin:
        x = 0.5 * (a + b)
    return x


def _wolfe(fun, x, d, f0, g0, step, c1=1e-4, c2=0.9, max_evals=25):
    """Strong-Wolfe line search (Nocedal & Wright, Algorithms 3.5-3.6) with cubic zoom.

    Returns ``(step, f, g)`` at the accepted point, or None when no acceptable step was
    found within ``max_evals`` evaluations (precision exhausted or a bad direction).
    """
    dphi0 = _vdot(g0, d)
    if not dphi0 < 0:
        return None
    prev = (0.0, f0, dphi0, g0)
    lo = hi = None
    a = step
    for it in range(max_evals):
        f, g = fun(x + a * d)
        dphi = _vdot(g, d) if np.isfinite(f) else np.nan
        if lo is None:  # bracketing phase
            if not np.isfinite(f) or f > f0 + c1 * a * dphi0 or (it > 0 and f >= prev[1]):
                lo, hi = prev, (a, f, dphi, g)
            elif abs(dphi) <= -c2 * dphi0:
                return a, f, g
            elif dphi >= 0:
                lo, hi = (a, f, dphi, g), prev
            else:  # still descending steeply (e.g. escaping the saddle at W = 0): expand
                prev = (a, f, dphi, g)
                a *= 4.0
                continue
        else:  # zoom phase
            if not np.isfinite(f) or f > f0 + c1 * a * dphi0 or f >= lo[1]:
                hi = (a, f, dphi, g)
            else:
                if abs(dphi) <= -c2 * dphi0:
                    return a, f, g
                if dphi * (hi[0] - lo[0]) >= 0:
                    hi = lo
                lo = (a, f, dphi, g)
        if lo is not None:
            if not np.isfinite(hi[1]) or not np.isfinite(hi[2]):
                a = 0.5 * (lo[0] + hi[0]) if hi[0] != lo[0] else 0.5 * hi[0]
                if lo[0] == 0 and hi[0] > 0:
                    a = 0.25 * hi[0]  # overflowed: step well back
            else:
                a = _cubic_min(lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])
            if abs(hi[0] - lo[0]) <= 1e-12 * max(abs(lo[0]), 1e-300):
                break
    # no Wolfe point: accept the best sufficient-decrease point seen, if any
    best = prev if lo is None else lo
    if best[0] > 0 and best[1] < f0:
        return best[0], best[1], best[3]
    return None


def lbfgs(fun, x0, *, max_iter: int, tol: float, floor: float, memory: int = 10) -> OptimizeResult:
    """Limited-memory BFGS with a strong-Wolfe line search, ended by :func:`stalled`.

    The two-loop recursion runs in numba and the line search accepts the unit step on
    almost every iteration (one evaluation per iteration), so the optimizer's own work is
    a small fraction of an evaluation even at ``n = 50`` (scipy's L-BFGS-B, built for bound
    constraints, spends several times an evaluation of these objectives per iteration).
    Iterations whose curvature ``s.y`` is not positive are not stored. When the line
    search finds no acceptable step (precision exhausted), the run ends as converged.
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    p = x.size
    S, Y = np.zeros((memory, p)), np.zeros((memory, p))
    rho = np.zeros(memory)
    head, count, gamma = -1, 0, 1.0
    losses = [f]
    message, ok, it = "max_iter reached", False, 0
    if not np.isfinite(f):
        return OptimizeResult(x, np.asarray(losses), float("nan"), 0, False, "non-finite start")
    for it in range(1, max_iter + 1):
        gn = _norm(g)
        if gn == 0.0:
            message, ok, it = "zero gradient", True, it - 1
            break
        d = _two_loop(g, S, Y, rho, head, count, gamma)
        # first step (or after a reset): a step of length ~ |x| (or 1) along -g
        step = 1.0 if count else min(1.0, max(_norm(x), 1e-3) / gn)
        found = _wolfe(fun, x, d, f, g, step)
        if found is None and count:  # retry along steepest descent with a fresh memory
            count, gamma = 0, 1.0
            d = -g
            found = _wolfe(fun, x, d, f, g, min(1.0, max(_norm(x), 1e-3) / gn))
        if found is None:
            message, ok, it = "line search found no decrease (precision exhausted)", True, it - 1
            break
        a, f_new, g_new = found
        s_vec, y_vec = a * d, g_new - g
        sy = _vdot(s_vec, y_vec)
        if sy > 1e-12 * _norm(s_vec) * _norm(y_vec):
            head = (head + 1) % memory
            S[head], Y[head], rho[head] = s_vec, y_vec, 1.0 / sy
            count = min(count + 1, memory)
            gamma = sy / _vdot(y_vec, y_vec)
        x += s_vec
        f, g = f_new, g_new
        losses.append(f)
        if stalled(losses, tol, floor):
            message, ok = "stalled", True
            break
    return OptimizeResult(x, np.asarray(losses), _norm(g), it, ok, message)


def _probe_step(fun, x0, g0):
    """A Barzilai-Borwein step length ``|s.s / s.y|`` from a tiny probe step along -g."""
    gn = np.linalg.norm(g0)
    if not np.isfinite(gn) or gn == 0:
        return 1.0
    s = -(1e-4 * max(np.linalg.norm(x0), 1e-3) / gn) * g0
    _, g1 = fun(x0 + s)
    sy = abs(float(np.dot(s, g1 - g0)))
    return float(np.dot(s, s) / sy) if sy > 0 else 1.0


def gradient_descent(fun, x0, *, lr, momentum: float, max_iter: int, tol: float,
                     floor: float) -> OptimizeResult:
    """Heavy-ball gradient descent with a "bold driver" step length.

    A step that raises the objective is undone, the velocity reset and the step halved;
    an accepted step grows it by 5%. ``lr="auto"`` starts from half a Barzilai-Borwein
    estimate divided by the heavy-ball gain ``1 / (1 - momentum)``.
    """
    x = x0.copy()
    v_cur, g = fun(x)
    if lr == "auto":
        lr = 0.5 * (1.0 - momentum) * _probe_step(fun, x, g)
    lr = float(lr)
    vel = np.zeros_like(x)
    losses, accepted, it, done = [v_cur], [v_cur], 0, False
    for it in range(1, max_iter + 1):
        vel = momentum * vel - lr * g
        v_new, g_new = fun(x + vel)
        if not np.isfinite(v_new) or v_new > v_cur:
            lr *= 0.5
            vel[:] = 0.0
            losses.append(v_cur)
            if lr < 1e-300:
                done = True
                break
            continue
        x = x + vel
        v_cur, g = v_new, g_new
        lr *= 1.05
        losses.append(v_cur)
        accepted.append(v_cur)
        if stalled(accepted, tol, floor):
            done = True
            break
    return OptimizeResult(x, np.asarray(losses), float(np.linalg.norm(g)), it, done,
                          "stalled" if done else "max_iter reached")


def noisy_sgd(fun, x0, sign_sampler, rng, *, lr, momentum: float, max_iter: int,
              perturbation: float) -> OptimizeResult:
    """Randomized-coupling SGD: a fresh sign vector and Gaussian perturbation every step.

    Parameters
    ----------
    fun : callable ``fun(x, signs) -> (value, gradient)``
    x0 : ndarray
    sign_sampler : callable returning a fresh sign vector
    rng : numpy Generator for the perturbations
    lr : float or "auto"
        Initial step length; "auto": half a Barzilai-Borwein estimate at the start (on the
        first sign draw), divided by the heavy-ball gain.
    momentum : float
    max_iter : int
        Exactly this many steps. The step length is constant for the first half and decays
        linearly to zero over the second half (so the iterates settle despite the noise).
    perturbation : float
        Standard deviation of the isotropic noise added to each gradient, in units of the
        root-mean-square entry of the first gradient (0: plain sign-sampled SGD).

    A step whose loss is non-finite or above three times the running average is undone and
    the step halved (single losses are jumpy under sign noise, so only blow-ups are caught).
    """
    x = x0.copy()
    signs = sign_sampler()
    v, g = fun(x, signs)
    if lr == "auto":
        lr = 0.5 * (1.0 - momentum) * _probe_step(lambda z: fun(z, signs), x, g)
    lr = float(lr)
    sigma = perturbation * float(np.linalg.norm(g)) / np.sqrt(max(g.size, 1))
    vel = np.zeros_like(x)
    losses, avg = [v], v
    half = max_iter // 2
    for it in range(1, max_iter + 1):
        step = lr * min(1.0, (max_iter - it + 1) / max(max_iter - half, 1))
        noise = sigma * rng.standard_normal(x.size) if sigma > 0 else 0.0
        vel = momentum * vel - step * (g + noise)
        v_new, g_new = fun(x + vel, sign_sampler())
        if not np.isfinite(v_new) or v_new > 3.0 * avg:
            lr *= 0.5
            vel[:] = 0.0
            losses.append(avg)
            continue
        x = x + vel
        v, g = v_new, g_new
        avg = 0.9 * avg + 0.1 * v
        losses.append(v)
    return OptimizeResult(x, np.asarray(losses), float(np.linalg.norm(g)), max_iter, False,
                          "fixed number of stochastic steps")
