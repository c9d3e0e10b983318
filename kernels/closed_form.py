"""Infinite-width kernels of docs/math.md, sections 3-4 as objects, evaluated by the numba leaf.

- :class:`NTK`: K_L(x, y) = (x.y) E_w[s'(w.x) s'(w.y)] (``trained="first"``) or
  K_NTK = E_w[s(w.x) s(w.y)] + K_L (``trained="both"``), w ~ N(0, I);
- :class:`QuadKernel`: K_Q(x, y) = (1/4) (x.y)^2 E_w[s''(w.x) s''(w.y)], the kernel of the
  quadratic model f_Q lifted to free matrices. Kernel regression with it is NOT the trained
  Quad-Net (docs/math.md, "The trap"): it is rotation invariant on raw inputs;
- :class:`RepresentationKernel`: G(x, y) = E_{v,b}[s0(v.x + b) s0(v.y + b)] of the fixed
  random layer itself;
- :class:`RepresentationLayer`: that layer at infinite width, composed with NTK or K_Q as a
  layer (``representation=``): ``x.y``, ``|x|^2``, ``|y|^2`` become G(x, y), G(x, x),
  G(y, y), the neural-tangents way (Novak et al. 2020).

Closed forms: the relu^k/k! family through the arc-cosine functions J_k (Cho & Saul 2009), one
formula per order; smooth activations (shifted sigmoid, softplus; as trained layer or as
representation) through Mehler's formula with per-point Hermite coefficients (Daniely,
Frostig & Singer 2016), accurate to ~1e-13 for norms up to ~2 (beyond, a ValueError says to
rescale or use random features). A Gaussian bias of standard deviation s acts as an extra
input coordinate s: every formula sees [x; s].
"""

from __future__ import annotations

import contextlib

import numpy as np

from .. import _validation as V
from .._measured import BLAS_COSINE_MIN_DIM
from .._threads import limit_threads
from . import _numba as leaf
from ._numba.angles import MAX_ORDER
from .activations import SMOOTH_DEFAULT, activation_names, get_activation
from .base import Kernel, row_norms
from .hermite import hermite_coefficients

__all__ = ["KERNELS", "NTK", "QuadKernel", "RepresentationKernel", "RepresentationLayer"]

_LAYER_ACTIVATIONS = ("step", "relu", "shifted_sigmoid", "softplus")


class RepresentationLayer:
    """The fixed random layer phi(x) = s0(v.x + b) at infinite width (docs/math.md, section 3),
    v ~ N(0, I), b ~ N(0, bias^2); not whitened (its Gram tends to G as D grows).

    Parameters
    ----------
    activation : {"step", "relu", "shifted_sigmoid", "softplus"}, default="step"
        s0. Step and relu in closed form (arc-cosine J_0, J_1); smooth units by their Hermite
        series.
    bias : float, default=1
        Standard deviation of b.
    """

    def __init__(self, activation="step", bias=1.0):
        self.activation = V.check_choice(activation, "representation activation",
                                         _LAYER_ACTIVATIONS)
        self.bias = V.check_float(bias, "representation bias", minimum=0.0)

    def get_params(self, deep=True):
        return {"activation": self.activation, "bias": self.bias}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in ("activation", "bias"):
                raise ValueError(f"invalid parameter {k!r} for RepresentationLayer")
        self.__init__(**{**self.get_params(), **params})
        return self

    def __repr__(self):
        return f"RepresentationLayer(activation={self.activation!r}, bias={self.bias!r})"

    def __eq__(self, other):
        return isinstance(other, RepresentationLayer) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash(repr(self))

    @property
    def code(self):
        return {"step": leaf.LAYER_STEP, "relu": leaf.LAYER_RELU}.get(self.activation,
                                                                       leaf.LAYER_HERMITE)

    def self_kernel(self, norms):
        """(G(x, x), Hermite rows of s0 or an (n, 0) array) at the augmented norms
        ``|[x; bias]|``."""
        if self.activation == "step":
            return np.full(norms.shape, 0.5), np.zeros((norms.size, 0))
        if self.activation == "relu":
            return 0.5 * norms * norms, np.zeros((norms.size, 0))
        rows = hermite_coefficients(get_activation(self.activation).fn, norms)
        return np.einsum("ij,ij->i", rows, rows), rows


def _one_blas_thread(cfg):
    """The BLAS cosines run inside numba's threads: one BLAS thread each, no nesting."""
    return limit_threads(1, numba=False) if cfg[0][-1] else contextlib.nullcontext()


def as_layer(representation):
    """None, an activation name or a :class:`RepresentationLayer` -> layer or None."""
    if representation is None or isinstance(representation, RepresentationLayer):
        return representation
    if isinstance(representation, str):
        return RepresentationLayer(representation)
    raise TypeError("representation must be None, an activation name or a "
                    f"RepresentationLayer, got {type(representation).__name__}")


