"""Kernels: activations, closed-form and random-feature NTK and quadratic-model kernels,
the fixed random neural representation, and numba Gram builders.

See ``../shared/MATH.md`` sections 3-4 for the formulas and conventions (kernels take raw
inner products x.y; no division by the input dimension).
"""

from .activations import Activation, activation_names, get_activation
from .closed_form import ntk_gram, quad_gram, representation_gram
from .gram import block_rows_for_budget, gram, gram_blocks, gram_matvec
from .random_features import random_feature_gram
from .representation import NeuralRepresentation
from .spec import KernelSpec

__all__ = [
    "Activation",
    "KernelSpec",
    "NeuralRepresentation",
    "activation_names",
    "block_rows_for_budget",
    "get_activation",
    "gram",
    "gram_blocks",
    "gram_matvec",
    "ntk_gram",
    "quad_gram",
    "random_feature_gram",
    "representation_gram",
]
