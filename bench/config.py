"""Sweep specifications, their expansion into jobs, and stable job keys.

A *sweep spec* is a small nested dict (a TOML/JSON file under ``bench/presets/`` or the
user's own; the format is :mod:`hierlearn.bench.schema`, documented in
docs/sweep-format.md) that declares targets, input dimensions d, sample-size grids, models
and seeds. :func:`load_spec` reads and checks a file completely (structure, types, ranges,
cross-field rules) before anything runs; :func:`expand` turns a spec into a list of flat,
JSON-serialisable *job configs*, one per (d, model, seed), with every rule (widths and
grids that depend on d) resolved to plain values. Each job config hashes
(:func:`job_key`) to a key that is stable across runs, processes and machines: SHA-256 of
the canonical JSON (sorted keys, no whitespace), never Python's salted ``hash``. A job
config holds only the fields its model reads, so changing, say, a Quad-Net regularisation
grid does not invalidate finished NTK keys; options left at their default are left out
where adding them would change the keys of jobs stored before the option existed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from pathlib import Path

from .schema import (GRID, INPUTS, KERNEL_MODELS, MAX_JOBS, MODEL, MODELS, NET_MODELS, SWEEP,
                     TARGET, ConfigError, Float, Int, Seeds, check_table, suggest)

__all__ = [
    "ENGINE_VERSION",
    "MODELS",
    "INPUTS",
    "KERNEL_MODELS",
    "NET_MODELS",
    "MODEL_LABELS",
    "ConfigError",
    "preset_names",
    "preset_path",
    "spec_path",
    "load_spec",
    "validate_spec",
    "eps_values",
    "ratio_pairs",
    "spec_sha256",
    "expand",
    "job_key",
    "canonical_json",
    "n_grid",
    "repr_width",
    "width_for",
    "label",
    "paper_exponent",
]

#: Bumped whenever a change to the engine changes the numbers a job produces. Stored
#: results from another version are recomputed (and reported) instead of being mixed in.
ENGINE_VERSION = "2"

MODEL_LABELS = {
    "ntk": "NTK",
    # Kernel ridge with the quadratic model's kernel is NOT the trained Quad-Net
    # (docs/math.md, "The trap").
    "kq": "KRR with K_Q",
    "quadnet": "Quad-Net",
    "linnet": "Linearised net",
}

PRESET_DIR = Path(__file__).resolve().parent / "presets"


def paper_exponent(model: str, input: str, degree: int) -> float:
    """The paper's sample-complexity exponent of n* against d (docs/math.md, section 1).

    NTK/any rotation-invariant kernel on raw x: p; trained Quad-Net on raw x: p - 1;
    trained Quad-Net on the representation: ceil(p/2); NTK on the representation: p.
    The linearised net is an NTK model (p on either input); K_Q kernel ridge is
    rotation-invariant on raw x (p) and, like the NTK, gains nothing from the
    representation at infinite width (p).
    """
    p = int(degree)
    if model == "quadnet":
        return float(p - 1) if input == "raw" else float(math.ceil(p / 2))
    return float(p)


def _rule_text(rule: dict) -> str:
    if "per_harmonics" in rule:
        return f"{rule['per_harmonics']:g}N(d,{rule['degree']})"
    return f"{rule['c']:g}d^{rule['power']:g}"


def label(config: dict) -> str:
    """Human-readable name of a row, e.g. ``"Quad-Net on h(x), D=1d^2, softplus"``.

    A ``label`` in the config wins. Otherwise the name is built from the model, the input
    and the options that tell rows apart; rules (not the d-dependent values themselves) name
    the curve, so one label spans every d.
    """
    if config.get("label"):
        return config["label"]
    name = MODEL_LABELS[config["model"]]
    if config["input"] == "raw":
        where = "raw x"
    else:
        if config.get("repr_width") is None:
            D = "inf"
        elif config.get("repr_c") is not None:
            D = f"{config['repr_c']:g}d^{math.ceil(config['degree'] / 2)}"
        else:
            D = str(config["repr_width"])
        act = config.get("repr_activation", "step")
        where = f"h(x), D={D}" + ("" if act == "step" else f", {act}")
    extra = ""
    if config["model"] in KERNEL_MODELS and config.get("width") is not None:
        rule = config.get("width_rule")
        extra = f" [m={_rule_text(rule) if rule else config['width']}]"
    if config.get("input_bias", 0.0) != 0.0:
        extra = f" [input bias {config['input_bias']:g}]"
    if config.get("randomized"):
        extra += " [randomized]"
    return f"{name} on {where}{extra}"


# -- presets and files ---------------------------------------------------------------

def preset_names() -> list[str]:
    """Names of the bundled presets (files ``bench/presets/NAME.toml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    """The file of bundled preset ``name`` (ConfigError with a suggestion if unknown)."""
    path = PRESET_DIR / f"{name}.toml"
    if not isinstance(name, str) or "/" in name or not path.is_file():
        raise ConfigError(f"unknown preset {name!r}{suggest(name, preset_names())}; available "
                          f"presets: {', '.join(preset_names())} (or pass a path to a "
                          ".toml/.json file)")
    return path


def spec_path(name_or_path: str) -> Path:
    """The file behind a preset name or a .toml/.json path."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".json") or "/" in str(name_or_path) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"sweep file {str(name_or_path)!r} does not exist")
        return path
    return preset_path(str(name_or_path))


def _read_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"sweep file {path}: cannot be read ({exc})") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"sweep file {path}: invalid JSON ({exc})") from None
    if path.suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"sweep file {path}: invalid TOML ({exc})") from None
    raise ConfigError(f"sweep file {path}: unknown format {path.suffix!r} (use .toml or .json)")


def load_spec(name_or_path: str) -> dict:
    """Load and completely check a sweep spec from a preset name or a .toml/.json path.

    Returns the spec as written (plus ``name``, from the file name when absent). Every
    problem is a one-line :class:`ConfigError` that names the file and the field.
    """
    return _load_spec(name_or_path, ())


def _load_spec(name_or_path: str, chain: tuple) -> dict:
    path = spec_path(name_or_path)
    spec = _read_file(path)
    if isinstance(spec, dict) and "name" not in spec:
        spec["name"] = re.sub(r"[^A-Za-z0-9_.\-]", "_", path.stem).lstrip(".") or "sweep"
    try:
        if isinstance(spec, dict) and "base" in spec:
            spec = _with_base(spec, chain + (str(path),))
        validate_spec(spec)
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None
    return spec


def _with_base(spec: dict, chain: tuple) -> dict:
    """The base preset's fields, replaced by the spec's own top-level fields (``base`` is
    kept, for the record)."""
    base = SWEEP["base"].type.check(spec["base"], "base")
    if str(spec_path(base)) in chain:
        raise ConfigError(f"base = {base!r} makes a circle of presets: {' -> '.join(chain)}")
    merged = _load_spec(base, chain)
    merged.update(spec)
    return merged


# -- checks ----------------------------------------------------------------------------

_NMAX_OLD = ("n_max_c", "n_max_power")
_GENERATED = ("n_min", "n_max", "n_max_c", "n_max_power", "n_cap", "points", "per_doubling")


def _check_grid(grid: dict, where: str) -> None:
    """A grid table gives each thing one way (after merging, or as written)."""
    if "values" in grid:
        others = [k for k in _GENERATED if k in grid]
        if others:
            raise ConfigError(f"{where} gives both values and {', '.join(others)}: list the "
                              "sizes or generate them, not both")
    if "n_max" in grid and any(k in grid for k in _NMAX_OLD):
        raise ConfigError(f"{where} gives n_max and n_max_c/n_max_power: use one (n_max = "
                          "{c = .., power = ..} is the newer form)")
    if "n_max_c" in grid and "n_max_power" not in grid:
        raise ConfigError(f"{where}.n_max_c needs n_max_power (n_max = n_max_c * d^n_max_power)")
    if "points" in grid and "per_doubling" in grid:
        raise ConfigError(f"{where} gives both points and per_doubling: choose one spacing")


def _merge_grids(base: dict, over: dict) -> dict:
    """The sweep's grid with a model's overrides: a field given by the model replaces the
    sweep's fields that say the same thing another way (n_max vs n_max_c/n_max_power,
    points vs per_doubling, values vs generated sizes)."""
    if "values" in over:
        return dict(over)
    out = dict(base)
    if over and "values" in out:
        out.pop("values")
    if "n_max" in over:
        for k in _NMAX_OLD:
            out.pop(k, None)
    if any(k in over for k in _NMAX_OLD):
        out.pop("n_max", None)
    for a, b in (("points", "per_doubling"), ("per_doubling", "points")):
        if a in over:
            out.pop(b, None)
    out.update(over)
    return out


def _model_where(i: int) -> str:
    return f"models[{i}]"


def _check_model(m: dict, i: int, sweep: dict) -> None:
    """Cross-field rules of one model entry (types and ranges are checked already)."""
    where = _model_where(i)
    model, inp = m["model"], m.get("input", "raw")
    for key in m:
        if not MODEL[key].applies(model, inp):
            f = MODEL[key]
            only = ", ".join(f.models) + ("" if f.inputs == INPUTS
                                          else f" on {'/'.join(f.inputs)} input")
            raise ConfigError(f"{where}.{key} does not apply to model {model!r} on {inp} input "
                              f"(only to {only})")
    if "d" in m:
        extra = sorted(set(m["d"]) - set(sweep.get("d", SWEEP["d"].default)))
        if extra:
            raise ConfigError(f"{where}.d = {m['d']} lists d = {extra[0]}, which is not in the "
                              f"sweep's d = {sweep.get('d', SWEEP['d'].default)}")
    if "n_grid" in m:
        _check_grid(m["n_grid"], f"{where}.n_grid")
        merged = _merge_grids(sweep.get("n_grid", {}), m["n_grid"])
        _check_grid(merged, f"{where}.n_grid (merged with the sweep's n_grid)")
    grid = _merge_grids(sweep.get("n_grid", {}), m.get("n_grid", {}))
    rule = grid.get("n_max") if isinstance(grid.get("n_max"), dict) else {}
    finite_repr = inp == "repr" and m.get("repr_width") != "inf"
    if "per_repr_width" in rule and not finite_repr:
        raise ConfigError(f"{where}.n_grid.n_max = {{per_repr_width = ..}} needs a finite "
                          "representation (input = 'repr', repr_width not 'inf')")
    if "repr_c" in m and "repr_width" in m:
        raise ConfigError(f"{where} gives both repr_c and repr_width: D is one or the other")
    if model in NET_MODELS:
        if m.get("repr_width") == "inf":
            raise ConfigError(f"{where}: {model} is trained on finite features: repr_width "
                              "'inf' is not allowed")
        w = m.get("width")
        if isinstance(w, int) and (w < 2 or w % 2):
            raise ConfigError(f"{where}.width of a trained net must be even and >= 2 (+- neuron "
                              f"pairs), got {w}")
        return
    _check_kernel_model(m, where)


def _check_kernel_model(m: dict, where: str) -> None:
    selection = m.get("selection", "gcv")
    if m.get("solver") == "pcg":
        if selection != "validation":
            raise ConfigError(f"{where}: solver 'pcg' chooses the ridge on held-out points: set "
                              f"selection = 'validation' (got {selection!r}; LOO and GCV need "
                              "the dense Gram)")
        if min(m.get("ridges", MODEL["ridges"].default)) <= 0:
            raise ConfigError(f"{where}: solver 'pcg' needs ridges > 0, got "
                              f"{m.get('ridges', MODEL['ridges'].default)}")
    if "val_fraction" in m and selection != "validation":
        raise ConfigError(f"{where}.val_fraction is only used with selection = 'validation' "
                          f"(got selection {selection!r})")
    if m.get("test_error") == "exact":
        closed = m.get("width") is None and (m.get("input", "raw") == "raw"
                                             or m.get("repr_width") == "inf")
        if not closed:
            raise ConfigError(f"{where}.test_error = 'exact' needs a closed-form dot-product "
                              "kernel of x: no width, and raw input or repr_width = 'inf'")


def validate_spec(spec) -> dict:
    """Check a whole spec: structure, keys, types, ranges and cross-field rules.

    Returns a checked copy in canonical form (seeds and d as lists, floats as floats; no
    defaults filled in). Raises :class:`ConfigError` with a one-line message.
    """
    if not isinstance(spec, dict):
        raise ConfigError("a sweep file holds a table of fields (name, d, seeds, target, n_grid, "
                          f"models, ...) at its top level, got {type(spec).__name__}")
    s = check_table(spec, "sweep")
    ds = s.get("d", SWEEP["d"].default)
    rank = s.get("target", {}).get("rank", TARGET["rank"].default)
    if rank > min(ds):
        raise ConfigError(f"target.rank = {rank} exceeds the smallest d = {min(ds)}")
    _check_grid(s.get("n_grid", {}), "n_grid")
    labels = {}
    for i, m in enumerate(s["models"]):
        _check_model(m, i, s)
        if "label" in m:
            if m["label"] in labels:
                raise ConfigError(f"models[{labels[m['label']]}] and models[{i}] have the same "
                                  f"label {m['label']!r}")
            labels[m["label"]] = i
    n_jobs = len(ds) * len(s["models"]) * len(s.get("seeds", SWEEP["seeds"].default))
    if n_jobs > MAX_JOBS:
        raise ConfigError(f"the sweep declares {n_jobs} jobs, more than the limit of {MAX_JOBS}")
    return s


def eps_values(spec: dict) -> list[float]:
    """The spec's eps as a list (a single number is a list of one)."""
    return SWEEP["eps"].type.check(spec.get("eps", SWEEP["eps"].default), "eps")


