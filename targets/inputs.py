"""Input distributions: uniform on the unit sphere S^(d-1), or Gaussian N(0, I_d / d).

Both have E[x x^T] = I_d / d, so ||x|| is about 1 either way (docs/math.md, section 2).
"""

from __future__ import annotations

import numpy as np

from .._memory import MEMORY_FRACTION, available_memory
from .._random import as_generator
from .._validation import check_choice, check_int

__all__ = ["DISTRIBUTIONS", "sample_inputs"]

DISTRIBUTIONS = ("sphere", "gaussian")


def sample_inputs(n, d, *, distribution="sphere", seed=None) -> np.ndarray:
    """Draw ``n`` inputs in ``R^d``.

    Parameters
    ----------
    n : int
        Number of samples (>= 0).
    d : int
        Dimension (>= 1).
    distribution : {"sphere", "gaussian"}
        ``"sphere"``: uniform on the unit sphere S^(d-1) (a normalised standard
        Gaussian). ``"gaussian"``: N(0, I_d / d).
    seed : None, int, numpy SeedSequence or Generator
        Source of randomness; the same seed gives the same array.

    Returns
    -------
    X : ndarray of shape (n, d), float64
    """
    n = check_int(n, "n", minimum=0)
    d = check_int(d, "d", minimum=1)
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    budget = MEMORY_FRACTION * available_memory()  # X and one temporary of its size
    if 2.0 * 8 * n * d > budget:
        raise ValueError(f"n={n} x d={d} inputs need {16 * n * d / 2**30:.3g} GiB (X and one "
                         f"temporary), over the memory budget of {budget / 2**30:.3g} GiB; "
                         f"n * d must be <= {int(budget // 16)} here; draw fewer samples")
    rng = as_generator(seed)
    X = rng.standard_normal((n, d))
    if distribution == "sphere":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        # A standard Gaussian vector is zero with probability 0; guard anyway so a
        # pathological generator cannot produce NaN rows.
        zero = norms[:, 0] == 0.0
        while np.any(zero):
            X[zero] = rng.standard_normal((int(zero.sum()), d))
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            zero = norms[:, 0] == 0.0
        X /= norms
    else:
        X /= np.sqrt(d)
    return X
