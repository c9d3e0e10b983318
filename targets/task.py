"""A learning task: train inputs with (optionally noisy) labels and noise-free test targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_float, check_int
from .inputs import sample_inputs
from .polynomial import LowRankPolynomial

__all__ = ["Task", "make_task"]


@dataclass(frozen=True)
class Task:
    """Everything a learner and its evaluation need, derived once.

    Attributes
    ----------
    X_train, y_train : ndarray
        Training inputs (n_train, d) and labels y = f*(x) + noise.
    f_train : ndarray
        Noise-free targets on the training inputs.
    X_test, f_test : ndarray
        Fresh test inputs and their noise-free targets.
    noise : float
        Standard deviation s of the Gaussian label noise.
    normalizer : float
        Var f* (exact); test error = mean((f_hat - f_test)^2) / normalizer.
    target : LowRankPolynomial
    """

    X_train: np.ndarray
    y_train: np.ndarray
    f_train: np.ndarray
    X_test: np.ndarray
    f_test: np.ndarray
    noise: float
    normalizer: float
    target: LowRankPolynomial

    @property
    def d(self) -> int:
        return self.target.d

    def test_error(self, f_hat) -> float:
        """Normalised test error mean((f_hat - f*)^2) / Var f* on the test points."""
        f_hat = np.asarray(f_hat, dtype=float)
        if f_hat.shape != self.f_test.shape:
            raise ValueError(
                f"f_hat must have shape {self.f_test.shape}, got {f_hat.shape}"
            )
        return float(np.mean((f_hat - self.f_test) ** 2) / self.normalizer)


def make_task(target, n_train, n_test, *, noise=0.0, seed=None) -> Task:
    """Sample a train/test split for ``target`` under its input distribution.

    Parameters
    ----------
    target : LowRankPolynomial
    n_train, n_test : int
        Sample sizes (>= 0 and >= 1 respectively).
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to training labels only.
    seed : None, int or numpy SeedSequence
        Split into independent streams for train inputs, test inputs and noise, so
        changing ``n_test`` does not change the training sample.
    """
    if not isinstance(target, LowRankPolynomial):
        raise TypeError(f"target must be a LowRankPolynomial, got {type(target).__name__}")
    n_train = check_int(n_train, "n_train", minimum=0)
    n_test = check_int(n_test, "n_test", minimum=1)
    noise = check_float(noise, "noise", minimum=0.0)
    if target.variance <= 0:
        raise ValueError("target has zero variance; the normalised test error is undefined")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    s_train, s_test, s_noise = ss.spawn(3)
    X_train = sample_inputs(n_train, target.d, distribution=target.distribution, seed=s_train)
    X_test = sample_inputs(n_test, target.d, distribution=target.distribution, seed=s_test)
    f_train = target(X_train)
    y_train = f_train + noise * np.random.default_rng(s_noise).standard_normal(n_train)
    return Task(X_train, y_train, f_train, X_test, target(X_test), noise, target.variance, target)
