"""Targets: input samplers, low-rank polynomial targets and learning tasks.

The definitions are those of docs/math.md, section 2.
"""

from .harmonics import gegenbauer, harmonic_dimension
from .inputs import DISTRIBUTIONS, sample_inputs
from .polynomial import BASES, LowRankPolynomial
from .task import Task, make_task

__all__ = [
    "BASES",
    "DISTRIBUTIONS",
    "LowRankPolynomial",
    "Task",
    "gegenbauer",
    "harmonic_dimension",
    "make_task",
    "sample_inputs",
]
