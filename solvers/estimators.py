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

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import _validation as V
from .._memory import check_memory
from .._random import DEPRECATED, as_seed_sequence, resolve_random_state
from ..kernels import Kernel, RandomFeatures, as_kernel
from .linalg import DENSE_COPIES, dense_or_pcg
from .pcg import pcg_kernel_ridge
from .ridge import check_ridges, kernel_ridge, ridge_path

__all__ = ["KernelRegressor"]

_NAMES = ("ntk", "quad")
_SELECT = ("loo", "gcv")
_SOLVERS = ("auto", "dense", "pcg")
# keyword parameters of the estimator that build a named kernel (None: the kernel's default)
_KERNEL_PARAMS = ("activation", "trained", "bias", "representation")


class KernelRegressor(RegressorMixin, BaseEstimator):
    """Kernel ridge regression with the NTK, the quadratic-model kernel or any kernel object.

    Parameters
    ----------
    kernel : {"ntk", "quad"} or Kernel, default="ntk"
        ``"ntk"``: :class:`hierlearn.kernels.NTK`; ``"quad"``: :class:`hierlearn.kernels.QuadKernel`
        (K_Q, whose default smooth activation can learn every target the engine ships); or a
        kernel object (then leave ``activation``, ``trained``, ``bias`` and
        ``representation`` at None).
    activation, trained, bias, representation : optional
        Parameters of the named kernel; None uses the kernel's own default.
    width : int, optional
        Random-feature width (:class:`hierlearn.kernels.RandomFeatures` of the kernel);
        ``None`` for the infinite-width closed form.
    ridge : {"loo", "gcv"} or float, default="loo"
        A ridge ``>= 0`` (``(K + ridge I) alpha = y``), or the criterion that chooses it from
        ``ridges`` by closed-form leave-one-out or GCV (one eigendecomposition).
    ridges : array_like, optional
        Grid searched when ``ridge`` is a criterion. Default:
        ``mean(diag K) * logspace(-7, 1, 17)``.
    solver : {"auto", "dense", "pcg"}, default="auto"
        ``"dense"``: factorise the n x n Gram. ``"pcg"``: matrix-free
        :func:`hierlearn.solvers.pcg_kernel_ridge` (same estimator, iterative; needs a float
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
    random_state : None, int, RandomState, Generator or SeedSequence
        Draws the random features (``width`` given) and the Nystrom centres of ``"pcg"``.
        The kernel drawn at ``fit`` (``kernel_``) is reused at ``predict``.
    seed : deprecated
        Old name of ``random_state`` (FutureWarning; removed in the next release).

    Attributes
    ----------
    kernel_ : Kernel
        The kernel object fitted (with its random features, if any).
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
    Kernel regression with K_Q is *not* the trained Quad-Net (that is
    :class:`hierlearn.solvers.QuadNetRegressor`): it is rotation invariant on raw inputs and
    obeys the kernel lower bound. Predictions use the kernel's matvec (``K(X, X_fit_) @ coef``
    without holding the cross Gram).
    """

    def __init__(self, kernel="ntk", *, activation=None, trained=None, bias=None,
                 representation=None, width=None, ridge="loo", ridges=None, solver="auto",
                 n_centers=None, tol=1e-6, max_iter=200, memory_budget=None, random_state=None,
                 seed=DEPRECATED):
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
        self.random_state = random_state
        self.seed = seed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # -- helpers -------------------------------------------------------------------------
    def _check_params(self):
        if isinstance(self.ridge, str):
            V.check_choice(self.ridge, "ridge criterion", _SELECT)
        else:
            V.check_float(self.ridge, "ridge", minimum=0.0)
        if self.width is not None:
            V.check_int(self.width, "width", minimum=1)
        V.check_choice(self.solver, "solver", _SOLVERS)
        if self.solver == "pcg" and isinstance(self.ridge, str):
            raise ValueError(f"ridge={self.ridge!r} needs the dense solver (LOO/GCV come from an "
                             "eigendecomposition of the n x n Gram); with solver='pcg' pass a "
                             "float ridge > 0")
        if self.solver == "pcg" and self.ridge == 0:
            raise ValueError("ridge=0 (interpolation) needs solver='dense'; conjugate gradients "
                             "need ridge > 0")

    def _make_kernel(self, seq):
        """The kernel object of these parameters (random features drawn from ``seq``)."""
        given = {k: getattr(self, k) for k in _KERNEL_PARAMS if getattr(self, k) is not None}
        if isinstance(self.kernel, Kernel):
            if given:
                raise ValueError(f"{sorted(given)} configure a named kernel; with a kernel "
                                 "object, set them on the object instead")
            kern = self.kernel
        else:
            V.check_choice(self.kernel, "kernel", _NAMES)
            if self.kernel == "quad" and "trained" in given:
                raise ValueError("trained applies to kernel='ntk' only (K_Q trains the first "
                                 "layer)")
            kern = as_kernel(self.kernel, **given)
        if self.width is not None:
            kern = RandomFeatures(kern, self.width, random_state=seq)
        return kern

    def _resolve_solver(self, n):
        if self.solver != "auto":
            return self.solver
        return dense_or_pcg(
            n, matrix_free=not (isinstance(self.ridge, str) or self.ridge == 0),
            hint=f"The matrix-free solver needs a float ridge > 0 (ridge={self.ridge!r} needs "
                 "the dense Gram)")

    def _fit_dense(self, X, y):
        check_memory(X.shape[0], copies=DENSE_COPIES, name="training Gram matrix")
        K = self.kernel_(X)
        self.ridges_ = self.cv_scores_ = None
        if not isinstance(self.ridge, str):
            self.ridge_ = float(self.ridge)
            self.dual_coef_ = kernel_ridge(K, y, self.ridge_, overwrite_a=True,
                                           check_finite=False)
            return
        V.check_target_scale(y, "y")  # LOO and GCV compare squared errors
        if self.ridges is None:
            scale = float(np.mean(np.diag(K)))
            grid = (scale if scale > 0 else 1.0) * np.logspace(-7, 1, 17)
        else:
            grid = check_ridges(self.ridges, "ridges")
        path = ridge_path(K, y, grid, overwrite_a=True, check_finite=False)
        scores = path.loo if self.ridge == "loo" else path.gcv
        best = int(np.nanargmin(scores)) if np.isfinite(scores).any() else len(grid) - 1
        self.ridges_, self.cv_scores_ = grid, scores
        self.ridge_ = float(grid[best])
        self.dual_coef_ = path.dual_coef[best]

    # -- API -----------------------------------------------------------------------------
    def fit(self, X, y):
        """Fit kernel ridge on ``X`` (n_samples, n_features) and ``y``.

        Returns
        -------
        self : KernelRegressor
        """
        self._check_params()
        seq = as_seed_sequence(resolve_random_state(self, self.random_state, self.seed))
        kernel_seq, centers_seq = seq.spawn(2)
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True, dtype=np.float64)
        self.kernel_ = self._make_kernel(kernel_seq)
        self.solver_ = self._resolve_solver(X.shape[0])
        self.n_iter_, self.residuals_ = 1, None  # the dense path: one direct factorisation
        self.X_fit_ = X
        if self.solver_ == "dense":
            self._fit_dense(X, y)
            return self
        res = pcg_kernel_ridge(X, y, self.kernel_, ridge=float(self.ridge),
                               n_centers=self.n_centers, tol=self.tol, max_iter=self.max_iter,
                               memory_budget=self.memory_budget, seed=centers_seq)
        self.ridges_ = self.cv_scores_ = None
        self.ridge_ = float(self.ridge)
        self.dual_coef_ = res.coef
        self.n_iter_, self.residuals_ = res.iterations, res.residuals
        return self

    def predict(self, X):
        """Predict ``K(X, X_fit_) @ dual_coef_``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.kernel_.matvec(X, self.dual_coef_, Y=self.X_fit_,
                                   memory_budget=self.memory_budget)
