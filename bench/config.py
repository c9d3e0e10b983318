"""Sweep specifications, their expansion into jobs, and stable job keys.

A *sweep spec* is a small nested dict (a TOML/JSON file under ``bench/presets/`` or the
user's own) that declares targets, input dimensions d, sample-size grids, models and seeds.
:func:`expand` turns it into a list of flat, JSON-serialisable *job configs*, one per
(d, model, seed). Each job config hashes (:func:`job_key`) to a key that is stable across
runs, processes and machines: SHA-256 of the canonical JSON (sorted keys, no whitespace),
never Python's salted ``hash``. A job config holds only the fields its model reads, so
changing, say, a Quad-Net regularisation grid does not invalidate finished NTK keys.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import numbers
from pathlib import Path

import numpy as np

__all__ = [
    "ENGINE_VERSION",
    "MODELS",
    "INPUTS",
    "MODEL_LABELS",
    "PAPER_EXPONENT",
    "ConfigError",
    "preset_names",
    "load_spec",
    "expand",
    "job_key",
    "canonical_json",
    "n_grid",
    "repr_width",
    "label",
    "paper_exponent",
]

#: Bumped whenever a change to the engine changes the numbers a job produces. Stored
#: results from another version are recomputed (and reported) instead of being mixed in.
ENGINE_VERSION = "1"

MODELS = ("ntk", "kq", "quadnet", "linnet")
KERNEL_MODELS = ("ntk", "kq")
NET_MODELS = ("quadnet", "linnet")
INPUTS = ("raw", "repr")

MODEL_LABELS = {
    "ntk": "NTK",
    # Kernel ridge with the quadratic model's kernel is NOT the trained Quad-Net (MATH.md "Trap").
    "kq": "KRR with K_Q",
    "quadnet": "Quad-Net",
    "linnet": "Linearised net",
}

PRESET_DIR = Path(__file__).resolve().parent / "presets"


class ConfigError(ValueError):
    """A sweep spec or CLI value that cannot be turned into jobs (message names the field)."""


def paper_exponent(model: str, input: str, degree: int) -> float:
    """The paper's sample-complexity exponent of n* against d (MATH.md section 1).

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


PAPER_EXPONENT = paper_exponent  # alias kept for readability at call sites


def label(config: dict) -> str:
    """Human-readable name of a (model, input) pair, e.g. ``"Quad-Net on h(x)"``."""
    name = MODEL_LABELS[config["model"]]
    if config["input"] == "raw":
        where = "raw x"
    else:
        # the width rule (not the d-dependent D itself) names the curve, so one label spans d
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
        extra = f" [m={config['width']}]"
    if config.get("input_bias", 0.0) != 0.0:
        extra = f" [input bias {config['input_bias']:g}]"
    return f"{name} on {where}{extra}"


# -- presets and files ---------------------------------------------------------------

def preset_names() -> list[str]:
    """Names of the bundled presets (files ``bench/presets/NAME.toml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def _read_file(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {path}: invalid JSON ({exc})") from None
    if path.suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: invalid TOML ({exc})") from None
    raise ConfigError(f"config file {path}: unknown format {path.suffix!r} (use .toml or .json)")


def load_spec(name_or_path: str) -> dict:
    """Load a sweep spec from a preset name or a .toml/.json file path."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".json"):
        if not path.is_file():
            raise ConfigError(f"config file {name_or_path!r} does not exist")
        spec = _read_file(path)
    else:
        preset = PRESET_DIR / f"{name_or_path}.toml"
        if not preset.is_file():
            raise ConfigError(
                f"unknown preset {name_or_path!r}; available presets: {', '.join(preset_names())}"
                " (or pass a path to a .toml/.json file)"
            )
        spec = _read_file(preset)
    spec.setdefault("name", path.stem)
    return spec


# -- expansion -------------------------------------------------------------------------

_TARGET_DEFAULTS = {"degree": 4, "rank": 1, "basis": "harmonic", "noise": 0.0,
                    "distribution": "sphere"}
# solver "auto": dense kernel ridge while the Gram fits in memory, matrix-free PCG beyond
# (solvers.learning_curve_pcg; needs selection "validation" and ridges > 0). "auto" is left
# out of the job config so that keys of jobs stored before the option existed still match.
_KERNEL_DEFAULTS = {"activation": "relu", "trained": "first", "bias": 0.0, "width": None,
                    "ridges": [0.0, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], "selection": "gcv",
                    "solver": "auto", "val_fraction": 0.2}
KERNEL_SELECTIONS = ("gcv", "loo", "validation")
KERNEL_SOLVERS = ("auto", "dense", "pcg")
# regs "auto": the estimator's own grid, scaled to the model (QuadNetRegressor docs)
# input_bias: the constant input coordinate of the network's first layer (QuadNetRegressor);
# 0 (none) is left out of the job config, so keys of jobs stored before the option existed
# still match.
_NET_DEFAULTS = {"activation": "shifted_sigmoid", "width": 200, "regs": "auto",
                 "val_fraction": 0.2, "max_iter": 500, "init_scale": None, "input_bias": 0.0}
