"""The trainable two-layer network, its Taylor models, losses and penalties.

The formulas are those of docs/math.md, sections 4-5.

Everything here is plain numpy on whole batches: one forward or backward pass of a Taylor
model costs two ``n x m x D`` matrix products (``Z @ W.T`` and ``G.T @ Z``) plus a few
elementwise passes over an ``n x m`` array; there are no Python loops over samples or
neurons. The estimators in :mod:`solvers.quadnet` drive these objects with an optimizer.

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
from dataclasses import dataclass, field

import numpy as np

from hierlearn.kernels.activations import Activation, get_activation

__all__ = [
    "TwoLayerNet",
    "Objective",
    "norm24",
    "loss_value_and_derivative",
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


@dataclass
class Objective:
    """``(1/n) sum_i loss(model(z_i), y_i) + reg * penalty(W)`` and its gradient in ``W``.

    The features of ``W0`` that never change (``sigma'(Z W0^T)`` or ``sigma''(Z W0^T)``
    times ``a / sqrt m``) are computed once; each call then costs two matrix products.
    Seconds spent inside matrix products are accumulated in ``matmul_seconds`` (and all
    seconds inside calls in ``call_seconds``) so benchmarks can report BLAS's share.

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

    net: TwoLayerNet
    Z: np.ndarray
    y: np.ndarray
    model: str = "quadratic"
    loss: str = "squared"
    delta: float = 1.0
    reg: float = 0.0
    penalty: str = "norm24"
    matmul_seconds: float = field(default=0.0, init=False)
    call_seconds: float = field(default=0.0, init=False)
    n_calls: int = field(default=0, init=False)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {list(MODELS)}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {self.penalty!r}; expected one of {list(PENALTIES)}")
        t0 = time.perf_counter()
        P0 = self.Z @ self.net.W0.T
        self.matmul_seconds += time.perf_counter() - t0
        act = self.net.activation
        c = self.net.coef
        if self.model == "linear":
            self._C = act.d1(P0) * c
        elif self.model == "quadratic":
            self._C = act.d2(P0) * (0.5 * c)
        else:
            self._P0 = P0
            self._f0 = act.fn(P0) @ c
        self.precompute_seconds = time.perf_counter() - t0
        self.shape = self.net.W0.shape

    def penalty_value_and_grad(self, W: np.ndarray):
        """``penalty(W)`` and its gradient."""
        if self.penalty == "fro":
            return float(np.sum(W * W)), 2.0 * W
        sq = np.einsum("ij,ij->i", W, W)
        s4 = float(np.sum(sq * sq))
        # d/dW (sum_r |w_r|^4)^2 = 2 s4 * 4 |w_r|^2 w_r
        return s4 * s4, (8.0 * s4) * sq[:, None] * W

    def predict(self, W: np.ndarray, signs: np.ndarray | None = None) -> np.ndarray:
        """Model outputs on the training inputs (no gradient, not timed)."""
        P = self.Z @ W.T
        if self.model == "linear":
            return np.einsum("ij,ij->i", self._C, P)
        if self.model == "quadratic":
            return np.einsum("ij,ij->i", self._C * P, P)
        sgn = np.ones(self.shape[0]) if signs is None else signs
        return self.net.activation.fn(self._P0 + P * sgn) @ self.net.coef - self._f0

    def __call__(self, w_flat: np.ndarray, signs: np.ndarray | None = None):
        """Objective value and gradient (flattened like ``w_flat``)."""
        t_call = time.perf_counter()
        W = w_flat.reshape(self.shape)
        Z = self.Z
        n = Z.shape[0]
        t0 = time.perf_counter()
        P = Z @ W.T
        mm = time.perf_counter() - t0
        if self.model == "linear":
            f = np.einsum("ij,ij->i", self._C, P)
        elif self.model == "quadratic":
            G = self._C * P  # reused below as the backward weights
            f = np.einsum("ij,ij->i", G, P)
        else:
            sgn = np.ones(self.shape[0]) if signs is None else signs
            P *= sgn
            P += self._P0
            act = self.net.activation
            f = act.fn(P) @ self.net.coef - self._f0
        value, deriv = loss_value_and_derivative(f - self.y, self.loss, self.delta)
        g = deriv / n
        if self.model == "linear":
            G = self._C * g[:, None]
        elif self.model == "quadratic":
            G *= (2.0 * g)[:, None]
        else:
            G = act.d1(P)
            G *= g[:, None]
            G *= self.net.coef * sgn
        t0 = time.perf_counter()
        grad = G.T @ Z
        mm += time.perf_counter() - t0
        obj = float(np.mean(value))
        if self.reg > 0:
            pv, pg = self.penalty_value_and_grad(W)
            obj += self.reg * pv
            grad += self.reg * pg
        self.matmul_seconds += mm
        self.call_seconds += time.perf_counter() - t_call
        self.n_calls += 1
        return obj, grad.ravel()