def ratio_pairs(spec: dict) -> list[tuple[str, str]] | None:
    """The spec's ``ratios`` as (numerator, denominator) label pairs, or None when unset."""
    if "ratios" not in spec:
        return None
    pairs = SWEEP["ratios"].type.check(spec["ratios"], "ratios")
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ConfigError(f"ratios[{i}] must be a pair [A, B] of row labels, got {pair!r}")
    return [tuple(p) for p in pairs]


def spec_sha256(spec: dict) -> str:
    """SHA-256 of the spec's canonical JSON (independent of key order, comments, layout)."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


# -- resolution of rules ---------------------------------------------------------------

def _even_ceil(x: float) -> int:
    """Round up to an even integer (values within 1e-9 of an integer count as that integer)."""
    k = round(x)
    if abs(x - k) <= 1e-9 * max(1.0, abs(x)):
        x = k
    m = max(2, math.ceil(x))
    return m + (m % 2)


def width_for(rule, d: int) -> int:
    """Network width m at dimension ``d``: an int as given, or a rule rounded up to even.

    ``{"per_harmonics": a, "degree": l}``: a N(d, l), N the dimension of degree-l spherical
    harmonics (hierlearn.targets.harmonic_dimension); ``{"c": c, "power": k}``: c d^k.
    """
    if not isinstance(rule, dict):
        return int(rule)
    if "per_harmonics" in rule:
        from hierlearn.targets import harmonic_dimension

        return _even_ceil(rule["per_harmonics"] * harmonic_dimension(d, rule["degree"]))
    return _even_ceil(rule["c"] * float(d) ** rule["power"])


def _n_max(grid: dict, d: int, D, predicted) -> int:
    if "n_max_power" in grid:
        return int(round(grid.get("n_max_c", 1.0) * d ** grid["n_max_power"]))
    rule = grid.get("n_max", GRID["n_max"].default)
    if not isinstance(rule, dict):
        return int(rule)
    if "c" in rule:
        return int(round(rule["c"] * float(d) ** rule["power"]))
    if "per_repr_width" in rule:
        if D is None:
            raise ConfigError("n_grid.n_max = {per_repr_width = ..} needs a finite representation")
        return int(round(rule["per_repr_width"] * D))
    if predicted is None:
        raise ConfigError("n_grid.n_max = {predicted_eps = ..} needs a model to predict n* for")
    return int(math.ceil(rule["factor"] * predicted(rule["predicted_eps"])))


def n_grid(grid: dict, d: int, *, D: int | None = None, predicted=None) -> list[int]:
    """The training sizes for dimension ``d``.

    ``grid`` holds either ``values`` (an explicit list) or ``n_min``, ``n_max`` and
    ``points`` (geometric spacing, rounded, duplicates dropped) or ``per_doubling`` (sizes
    n_min * 2^(k / per_doubling) up to n_max). ``n_max`` is an integer or a rule:
    ``{c, power}`` (c d^power; also written ``n_max_c``, ``n_max_power``),
    ``{per_repr_width}`` (times the representation width ``D``) or ``{predicted_eps,
    factor}`` (factor x ``predicted(eps)``, the eigenlearning n* of the job's kernel); every
    rule is capped by ``n_cap``.
    """
    grid = check_table(grid, "n_grid", "n_grid")
    _check_grid(grid, "n_grid")
    if "values" in grid:
        return sorted(grid["values"])
    n_min = grid.get("n_min", GRID["n_min"].default)
    n_max = _n_max(grid, d, D, predicted)
    if "n_cap" in grid:
        n_max = min(n_max, grid["n_cap"])
    n_max = max(n_max, n_min)
    if "per_doubling" in grid:
        # n_min * 2^(k / per_doubling): grids with the same n_min and step share their sizes,
        # so models with different n_max are still compared at the same n
        step = grid["per_doubling"]
        # every k whose rounded size is <= n_max (n_max = 724 keeps round(32 * 2^4.5) = 724)
        k_max = int(math.floor(step * math.log2((n_max + 0.5) / n_min)))
        return sorted({int(round(n_min * 2 ** (k / step))) for k in range(k_max + 1)})
    points = grid.get("points", GRID["points"].default)
    if points == 1 or n_max == n_min:
        return [n_max]
    import numpy as np

    return sorted({int(round(v)) for v in np.geomspace(n_min, n_max, points)})


def repr_width(config: dict) -> int | None:
    """Representation width D = round(c * d^ceil(p/2)) unless given explicitly.

    Closed-form kernels take ``repr_width = "inf"`` (the infinite-width composition).
    """
    w = config.get("repr_width")
    if w == "inf":
        return None
    if w is not None:
        return Int(1).check(w, "repr_width")
    c = Float(0, lo_open=True).check(config.get("repr_c", 1.0), "repr_c")
    return max(1, int(round(c * config["d"] ** math.ceil(config["degree"] / 2))))


# -- expansion -------------------------------------------------------------------------

_KERNEL_FIELDS = ("activation", "trained", "bias", "width", "ridges", "selection", "solver",
                  "val_fraction", "test_error")
_NET_FIELDS = ("activation", "width", "regs", "val_fraction", "max_iter", "init_scale",
               "input_bias", "randomized")
_REPR_FIELDS = ("repr_c", "repr_width", "repr_activation", "repr_bias", "repr_whiten")
# Options left out of the job config at these values, so that the keys of jobs stored before
# the option existed still match (docs/sweep-format.md, "Job configs and keys").
_OMIT_AT = {"solver": "auto", "input_bias": 0.0, "randomized": False, "test_error": "sample"}


def _predictor(cfg: dict, where: str, cache: dict):
    """``eps -> n*(eps)`` of the job's learner from hierlearn.bench.theory (cached per
    config without seed: the prediction is a property of the kernel, d and target)."""
    def predicted(eps: float) -> float:
        base = canonical_json({k: v for k, v in cfg.items() if k not in ("seed", "n_grid")})
        if (base, eps) not in cache:
            try:
                from .theory import predicted_nstar_for_config
            except ImportError:
                raise ConfigError(f"{where}.n_grid.n_max = {{predicted_eps = ..}} needs "
                                  "hierlearn.bench.theory.predicted_nstar_for_config, which "
                                  "this installation lacks") from None
            try:
                value = float(predicted_nstar_for_config(dict(cfg), eps))
            except (ValueError, TypeError, NotImplementedError, ArithmeticError) as exc:
                raise ConfigError(f"{where}.n_grid.n_max: no predicted n*({eps:g}) for "
                                  f"{label(cfg)} at d = {cfg['d']} ({exc})") from None
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{where}.n_grid.n_max: the predicted n*({eps:g}) for "
                                  f"{label(cfg)} at d = {cfg['d']} is {value!r}, not a size")
            cache[(base, eps)] = value
        return cache[(base, eps)]

    return predicted


def _model_config(m: dict, i: int, s: dict, d: int, seed: int, cache: dict) -> dict:
    """The job config of checked model entry ``m`` at (d, seed), every rule resolved."""
    model, inp = m["model"], m.get("input", "raw")
    cfg = {k: s.get("target", {}).get(k, f.default) for k, f in TARGET.items()}
    cfg["n_test"] = m.get("n_test", s.get("n_test", SWEEP["n_test"].default))
    cfg.update(model=model, input=inp, d=d, seed=seed)
    names = (_KERNEL_FIELDS if model in KERNEL_MODELS else _NET_FIELDS) \
        + (_REPR_FIELDS if inp == "repr" else ())
    for name in names:
        if MODEL[name].applies(model, inp):
            cfg[name] = copy.deepcopy(m[name] if name in m else MODEL[name].default_for(model))
    for name, value in _OMIT_AT.items():
        if name in cfg and cfg[name] == value:
            del cfg[name]
    if model in KERNEL_MODELS and cfg["selection"] != "validation":
        del cfg["val_fraction"]  # unused: keep the key of GCV/LOO jobs unchanged
    if isinstance(cfg["width"], dict):
        cfg["width_rule"] = cfg["width"]
        cfg["width"] = width_for(cfg["width"], d)
    if inp == "repr":
        cfg["repr_width"] = repr_width(cfg)
        if "repr_width" in m:
            del cfg["repr_c"]  # D was given: the factor c plays no part
    if "label" in m:
        cfg["label"] = m["label"]
    grid = _merge_grids(s.get("n_grid", {}), m.get("n_grid", {}))
    D = cfg.get("repr_width") if inp == "repr" else None
    cfg["n_grid"] = n_grid(grid, d, D=D, predicted=_predictor(cfg, _model_where(i), cache))
    return cfg


def _select_models(entries, models):
    wanted = []
    for token in models:
        name, _, inp = str(token).partition(":")
        if name not in MODELS or (inp and inp not in INPUTS):
            hint = suggest(token, list(MODELS) + [f"{m}:{x}" for m in MODELS for x in INPUTS])
            raise ConfigError(f"--models: unknown model {token!r}{hint}; expected a model "
                              f"({', '.join(MODELS)}) or model:input (input raw or repr)")
        wanted.append((name, inp))
    kept = [(i, m) for i, m in entries
            if any(m["model"] == n and (not x or m.get("input", "raw") == x) for n, x in wanted)]
    if not kept:
        raise ConfigError(f"--models {','.join(map(str, models))} matches no model of the spec")
    return kept


def _check_labels(owned) -> None:
    """Two model entries must not share a row label (the report would pool their rows).

    ``owned``: (model entry index, job config) pairs."""
    owner = {}
    for i, cfg in owned:
        name = label(cfg)
        j = owner.setdefault(name, i)
        if j != i:
            raise ConfigError(f"models[{j}] and models[{i}] both get the row label {name!r}; "
                              "give one of them a distinct label = \"...\"")


def expand(spec: dict, *, d=None, seeds=None, models=None) -> list[dict]:
    """Expand a sweep spec into job configs, one per (d, model, seed).

    Parameters
    ----------
    spec : dict
        The sweep spec (format: docs/sweep-format.md); checked completely first.
    d, seeds : list of int, optional
        Override the spec's dimensions / seeds (from the CLI). A model restricted to some d
        runs at those of them that are in ``d``.
    models : list of str, optional
        Keep only models whose name (``ntk``, ``kq``, ``quadnet``, ``linnet``) or
        ``name:input`` is listed.

    Raises
    ------
    ConfigError
        One line naming the field, for any problem of the spec or the overrides, and when the
        sweep has no jobs.
    """
    s = validate_spec(spec)
    ds = s.get("d", SWEEP["d"].default) if d is None else SWEEP["d"].type.check(d, "d")
    sd = s.get("seeds", SWEEP["seeds"].default) if seeds is None else Seeds().check(seeds, "seeds")
    rank = s.get("target", {}).get("rank", TARGET["rank"].default)
    if rank > min(ds):
        raise ConfigError(f"target.rank = {rank} exceeds d = {min(ds)}")
    entries = list(enumerate(s["models"]))
    if models:
        entries = _select_models(entries, models)
    if len(ds) * len(entries) * len(sd) > MAX_JOBS:
        raise ConfigError(f"{len(ds)} d x {len(entries)} models x {len(sd)} seeds is more than "
                          f"the limit of {MAX_JOBS} jobs")
    owned, cache = [], {}
    for dd in ds:
        for i, m in entries:
            if "d" in m and dd not in m["d"]:
                continue
            for seed in sd:
                owned.append((i, _model_config(m, i, s, dd, seed, cache)))
    if not owned:
        raise ConfigError(f"the sweep has no jobs: no model runs at d = {ds} (see each "
                          "model's d)")
    _check_labels(owned)
    jobs = [cfg for _, cfg in owned]
    keys = [job_key(j) for j in jobs]
    if len(set(keys)) != len(keys):
        raise ConfigError("the spec declares the same configuration twice")
    return jobs


def canonical_json(obj) -> str:
    """Canonical JSON: sorted keys, no whitespace, shortest float repr, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def job_key(config: dict) -> str:
    """Stable 16-hex-digit key of a job config (SHA-256 of its canonical JSON)."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]
