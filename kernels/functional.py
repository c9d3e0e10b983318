"""The functional API: thin wrappers over the kernel objects, for one-line Grams.

``ntk_gram(X, activation="relu")`` is ``NTK("relu")(X)``; ``width=m, seed=s`` gives
``RandomFeatures(NTK(...), m, random_state=s)(X)``. Defaults are the classes' own (a test
checks that they agree). :func:`as_kernel` turns a name, a kernel object or a Gram callable
into a kernel object; every solver and estimator takes kernels through it.
"""

from __future__ import annotations

from .._validation import closest
from .activations import SMOOTH_DEFAULT
from .base import CallableKernel, Kernel
from .closed_form import KERNELS, NTK, QuadKernel, RepresentationKernel, RepresentationLayer
from .random_features import RandomFeatures

__all__ = ["as_kernel", "gram", "gram_blocks", "gram_matvec", "ntk_gram", "quad_gram",
           "random_feature_gram", "representation_gram"]


def as_kernel(kernel, **params) -> Kernel:
    """A kernel object from a kernel object, a name with parameters, or a Gram callable.

    Parameters
    ----------
    kernel : Kernel, {"ntk", "quad", "representation"} or callable
        A callable is ``fn(A, B, **params) -> Gram`` (wrapped in :class:`CallableKernel`).
    **params
        Parameters of the named kernel or the callable; none with a kernel object.

    Raises
    ------
    TypeError, ValueError
        Unknown name (with the closest one), parameters given with an object, or anything else.
    """
    if isinstance(kernel, Kernel):
        if params:
            raise TypeError("pass either a kernel object or keyword parameters, not both: "
                            f"{sorted(params)}")
        return kernel
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; expected one of {sorted(KERNELS)}, a "
                             f"Kernel object or a Gram callable{closest(kernel, KERNELS)}")
        return KERNELS[kernel](**params)
    if callable(kernel):
        return CallableKernel(kernel, params or None)
    raise TypeError("kernel must be a Kernel object, one of 'ntk', 'quad', 'representation', "
                    f"or a Gram callable; got {type(kernel).__name__}")


def _finite(kernel, width, seed, representation_width):
    if width is None:
        if representation_width is not None:
            raise TypeError("representation_width is only meaningful with width= (random "
                            "features)")
        return kernel
    return RandomFeatures(kernel, width, representation_width=representation_width,
                          random_state=seed)


def _layer(representation, representation_bias):
    return None if representation is None else RepresentationLayer(representation,
                                                                   representation_bias)


def ntk_gram(X, Y=None, *, activation="relu", trained="first", bias=0.0, representation=None,
             width=None, seed=None, representation_bias=1.0, representation_width=None):
    """NTK Gram matrix: K_L (``trained="first"``) or K_NTK (``trained="both"``); see :class:`NTK`.

    Parameters
    ----------
    X, Y : array_like of shapes (n_X, d), (n_Y, d); Y=None means the symmetric K(X, X)
    activation, trained, bias : as in :class:`NTK`
    representation : {None, "step", "relu", "shifted_sigmoid", "softplus"}
        Compose with the infinite-width fixed random layer of that activation (bias std
        ``representation_bias``).
    width : int, optional
        Finite width m: the random-feature Gram (:class:`RandomFeatures`; with a
        representation, its layer has ``representation_width`` units, default ``width``).
    seed : None, int, SeedSequence or Generator
        Randomness of the random-feature version (ignored in closed form).

    Returns
    -------
    K : ndarray of shape (n_X, n_Y)
    """
    kern = NTK(activation, trained=trained, bias=bias,
               representation=_layer(representation, representation_bias))
    return _finite(kern, width, seed, representation_width)(X, Y)


def quad_gram(X, Y=None, *, activation=SMOOTH_DEFAULT, bias=0.0, representation=None,
              width=None, seed=None, representation_bias=1.0, representation_width=None):
    """K_Q Gram matrix (see :class:`QuadKernel`; NOT trained Quad-Net). Parameters as in
    :func:`ntk_gram`."""
    kern = QuadKernel(activation, bias=bias,
                      representation=_layer(representation, representation_bias))
    return _finite(kern, width, seed, representation_width)(X, Y)


def representation_gram(X, Y=None, *, activation="step", bias=1.0, width=None, seed=None):
    """G(x, y) of the fixed random layer (:class:`RepresentationKernel`); ``width=D, seed=``
    gives phi(X) phi(Y)^T / D for one random layer of width D."""
    return _finite(RepresentationKernel(activation, bias=bias), width, seed, None)(X, Y)


def random_feature_gram(X, Y=None, kernel=None, *, width, seed=None,
                        representation_width=None, **params):
    """Finite-width Gram of ``kernel`` (name or closed-form object) with ``width`` units."""
    return RandomFeatures(as_kernel(kernel or "ntk", **params), width,
                          representation_width=representation_width, random_state=seed)(X, Y)


def gram(X, Y=None, kernel=None, *, out=None, **params):
    """Dense Gram matrix K(X, Y) of ``kernel`` (object or name + parameters; default "ntk").

    ``gram(X, kernel="ntk", activation="relu", trained="both")`` is ``NTK(...)(X)``.
    """
    return as_kernel(kernel or "ntk", **params)(X, Y, out=out)


def gram_blocks(X, Y=None, kernel=None, *, block_rows=None, memory_budget=None, **params):
    """Row blocks ``(start, stop, block)`` of K(X, Y) within a memory budget (default 256 MiB
    per block); see :meth:`Kernel.blocks`."""
    return as_kernel(kernel or "ntk", **params).blocks(X, Y, block_rows=block_rows,
                                                       memory_budget=memory_budget)


def gram_matvec(X, v, kernel=None, *, Y=None, **params):
    """K(X, Y) @ v without storing K (fused numba loop for closed forms; memory O(n_X + n_Y)).

    With ``Y=None`` (K symmetric) each entry is evaluated once for both of its products.
    """
    return as_kernel(kernel or "ntk", **params).matvec(X, v, Y=Y)