def _augment(X, s):
    """Unit rows of [x; s] and their norms, scale-safe (no overflow of squared norms)."""
    A = X if s == 0 else np.hstack([X, np.full((X.shape[0], 1), s)])
    N = row_norms(A)
    U = A / np.where(N > 0, N, 1.0)[:, None]
    # zero rows have no angle; the relu family is homogeneous, so only order-0 terms see
    # them: use u = e_1 (a documented convention, measure zero for data)
    zero = N == 0
    if np.any(zero):
        U[zero] = 0.0
        U[zero, 0] = 1.0
    return np.ascontiguousarray(U), N


def _stacked_rows(fns, norms):
    """Hermite rows of each function at ``norms``, stacked with one common width."""
    rows = [hermite_coefficients(f, norms) for f in fns]
    K = max(r.shape[1] for r in rows)
    out = np.zeros((norms.size, K * len(rows)))
    for t, r in enumerate(rows):
        out[:, t * K:t * K + r.shape[1]] = r
    return out, K


class _ClosedForm(Kernel):
    """A kernel the numba leaf evaluates: an optional layer, then a readout."""

    is_dot_product = True
    workspace_factor = 1.0  # the loops write the output and O(tile) scratch, nothing else
    _read = None  # the readout code (set per class / per instance)

    # subclasses define: _layer() -> RepresentationLayer | None, _orders() -> derivative
    # orders of the trained layer's activation, _activation() -> name, _trained_bias()

    def _sides(self, X, Y):
        """Per-point arrays of X and (transposed) of Y for the loops, and the config."""
        layer = self._layer()
        s = layer.bias if layer is not None else self._trained_bias()
        geo = [_augment(A, s) for A in ((X,) if Y is None else (X, Y))]
        N = np.concatenate([g[1] for g in geo])
        G = np.zeros(N.size)
        R = np.zeros((N.size, 0))
        r = N
        if layer is not None:
            G, R = layer.self_kernel(N)
            r = np.sqrt(G + self._trained_bias() ** 2)
        act = get_activation(self._activation()) if self._read != leaf.READ_G else None
        C, ko = np.zeros((N.size, 0)), 0
        if act is not None and act.smooth:
            C, ko = _stacked_rows([act.derivative(p) for p in self._orders()], r)
        A = np.ascontiguousarray(np.hstack([R, C]))
        n = X.shape[0]
        px = (geo[0][0], N[:n], A[:n], G[:n])
        UY = geo[-1][0]
        py = (np.ascontiguousarray(UY.T), N[n:] if Y is not None else px[1],
              np.ascontiguousarray(A[n:].T if Y is not None else px[2].T),
              G[n:] if Y is not None else px[3], UY)
        family = leaf.FAM_RELU if act is None or not act.smooth else leaf.FAM_HERMITE
        order = act.relu_order if act is not None and not act.smooth else -1
        cfg = leaf.config(self._read, family, order,
                          leaf.LAYER_NONE if layer is None else layer.code, R.shape[1], ko,
                          self._trained_bias() if layer is not None else 0.0,
                          blas=px[0].shape[1] >= BLAS_COSINE_MIN_DIM)
        return cfg, px, py

    def _gram_into(self, X, Y, out):
        cfg, px, py = self._sides(X, Y)
        with _one_blas_thread(cfg):
            return leaf.fill_gram(cfg, px, py, out, symmetric=Y is None)

    def _gram(self, X, Y):
        return self._gram_into(X, Y, np.empty((X.shape[0], (X if Y is None else Y).shape[0])))

    def _diag(self, X):
        cfg, px, py = self._sides(X, None)
        return leaf.diagonal(cfg, px, py)

    def _matvec(self, X, Y, V, budget):
        cfg, px, py = self._sides(X, Y)
        VT = np.ascontiguousarray(V.T)
        with _one_blas_thread(cfg):
            out = (leaf.matvec_symmetric(cfg, px, py, VT) if Y is None
                   else leaf.matvec(cfg, px, py, VT))
        return np.ascontiguousarray(out.T)

    def _blocks(self, X, Y, rows):
        cfg, px, py = self._sides(X, Y)
        m = (X if Y is None else Y).shape[0]
        for start in range(0, X.shape[0], rows):
            stop = min(start + rows, X.shape[0])
            with _one_blas_thread(cfg):
                block = leaf.fill_gram(cfg, px, py, np.empty((stop - start, m)),
                                       symmetric=False, row0=start)
            yield start, stop, block

    def _check_activation(self, need):
        """The trained layer's s^(need) must not vanish a.e., and closed forms must exist."""
        act = get_activation(self.activation)
        if act.smooth:
            return
        if act.relu_order < need:
            what = {2: "sigma''", 1: "sigma'"}[need]
            raise ValueError(
                f"activation {act.name!r} has {what} = 0 almost everywhere, so "
                f"{type(self).__name__} is identically zero here; use "
                + ("'relu2' or a smooth activation" if need == 2 else "'relu' or higher"))
        if act.relu_order > MAX_ORDER:
            raise ValueError(f"relu order {act.relu_order} > {MAX_ORDER} has no closed form here")


