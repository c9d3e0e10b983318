"""Argument checks shared by every package: one message style, validation once on entry.

Every check names the offending argument and says what was expected and what came. Scalars:
:func:`check_int`, :func:`check_float`, :func:`check_bool`, :func:`check_choice` (with a
"did you mean" suggestion). Arrays: :func:`check_array` (2-D, finite, float64, C order),
:func:`check_pair` (X and optional Y with matching features), :func:`check_vector`,
:func:`check_target_scale` (targets whose squared errors float64 can hold).
"""

from __future__ import annotations

import difflib
import math
import numbers

import numpy as np

__all__ = [
    "check_array",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_pair",
    "check_target_scale",
    "check_vector",
    "closest",
]


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(value, name: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as a Python int, or raise naming ``name``.

    Booleans and floats (even integral ones such as ``3.0``) are a TypeError: a size typed as
    a float is almost always a bug upstream.
    """
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_float(value, name: str, *, minimum: float | None = None,
                maximum: float | None = None, strict: bool = False) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``.

    ``minimum`` / ``maximum`` bound it (exclusively when ``strict``). Booleans are a TypeError.
    """
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type "
                        f"{type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    op = ">" if strict else ">="
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {op} {minimum:g}, got {value!r}")
    op = "<" if strict else "<="
    if maximum is not None and (value > maximum or (strict and value == maximum)):
        raise ValueError(f"{name} must be {op} {maximum:g}, got {value!r}")
    return value


def check_bool(value, name: str) -> bool:
    """Return ``value`` if it is a bool (numpy bools included), else raise TypeError."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def closest(value: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest of ``choices``, or '' when none is close."""
    match = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_choice(value, name: str, choices):
    """Return ``value`` if it is one of ``choices``; otherwise raise naming ``name``.

    Strings that are not a choice get a ValueError listing the choices and the closest one.
    """
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or incomparable
        ok = False
    if ok and not (_is_bool(value) and not any(_is_bool(c) for c in choices)):
        return value
    if not isinstance(value, str) and all(isinstance(c, str) for c in choices):
        raise TypeError(f"{name} must be a str, one of {list(choices)}; got "
                        f"{value!r} of type {type(value).__name__}")
    hint = closest(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else ""
    raise ValueError(f"unknown {name} {value!r}; expected one of {list(choices)}{hint}")


def check_array(X, name: str = "X", *, ndim: int = 2, min_samples: int = 1,
                min_features: int = 1) -> np.ndarray:
    """A finite real array of ``ndim`` (1 or 2) dimensions -> float64, C-contiguous.

    Raises
    ------
    TypeError
        None, object, string or complex input.
    ValueError
        Wrong number of dimensions, fewer than ``min_samples`` rows or ``min_features``
        columns, NaN or inf (the message gives the first bad index).
    """
    if X is None:
        raise TypeError(f"{name} must be an array, got None")
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.ndim != ndim:
        shape = "(n_samples, n_features)" if ndim == 2 else "(n_samples,)"
        hint = "; reshape a single sample with X.reshape(1, -1)" if ndim == 2 and arr.ndim == 1 else ""
        raise ValueError(f"{name} must be {ndim}-d of shape {shape}, got shape {arr.shape}{hint}")
    if arr.shape[0] < min_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples (shape {arr.shape}); need at "
                         f"least {min_samples}")
    if ndim == 2 and arr.shape[1] < min_features:
        raise ValueError(f"{name} has {arr.shape[1]} features (shape {arr.shape}); need at "
                         f"least {min_features}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or inf (first at index "
                         f"{tuple(int(i) for i in bad)}, shape {arr.shape})")
    return arr


def check_pair(X, Y=None, *, names=("X", "Y")):
    """Validate X and optional Y (2-D, finite); Y must have X's number of features."""
    X = check_array(X, names[0])
    if Y is None:
        return X, None
    Y = check_array(Y, names[1])
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} have different numbers of features: "
                         f"{names[0]}.shape = {X.shape}, {names[1]}.shape = {Y.shape}")
    return X, Y


def check_vector(v, name: str, length: int, *, allow_2d: bool = False) -> np.ndarray:
    """A finite float64 array of shape (length,) (or (length, r) with ``allow_2d``)."""
    arr = np.asarray(v)
    ndims = (1, 2) if allow_2d else (1,)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) \
            or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in ndims or arr.shape[0] != length:
        want = f"({length},)" + (f" or ({length}, r)" if allow_2d else "")
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


#: Largest and smallest non-zero target magnitude whose squared errors (and their sums over
#: up to 2^20 samples) stay normal float64 numbers: 2^500 and 2^-500 (about 3.3e150, 3.1e-151).
TARGET_MAX = 2.0 ** 500
TARGET_MIN = 2.0 ** -500


def check_target_scale(y, name: str = "y"):
    """Raise ValueError when squared errors of ``y`` would overflow or underflow float64.

    Ridge and early-stopping selection compare mean squared errors; beyond ``TARGET_MAX``
    they overflow to inf (every ridge ties), below ``TARGET_MIN`` (non-zero) they underflow
    to 0 (ditto), so the choice would be silently arbitrary. All-zero targets pass.
    """
    top = float(np.max(np.abs(y))) if np.size(y) else 0.0
    if top > TARGET_MAX:
        raise ValueError(f"{name} has values up to {top:.3g} in magnitude; squared errors of "
                         f"targets beyond {TARGET_MAX:.3g} (2^500) overflow float64; rescale "
                         f"{name} (e.g. divide by its standard deviation)")
    if 0.0 < top < TARGET_MIN:
        raise ValueError(f"{name} has values of at most {top:.3g} in magnitude; squared errors "
                         f"of targets below {TARGET_MIN:.3g} (2^-500) underflow float64; "
                         f"rescale {name} (e.g. divide by its standard deviation)")
