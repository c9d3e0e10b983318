"""The sweep-file format: one declarative table of every field, and the checks it implies.

A sweep file (TOML or JSON) has four kinds of tables: the top level (:data:`SWEEP`),
``[target]`` (:data:`TARGET`), ``[n_grid]`` (:data:`GRID`, also allowed inside a model) and
one ``[[models]]`` entry per learner (:data:`MODEL`). Each :class:`Field` says its type and
range (a :class:`Type`, which both checks a value and describes itself for the docs), its
default, which models and inputs it applies to, how it enters the job config (and so the
job key) and what it means. :func:`check_table` validates one table against its section:
unknown or misspelled keys are a :class:`ConfigError` naming the key and the closest valid
one, wrong types and out-of-range values are one-line errors naming the field's path
(``models[2].n_grid.n_max``). Rules that span several fields (a grid given two ways, a
model's ``d`` outside the sweep's, "exact" test error on a finite-width kernel) live in
:mod:`hierlearn.bench.config`, which turns a checked spec into job configs.

``docs/sweep-format.md`` embeds :func:`reference_markdown` between two markers; a test
checks that it is current (regenerate with :func:`update_docs`).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ConfigError", "Field", "Type", "Int", "Float", "Str", "Bool", "ListOf", "Seeds", "OneOf",
    "Rule", "Table", "Tables", "SWEEP", "TARGET", "GRID", "MODEL", "SECTIONS", "MODELS",
    "KERNEL_MODELS", "NET_MODELS", "INPUTS", "ACTIVATIONS", "MAX_SEEDS", "MAX_JOBS",
    "check_table", "suggest", "reference_markdown", "update_docs",
]

MODELS = ("ntk", "kq", "quadnet", "linnet")
KERNEL_MODELS = ("ntk", "kq")
NET_MODELS = ("quadnet", "linnet")
INPUTS = ("raw", "repr")
#: Names of hierlearn.kernels.activation_names() (a test keeps the two equal; importing the
#: kernels here would cost seconds of numba/scikit-learn imports on every spec load).
ACTIVATIONS = ("step", "relu", "relu2", "relu3", "relu4", "shifted_sigmoid", "softplus")

#: Limits that turn absurd values into errors before anything is allocated.
MAX_SEEDS = 100_000
MAX_SEED = 2**63 - 1
MAX_D = 100_000
MAX_N = 100_000_000
MAX_JOBS = 1_000_000

_NO_DEFAULT = object()


class ConfigError(ValueError):
    """A sweep spec or CLI value that cannot be turned into jobs (message names the field)."""


def _kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"a {type(value).__name__}"


def _got(value) -> str:
    text = repr(value)
    return f"{_kind(value)} {text if len(text) <= 60 else text[:57] + '...'}"


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


# -- types: each checks a value (returning its canonical form) and describes itself ----------

class Type:
    """A value type of the sweep format: ``check(value, where)`` and ``describe()``."""

    def check(self, value, where: str):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _range_text(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_fmt(lo)}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {_fmt(hi)}"
    return ""


def _check_range(v, where, lo, hi, lo_open=False, hi_open=False):
    bad = ((lo is not None and (v < lo or (lo_open and v == lo)))
           or (hi is not None and (v > hi or (hi_open and v == hi))))
    if bad:
        raise ConfigError(f"{where} must be {_range_text(lo, hi, lo_open, hi_open)}, got {_fmt(v)}")
    return v


@dataclass(frozen=True)
class Int(Type):
    """An integer in [lo, hi] (an integral float such as ``8.0`` from JSON is accepted)."""

    lo: int | None = None
    hi: int | None = None

    def check(self, value, where):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(f"{where} must be an integer{self._rng()}, got {_got(value)}")
        return _check_range(int(value), where, self.lo, self.hi)

    def _rng(self):
        r = _range_text(self.lo, self.hi)
        return f" {r}" if r else ""

    def describe(self):
        return f"an integer{self._rng()}"


@dataclass(frozen=True)
class Float(Type):
    """A finite real number in a range (stored as a float, so ``2`` and ``2.0`` key alike)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def check(self, value, where):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{where} must be a number{self._rng()}, got {_got(value)}")
        v = float(value)
        if not math.isfinite(v):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return _check_range(v, where, self.lo, self.hi, self.lo_open, self.hi_open)

    def _rng(self):
        r = _range_text(self.lo, self.hi, self.lo_open, self.hi_open)
        return f" {r}" if r else ""

    def describe(self):
        return f"a number{self._rng()}"


