"""One way to make random generators, and the ``seed`` -> ``random_state`` transition.

Estimators and kernel objects take ``random_state`` (scikit-learn's name); flat functions take
``seed``. Both accept the same things: None, a non-negative int, a
:class:`numpy.random.SeedSequence`, a :class:`numpy.random.Generator` or a legacy
:class:`numpy.random.RandomState`. Generator and RandomState objects are *used* (their state
advances), as in scikit-learn; an int or a SeedSequence gives the same numbers every time.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

__all__ = ["as_generator", "as_seed_sequence", "check_seed", "resolve_random_state",
           "DEPRECATED"]

#: Default of the deprecated ``seed`` parameter of estimators (distinct from None).
DEPRECATED = "deprecated"

_ACCEPTED = ("None, a non-negative int, a numpy SeedSequence, Generator or RandomState")


def check_seed(seed, name: str = "seed"):
    """Validate a seed of any accepted type and return it unchanged."""
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator,
                                         np.random.RandomState)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be {_ACCEPTED}; got {seed!r} of type {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative int (>= 0), got {seed}; a seed is "
                         f"{_ACCEPTED}")
    return seed


def as_seed_sequence(seed, name: str = "seed") -> np.random.SeedSequence:
    """A SeedSequence for ``seed`` (a Generator or RandomState is advanced by one draw)."""
    seed = check_seed(seed, name)
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    if isinstance(seed, np.random.RandomState):
        return np.random.SeedSequence(int(seed.randint(2**31)) * 2**31 + int(seed.randint(2**31)))
    return np.random.SeedSequence(None if seed is None else int(seed))


def as_generator(seed, name: str = "seed") -> np.random.Generator:
    """A :class:`numpy.random.Generator` for ``seed`` (a Generator passes through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(as_seed_sequence(seed, name))


def resolve_random_state(owner, random_state, seed):
    """The random state an estimator uses, honouring the deprecated ``seed`` parameter.

    ``seed`` other than :data:`DEPRECATED` wins and emits a FutureWarning (it will be
    removed in the next release); ``random_state`` is used otherwise.
    """
    if isinstance(seed, str) and seed == DEPRECATED:
        return check_seed(random_state, "random_state")
    warnings.warn(f"{type(owner).__name__}(seed=...) is deprecated and will be removed in the "
                  "next release; use random_state=... (scikit-learn's name)", FutureWarning,
                  stacklevel=3)
    return check_seed(seed, "seed")
