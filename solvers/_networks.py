"""The trainable two-layer network, its Taylor models, losses and penalties.

The formulas are those of docs/math.md, sections 4-5.

Whole batches, no Python loops over samples or neurons: one forward and backward pass of a
Taylor model costs two ``n x m x D`` matrix products (``Z @ W.T`` and ``G.T @ Z``) and one
fused elementwise pass over an ``n x m`` array (:mod:`solvers._fused`). The estimators in
:mod:`solvers.quadnet` drive :class:`Objective` with the optimizers of
:mod:`solvers._optimize`; :func:`taylor_diagnostics` says how far a trained ``W`` is from
the regime where ``f_Q`` describes the network.

Conventions
-----------
Network ``f(z) = (1/sqrt m) sum_r a_r sigma((w0_r + w_r) . z)``. ``w0_r ~ N(0, I_D)`` and
``a_r = +-1`` come in symmetric pairs: rows ``r`` and ``r + m/2`` share ``w0`` and carry
opposite signs, so ``f(W0) = 0``. Only the movement ``W`` (shape ``(m, D)``) trains.

- linearised model ``f_L(z) = (1/sqrt m) sum_r a_r sigma'(w0_r.z) (w_r.z)``
- quadratic model ``f_Q(z) = (1/(2 sqrt m)) sum_r a_r sigma''(w0_r.z) (w_r.z)^2``
- ``||W||_{2,4} = (sum_r ||w_r||^4)^(1/4)``
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hierlearn.kernels.activations import Activation, get_activation

from ._fused import taylor_pass, taylor_rows

__all__ = [
    "TwoLayerNet",
    "Objective",
    "norm24",
    "loss_value_and_derivative",
    "taylor_diagnostics",
    "DIAGNOSTIC_NAMES",
    "MODELS",
    "LOSSES",
    "PENALTIES",
]

MODELS = ("linear", "quadratic", "full")
LOSSES = ("squared", "huber")
PENALTIES = ("norm24", "fro")

# Rows per block in prediction, chosen so a block's (rows x m) work arrays stay near 32 MB.
_BLOCK_ELEMENTS = 4_000_000


def norm24(W: np.ndarray) -> float:
    """The (2,4)-norm ``(sum_r ||w_r||_2^4)^(1/4)`` of the rows of ``W``."""
    sq = np.einsum("ij,ij->i", W, W)
    return float(np.sum(sq * sq) ** 0.25)


def loss_value_and_derivative(r: np.ndarray, loss: str, delta: float):
    """Per-sample loss of the residual ``r = f - y`` and its derivative in ``f``.

    ``squared``: ``r^2``. ``huber``: ``r^2`` for ``|r| <= delta`` and
    ``2 delta |r| - delta^2`` beyond (twice the textbook Huber loss, so both losses agree
    on small residuals).
    """
    if loss == "squared":
        return r * r, 2.0 * r
    if loss == "huber":
        a = np.abs(r)
        inside = a <= delta
        value = np.where(inside, r * r, 2.0 * delta * a - delta * delta)
        deriv = np.where(inside, 2.0 * r, 2.0 * delta * np.sign(r))
        return value, deriv
    raise ValueError(f"unknown loss {loss!r}; expected one of {list(LOSSES)}")


@dataclass
class TwoLayerNet:
    """The fixed part of the network: initial weights ``W0`` and output signs ``a``.

    Attributes
    ----------
    W0 : ndarray of shape (m, D)
        Initial first-layer weights; rows ``r`` and ``r + m/2`` are equal.
    a : ndarray of shape (m,)
        Output signs: ``+1`` for the first half, ``-1`` for the second.
    activation : Activation
    """

    W0: np.ndarray
    a: np.ndarray
    activation: Activation

    @classmethod
    def sample(cls, width: int, dim: int, activation, rng: np.random.Generator) -> "TwoLayerNet":
        """Draw ``W0`` with ``width // 2`` independent N(0, I) rows, each used twice.

        ``width`` must be even (checked by the caller).
        """
        half = width // 2
        w0 = rng.standard_normal((half, dim))
        W0 = np.concatenate([w0, w0], axis=0)
        a = np.concatenate([np.ones(half), -np.ones(half)])
        return cls(W0=W0, a=a, activation=get_activation(activation))

    def __getstate__(self):
        # registry activations hold local lambdas: pickle them by name
        state = self.__dict__.copy()
        act = state["activation"]
        try:
            if get_activation(act.name) is act:
                state["activation"] = act.name
        except ValueError:
            pass
        return state

    def __setstate__(self, state):
        if isinstance(state["activation"], str):
            state["activation"] = get_activation(state["activation"])
        self.__dict__.update(state)

    @property
    def width(self) -> int:
        return self.W0.shape[0]

    @property
    def dim(self) -> int:
        return self.W0.shape[1]

    @property
    def coef(self) -> np.ndarray:
        """Output weights ``a_r / sqrt(m)``."""
        return self.a / np.sqrt(self.width)

    def _blocks(self, n: int):
        step = max(1, _BLOCK_ELEMENTS // max(self.width, 1))
        for start in range(0, n, step):
            yield slice(start, min(n, start + step))

    def _map(self, Z: np.ndarray, body) -> np.ndarray:
        out = np.empty(Z.shape[0])
        for sl in self._blocks(Z.shape[0]):
            out[sl] = body(Z[sl])
        return out

    def full(self, Z: np.ndarray, W: np.ndarray) -> np.ndarray:
        """``f(W0 + W)(z) - f(W0)(z)`` for each row of ``Z`` (the second term is zero up to
        rounding; subtracting it keeps the difference exact for the Taylor tests)."""
        s = self.activation.fn
        c = self.coef

        def body(Zb):
            P0 = Zb @ self.W0.T
            return (s(P0 + Zb @ W.T) - s(P0)) @ c

        return self._map(Z, body)

    def linear(self, Z: np.ndarray, W: np.ndarray) -> np.ndarray:
        """The linearised model ``f_L(W)`` on each row of ``Z``."""
        d1 = self.activation.d1
        c = self.coef
        return self._map(Z, lambda Zb: np.einsum(
            "ij,ij->i", d1(Zb @ self.W0.T) * c, Zb @ W.T))

    def quadratic(self, Z: np.ndarray, W: np.ndarray) -> np.ndarray:
        """The quadratic model ``f_Q(W)`` on each row of ``Z``."""
        d2 = self.activation.d2
        c = 0.5 * self.coef

        def body(Zb):
            P = Zb @ W.T
            return np.einsum("ij,ij->i", d2(Zb @ self.W0.T) * c, P * P)

        return self._map(Z, body)

    def sign_averaged(self, Z: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Exact average over sign flips ``E_S[f(W0 + S W)] - f(W0)``, S = diag(+-1).

        ``f`` is a sum over neurons and each neuron sees only its own sign, so the average
        over all ``2^m`` sign patterns is the neuron-wise mean of ``+w_r`` and ``-w_r``.
        """
        s = self.activation.fn
        c = self.coef

        def body(Zb):
            P0 = Zb @ self.W0.T
            P = Zb @ W.T
            return (0.5 * (s(P0 + P) + s(P0 - P)) - s(P0)) @ c

        return self._map(Z, body)

    def randomized(self, Z: np.ndarray, W: np.ndarray, signs: np.ndarray) -> np.ndarray:
        """``f(W0 + S W) - f(W0)`` for one sign vector ``signs`` of shape (m,)."""
        return self.full(Z, W * signs[:, None])


