"""scikit-learn estimators over the engine's kernels.

:class:`KernelRegressor` is exact kernel ridge regression with the NTK (``kernel="ntk"``)
or the quadratic model's kernel K_Q (``kernel="quad"``) from :mod:`kernels`, closed form or
random features (``width``). Note: kernel regression with K_Q is *not* the trained Quad-Net
(that is :class:`solvers.QuadNetRegressor`); K_Q regression is rotation-invariant on raw
inputs and obeys the kernel lower bound.

Ridge convention: ``(K + ridge I) alpha = y`` (no factor n), as in :mod:`solvers.ridge`.

Two solvers give the same estimator: ``"dense"`` factorises the n x n Gram (Cholesky, or one
eigendecomposition for the LOO/GCV ridge path); ``"pcg"`` never forms it
(:func:`solvers.pcg_kernel_ridge`, Nystrom-preconditioned conjugate gradients over blocked
kernel tiles) and converges to the same coefficients. ``"auto"`` takes the dense path when
the memory guard (:func:`solvers.check_memory`) says it fits, the matrix-free one otherwise.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .linalg import DENSE_COPIES, check_memory, dense_or_pcg
from .pcg import as_kernel, kernel_predict, pcg_kernel_ridge
from .ridge import check_ridges, kernel_ridge, ridge_path

__all__ = ["KernelRegressor"]

_KERNELS = {"ntk": "ntk_gram", "quad": "quad_gram"}
_SELECT = ("loo", "gcv")
_SOLVERS = ("auto", "dense", "pcg")


class KernelRegressor(RegressorMixin, BaseEstimator):
    """Kernel ridge regression with the NTK or the quadratic-model kernel.

    Parameters
    ----------
    kernel : {"ntk", "quad"}, default="ntk"
        ``"ntk"``: :func:`kernels.ntk_gram`; ``"quad"``: :func:`kernels.quad_gram` (K_Q).
    activation : str, optional
        Activation name (:func:`kernels.get_activation`); ``None`` uses the kernel's default.
    trained : str, default="first"
        Which layers the NTK trains (``"first"`` or ``"both"``); ignored for ``"quad"``.
    bias : float, default=0
        Standard deviation of the Gaussian first-layer bias of the kernel.
    representation : optional
        Passed to the kernel (NTK on a fixed random representation, see MATH.md section 3).
    width : int, optional
        Random-feature width; ``None`` for the infinite-width closed form.
    ridge : {"loo", "gcv"} or float, default="loo"
        A ridge ``>= 0`` (``(K + ridge I) alpha = y``), or the criterion that chooses it from
        ``ridges`` by closed-form leave-one-out or GCV (one eigendecomposition).
    ridges : array_like, optional
        Grid searched when ``ridge`` is a criterion. Default:
        ``mean(diag K) * logspace(-7, 1, 17)``.
    solver : {"auto", "dense", "pcg"}, default="auto"
        ``"dense"``: factorise the n x n Gram. ``"pcg"``: matrix-free
        :func:`solvers.pcg_kernel_ridge` (same estimator, iterative; needs a float
        ``ridge > 0``, since LOO/GCV selection needs the dense eigendecomposition).
        ``"auto"``: dense when three n x n float64 matrices fit the memory guard's budget,
        ``"pcg"`` otherwise.
    n_centers : int, optional
        Nystrom centres of the ``"pcg"`` preconditioner (default: the solver's,
        ``min(n, max(200, 10 sqrt n))``).
    tol : float, default=1e-6
        Relative residual at which ``"pcg"`` stops.
    max_iter : int, default=200
        Conjugate-gradient iterations allowed to ``"pcg"``.
    memory_budget : int, optional
        Bytes ``"pcg"`` and the blocked predictions may allocate (default 1 GiB).
    seed : int, RandomState or None, default=None
        Seeds the random features (``width`` given) and the Nystrom centres of ``"pcg"``.
        The features drawn at ``fit`` are reused at ``predict``.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (predictions need the cross Gram).
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Solves ``(K + ridge_ I) dual_coef_ = y``.
    ridge_ : float
        The ridge used.
    ridges_ : ndarray or None
        The grid searched (None for a fixed ridge).
    cv_scores_ : ndarray or None
        LOO or GCV mean squared error per entry of ``ridges_``.
    kernel_seed_ : int or None
        Seed of the random features used for fit and predict.
    solver_ : {"dense", "pcg"}
        The solver that ran (``"auto"`` resolved).
    n_iter_ : int
        Conjugate-gradient iterations of ``"pcg"``; 1 (one direct factorisation) for
        ``"dense"``.
    residuals_ : ndarray, list of ndarray (one per target of a 2-d ``y``), or None
        Relative residual history of ``"pcg"`` (entry 0 is 1); None for ``"dense"``.
    n_features_in_ : int

    Notes
    -----
    Predictions are computed in row blocks (:func:`solvers.kernel_predict`), so the
    ``(n_test, n)`` cross Gram is never held whole.
    """

    def __init__(self, kernel="ntk", *, activation=None, trained="first", bias=0.0,
                 representation=None, width=None, ridge="loo", ridges=None, solver="auto",
                 n_centers=None, tol=1e-6, max_iter=200, memory_budget=None, seed=None):
        self.kernel = kernel
        self.activation = activation
        self.trained = trained
        self.bias = bias
        self.representation = representation
        self.width = width
        self.ridge = ridge
        self.ridges = ridges
        self.solver = solver
        self.n_centers = n_centers
        self.tol = tol
        self.max_iter = max_iter
        self.memory_budget = memory_budget
        self.seed = seed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # -- helpers -------------------------------------------------------------------------
    def _check_params(self):
        if self.kernel not in _KERNELS:
            raise ValueError(f"unknown kernel {self.kernel!r}; expected one of {list(_KERNELS)}")
        if isinstance(self.ridge, str):
            if self.ridge not in _SELECT:
                raise ValueError(
                    f"ridge must be a float >= 0 or one of {list(_SELECT)}, got {self.ridge!r}")
        elif isinstance(self.ridge, (bool, np.bool_)) or not isinstance(self.ridge, numbers.Real):
            raise TypeError(f"ridge must be a float or a str, got {type(self.ridge).__name__}")
        elif not (np.isfinite(self.ridge) and self.ridge >= 0):
            raise ValueError(f"ridge must be finite and >= 0, got {self.ridge}")
        if self.width is not None:
            if isinstance(self.width, (bool, np.bool_)) or not isinstance(self.width,
                                                                          numbers.Integral):
                raise TypeError(f"width must be None or an int, got {type(self.width).__name__}")
            if self.width < 1:
                raise ValueError(f"width must be >= 1, got {self.width}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {list(_SOLVERS)}, got {self.solver!r}")
        if self.solver == "pcg" and isinstance(self.ridge, str):
            raise ValueError(f"ridge={self.ridge!r} needs the dense solver (LOO/GCV come from an "
                             "eigendecomposition of the n x n Gram); with solver='pcg' pass a "
                             "float ridge > 0")
        if self.solver == "pcg" and self.ridge == 0:
            raise ValueError("ridge=0 (interpolation) needs solver='dense'; conjugate gradients "
                             "need ridge > 0")

    def _kernel_adapter(self):
        """The kernel as the matrix-free solver's adapter (name + keyword arguments)."""
        kw = {"bias": self.bias, "representation": self.representation, "width": self.width,
              "seed": self.kernel_seed_}
        if self.activation is not None:
            kw["activation"] = self.activation
        if self.kernel == "ntk":
            kw["trained"] = self.trained
        return as_kernel(self.kernel, kw)

    def _resolve_solver(self, n):
        if self.solver != "auto":
            return self.solver
        return dense_or_pcg(
            n, matrix_free=not (isinstance(self.ridge, str) or self.ridge == 0),
            hint=f"The matrix-free solver needs a float ridge > 0 (ridge={self.ridge!r} needs "
                 "the dense Gram)")

    # -- API -----------------------------------------------------------------------------
    def fit(self, X, y):
        """Fit kernel ridge on ``X`` (n_samples, n_features) and ``y``.

        Returns
        -------
        self : KernelRegressor
        """
        self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True, dtype=np.float64)
        if self.width is not None:
            rng = check_random_state(self.seed)
            self.kernel_seed_ = (int(self.seed) if isinstance(self.seed, numbers.Integral)
                                 else int(rng.randint(np.iinfo(np.int32).max)))
        else:
            self.kernel_seed_ = None
        self.solver_ = self._resolve_solver(X.shape[0])
        self.n_iter_, self.residuals_ = 1, None  # the dense path: one direct factorisation
        if self.solver_ == "pcg":
            res = pcg_kernel_ridge(X, y, kernel=self._kernel_adapter(), ridge=float(self.ridge),
                                   n_centers=self.n_centers, tol=self.tol, max_iter=self.max_iter,
                                   memory_budget=self.memory_budget, seed=self.seed)
            self.ridges_ = self.cv_scores_ = None
            self.ridge_ = float(self.ridge)
            self.dual_coef_ = res.coef
            self.n_iter_ = res.iterations
            self.residuals_ = res.residuals
            self.X_fit_ = X
            return self
        check_memory(X.shape[0], copies=DENSE_COPIES, name="training Gram matrix")
        K = self._kernel_adapter().symmetric(X)
        if isinstance(self.ridge, str):
            if self.ridges is None:
                scale = float(np.mean(np.diag(K)))
                scale = scale if scale > 0 else 1.0
                grid = scale * np.logspace(-7, 1, 17)
            else:
                grid = check_ridges(self.ridges, "ridges")
            path = ridge_path(K, y, grid, overwrite_a=True, check_finite=False)
            scores = path.loo if self.ridge == "loo" else path.gcv
            best = int(np.nanargmin(scores)) if np.isfinite(scores).any() else len(grid) - 1
            self.ridges_ = grid
            self.cv_scores_ = scores
            self.ridge_ = float(grid[best])
            self.dual_coef_ = path.dual_coef[best]
        else:
            self.ridges_ = None
            self.cv_scores_ = None
            self.ridge_ = float(self.ridge)
            self.dual_coef_ = kernel_ridge(K, y, self.ridge_, overwrite_a=True,
                                           check_finite=False)
        self.X_fit_ = X
        return self

    def predict(self, X):
        """Predict ``K(X, X_fit_) @ dual_coef_``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return kernel_predict(self._kernel_adapter(), self.X_fit_, self.dual_coef_, X,
                              memory_budget=self.memory_budget)
