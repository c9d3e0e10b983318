"""Random-feature (finite width) versions of the kernels of MATH.md section 4.

Sample w_r ~ N(0, I) (r = 1..m) on the augmented input [z; s_b], z = x or the representation
z = phi(x)/sqrt(D) (D-wide fixed random layer, no whitening: its Gram tends to G), then

    K_L^m   = (Z Z'^T) o (sigma'(Z W^T) sigma'(Z' W^T)^T) / m
    K_NTK^m = sigma(Z W^T) sigma(Z' W^T)^T / m + K_L^m
    K_Q^m   = (1/(4m)) (S S'^T) o (Z Z'^T)^2,   S = sigma''(Z W^T)

(o: entrywise product), i.e. matrix products only; the m d^2 features of K_Q are never
formed. Each converges to the closed form at rate O(1/sqrt(m)).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .activations import get_activation
from .spec import KernelSpec, check_pair

__all__ = ["random_feature_gram", "representation_features", "check_width"]


def check_width(width, name="width") -> int:
    """A positive int (numpy ints accepted); TypeError / ValueError otherwise."""
    if isinstance(width, bool) or not isinstance(width, Integral):
        raise TypeError(f"{name} must be a positive int, got {width!r}")
    if width <= 0:
        raise ValueError(f"{name} must be >= 1, got {width}")
    return int(width)


def representation_features(X, V, b, activation="step"):
    """phi(x)/sqrt(D) = sigma_0(V x + b)/sqrt(D) for the rows of X (no whitening)."""
    act = get_activation(activation)
    return act.fn(X @ V.T + b) / np.sqrt(V.shape[0])


def random_feature_gram(X, Y=None, kernel: KernelSpec | None = None, *, width, seed=None,
                        representation_width=None):
    """Finite-width Gram of ``kernel`` (a :class:`KernelSpec`) with ``width`` random units.

    Parameters
    ----------
    X, Y : array_like of shapes (n_X, d), (n_Y, d); Y=None means Y = X
    kernel : KernelSpec
    width : int
        Number m of trained-layer units (for ``kind="representation"``: the layer width D).
    seed : None, int, SeedSequence or Generator
        The same seed gives the same W (and V, b) and so the same Gram.
    representation_width : int, optional
        Width D of the fixed random layer when ``kernel.representation`` is set
        (default: ``width``).

    Returns
    -------
    K : ndarray of shape (n_X, n_Y)
    """
    spec = kernel if kernel is not None else KernelSpec()
    m = check_width(width)
    X, Y = check_pair(X, Y)
    rng = np.random.default_rng(seed)
    rep_rng, rng = rng.spawn(2) if spec.representation is not None else (None, rng)

    Z, Zy = X, Y
    if spec.representation is not None:
        D = m if representation_width is None else check_width(representation_width,
                                                                "representation_width")
        if spec.kind == "representation":
            D = m
        d = X.shape[1]
        V = rep_rng.standard_normal((D, d))
        b = spec.representation_bias * rep_rng.standard_normal(D)
        Z = representation_features(X, V, b, spec.representation)
        Zy = None if Y is None else representation_features(Y, V, b, spec.representation)
        if spec.kind == "representation":
            return Z @ (Z if Zy is None else Zy).T

    def aug(A):
        if A is None or spec.bias == 0.0:
            return A
        return np.hstack([A, np.full((A.shape[0], 1), spec.bias)])

    Za, Zb = aug(Z), aug(Zy)
    W = rng.standard_normal((m, Za.shape[1]))
    act = get_activation(spec.activation)
    preA = Za @ W.T
    preB = preA if Zb is None else Zb @ W.T
    ZZ = Za @ (Za if Zb is None else Zb).T

    def prod(p):
        f = act.derivative(p)
        FA = f(preA)
        FB = FA if Zb is None else f(preB)
        return FA @ FB.T / m

    if spec.kind == "quad":
        return 0.25 * prod(2) * ZZ * ZZ
    K = ZZ * prod(1)
    if spec.trained == "both":
        K += prod(0)
    return K