def taylor_diagnostics(net: TwoLayerNet, Z: np.ndarray, W: np.ndarray) -> dict:
    """How far the trained movement ``W`` is from the regime where ``f_Q`` is the network.

    Parameters
    ----------
    net : TwoLayerNet
    Z : ndarray of shape (n, D)
        Inputs to evaluate the gap on (the training points, as the estimators do).
    W : ndarray of shape (m, D)

    Returns
    -------
    dict
        ``movement_median``, ``movement_max``: median and max over neurons of
        ``||w_r|| / ||w0_r||`` (Taylor models describe the network when these are small);
        ``norm24``: ``||W||_{2,4}``; ``taylor_gap``: ``||E_S f(W0 + S W) - f_Q(W)|| /
        ||f_Q(W)||`` over the rows of ``Z`` (Euclidean norms of the length-n vectors; the
        sign average is exact, see :meth:`TwoLayerNet.sign_averaged`; NaN when f_Q = 0).
    """
    ratio = np.linalg.norm(W, axis=1) / np.linalg.norm(net.W0, axis=1)
    fq = net.quadratic(Z, W)
    fs = net.sign_averaged(Z, W)
    denom = float(np.linalg.norm(fq))
    gap = float(np.linalg.norm(fs - fq)) / denom if denom > 0 else float("nan")
    return {"movement_median": float(np.median(ratio)), "movement_max": float(np.max(ratio)),
            "norm24": norm24(W), "taylor_gap": gap}


#: Keys of :func:`taylor_diagnostics`, in the order the estimators report them.
DIAGNOSTIC_NAMES = ("movement_median", "movement_max", "norm24", "taylor_gap")


