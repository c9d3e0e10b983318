"""KernelSpec: the one way to name a kernel for the Gram builders, and input validation.

A spec is frozen and hashable. ``KernelSpec.plan(X)`` turns it into what the numba loops
need: unit (augmented) rows, their norms, per-point Hermite coefficients for smooth
activations, and small integer/float configuration arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite, pi, sqrt
from numbers import Real

import numpy as np

from .activations import Activation, activation_names, get_activation
from .arccos import MAX_ORDER
from .hermite import hermite_coefficients

__all__ = ["KernelSpec", "KINDS", "REPRESENTATIONS", "check_array_2d", "check_pair"]

KINDS = ("ntk", "quad", "representation")
TRAINED = ("first", "both")
REPRESENTATIONS = (None, "step", "relu")

# integer codes shared with kernels.gram
KIND_NTK_FIRST, KIND_NTK_BOTH, KIND_QUAD, KIND_REP = 0, 1, 2, 3
MODE_RELU, MODE_HERMITE = 0, 1
REP_NONE, REP_STEP, REP_RELU = 0, 1, 2


def check_array_2d(X, name: str = "X") -> np.ndarray:
    """Validate a 2-d finite real array with at least one row and column -> float64 C array."""
    if X is None:
        raise TypeError(f"{name} must be an array of shape (n_samples, n_features), got None")
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-d of shape (n_samples, n_features), got shape {arr.shape}"
            + ("; reshape a single sample with X.reshape(1, -1)" if arr.ndim == 1 else "")
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has 0 samples (shape {arr.shape}); need at least 1")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}); need at least 1")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)}, "
            f"shape {arr.shape})"
        )
    return arr


def check_pair(X, Y=None, *, names=("X", "Y")):
    """Validate X and optional Y; Y must have X's number of features."""
    X = check_array_2d(X, names[0])
    if Y is None:
        return X, None
    Y = check_array_2d(Y, names[1])
    if Y.shape[1] != X.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} have different numbers of features: "
            f"{names[0]}.shape = {X.shape}, {names[1]}.shape = {Y.shape}"
        )
    return X, Y


