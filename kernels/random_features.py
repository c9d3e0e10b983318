"""Random features: the finite-width version of a closed-form kernel (docs/math.md, section 4).

``RandomFeatures(kernel, width=m)`` samples w_r ~ N(0, I) (r = 1..m) on the augmented input
[z; s_b], with z = x, or z = phi(x)/sqrt(D) for a kernel composed with a representation layer
(a D-wide fixed random layer, not whitened: its Gram tends to G), and computes

    K_L^m   = (Z Z'^T) o (s'(Z W^T) s'(Z' W^T)^T) / m
    K_NTK^m = s(Z W^T) s(Z' W^T)^T / m + K_L^m
    K_Q^m   = (1/(4m)) (S S'^T) o (Z Z'^T)^2,   S = s''(Z W^T)

(o: entrywise product), i.e. matrix products only; the m d^2 features of K_Q are never
formed. Each converges to the closed form at rate O(1/sqrt(m)). The features are drawn once
per object and input dimension (from ``random_state``) and reused by every call, so blocks,
products and predictions all see the same kernel.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as V
from .._memory import check_memory
from .._products import gram_product
from .._random import as_generator, check_seed
from .activations import get_activation
from .base import Kernel
from .closed_form import NTK, QuadKernel, RepresentationKernel

__all__ = ["RandomFeatures", "representation_features"]


def representation_features(X, V_, b, activation="step"):
    """phi(x)/sqrt(D) = s0(V x + b)/sqrt(D) for the rows of X (no whitening)."""
    return get_activation(activation).fn(X @ V_.T + b) / np.sqrt(V_.shape[0])


class RandomFeatures(Kernel):
    """The finite-width (random-feature) version of a closed-form kernel.

    Parameters
    ----------
    kernel : NTK, QuadKernel or RepresentationKernel
        The kernel whose network is sampled.
    width : int, default=1000
        Number m of trained-layer units (for a RepresentationKernel: the layer's width D).
    representation_width : int, optional
        Width D of the fixed layer when ``kernel`` has a representation (default ``width``).
    random_state : None, int, SeedSequence, Generator or RandomState
        Draws the features (once per object and input dimension).

    Attributes
    ----------
    features_ : dict
        Drawn features per input dimension: ``{d: (V, b, W)}`` (V, b None without a layer).
    """

    workspace_factor = 6.0

    def __init__(self, kernel, width=1000, *, representation_width=None, random_state=None):
        self.kernel = kernel
        self.width = width
        self.representation_width = representation_width
        self.random_state = random_state
        self._validate()

    def _validate(self):
        if not isinstance(self.kernel, (NTK, QuadKernel, RepresentationKernel)):
            raise TypeError("RandomFeatures samples the network of an NTK, QuadKernel or "
                            f"RepresentationKernel, got {type(self.kernel).__name__}")
        V.check_int(self.width, "width", minimum=1)
        if self.representation_width is not None:
            V.check_int(self.representation_width, "representation_width", minimum=1)
        check_seed(self.random_state, "random_state")
        self.features_ = {}

    def _layer(self):
        if isinstance(self.kernel, RepresentationKernel):
            return self.kernel._layer()
        return self.kernel.representation

    def _draw(self, d_in):
        """(V, b, W) for inputs of dimension d_in, drawn at the first call and kept."""
        if d_in not in self.features_:
            rng = as_generator(self.random_state, "random_state")
            layer = self._layer()
            V_ = b = None
            d = d_in
            if layer is not None:
                rep_rng, rng = rng.spawn(2)
                d = self.width if isinstance(self.kernel, RepresentationKernel) else (
                    self.representation_width or self.width)
                V_ = rep_rng.standard_normal((d, d_in))
                b = layer.bias * rep_rng.standard_normal(d)
            s_b = 0.0 if isinstance(self.kernel, RepresentationKernel) else self.kernel.bias
            check_memory(self.width, d + 1, name="random-feature weights W (width x inputs)")
            W = rng.standard_normal((self.width, d + (1 if s_b else 0)))
            self.features_[d_in] = (V_, b, W)
        return self.features_[d_in]

    def _gram(self, X, Y):
        n = X.shape[0] + (0 if Y is None else Y.shape[0])
        # features and activations of every point: a few (n, width) arrays at once
        check_memory(n, max(self.width, self.representation_width or 0), copies=3,
                     name="random-feature activations (points x width)")
        V_, b, W = self._draw(X.shape[1])
        Z, Zy = X, Y
        layer = self._layer()
        if layer is not None:
            Z = representation_features(X, V_, b, layer.activation)
            Zy = None if Y is None else representation_features(Y, V_, b, layer.activation)
            if isinstance(self.kernel, RepresentationKernel):
                return gram_product(Z, Zy)
        s_b = self.kernel.bias
        if s_b:
            Z = np.hstack([Z, np.full((Z.shape[0], 1), s_b)])
            Zy = None if Zy is None else np.hstack([Zy, np.full((Zy.shape[0], 1), s_b)])
        return self._readout(Z, Zy, W)

    def _readout(self, Za, Zb, W):
        m = W.shape[0]
        act = get_activation(self.kernel.activation)
        preA = Za @ W.T
        preB = preA if Zb is None else Zb @ W.T
        ZZ = gram_product(Za, Zb)

        def prod(p):
            f = act.derivative(p)
            FA = f(preA)
            FB = FA if Zb is None else f(preB)
            return gram_product(FA, None if Zb is None else FB) / m

        if isinstance(self.kernel, QuadKernel):
            return 0.25 * prod(2) * ZZ * ZZ
        K = ZZ * prod(1)
        if self.kernel.trained == "both":
            K += prod(0)
        return K
