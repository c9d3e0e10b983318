"""Kernels: activations, closed-form and random-feature NTK and quadratic-model kernels,
the fixed random neural representation, and numba Gram builders.

See ``../shared/MATH.md`` sections 3-4 for the formulas and conventions (kernels take raw
inner products x.y; no division by the input dimension).
"""

from .activations import Activation, activation_names, get_activation

__all__ = ["Activation", "activation_names", "get_activation"]
