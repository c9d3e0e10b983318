"""NeuralRepresentation: the fixed random layer h(x) of docs/math.md, section 3 as a transformer."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import _validation as V
from .._random import DEPRECATED, as_seed_sequence, resolve_random_state
from ..targets import sample_inputs
from .activations import activation_names, get_activation

__all__ = ["NeuralRepresentation"]

_DISTRIBUTIONS = ("sphere", "gaussian", "data")
#: Default relative eigenvalue floor: numerical rank only (see the class docstring).
DEFAULT_FLOOR = 1e-10


def _check_bias(bias):
    if isinstance(bias, (bool, np.bool_)):
        warnings.warn("NeuralRepresentation(bias=True/False) is deprecated: bias is the "
                      "standard deviation of the units' Gaussian bias (True means 1.0, False "
                      "0.0)", FutureWarning, stacklevel=4)
        return 1.0 if bias else 0.0
    return V.check_float(bias, "bias", minimum=0.0)


class NeuralRepresentation(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Fixed random layer phi(x) = s0(V x + b), centred and whitened: h_bar = h / sqrt(D).

    Parameters
    ----------
    width : int, default=100
        Number D of random units.
    activation : str, default="step"
        s0 (docs/math.md, section 3: step; relu and smooth units as options; the sweeps' presets use
        softplus, whose span contains (u.x)^2 at D = d^2, see the README).
    bias : float, default=1.0
        Standard deviation of the units' Gaussian bias b_i ~ N(0, bias^2) (0: no bias).
    whiten : bool, default=True
        True: h = Sigma^(-1/2) (phi - mu) with mu, Sigma estimated from unlabeled samples.
        False: h = phi (uncentred), so h_bar . h_bar -> G(x, y) as D -> infinity.
    n_unlabeled : int or None
        Unlabeled samples for mu and Sigma; default max(20 D, 10^4).
    eigenvalue_floor : float, default=1e-10
        Eigenvalues of Sigma below ``eigenvalue_floor * lambda_max`` are raised to it before
        the inverse square root. Whitening is scale free -- in whitened coordinates the
        estimate's relative accuracy is about sqrt(D / n_unlabeled) in every direction,
        whatever its eigenvalue -- so the default floor only guards the numerical rank
        (directions with no measurable variance, e.g. step units with ``|b_i| > |v_i|``, constant
        on the sphere). A larger floor shrinks the low-variance directions instead of
        whitening them; ``n_components_`` reports how many directions are whitened.
    distribution : {"sphere", "gaussian", "data"}, default="sphere"
        Where the unlabeled samples come from: ``hierlearn.targets.sample_inputs`` with
        d = X.shape[1], or the X given to ``fit`` ("data").
    random_state : None, int, SeedSequence, Generator or RandomState
        Draws V, b and the unlabeled samples.
    seed : deprecated
        Old name of ``random_state`` (FutureWarning; removed in the next release).

    Attributes
    ----------
    V_ : ndarray of shape (D, d)
        Weights of the random units.
    b_ : ndarray of shape (D,)
        Biases of the random units.
    mean_ : ndarray of shape (D,)
        Estimated mean of phi (zeros if not whitening).
    whitening_ : ndarray of shape (D, D) or None
        The map Sigma^(-1/2) (None if not whitening).
    lambda_min_, lambda_max_ : float
        Extreme eigenvalues of the estimated covariance (NaN if ``whiten=False``).
    n_floored_ : int
        Eigenvalues raised to the floor.
    n_components_ : int
        Directions whitened (``D - n_floored_``): the D the representation really uses.
    effective_rank_ : float
        exp(entropy) of the covariance's normalised eigenvalues (Roy & Vetterli 2007): how
        many directions carry the variance before whitening (NaN if ``whiten=False``).
    n_features_in_ : int
    """

    def __init__(self, width=100, *, activation="step", bias=1.0, whiten=True,
                 n_unlabeled=None, eigenvalue_floor=DEFAULT_FLOOR, distribution="sphere",
                 random_state=None, seed=DEPRECATED):
        self.width = width
        self.activation = activation
        self.bias = bias
        self.whiten = whiten
        self.n_unlabeled = n_unlabeled
        self.eigenvalue_floor = eigenvalue_floor
        self.distribution = distribution
        self.random_state = random_state
        self.seed = seed

    def _phi(self, X):
        return get_activation(self.activation).fn(X @ self.V_.T + self.b_)

    def fit(self, X, y=None):
        """Draw V, b and estimate the mean and whitening map. Returns self."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=1)
        D = V.check_int(self.width, "width", minimum=1)
        V.check_choice(self.activation, "activation", activation_names())
        V.check_choice(self.distribution, "distribution", _DISTRIBUTIONS)
        V.check_bool(self.whiten, "whiten")
        V.check_float(self.eigenvalue_floor, "eigenvalue_floor", minimum=0.0, maximum=1.0)
        bias = _check_bias(self.bias)
        ss = as_seed_sequence(resolve_random_state(self, self.random_state, self.seed))
        layer_ss, data_ss = ss.spawn(2)
        layer_rng = np.random.default_rng(layer_ss)
        self.V_ = layer_rng.standard_normal((D, X.shape[1]))
        self.b_ = bias * layer_rng.standard_normal(D)
        self.mean_ = np.zeros(D)
        self.whitening_ = None
        self.lambda_min_ = self.lambda_max_ = self.effective_rank_ = float("nan")
        self.n_floored_ = 0
        self.n_components_ = D
        if self.whiten:
            self._fit_whitening(X, D, data_ss)
        self._n_features_out = D
        return self

    def _fit_whitening(self, X, D, data_ss):
        if self.distribution == "data":
            U = X
        else:
            n_u = max(20 * D, 10_000) if self.n_unlabeled is None else V.check_int(
                self.n_unlabeled, "n_unlabeled", minimum=2)
            U = sample_inputs(n_u, X.shape[1], distribution=self.distribution, seed=data_ss)
        F = self._phi(U)
        self.mean_ = F.mean(axis=0)
        F -= self.mean_
        lam, Q = np.linalg.eigh(F.T @ F / max(F.shape[0] - 1, 1))
        self.lambda_min_, self.lambda_max_ = float(lam[0]), float(lam[-1])
        p = np.maximum(lam, 0.0) / max(float(np.sum(np.maximum(lam, 0.0))), np.finfo(float).tiny)
        self.effective_rank_ = float(np.exp(-np.sum(p[p > 0] * np.log(p[p > 0]))))
        floor = max(self.eigenvalue_floor * max(self.lambda_max_, 0.0), np.finfo(float).tiny)
        self.n_floored_ = int(np.sum(lam < floor))
        self.n_components_ = D - self.n_floored_
        self.whitening_ = (Q / np.sqrt(np.maximum(lam, floor))) @ Q.T

    def transform(self, X):
        """h_bar(x) = h(x) / sqrt(D), shape (n, D)."""
        check_is_fitted(self, "V_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        H = self._phi(X)
        if self.whitening_ is not None:
            H = (H - self.mean_) @ self.whitening_
        return H / np.sqrt(self.V_.shape[0])

    def diagnostics(self):
        """The fitted representation's diagnostics as a flat dict (for sweep rows)."""
        check_is_fitted(self, "V_")
        return {"repr_lambda_min": self.lambda_min_, "repr_lambda_max": self.lambda_max_,
                "repr_n_floored": self.n_floored_, "repr_n_components": self.n_components_,
                "repr_effective_rank": self.effective_rank_}
