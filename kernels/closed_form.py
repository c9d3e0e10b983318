"""Public Gram functions: ntk_gram, quad_gram, representation_gram (MATH.md sections 3-4).

Infinite width (closed form, numba) by default; ``width=m, seed=s`` gives the random-feature
version of the same kernel (``kernels.random_features``).
"""

from __future__ import annotations

from .gram import gram
from .random_features import random_feature_gram
from .spec import KernelSpec

__all__ = ["ntk_gram", "quad_gram", "representation_gram"]


def _dispatch(spec, X, Y, width, seed, representation_width):
    if width is None:
        if representation_width is not None:
            raise TypeError("representation_width is only meaningful with width= (random features)")
        return gram(X, Y, spec)
    return random_feature_gram(X, Y, spec, width=width, seed=seed,
                               representation_width=representation_width)


def ntk_gram(X, Y=None, *, activation="relu", trained="first", bias=0.0, representation=None,
             width=None, seed=None, representation_bias=1.0, representation_width=None):
    """NTK Gram matrix: K_L (``trained="first"``) or K_NTK (``trained="both"``).

    K_L(x, y) = (x.y) E_w[sigma'(w.x) sigma'(w.y)],
    K_NTK(x, y) = E_w[sigma(w.x) sigma(w.y)] + K_L(x, y),   w ~ N(0, I)  (MATH.md sec. 4).

    Parameters
    ----------
    X : array_like of shape (n_X, d)
    Y : array_like of shape (n_Y, d), optional
        Default: Y = X (symmetric Gram, one triangle computed and mirrored).
    activation : str
        Trained-layer activation: "relu", "relu2", "relu3", "relu4" (closed forms through
        arc-cosine kernels), "shifted_sigmoid", "softplus" (Hermite series), "step" (only
        with ``trained="both"``).
    trained : {"first", "both"}
    bias : float
        Std s_b of the trained layer's Gaussian bias; all formulas act on [x; s_b].
    representation : {None, "step", "relu"}
        Compose with the infinite-width fixed random layer (MATH.md sec. 3): x.y, |x|^2,
        |y|^2 become G(x, y), G(x, x), G(y, y).
    width : int, optional
        Finite width m: the random-feature Gram (with ``representation``, the fixed layer has
        ``representation_width`` units, default ``width``, and is not whitened).
    seed : None, int, SeedSequence or Generator
        Randomness of the random-feature version (ignored in closed form).
    representation_bias : float
        Std of the fixed layer's bias (default 1, as in MATH.md).

    Returns
    -------
    K : ndarray of shape (n_X, n_Y), float64

    Raises
    ------
    ValueError, TypeError
        Bad shapes (1-d, zero rows, mismatched features), NaN/inf, unknown activation,
        width <= 0, or an activation whose needed derivative vanishes (e.g. step with
        ``trained="first"``).
    """
    spec = KernelSpec("ntk", activation, trained, bias, representation, representation_bias)
    return _dispatch(spec, X, Y, width, seed, representation_width)


def quad_gram(X, Y=None, *, activation="relu2", bias=0.0, representation=None, width=None,
              seed=None, representation_bias=1.0, representation_width=None):
    """Quadratic-model kernel K_Q(x, y) = (1/4) (x.y)^2 E_w[sigma''(w.x) sigma''(w.y)].

    This is the kernel of f_Q lifted to free matrices (MATH.md sec. 4). Kernel regression with
    it is NOT trained Quad-Net (it is rotation invariant on raw inputs).

    Parameters are those of :func:`ntk_gram`; the default activation relu^2/2 has
    sigma'' = step. "step" and "relu" (sigma'' = 0 a.e.) raise ValueError.
    """
    spec = KernelSpec("quad", activation, "first", bias, representation, representation_bias)
    return _dispatch(spec, X, Y, width, seed, representation_width)


def representation_gram(X, Y=None, *, activation="step", bias=1.0, width=None, seed=None):
    """Representation kernel G(x, y) = E_{v,b}[sigma_0(v.x + b) sigma_0(v.y + b)].

    v ~ N(0, I), b ~ N(0, bias^2): an arc-cosine kernel of [x; bias], [y; bias]
    (step: (pi - theta)/(2 pi); relu: |a||b| J_1(theta)/(2 pi); Cho & Saul 2009).
    ``width=D, seed=`` gives phi(X) phi(Y)^T / D for one random layer of width D.
    """
    spec = KernelSpec("representation", "relu", "first", 0.0, activation, bias)
    return _dispatch(spec, X, Y, width, seed, None)