_REPR_DEFAULTS = {"repr_c": 1.0, "repr_width": None, "repr_activation": "step",
                  "repr_bias": True, "repr_whiten": True}


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_float(value, name, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return float(value)


def _float_list(values, name):
    if isinstance(values, numbers.Real):
        values = [values]
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{name} must be a non-empty list of numbers, got {values!r}")
    return [_check_float(v, f"{name}[{i}]") for i, v in enumerate(values)]


def n_grid(grid: dict, d: int) -> list[int]:
    """The training sizes for dimension ``d``.

    ``grid`` holds either ``values`` (an explicit list) or ``n_min``, ``n_max`` and
    ``points`` (geometric spacing, rounded, duplicates dropped) or ``per_doubling`` (sizes
    n_min * 2^(k / per_doubling) up to n_max). ``n_max`` may scale with
    d: ``n_max_c * d ** n_max_power`` (capped by ``n_cap``) when those keys are given.
    """
    if "values" in grid:
        values = sorted({_check_int(v, "n_grid.values[]") for v in grid["values"]})
        return values
    n_min = _check_int(grid.get("n_min", 16), "n_grid.n_min")
    if "n_max_power" in grid:
        c = _check_float(grid.get("n_max_c", 1.0), "n_grid.n_max_c")
        power = _check_float(grid["n_max_power"], "n_grid.n_max_power")
        n_max = int(round(c * d ** power))
    else:
        n_max = _check_int(grid.get("n_max", 1024), "n_grid.n_max")
    if "n_cap" in grid:
        n_max = min(n_max, _check_int(grid["n_cap"], "n_grid.n_cap"))
    n_max = max(n_max, n_min)
    if "per_doubling" in grid:
        # n_min * 2^(k / per_doubling): grids with the same n_min and step share their sizes,
        # so models with different n_max are still compared at the same n
        step = _check_int(grid["per_doubling"], "n_grid.per_doubling")
        # every k whose rounded size is <= n_max (n_max = 724 keeps round(32 * 2^4.5) = 724)
        k_max = int(math.floor(step * math.log2((n_max + 0.5) / n_min)))
        return sorted({int(round(n_min * 2 ** (k / step))) for k in range(k_max + 1)})
    points = _check_int(grid.get("points", 8), "n_grid.points")
    if points == 1 or n_max == n_min:
        return [n_max]
    vals = np.geomspace(n_min, n_max, points)
    return sorted({int(round(v)) for v in vals})


def repr_width(config: dict) -> int | None:
    """Representation width D = round(c * d^ceil(p/2)) unless given explicitly.

    Closed-form kernels take ``repr_width = "inf"`` (the infinite-width composition).
    """
    w = config.get("repr_width")
    if w == "inf":
        return None
    if w is not None:
        return _check_int(w, "repr_width")
    c = _check_float(config.get("repr_c", 1.0), "repr_c", minimum=1e-12)
    return max(1, int(round(c * config["d"] ** math.ceil(config["degree"] / 2))))


def _model_config(model_spec: dict, common: dict, d: int, seed: int, grid: dict) -> dict:
    spec = dict(model_spec)
    model = spec.pop("model", None)
    if model not in MODELS:
        raise ConfigError(f"models[].model must be one of {MODELS}, got {model!r}")
    inp = spec.pop("input", "raw")
    if inp not in INPUTS:
        raise ConfigError(f"models[].input must be one of {INPUTS}, got {inp!r}")
    model_grid = dict(grid)
    model_grid.update(spec.pop("n_grid", {}))
    cfg = dict(common)
    cfg.update(model=model, input=inp, d=d, seed=seed)
    defaults = dict(_KERNEL_DEFAULTS if model in KERNEL_MODELS else _NET_DEFAULTS)
    if inp == "repr":
        defaults.update(_REPR_DEFAULTS)
    unknown = set(spec) - set(defaults) - {"repr_c", "repr_width"}
    if unknown:
        raise ConfigError(f"unknown field(s) {sorted(unknown)} for model {model!r} on {inp!r} input")
    defaults.update(spec)
    cfg.update(defaults)
    if model == "kq":
        cfg.pop("trained")
        if "activation" not in spec:
            # K_Q needs sigma'' with every Hermite degree: relu2 (sigma'' = step) gives
            # kappa(t) = t^2/16 + t^2 arcsin(t)/(8 pi), whose even degrees >= 4 vanish, so it
            # could never learn the degree-4 target. Use Quad-Net's smooth default instead.
            cfg["activation"] = "shifted_sigmoid"
    if model in KERNEL_MODELS:
        cfg["ridges"] = _float_list(cfg["ridges"], "ridges")
        if cfg["selection"] not in KERNEL_SELECTIONS:
            raise ConfigError(f"selection must be one of {KERNEL_SELECTIONS}, got {cfg['selection']!r}")
        if cfg["solver"] not in KERNEL_SOLVERS:
            raise ConfigError(f"solver must be one of {KERNEL_SOLVERS}, got {cfg['solver']!r}")
        if cfg["solver"] == "pcg":
            if cfg["selection"] != "validation":
                raise ConfigError("solver 'pcg' chooses the ridge on held-out points: set "
                                  f"selection = 'validation' (got {cfg['selection']!r}; LOO and "
                                  "GCV need the dense Gram)")
            if min(cfg["ridges"]) <= 0:
                raise ConfigError(f"solver 'pcg' needs ridges > 0, got {cfg['ridges']}")
        if cfg["selection"] == "validation":
            vf = _check_float(cfg["val_fraction"], "val_fraction")
            if not 0.0 < vf < 1.0:
                raise ConfigError(f"val_fraction must be in (0, 1), got {vf}")
        else:
            cfg.pop("val_fraction")  # unused: keep the key of GCV/LOO jobs unchanged
        if cfg["solver"] == "auto":
            cfg.pop("solver")
        if cfg["width"] is not None:
            cfg["width"] = _check_int(cfg["width"], "width")
    else:
        cfg["width"] = _check_int(cfg["width"], "width", minimum=2)
        if cfg["width"] % 2:
            raise ConfigError(f"width of a trained net must be even (+- neuron pairs), got {cfg['width']}")
        if cfg["regs"] != "auto":
            cfg["regs"] = _float_list(cfg["regs"], "regs")
        cfg["max_iter"] = _check_int(cfg["max_iter"], "max_iter")
        vf = _check_float(cfg["val_fraction"], "val_fraction")
        if not 0.0 < vf < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {vf}")
        cfg["input_bias"] = _check_float(cfg["input_bias"], "input_bias", minimum=-math.inf)
        if cfg["input_bias"] == 0.0:
            cfg.pop("input_bias")
    if inp == "repr":
        if cfg.get("repr_width") == "inf" and model in NET_MODELS:
            raise ConfigError(f"{model} is trained on finite features: repr_width 'inf' is not allowed")
        explicit = cfg.get("repr_width") is not None
        cfg["repr_width"] = repr_width(cfg)
        if explicit:
            cfg.pop("repr_c", None)  # D was given: the factor c plays no part
    cfg["n_grid"] = n_grid(model_grid, d)
    return cfg


def expand(spec: dict, *, d=None, seeds=None, models=None) -> list[dict]:
    """Expand a sweep spec into job configs, one per (d, model, seed).

    Parameters
    ----------
    spec : dict
        The sweep spec (see ``bench/presets/default.toml`` for every field).
    d, seeds : list of int, optional
        Override the spec's dimensions / seeds (from the CLI).
    models : list of str, optional
        Keep only models whose name (``ntk``, ``kq``, ``quadnet``, ``linnet``) or
        ``name:input`` is listed.
    """
    spec = copy.deepcopy(spec)
    target = dict(_TARGET_DEFAULTS)
    target.update(spec.get("target", {}))
    unknown = set(target) - set(_TARGET_DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown target field(s) {sorted(unknown)}")
    target["degree"] = _check_int(target["degree"], "target.degree")
    target["rank"] = _check_int(target["rank"], "target.rank")
    target["noise"] = _check_float(target["noise"], "target.noise")
    if target["basis"] not in ("monomial", "harmonic"):
        raise ConfigError(f"target.basis must be 'monomial' or 'harmonic', got {target['basis']!r}")
    if target["distribution"] not in ("sphere", "gaussian"):
        raise ConfigError(f"target.distribution must be 'sphere' or 'gaussian', got {target['distribution']!r}")
    ds = spec.get("d", [8]) if d is None else d
    ds = [_check_int(v, "d", minimum=2) for v in (ds if isinstance(ds, list) else [ds])]
    sd = spec.get("seeds", [0]) if seeds is None else seeds
    if isinstance(sd, numbers.Integral) and not isinstance(sd, bool):
        sd = list(range(int(sd)))  # an integer means "that many seeds"
    sd = [_check_int(s, "seeds[]", minimum=0) for s in sd]
    if not sd:
        raise ConfigError("seeds must not be empty")
    common = dict(target)
    common["n_test"] = _check_int(spec.get("n_test", 2000), "n_test")
    model_specs = spec.get("models")
    if not model_specs:
        raise ConfigError("the spec declares no models")
    if models:
        wanted = set(models)
        model_specs = [m for m in model_specs
                       if m.get("model") in wanted or f"{m.get('model')}:{m.get('input', 'raw')}" in wanted]
        if not model_specs:
            raise ConfigError(f"--models {','.join(models)} matches no model of the spec")
    grid = spec.get("n_grid", {})
    jobs = []
    for dd in ds:
        for ms in model_specs:
            for s in sd:
                cfg = _model_config(ms, common, dd, s, grid)
                if cfg["rank"] > dd:
                    raise ConfigError(f"target.rank={cfg['rank']} exceeds d={dd}")
                jobs.append(cfg)
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