class Objective:
    """``(1/n) sum_i loss(model(z_i), y_i) + reg * penalty(W)`` and its gradient in ``W``.

    The features of ``W0`` that never change (``sigma'(Z W0^T)`` or ``sigma''(Z W0^T)``
    times ``a / sqrt m``) are computed once; each call then costs two matrix products and
    one fused elementwise pass (Taylor models), written into a buffer allocated once.
    ``reg`` may be changed between calls (a regularisation path reuses one objective).
    Seconds spent inside matrix products are accumulated in ``matmul_seconds`` (and all
    seconds inside calls in ``call_seconds``; calls in ``n_calls``).

    Parameters
    ----------
    net : TwoLayerNet
    Z : ndarray of shape (n, D)
    y : ndarray of shape (n,)
    model : {"linear", "quadratic", "full"}
        ``"full"`` is the network ``f(W0 + S W) - f(W0)`` at the sign vector passed to
        :meth:`__call__` (all ones when none is passed): the randomized-coupling objective.
    loss : {"squared", "huber"}
    delta : float
        Huber threshold.
    reg : float
    penalty : {"norm24", "fro"}
        ``||W||_{2,4}^8`` or ``||W||_F^2``.
    """

    def __init__(self, net: TwoLayerNet, Z, y, model: str = "quadratic", loss: str = "squared",
                 delta: float = 1.0, reg: float = 0.0, penalty: str = "norm24"):
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {list(LOSSES)}")
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {penalty!r}; expected one of {list(PENALTIES)}")
        self.net, self.model, self.loss, self.penalty = net, model, loss, penalty
        self.delta, self.reg = float(delta), float(reg)
        self.Z = np.ascontiguousarray(Z, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.shape = net.W0.shape
        self.matmul_seconds = self.call_seconds = 0.0
        self.n_calls = 0
        t0 = time.perf_counter()
        P0 = self.Z @ net.W0.T
        self.matmul_seconds += time.perf_counter() - t0
        act, c = net.activation, net.coef
        if model == "linear":
            self._C = act.d1(P0) * c
        elif model == "quadratic":
            self._C = act.d2(P0) * (0.5 * c)
        else:
            self._P0 = P0
            self._f0 = act.fn(P0) @ c
        self._P = np.empty((self.Z.shape[0], self.shape[0]))  # Z W^T, then the backward weights
        self.precompute_seconds = time.perf_counter() - t0

    def penalty_value_and_grad(self, W: np.ndarray):
        """``penalty(W)`` and its gradient."""
        if self.penalty == "fro":
            return float(np.sum(W * W)), 2.0 * W
        sq = np.einsum("ij,ij->i", W, W)
        s4 = float(sq @ sq)
        # d/dW (sum_r |w_r|^4)^2 = 2 s4 * 4 |w_r|^2 w_r
        return s4 * s4, (8.0 * s4) * sq[:, None] * W

    def penalty_value(self, W: np.ndarray) -> float:
        """``penalty(W)`` (not multiplied by ``reg``)."""
        return self.penalty_value_and_grad(W)[0]

    def predict(self, W: np.ndarray, signs: np.ndarray | None = None) -> np.ndarray:
        """Model outputs on the inputs ``Z`` (no gradient, not timed)."""
        P = self.Z @ W.T
        if self.model in ("linear", "quadratic"):
            return taylor_rows(P, self._C, self.model == "quadratic", np.empty(len(P)))
        sgn = np.ones(self.shape[0]) if signs is None else signs
        return self.net.activation.fn(self._P0 + P * sgn) @ self.net.coef - self._f0

    def loss_value(self, W: np.ndarray, signs: np.ndarray | None = None) -> float:
        """The data term ``(1/n) sum_i loss(model(z_i), y_i)`` alone."""
        r = self.predict(W, signs) - self.y
        return float(np.mean(loss_value_and_derivative(r, self.loss, self.delta)[0]))

    def __call__(self, w_flat: np.ndarray, signs: np.ndarray | None = None):
        """Objective value and gradient (flattened like ``w_flat``)."""
        t_call = time.perf_counter()
        W = w_flat.reshape(self.shape)
        P = self._P
        np.matmul(self.Z, W.T, out=P)
        mm = time.perf_counter() - t_call
        if self.model == "full":
            obj = self._full_pass(P, signs)
        else:
            obj = taylor_pass(P, self._C, self.y, self.model == "quadratic",
                              self.loss == "huber", self.delta)
        t0 = time.perf_counter()
        grad = P.T @ self.Z
        mm += time.perf_counter() - t0
        if self.reg > 0:
            pv, pg = self.penalty_value_and_grad(W)
            obj += self.reg * pv
            grad += self.reg * pg
        self.matmul_seconds += mm
        self.call_seconds += time.perf_counter() - t_call
        self.n_calls += 1
        return float(obj), grad.ravel()

    def _full_pass(self, P, signs):
        """Network at ``W0 + S W``: mean loss, and ``P`` overwritten with the backward weights."""
        act, c = self.net.activation, self.net.coef
        sgn = np.ones(self.shape[0]) if signs is None else signs
        P *= sgn
        P += self._P0
        f = act.fn(P) @ c - self._f0
        value, deriv = loss_value_and_derivative(f - self.y, self.loss, self.delta)
        G = act.d1(P)
        G *= (deriv / len(self.y))[:, None]
        G *= c * sgn
        P[...] = G
        return float(np.mean(value))
