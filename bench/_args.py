"""Validated argparse types: every command-line value checked, with one message style.

Each type turns a command-line string into a checked value or raises
:class:`argparse.ArgumentTypeError`; argparse then prints ``argument --x: MESSAGE`` under
the usage line and exits with code 2 (no traceback). Factories (``int_range``,
``float_range``, ``int_list``, ``float_list``, ``choice_list``) return such types. Use them
in any benchmark's parser::

    from hierlearn.bench import _args

    p.add_argument("--n", type=_args.positive_int)                  # 1, 2, ...
    p.add_argument("--repeats", type=_args.int_range(1, 1000))
    p.add_argument("--sizes", type=_args.int_list(1, 10**7))         # "1000,2000,4000"
    p.add_argument("--ridge", type=_args.float_range(0, None, lo_open=True))
    p.add_argument("--seeds", type=_args.seeds)                      # "5" or "0,3,7"

Limits guard against values that would only fail later, e.g. ``--seeds 10**12`` is an error
here instead of a MemoryError.
"""

from __future__ import annotations

import argparse
import math
import re

from .schema import INPUTS, MAX_D, MAX_SEED, MAX_SEEDS, MODELS

__all__ = ["positive_int", "nonnegative_int", "int_range", "float_range", "positive_float",
           "int_list", "float_list", "choice_list", "seeds", "dims", "eps_list", "models",
           "scheduler_address"]

_Err = argparse.ArgumentTypeError


def _int(text: str, what: str = "an integer") -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise _Err(f"expected {what}, got {text!r}") from None


def _float(text: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise _Err(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise _Err(f"expected a finite number, got {text!r}")
    return v


def _in_range(v, lo, hi, lo_open=False, hi_open=False) -> bool:
    return not ((lo is not None and (v < lo or (lo_open and v == lo)))
                or (hi is not None and (v > hi or (hi_open and v == hi))))


def _f(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{_f(lo)}, {_f(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_f(lo)}"
    return f"{'<' if hi_open else '<='} {_f(hi)}" if hi is not None else "any"


def int_range(lo: int | None = None, hi: int | None = None):
    """Type: an integer in [lo, hi]."""
    def parse(text):
        v = _int(text)
        if not _in_range(v, lo, hi):
            raise _Err(f"expected an integer {_range_text(lo, hi)}, got {v}")
        return v

    parse.__name__ = "int"
    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False):
    """Type: a finite number in the range (ends excluded with ``lo_open`` / ``hi_open``)."""
    def parse(text):
        v = _float(text)
        if not _in_range(v, lo, hi, lo_open, hi_open):
            raise _Err(f"expected a number {_range_text(lo, hi, lo_open, hi_open)}, got {text!r}")
        return v

    parse.__name__ = "float"
    return parse


positive_int = int_range(1)
nonnegative_int = int_range(0)
positive_float = float_range(0, None, lo_open=True)


def _split(text: str, max_len: int) -> list[str]:
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise _Err("expected a comma-separated list, got nothing")
    if any(not p for p in parts):
        raise _Err(f"empty entry in the list {text!r}")
    if len(parts) > max_len:
        raise _Err(f"at most {max_len} entries, got {len(parts)}")
    return parts


def _distinct(vals, text):
    if len(set(vals)) != len(vals):
        raise _Err(f"a value is listed twice in {text!r}")
    return vals


def int_list(lo: int | None = None, hi: int | None = None, *, max_len: int = 10_000,
             distinct: bool = False):
    """Type: comma-separated integers, each in [lo, hi]."""
    one = int_range(lo, hi)

    def parse(text):
        vals = [one(p) for p in _split(text, max_len)]
        return _distinct(vals, text) if distinct else vals

    parse.__name__ = "int list"
    return parse


def float_list(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
               hi_open: bool = False, max_len: int = 10_000, distinct: bool = False):
    """Type: comma-separated finite numbers, each in the range."""
    one = float_range(lo, hi, lo_open=lo_open, hi_open=hi_open)

    def parse(text):
        vals = [one(p) for p in _split(text, max_len)]
        return _distinct(vals, text) if distinct else vals

    parse.__name__ = "float list"
    return parse


def choice_list(choices, *, max_len: int = 100):
    """Type: comma-separated names, each one of ``choices`` (with a "did you mean")."""
    from .schema import suggest

    def parse(text):
        vals = _split(text, max_len)
        for v in vals:
            if v not in choices:
                raise _Err(f"unknown value {v!r}{suggest(v, choices)}; expected one of "
                           f"{', '.join(choices)}")
        return vals

    parse.__name__ = "name list"
    return parse


def seeds(text: str) -> list[int]:
    """Type: ``N`` (the seeds 0..N-1, N <= MAX_SEEDS) or distinct seeds ``S1,S2,...``."""
    parts = _split(text, MAX_SEEDS)
    if len(parts) == 1:
        n = _int(parts[0], "a number of seeds N or a list S1,S2,...")
        if not 1 <= n <= MAX_SEEDS:
            raise _Err(f"N seeds must be in [1, {MAX_SEEDS}], got {n}")
        return list(range(n))
    return _distinct([int_range(0, MAX_SEED)(p) for p in parts], text)


dims = int_list(2, MAX_D, max_len=1000, distinct=True)
dims.__doc__ = "Type: comma-separated input dimensions d >= 2."
eps_list = float_list(0, 1, lo_open=True, max_len=100, distinct=True)
eps_list.__doc__ = "Type: comma-separated target errors in (0, 1]."
models = choice_list(list(MODELS) + [f"{m}:{i}" for m in MODELS for i in INPUTS])
models.__doc__ = "Type: comma-separated models, each a name or name:input."

_ADDRESS = re.compile(r"(tcp|tls|ws|wss|ucx|inproc)://\[?[A-Za-z0-9_.:\-]+\]?(:\d{1,5})?/?")


def scheduler_address(text: str) -> str:
    """Type: a Dask scheduler address such as ``tcp://HOST:8786``."""
    text = str(text).strip()
    if not _ADDRESS.fullmatch(text):
        raise _Err(f"expected a scheduler address such as tcp://HOST:8786, got {text!r}")
    return text
