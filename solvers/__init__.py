"""Solvers: kernel ridge regression on Gram matrices, learning curves, the trained
Quad-Net and linearised networks, and scikit-learn estimators."""

__all__: list[str] = []

from .linalg import (GramTooLargeError, available_memory, check_memory,  # noqa: E402
                     cho_factor, cho_solve, dense_or_pcg, pinv_eigh_solve)
from .ridge import RidgePath, kernel_ridge, ridge_path  # noqa: E402
from .curves import learning_curve, learning_curve_pcg  # noqa: E402
from .estimators import KernelRegressor  # noqa: E402

__all__ += ["GramTooLargeError", "available_memory", "check_memory", "dense_or_pcg", "cho_factor", "cho_solve",
            "pinv_eigh_solve", "RidgePath", "kernel_ridge", "ridge_path", "learning_curve", "learning_curve_pcg",
            "KernelRegressor"]

from .quadnet import LinearizedNetRegressor, QuadNetRegressor  # noqa: E402

__all__ += ["QuadNetRegressor", "LinearizedNetRegressor"]

from .pcg import PCGResult, kernel_predict, pcg_kernel_ridge  # noqa: E402
from .nystrom import select_centers  # noqa: E402

__all__ += ["pcg_kernel_ridge", "PCGResult", "kernel_predict", "select_centers"]

from .population import PopulationError, PopulationErrorResult, population_error  # noqa: E402

__all__ += ["PopulationError", "PopulationErrorResult", "population_error"]