def _check_bias(value, name):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class KernelSpec:
    """Name of a kernel of MATH.md sections 3-4 (infinite width, closed form).

    Parameters
    ----------
    kind : {"ntk", "quad", "representation"}
        ``"ntk"``: K_L (``trained="first"``) or K_NTK (``trained="both"``);
        ``"quad"``: K_Q = (1/4) (x.y)^2 E[sigma''(w.x) sigma''(w.y)];
        ``"representation"``: the representation kernel G itself (needs ``representation``).
    activation : str
        Activation of the trained layer (see :func:`kernels.activation_names`).
    trained : {"first", "both"}
        Layers trained, for ``kind="ntk"`` (ignored otherwise).
    bias : float
        Standard deviation s_b of the trained layer's Gaussian bias: formulas act on [x; s_b].
    representation : {None, "step", "relu"}
        None: raw inputs. Otherwise compose with the infinite-width fixed random layer
        phi(x) = sigma_0(v.x + b), v ~ N(0, I), b ~ N(0, representation_bias^2):
        x.y, |x|^2, |y|^2 are replaced by G(x, y), G(x, x), G(y, y).
    representation_bias : float
        Standard deviation of the representation's bias b (MATH.md: 1).

    Examples
    --------
    >>> spec = KernelSpec("ntk", "relu", trained="both")
    >>> K = spec.gram(X)                                        # doctest: +SKIP
    """

    kind: str = "ntk"
    activation: str = "relu"
    trained: str = "first"
    bias: float = 0.0
    representation: str | None = None
    representation_bias: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        act = self.activation
        if isinstance(act, Activation):
            act = act.name
        if not isinstance(act, str):
            raise TypeError(f"activation must be a str, got {type(act).__name__}")
        if act not in activation_names():
            raise ValueError(
                f"unknown activation {act!r}; expected one of {sorted(activation_names())}"
            )
        object.__setattr__(self, "activation", act)
        if self.trained not in TRAINED:
            raise ValueError(f"trained must be one of {TRAINED}, got {self.trained!r}")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(
                f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}"
            )
        object.__setattr__(self, "bias", _check_bias(self.bias, "bias"))
        object.__setattr__(
            self, "representation_bias", _check_bias(self.representation_bias, "representation_bias")
        )
        a = get_activation(act)
        if self.kind == "representation":
            if self.representation is None:
                raise ValueError('kind="representation" needs representation="step" or "relu"')
        elif not a.smooth:
            k = a.relu_order
            need = {"quad": 2, "ntk": 1 if self.trained == "first" else 0}[self.kind]
            if k < need:
                what = {2: "sigma''", 1: "sigma'"}[need]
                raise ValueError(
                    f"activation {act!r} has {what} = 0 almost everywhere, so this kernel "
                    f"(kind={self.kind!r}, trained={self.trained!r}) is identically zero; use "
                    + ("'relu2' or a smooth activation" if need == 2 else "'relu' or higher")
                )
            if k > MAX_ORDER:
                raise ValueError(f"relu order {k} > {MAX_ORDER} has no closed form here")

    # -- helpers ---------------------------------------------------------------------------

    @property
    def derivative_orders(self) -> tuple[int, ...]:
        """Orders p of E[sigma^(p) sigma^(p)] the kernel combines."""
        if self.kind == "quad":
            return (2,)
        if self.kind == "ntk":
            return (1,) if self.trained == "first" else (0, 1)
        return ()

    def codes(self):
        """(icfg int64[6], fcfg float64[2]) for the numba loops (internal)."""
        a = get_activation(self.activation)
        kind = {
            "ntk": KIND_NTK_FIRST if self.trained == "first" else KIND_NTK_BOTH,
            "quad": KIND_QUAD,
            "representation": KIND_REP,
        }[self.kind]
        mode = MODE_HERMITE if a.smooth else MODE_RELU
        order = -1 if a.smooth else a.relu_order
        rep = {None: REP_NONE, "step": REP_STEP, "relu": REP_RELU}[self.representation]
        icfg = np.array([kind, mode, order, rep, 0, 0], dtype=np.int64)
        fcfg = np.array([self.bias**2, self.representation_bias**2], dtype=np.float64)
        return icfg, fcfg

    def plan(self, X: np.ndarray):
        """Per-point data for the loops: (unit rows U, norms N, Hermite rows C).

        ``U`` are the rows the angle is measured between (augmented with the bias of the
        first layer that acts on x), ``N`` their norms, ``C`` the per-point Hermite
        coefficients of the trained layer (shape (n, 0) unless the activation is smooth).
        """
        if self.representation is None:
            s2 = self.bias**2
        else:
            s2 = self.representation_bias**2
        n = X.shape[0]
        sq = np.einsum("ij,ij->i", X, X) + s2
        N = np.sqrt(sq)
        U = np.empty((n, X.shape[1] + (1 if s2 > 0 else 0)))
        safe = np.where(N > 0, N, 1.0)
        U[:, : X.shape[1]] = X / safe[:, None]
        if s2 > 0:
            U[:, -1] = sqrt(s2) / safe
        # zero rows: angle is undefined; the relu family is homogeneous so only order-0
        # terms see it; use u = e_1 (a documented convention, measure zero for data)
        if np.any(N == 0):
            U[N == 0] = 0.0
            U[N == 0, 0] = 1.0
        C = np.zeros((n, 0))
        a = get_activation(self.activation)
        if a.smooth and self.kind != "representation":
            if self.representation is None:
                r = N
            elif self.representation == "step":
                r = np.full(n, sqrt(0.5 + self.bias**2))
            else:
                r = np.sqrt(0.5 * sq + self.bias**2)
            cols = [hermite_coefficients(a.derivative(p), r) for p in self.derivative_orders]
            K = max(c.shape[1] for c in cols)
            C = np.zeros((n, K * len(cols)))
            for t, c in enumerate(cols):
                C[:, t * K : t * K + c.shape[1]] = c
        return np.ascontiguousarray(U), N, np.ascontiguousarray(C)

    def gram(self, X, Y=None, **kwargs):
        """Closed-form Gram matrix K(X, Y) (see :func:`kernels.gram`)."""
        from .gram import gram

        return gram(X, Y, self, **kwargs)


def as_spec(kernel=None, **kwargs) -> KernelSpec:
    """Accept a KernelSpec, or build one from keyword arguments (``kind=`` etc.)."""
    if isinstance(kernel, KernelSpec):
        if kwargs:
            raise TypeError(f"pass either a KernelSpec or keyword arguments, not both: {sorted(kwargs)}")
        return kernel
    if kernel is None:
        return KernelSpec(**kwargs)
    if isinstance(kernel, str):
        return KernelSpec(kind=kernel, **kwargs)
    raise TypeError(f"kernel must be a KernelSpec or a kind string, got {type(kernel).__name__}")
