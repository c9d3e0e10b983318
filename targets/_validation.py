"""Argument checks shared by the targets package: one message style everywhere."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_int", "check_choice", "check_nonnegative_float", "as_generator"]


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int, or raise naming ``name``.

    Booleans and floats (even integral ones such as ``3.0``) are rejected with a
    TypeError: a sample size typed as a float is almost always a bug upstream.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; raise naming ``name`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {list(choices)}")
    return value


def check_nonnegative_float(value, name: str) -> float:
    """Return ``value`` as a finite float >= 0; raise naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def as_generator(seed) -> np.random.Generator:
    """``np.random.default_rng`` with the accepted seed types spelled out on error."""
    if seed is not None and not isinstance(
        seed, (numbers.Integral, np.random.Generator, np.random.SeedSequence)
    ):
        raise TypeError(
            "seed must be None, an int, a numpy SeedSequence or Generator, "
            f"got {type(seed).__name__}"
        )
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError("seed must be None, an int, a numpy SeedSequence or Generator, got bool")
    return np.random.default_rng(seed)
