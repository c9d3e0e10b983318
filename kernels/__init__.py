"""Kernels as objects: the NTK and quadratic-model kernels of a two-layer network, closed form
or random features, on raw inputs or composed with a fixed random neural representation.

Objects (:class:`Kernel`: ``K(X, Y)``, ``diag``, ``matvec``, ``blocks``, ``profile``,
``eigenvalues``, parameters): :class:`NTK`, :class:`QuadKernel`,
:class:`RepresentationKernel`, composed with a :class:`RepresentationLayer` (infinite width)
and wrapped by :class:`RandomFeatures` (finite width); :class:`CallableKernel` wraps any Gram
function. The transformer :class:`NeuralRepresentation` is the finite-width representation
h(x). The functional API (``ntk_gram``, ``quad_gram``, ``representation_gram``, ``gram``,
``gram_blocks``, ``gram_matvec``) wraps the objects. Every Gram is evaluated by one numba leaf
(:mod:`hierlearn.kernels._numba`). Conventions: kernels take raw inner products x.y (no
division by the input dimension; docs/math.md, section 4).
"""

from .activations import Activation, activation_names, get_activation
from .base import CallableKernel, Kernel
from .closed_form import NTK, QuadKernel, RepresentationKernel, RepresentationLayer
from .functional import (as_kernel, gram, gram_blocks, gram_matvec, ntk_gram, quad_gram,
                         random_feature_gram, representation_gram)
from .random_features import RandomFeatures
from .representation import NeuralRepresentation

__all__ = [
    "Activation",
    "CallableKernel",
    "Kernel",
    "NTK",
    "NeuralRepresentation",
    "QuadKernel",
    "RandomFeatures",
    "RepresentationKernel",
    "RepresentationLayer",
    "activation_names",
    "as_kernel",
    "get_activation",
    "gram",
    "gram_blocks",
    "gram_matvec",
    "ntk_gram",
    "quad_gram",
    "random_feature_gram",
    "representation_gram",
]
