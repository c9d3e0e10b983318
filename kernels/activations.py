"""Activation registry: each activation knows sigma, sigma' and sigma''.

The pointwise functions here are vectorised numpy callables used by the
random-feature kernels, the neural representation and the trained networks.
Closed-form Gaussian expectations (the arc-cosine kernels) live in
``kernels.arccos``; quadrature for smooth activations in ``kernels.quadrature``.

Names
-----
``step``      1{t >= 0}                      (sigma' = sigma'' = 0 almost everywhere)
``relu``      max(t, 0)                      (sigma' = step, sigma'' = 0 a.e.)
``relu2``     relu(t)^2 / 2!                 (sigma'' = step)
``relu3``     relu(t)^3 / 3!                 (sigma'' = relu)
``relu4``     relu(t)^4 / 4!                 (sigma'' = relu^2 / 2)
``shifted_sigmoid``  1 / (1 + exp(-(t - 1))) (smooth; sigma'' has every Hermite degree)
``softplus``  log(1 + exp(t))                (smooth; sigma'' is even: odd degrees missing)

The family relu^k / k! is closed under differentiation (docs/math.md, section 4), which is
what makes every kernel of it available in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial
from typing import Callable

import numpy as np
from scipy.special import expit

__all__ = ["Activation", "get_activation", "activation_names", "SMOOTH_DEFAULT"]

Array = np.ndarray

#: The smooth activation used by default where every Hermite degree of sigma'' is needed.
SMOOTH_DEFAULT = "shifted_sigmoid"


@dataclass(frozen=True)
class Activation:
    """A pointwise activation with its first two derivatives.

    Attributes
    ----------
    name : str
        Registry name.
    fn, d1, d2 : callable
        sigma, sigma' and sigma'' as vectorised numpy functions.
    relu_order : int or None
        ``k`` for the family relu^k / k! (``0`` for step); ``None`` for smooth activations.
    smooth : bool
        True when sigma is infinitely differentiable (kernels need quadrature).
    d3 : callable or None
        sigma''' where it exists as a function (used by Taylor-expansion tests).
    """

    name: str
    fn: Callable[[Array], Array]
    d1: Callable[[Array], Array]
    d2: Callable[[Array], Array]
    relu_order: int | None = None
    smooth: bool = False
    d3: Callable[[Array], Array] | None = field(default=None, repr=False)

    def derivative(self, order: int) -> Callable[[Array], Array]:
        """Return sigma^(order) for order in {0, 1, 2} (and 3 where defined)."""
        table = {0: self.fn, 1: self.d1, 2: self.d2, 3: self.d3}
        f = table.get(order)
        if f is None:
            raise ValueError(
                f"activation {self.name!r} has no derivative of order {order!r}"
            )
        return f


def _relu_power(k: int) -> Callable[[Array], Array]:
    """relu(t)^k / k!, with k = 0 the step function 1{t >= 0}."""
    if k < 0:
        return lambda t: np.zeros_like(np.asarray(t, dtype=float))
    if k == 0:
        return lambda t: (np.asarray(t, dtype=float) >= 0).astype(float)
    c = 1.0 / factorial(k)
    return lambda t: c * np.maximum(np.asarray(t, dtype=float), 0.0) ** k


def _relu_family(name: str, k: int) -> Activation:
    return Activation(
        name=name,
        fn=_relu_power(k),
        d1=_relu_power(k - 1),
        d2=_relu_power(k - 2),
        d3=_relu_power(k - 3),
        relu_order=k,
    )


def _sig(t: Array) -> Array:
    return expit(np.asarray(t, dtype=float))


def _shifted_sigmoid() -> Activation:
    # sigma(t) = s(t - 1) with s the logistic function; s' = s(1-s), s'' = s'(1-2s),
    # s''' = s'(1 - 6 s + 6 s^2).
    def fn(t):
        return _sig(np.asarray(t, dtype=float) - 1.0)

    def d1(t):
        s = fn(t)
        return s * (1.0 - s)

    def d2(t):
        s = fn(t)
        return s * (1.0 - s) * (1.0 - 2.0 * s)

    def d3(t):
        s = fn(t)
        return s * (1.0 - s) * (1.0 - 6.0 * s + 6.0 * s * s)

    return Activation("shifted_sigmoid", fn, d1, d2, smooth=True, d3=d3)


def _softplus() -> Activation:
    def fn(t):
        return np.logaddexp(0.0, np.asarray(t, dtype=float))

    def d1(t):
        return _sig(t)

    def d2(t):
        s = _sig(t)
        return s * (1.0 - s)

    def d3(t):
        s = _sig(t)
        return s * (1.0 - s) * (1.0 - 2.0 * s)

    return Activation("softplus", fn, d1, d2, smooth=True, d3=d3)


_REGISTRY: dict[str, Activation] = {
    "step": _relu_family("step", 0),
    "relu": _relu_family("relu", 1),
    "relu2": _relu_family("relu2", 2),
    "relu3": _relu_family("relu3", 3),
    "relu4": _relu_family("relu4", 4),
    "shifted_sigmoid": _shifted_sigmoid(),
    "softplus": _softplus(),
}


def activation_names() -> tuple[str, ...]:
    """Names accepted wherever an ``activation=`` argument is taken."""
    return tuple(_REGISTRY)


def get_activation(activation: str | Activation) -> Activation:
    """Look up an activation by name (an :class:`Activation` passes through).

    Raises
    ------
    TypeError
        If ``activation`` is neither a string nor an :class:`Activation`.
    ValueError
        If the name is unknown; the message lists the known names.
    """
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(
            f"activation must be a str or Activation, got {type(activation).__name__}"
        )
    try:
        return _REGISTRY[activation]
    except KeyError:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of {sorted(_REGISTRY)}"
        ) from None
