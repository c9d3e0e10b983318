"""Solvers: kernel ridge regression on Gram matrices (dense and matrix-free), learning curves,
the trained Quad-Net and linearised networks, and scikit-learn estimators.

Vocabulary: ``ridge`` for kernel ridge (``(K + ridge I) alpha = y``, no factor n), ``reg`` for
network penalties, ``validation_fraction`` for held-out shares, ``random_state`` for
estimators and ``seed`` for flat functions; scipy's keywords (``lower``, ``overwrite_a``,
``check_finite``, ``assume_a``) for dense linear algebra.
"""

from .._memory import GramTooLargeError, available_memory, check_memory
from .cg import conjugate_gradient
from .curves import learning_curve
from .estimators import KernelRegressor
from .linalg import cho_factor, cho_solve, dense_or_pcg, pinv_eigh_solve
from .nystrom import select_centers
from .operators import DaskKernelOperator, KernelOperator
from .pcg import MatrixFreeResult, PCGResult, falkon, learning_curve_pcg, pcg_kernel_ridge
from .population import PopulationError, PopulationErrorResult, population_error
from .quadnet import LinearizedNetRegressor, QuadNetRegressor
from .ridge import RidgePath, kernel_ridge, ridge_path

__all__ = [
    "DaskKernelOperator",
    "GramTooLargeError",
    "KernelOperator",
    "KernelRegressor",
    "LinearizedNetRegressor",
    "MatrixFreeResult",
    "PCGResult",
    "PopulationError",
    "PopulationErrorResult",
    "QuadNetRegressor",
    "RidgePath",
    "available_memory",
    "check_memory",
    "cho_factor",
    "cho_solve",
    "conjugate_gradient",
    "dense_or_pcg",
    "falkon",
    "kernel_ridge",
    "learning_curve",
    "learning_curve_pcg",
    "pcg_kernel_ridge",
    "pinv_eigh_solve",
    "population_error",
    "ridge_path",
    "select_centers",
]