class NTK(_ClosedForm):
    """The neural tangent kernel of a two-layer network (docs/math.md, section 4).

    Parameters
    ----------
    activation : str, default="relu"
        Activation of the trained layer (:func:`hierlearn.kernels.activation_names`):
        relu^k/k! in closed form, smooth ones by their Hermite series.
    trained : {"first", "both"}, default="first"
        "first": K_L (the linearised model f_L); "both": K_NTK = E[s s] + K_L.
    bias : float, default=0
        Standard deviation s_b of the trained layer's Gaussian bias.
    representation : None, str or RepresentationLayer, default=None
        Compose with the infinite-width fixed random layer (an activation name means a
        :class:`RepresentationLayer` with bias 1).

    Examples
    --------
    >>> import numpy as np
    >>> from hierlearn.kernels import NTK
    >>> X = np.eye(3)
    >>> K = NTK("relu", trained="both")(X)          # the Gram
    >>> K.shape
    (3, 3)
    """

    def __init__(self, activation="relu", *, trained="first", bias=0.0, representation=None):
        self.activation = activation
        self.trained = trained
        self.bias = bias
        self.representation = representation
        self._validate()

    def _validate(self):
        V.check_choice(self.activation, "activation", activation_names())
        V.check_choice(self.trained, "trained", ("first", "both"))
        self.bias = V.check_float(self.bias, "bias", minimum=0.0)
        self.representation = as_layer(self.representation)
        self._check_activation(1 if self.trained == "first" else 0)
        self._read = leaf.READ_L if self.trained == "first" else leaf.READ_NTK

    def _layer(self):
        return self.representation

    def _activation(self):
        return self.activation

    def _trained_bias(self):
        return self.bias

    def _orders(self):
        return (1,) if self.trained == "first" else (0, 1)


class QuadKernel(_ClosedForm):
    """The quadratic model's kernel K_Q(x, y) = (1/4) (x.y)^2 E_w[s''(w.x) s''(w.y)].

    Kernel regression with K_Q is NOT the trained Quad-Net (docs/math.md, "The trap"; that is
    :class:`hierlearn.solvers.QuadNetRegressor`).

    Parameters
    ----------
    activation : str, default="shifted_sigmoid"
        The default is smooth because s'' must carry every Hermite degree for K_Q to learn a
        degree-p target: with relu2 (s'' = step) the kernel has no even harmonic of degree
        >= 4. "step" and "relu" (s'' = 0 a.e.) raise ValueError.
    bias, representation
        As in :class:`NTK`.
    """

    def __init__(self, activation=SMOOTH_DEFAULT, *, bias=0.0, representation=None):
        self.activation = activation
        self.bias = bias
        self.representation = representation
        self._validate()

    def _validate(self):
        V.check_choice(self.activation, "activation", activation_names())
        self.bias = V.check_float(self.bias, "bias", minimum=0.0)
        self.representation = as_layer(self.representation)
        self._check_activation(2)
        self._read = leaf.READ_Q

    _layer = NTK._layer
    _activation = NTK._activation
    _trained_bias = NTK._trained_bias

    def _orders(self):
        return (2,)


class RepresentationKernel(_ClosedForm):
    """G(x, y) = E_{v,b}[s0(v.x + b) s0(v.y + b)], v ~ N(0, I), b ~ N(0, bias^2): the Gram
    of the fixed random layer at infinite width (an arc-cosine kernel of [x; bias], [y; bias]
    for step and relu: (pi - theta)/(2 pi) and ``|a| |b| J_1(theta) / (2 pi)``, Cho & Saul 2009).

    Parameters
    ----------
    activation : {"step", "relu", "shifted_sigmoid", "softplus"}, default="step"
    bias : float, default=1
    """

    def __init__(self, activation="step", *, bias=1.0):
        self.activation = activation
        self.bias = bias
        self._validate()

    def _validate(self):
        layer = RepresentationLayer(self.activation, self.bias)
        self.bias = layer.bias
        self._read = leaf.READ_G

    def _layer(self):
        return RepresentationLayer(self.activation, self.bias)

    def _activation(self):
        return self.activation

    def _trained_bias(self):
        return 0.0

    def _orders(self):
        return ()


#: Kernel classes by the names the estimators and the functional API accept.
KERNELS = {"ntk": NTK, "quad": QuadKernel, "representation": RepresentationKernel}