@dataclass(frozen=True)
class Str(Type):
    """A string, one of ``choices`` (with a "did you mean") or matching ``pattern``."""

    choices: tuple = ()
    pattern: str | None = None
    what: str = ""

    def check(self, value, where):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be {self.describe()}, got {_got(value)}")
        if self.choices and value not in self.choices:
            hint = suggest(value, self.choices)
            raise ConfigError(f"{where} must be one of {list(self.choices)}, got {value!r}{hint}")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ConfigError(f"{where} must be {self.what or 'a string matching ' + self.pattern}"
                              f", got {value!r}")
        return value

    def describe(self):
        if self.choices:
            return " | ".join(f'"{c}"' for c in self.choices)
        return self.what or "a string"


@dataclass(frozen=True)
class Bool(Type):
    def check(self, value, where):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {_got(value)}")
        return value

    def describe(self):
        return "true | false"


@dataclass(frozen=True)
class ListOf(Type):
    """A non-empty list of ``item`` (a single item stands for a list of one if ``scalar_ok``)."""

    item: Type
    scalar_ok: bool = True
    distinct: bool = False
    max_len: int | None = None

    def check(self, value, where):
        if self.scalar_ok and not isinstance(value, (list, tuple, dict)):
            return [self.item.check(value, where)]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be {self.describe()}, got {_got(value)}")
        if not value:
            raise ConfigError(f"{where} must not be empty")
        if self.max_len is not None and len(value) > self.max_len:
            raise ConfigError(f"{where} has {len(value)} entries, more than the limit of "
                              f"{self.max_len}")
        out = [self.item.check(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if self.distinct:
            seen = set()
            for v in out:
                if v in seen:
                    raise ConfigError(f"{where} lists {_fmt(v)} twice")
                seen.add(v)
        return out

    def describe(self):
        if isinstance(self.item, (Int, Float)):
            one, many = ("an integer", "integers") if isinstance(self.item, Int) else \
                ("a number", "numbers")
            rng = self.item._rng()
        else:
            one, many, rng = self.item.describe(), "such values", ""
        distinct = "distinct " if self.distinct else ""
        if self.scalar_ok:
            return f"{one} or a list of {distinct}{many}{rng}"
        return f"a non-empty list of {distinct}{many}{rng}"


@dataclass(frozen=True)
class Seeds(Type):
    """``N`` (the seeds 0..N-1) or a list of distinct non-negative integers."""

    def check(self, value, where):
        if isinstance(value, (list, tuple)):
            return ListOf(Int(0, MAX_SEED), scalar_ok=False, distinct=True,
                          max_len=MAX_SEEDS).check(value, where)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{where} must be {self.describe()}, got {_got(value)}")
        n = Int(1).check(value, where)
        if n > MAX_SEEDS:
            raise ConfigError(f"{where} = {n} asks for more seeds than the limit of {MAX_SEEDS}")
        return list(range(n))

    def describe(self):
        return (f"an integer N in [1, {MAX_SEEDS}] (seeds 0..N-1) or a list of distinct "
                "integers >= 0")


@dataclass(frozen=True)
class Literal(Type):
    value: str

    def check(self, value, where):
        if value != self.value:
            raise ConfigError(f"{where} must be {self.value!r}, got {_got(value)}")
        return value

    def describe(self):
        return f'"{self.value}"'


@dataclass(frozen=True)
class Rule(Type):
    """A small table with fixed keys, e.g. ``{c = 2, power = 3}``; ``marker`` identifies it."""

    marker: str
    fields: dict
    defaults: dict = field(default_factory=dict)
    meaning: str = ""

    def check(self, value, where):
        _check_keys(value, self.fields, where)
        missing = [k for k in self.fields if k not in value and k not in self.defaults]
        if missing:
            raise ConfigError(f"{where} needs {', '.join(missing)} (rule {self.describe()})")
        out = dict(self.defaults)
        out.update({k: self.fields[k].check(v, f"{where}.{k}") for k, v in value.items()})
        return out

    def describe(self):
        keys = ", ".join(f"{k} = .." for k in self.fields)
        return "{" + keys + "}"


@dataclass(frozen=True)
class OneOf(Type):
    """Alternatives: a table picks a :class:`Rule` by its marker key; any other value goes to
    the first option that takes its kind (so ``3.5`` for an integer width says "integer")."""

    options: tuple

    def check(self, value, where):
        rules = [o for o in self.options if isinstance(o, Rule)]
        if isinstance(value, dict):
            for rule in rules:
                if rule.marker in value:
                    return rule.check(value, where)
            keys = sorted({k for r in rules for k in r.fields})
            bad = next((k for k in value if k not in keys), None)
            hint = suggest(bad, keys) if bad is not None else ""
            raise ConfigError(f"{where} must be {self.describe()}; got a table with keys "
                              f"{sorted(value)}{hint}")
        for opt in self.options:
            if isinstance(opt, Literal):
                if value == opt.value:
                    return value
            elif not isinstance(opt, Rule) and _kind(value) in _accepts(opt):
                return opt.check(value, where)
        raise ConfigError(f"{where} must be {self.describe()}, got {_got(value)}")

    def describe(self):
        return " or ".join(o.describe() for o in self.options)


def _accepts(t: Type) -> tuple:
    """Kinds of value a type takes (for :class:`OneOf`)."""
    if isinstance(t, (Int, Float)):
        return ("an integer", "a number")
    if isinstance(t, ListOf):
        return ("a list",) + (_accepts(t.item) if t.scalar_ok else ())
    if isinstance(t, Str):
        return ("a string",)
    return ()


@dataclass(frozen=True)
class Table(Type):
    """A nested table checked against section ``section`` of :data:`SECTIONS`."""

    section: str

    def check(self, value, where):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table (e.g. {where.rsplit('.', 1)[-1]} = "
                              f"{{ ... }} or a [{self.section}] section), got {_got(value)}")
        return value

    def describe(self):
        return f"a table ([{self.section}] fields)"


@dataclass(frozen=True)
class Tables(Type):
    """A non-empty list of tables (``[[models]]`` in TOML)."""

    section: str

    def check(self, value, where):
        if isinstance(value, dict):
            raise ConfigError(f"{where} must be a list of tables ([[{self.section}]] in TOML, "
                              f"a JSON list of objects), got one table")
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list of tables ([[{self.section}]]), "
                              f"got {_got(value)}")
        if not value:
            raise ConfigError(f"{where} must not be empty: declare at least one [[{self.section}]]")
        for i, v in enumerate(value):
            if not isinstance(v, dict):
                raise ConfigError(f"{where}[{i}] must be a table, got {_got(v)}")
        return list(value)

    def describe(self):
        return f"a list of tables ([[{self.section}]])"


# -- fields -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """One field of the sweep format.

    ``default`` is a value, a dict ``{model: value}`` for model-dependent defaults, or
    ``_NO_DEFAULT`` (required / optional without a value). ``models`` and ``inputs`` say where
    a model field applies; ``key`` says how the field enters the job config and its key.
    """

    type: Type
    doc: str
    default: object = _NO_DEFAULT
    default_doc: str | None = None
    models: tuple = MODELS
    inputs: tuple = INPUTS
    key: str = "always"
    required: bool = False

    def default_for(self, model: str | None = None):
        if isinstance(self.default, dict) and model is not None:
            return self.default[model]
        return None if self.default is _NO_DEFAULT else self.default

    def applies(self, model: str, inp: str) -> bool:
        return model in self.models and inp in self.inputs


_POS_N = Int(1, MAX_N)
_WIDTH_RULES = (
    Rule("per_harmonics", {"per_harmonics": Float(0, lo_open=True), "degree": Int(0, 16)},
         defaults={"degree": 2}, meaning="per_harmonics * N(d, degree), rounded up to even"),
    Rule("c", {"c": Float(0, lo_open=True), "power": Float(0, 8)},
         meaning="c * d^power, rounded up to even"),
)
_NMAX_RULES = (
    Rule("c", {"c": Float(0, lo_open=True), "power": Float(0, 8)}, meaning="round(c * d^power)"),
    Rule("per_repr_width", {"per_repr_width": Float(0, lo_open=True)},
         meaning="round(per_repr_width * D), D the model's representation width"),
    Rule("predicted_eps", {"predicted_eps": Float(0, 1, lo_open=True, hi_open=True),
                           "factor": Float(0, lo_open=True)}, defaults={"factor": 1.0},
         meaning="ceil(factor * n*(predicted_eps)), n* predicted by eigenlearning"),
)

SWEEP = {
    "name": Field(Str(pattern=r"[A-Za-z0-9_][A-Za-z0-9_.\-]*",
                      what="a name of letters, digits, '_', '.', '-' (it names results/NAME)"),
                  "Name of the sweep; the default results folder is results/NAME.",
                  default_doc="the file name", key="not in the key"),
    "description": Field(Str(), "One line shown by `hierlearn presets`.", default="",
                         key="not in the key"),
    "base": Field(Str(what="a preset name or a .toml/.json path"),
                  "Start from this preset (or file): its fields, replaced by this spec's own "
                  "top-level fields (e.g. a smaller d and seeds with the same models).",
                  default_doc="none", key="not in the key (its fields are)"),
    "eps": Field(ListOf(Float(0, 1, lo_open=True), distinct=True),
                 "Target error(s) of n*(eps) (test error / Var f*); a list reports each value.",
                 default=0.1, key="not in the key (used by report)"),
    "seeds": Field(Seeds(), "Seeds of the data, the representation and the model.",
                   default=[0], key="one job per seed (config field seed)"),
    "d": Field(ListOf(Int(2, MAX_D), distinct=True), "Input dimensions.", default=[8],
               key="one job per d (config field d)"),
    "n_test": Field(Int(1, 10**7), "Test points per job (a model may set its own).",
                    default=2000),
    "target": Field(Table("target"), "The target function (see [target]).",
                    default_doc="the [target] defaults", key="its fields, always"),
    "n_grid": Field(Table("n_grid"), "Training sizes shared by every model (see [n_grid]).",
                    default_doc="the [n_grid] defaults", key="resolved"),
    "models": Field(Tables("models"), "The learners, one [[models]] table each.", required=True,
                    key="one job per entry"),
    "ratios": Field(ListOf(ListOf(Str(pattern=r"[^\n]*\S[^\n]*",
                                      what="a row label"), scalar_ok=False, max_len=2),
                           scalar_ok=False),
                    "Same-seed ratios n*(A) / n*(B) the report draws: pairs [A, B] of row "
                    "labels (default: the NTK against the Quad-Nets by model and input).",
                    default_doc="by model and input", key="not in the key (used by report)"),
}

TARGET = {
    "degree": Field(Int(1, 16), "Degree p of the target polynomial.", default=4),
    "rank": Field(Int(1, MAX_D), "Number of directions r (at most every d).", default=1),
    "basis": Field(Str(("monomial", "harmonic")),
                   "harmonic: only the degree-p spherical-harmonic part of (u.x)^p.",
                   default="harmonic"),
    "noise": Field(Float(0, 1e6), "Label noise standard deviation.", default=0.0),
    "distribution": Field(Str(("sphere", "gaussian")), "Input distribution.", default="sphere"),
}

GRID = {
    "values": Field(ListOf(_POS_N, scalar_ok=False, distinct=True),
                    "Explicit training sizes (excludes every other grid field).",
                    key="resolved: n_grid is the list of sizes"),
    "n_min": Field(_POS_N, "Smallest size.", default=16, key="resolved"),
    "n_max": Field(OneOf((_POS_N,) + _NMAX_RULES),
                   "Largest size: an integer, {c, power} = c d^power, {per_repr_width} = that x D, "
                   "or {predicted_eps, factor} = factor x predicted n*(eps).",
                   default=1024, key="resolved"),
    "n_max_c": Field(Float(0, lo_open=True), "With n_max_power: n_max = c d^power (older form "
                     "of n_max = {c, power}).", default=1.0, key="resolved"),
    "n_max_power": Field(Float(0, 8), "Power of d in the older form above.", key="resolved"),
    "n_cap": Field(_POS_N, "Upper bound on any n_max rule.", key="resolved"),
    "points": Field(Int(1, 10_000), "Geometrically spaced sizes from n_min to n_max.",
                    default=8, key="resolved"),
    "per_doubling": Field(Int(1, 64), "Sizes n_min 2^(k/per_doubling) up to n_max (grids "
                          "with the same n_min share sizes); excludes points.", key="resolved"),
}

_K, _N, _R = KERNEL_MODELS, NET_MODELS, ("repr",)
MODEL = {
    "model": Field(Str(MODELS), "The learner: NTK / K_Q kernel ridge, trained Quad-Net, "
                   "linearised net.", required=True),
    "input": Field(Str(INPUTS), "raw x, or the neural representation h(x).", default="raw"),
    "label": Field(Str(pattern=r"[^\n]*\S[^\n]*", what="a non-empty one-line string"),
                   "Row label in tables and figures (default: "
                   "from model, input and options); must be unique in the sweep.",
                   key="if set"),
    "d": Field(ListOf(Int(2, MAX_D), distinct=True), "Run this model only at these of the "
               "sweep's d.", key="selects jobs; not in the key"),
    "n_test": Field(Int(1, 10**7), "Test points for this model.",
                    default_doc="the sweep's n_test"),
    "n_grid": Field(Table("n_grid"), "Fields of [n_grid] that override the sweep's for this "
                    "model (n_max rules, n_cap, spacing).", key="resolved"),
    "activation": Field(Str(ACTIVATIONS), "Activation of the trained layer.",
                        default={"ntk": "relu", "kq": "shifted_sigmoid",
                                 "quadnet": "shifted_sigmoid", "linnet": "shifted_sigmoid"}),
    "trained": Field(Str(("first", "both")), "K_L (first layer trained) or K_NTK (both).",
                     default="first", models=("ntk",)),
    "bias": Field(Float(0, 1e6), "Std of the trained layer's bias in the kernel.", default=0.0,
                  models=_K),
    "width": Field(OneOf((Int(1, 10**7),) + _WIDTH_RULES),
                   "Network width m: an integer, {per_harmonics, degree} = per_harmonics "
                   "N(d, degree) or {c, power} = c d^power (rules round up to even). Kernels: "
                   "random features of width m; unset = the infinite-width closed form. Nets: "
                   "must be even.", default={"ntk": None, "kq": None, "quadnet": 200,
                                             "linnet": 200},
                   key="resolved to an integer; a rule also adds width_rule"),
    "ridges": Field(ListOf(Float(0, 1e12)), "Ridge grid of kernel ridge regression.",
                    default=[0.0, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], models=_K),
    "selection": Field(Str(("gcv", "loo", "validation")), "How the ridge is chosen from the n "
                       "points.", default="gcv", models=_K),
    "solver": Field(Str(("auto", "dense", "pcg")), "auto: dense while the Gram fits in memory, "
                    "matrix-free PCG beyond (needs selection validation, ridges > 0).",
                    default="auto", models=_K, key="if not auto"),
    "val_fraction": Field(Float(0, 1, lo_open=True, hi_open=True), "Held-out share for "
                          "selection = validation (kernels) or the reg choice (nets).",
                          default=0.2, key="always for nets; kernels only with validation"),
    "test_error": Field(Str(("sample", "exact")), "sample: on n_test fresh points; exact: the "
                        "population error (closed-form kernels on raw x or on the "
                        "infinite-width h(x), sphere inputs).", default="sample", models=_K,
                        key="if exact"),
    "regs": Field(OneOf((Literal("auto"), ListOf(Float(0, 1e12)))), "Regularisation grid of "
                  "the trained net (auto: the estimator's own).", default="auto", models=_N),
    "max_iter": Field(Int(1, 10**7), "Optimiser iterations per fit.", default=500, models=_N),
    "init_scale": Field(Float(0, 1e6), "Scale of the initial weights (unset: the "
                        "estimator's default).", default=None, models=_N),
    "input_bias": Field(Float(-1e6, 1e6), "Constant input coordinate of the first layer.",
                        default=0.0, models=_N, key="if not 0"),
    "randomized": Field(Bool(), "Train with the paper's randomized coupling (fresh signs "
                        "each step).", default=False, models=("quadnet",), key="if true"),
    "repr_c": Field(Float(0, 1e6, lo_open=True), "D = round(c d^ceil(p/2)) units.",
                    default=1.0, inputs=_R, key="unless repr_width is given"),
    "repr_width": Field(OneOf((Int(1, 10**7), Literal("inf"))), 'Representation width D; '
                        '"inf": the infinite-width closed form (kernels only).', inputs=_R,
                        key="resolved to D (null for inf)"),
    "repr_activation": Field(Str(ACTIVATIONS), "Units of the fixed representation.",
                             default="step", inputs=_R),
    "repr_bias": Field(Bool(), "Random bias in the representation's units.", default=True,
                       inputs=_R),
    "repr_whiten": Field(Bool(), "Centre and whiten h(x).", default=True, inputs=_R),
}

SECTIONS = {"sweep": SWEEP, "target": TARGET, "n_grid": GRID, "models": MODEL}
_SECTION_PATH = {"sweep": "", "target": "target.", "n_grid": "n_grid.", "models": "models[]."}
#: Names people type for a field that is called something else.
ALIASES = {"dims": "d", "dim": "d", "dimension": "d", "dimensions": "d", "epsilon": "eps",
           "model": "models", "seed": "seeds"}


# -- checks -----------------------------------------------------------------------------------

def suggest(name, choices) -> str:
    """' (did you mean 'x'?)' for the closest of ``choices`` (cutoff as _validation.closest)."""
    from hierlearn._validation import closest

    return closest(name, [str(c) for c in choices])


def _where(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _check_keys(table, fields, where, section=None):
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {_got(table)}")
    for key in table:
        if key in fields:
            continue
        if not isinstance(key, str):
            raise ConfigError(f"{where or 'the sweep'} has a non-string key {key!r}")
        hint = _hint(key, fields, section)
        raise ConfigError(f"unknown field {_where(where, key)!r}{hint}")


def _hint(key, fields, section):
    if section == "sweep" and key in ALIASES:
        return f" (did you mean {ALIASES[key]!r}?)"
    own = suggest(key, fields)
    if own or section is None:
        return own
    # a field of another section (n_max at the top instead of in [n_grid]): say where it goes
    for other, table in SECTIONS.items():
        if other != section and key in table:
            return f" (did you mean {_SECTION_PATH[other] + key!r}? it belongs in " \
                   f"{'the top level' if other == 'sweep' else '[' + other + ']'})"
    for other, table in SECTIONS.items():
        if other != section:
            hint = suggest(key, table)
            if hint:
                name = hint.split("'")[1]
                return f" (did you mean {_SECTION_PATH[other] + name!r}?)"
    return ""


def check_table(table, section: str, where: str = "") -> dict:
    """Check one table against :data:`SECTIONS` ``[section]``: known keys, types, ranges.

    Returns a dict of the given fields in canonical form (no defaults filled in). Nested
    tables (``target``, ``n_grid``, ``models``) are checked recursively.
    """
    fields = SECTIONS[section]
    _check_keys(table, fields, where, section)
    for name, f in fields.items():
        if f.required and name not in table:
            raise ConfigError(f"{_where(where, name)} is required")
    out = {}
    for key, value in table.items():
        path = _where(where, key)
        f = fields[key]
        if value is None and f.default is None:
            out[key] = None
            continue
        value = f.type.check(value, path)
        if isinstance(f.type, Table):
            value = check_table(value, f.type.section, path)
        elif isinstance(f.type, Tables):
            value = [check_table(v, f.type.section, f"{path}[{i}]") for i, v in enumerate(value)]
        out[key] = value
    return out


# -- documentation ----------------------------------------------------------------------------

def _default_text(f: Field) -> str:
    d = f.default
    if f.default_doc is not None:
        return f.default_doc
    if d is _NO_DEFAULT:
        return "required" if f.required else "unset"
    if isinstance(d, dict):
        groups = {}
        for model, v in d.items():
            groups.setdefault(_value_text(v), []).append(model)
        return "; ".join(f"{v} ({', '.join(ms)})" for v, ms in groups.items())
    return _value_text(d)


def _value_text(v) -> str:
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    return _fmt(v)


def _applies_text(f: Field) -> str:
    models = "all" if f.models == MODELS else ("kernels" if f.models == KERNEL_MODELS else
                                               "nets" if f.models == NET_MODELS else
                                               ", ".join(f.models))
    return models + ("" if f.inputs == INPUTS else f", input {'/'.join(f.inputs)}")


def reference_markdown() -> str:
    """The field tables of docs/sweep-format.md, generated from :data:`SECTIONS`."""
    titles = {"sweep": "Top level", "target": "[target]", "n_grid": "[n_grid] (also a "
              "model's n_grid)", "models": "[[models]]"}
    lines = []
    for section, fields in SECTIONS.items():
        lines += [f"### {titles[section]}", ""]
        extra = section == "models"
        head = "| field | type and range | default |" + (" applies to |" if extra else "") \
            + " in the job config / key | meaning |"
        lines += [head, "|" + "---|" * (6 if extra else 5)]
        for name, f in fields.items():
            cells = [f"`{name}`", f.type.describe(), _default_text(f)]
            if extra:
                cells.append(_applies_text(f))
            cells += [f.key, f.doc]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


BEGIN = "<!-- BEGIN GENERATED: hierlearn.bench.schema.reference_markdown() -->"
END = "<!-- END GENERATED -->"


def update_docs(path) -> bool:
    """Rewrite the generated block of ``path`` (docs/sweep-format.md); True if it changed."""
    path = Path(path)
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n\n{reference_markdown()}\n{END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text
