"""NeuralRepresentation: the fixed random layer h(x) of MATH.md section 3 as a transformer."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .activations import get_activation
from .random_features import check_width

__all__ = ["NeuralRepresentation"]

_DISTRIBUTIONS = ("sphere", "gaussian", "data")


class NeuralRepresentation(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Fixed random layer phi(x) = sigma_0(V x + b), centred and whitened: h_bar = h/sqrt(D).

    Parameters
    ----------
    width : int
        Number D of random units.
    activation : str, default "step"
        sigma_0 (MATH.md: step; relu as option).
    bias : bool, default True
        Draw b_i ~ N(0, 1); False sets b = 0.
    whiten : bool, default True
        True: h = Sigma^(-1/2) (phi - mu) with mu, Sigma estimated from unlabeled samples.
        False: h = phi (uncentred), so h_bar . h_bar -> G(x, y) as D -> infinity.
    n_unlabeled : int or None
        Unlabeled samples for mu and Sigma; default max(20 D, 10^4).
    eigenvalue_floor : float, default 1e-4
        Eigenvalues of Sigma below ``eigenvalue_floor * lambda_max`` are raised to it before
        the inverse square root (units with |b_i| > |v_i| are constant on the sphere: their
        zero variance is floored, and h carries nothing along them).
    distribution : {"sphere", "gaussian", "data"}, default "sphere"
        Where the unlabeled samples come from: ``targets.sample_inputs`` of the input
        distribution with d = X.shape[1], or the X given to ``fit`` ("data").
    seed : None, int, SeedSequence or Generator
        Draws V, b and the unlabeled samples.

    Attributes
    ----------
    V_ : ndarray (D, d); b_ : ndarray (D,); mean_ : ndarray (D,) (zeros if not whitening)
    whitening_ : ndarray (D, D) or None
    lambda_min_, lambda_max_ : float
        Extreme eigenvalues of the estimated covariance (NaN if ``whiten=False``).
    n_floored_ : int
        Eigenvalues raised to the floor.
    n_features_in_ : int
    """

    def __init__(self, width=100, *, activation="step", bias=True, whiten=True,
                 n_unlabeled=None, eigenvalue_floor=1e-4, distribution="sphere", seed=None):
        self.width = width
        self.activation = activation
        self.bias = bias
        self.whiten = whiten
        self.n_unlabeled = n_unlabeled
        self.eigenvalue_floor = eigenvalue_floor
        self.distribution = distribution
        self.seed = seed

    def _phi(self, X):
        return get_activation(self.activation).fn(X @ self.V_.T + self.b_)

    def fit(self, X, y=None):
        """Draw V, b and estimate the mean and whitening map. Returns self."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=1)
        D = check_width(self.width)
        get_activation(self.activation)  # validates the name
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {self.distribution!r}")
        if not isinstance(self.eigenvalue_floor, Real) or not (0 <= self.eigenvalue_floor < 1):
            raise ValueError(f"eigenvalue_floor must be in [0, 1), got {self.eigenvalue_floor!r}")
        rng = np.random.default_rng(self.seed)
        layer_rng, data_rng = rng.spawn(2)
        d = X.shape[1]
        self.V_ = layer_rng.standard_normal((D, d))
        self.b_ = layer_rng.standard_normal(D) if self.bias else np.zeros(D)
        self.mean_ = np.zeros(D)
        self.whitening_ = None
        self.lambda_min_ = self.lambda_max_ = float("nan")
        self.n_floored_ = 0
        if self.whiten:
            if self.distribution == "data":
                U = X
            else:
                from hierlearn.targets import sample_inputs

                n_u = max(20 * D, 10_000) if self.n_unlabeled is None else self.n_unlabeled
                if isinstance(n_u, bool) or not isinstance(n_u, Integral) or n_u < 2:
                    raise ValueError(f"n_unlabeled must be an int >= 2, got {n_u!r}")
                U = sample_inputs(int(n_u), d, distribution=self.distribution, seed=data_rng)
            F = self._phi(U)
            self.mean_ = F.mean(axis=0)
            F -= self.mean_
            cov = F.T @ F / max(F.shape[0] - 1, 1)
            lam, Q = np.linalg.eigh(cov)
            self.lambda_min_, self.lambda_max_ = float(lam[0]), float(lam[-1])
            floor = self.eigenvalue_floor * max(self.lambda_max_, np.finfo(float).tiny)
            floor = max(floor, np.finfo(float).tiny)
            self.n_floored_ = int(np.sum(lam < floor))
            lam = np.maximum(lam, floor)
            self.whitening_ = (Q / np.sqrt(lam)) @ Q.T
        self._n_features_out = D
        return self

    def transform(self, X):
        """h_bar(x) = h(x) / sqrt(D), shape (n, D)."""
        check_is_fitted(self, "V_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        H = self._phi(X)
        if self.whitening_ is not None:
            H = (H - self.mean_) @ self.whitening_
        return H / np.sqrt(self.V_.shape[0])
