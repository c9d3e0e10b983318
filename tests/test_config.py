"""The sweep format: one schema, checked on load; rules resolved into stable job configs."""

import copy
import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from hierlearn.bench import schema
from hierlearn.bench.config import (ConfigError, eps_values, expand, job_key, label, load_spec,
                                    n_grid, preset_names, ratio_pairs, validate_spec, width_for)

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "sweep-format.md"


def base_spec(**top):
    spec = {"name": "t", "eps": 0.5, "seeds": [0, 1], "d": [5, 6], "n_test": 100,
            "target": {"degree": 4},
            "n_grid": {"n_min": 16, "n_max": 64, "points": 3},
            "models": [{"model": "ntk"}, {"model": "quadnet", "width": 20}]}
    spec.update(top)
    return spec


# -- the bundled presets keep their jobs ---------------------------------------------------

#: SHA-256 (first 16 hex digits) of the sorted job keys of each preset. The paper protocol is
#: pre-registered: its jobs were fixed (and these digests taken) before any of them ran, and
#: the default preset is a subset of it; a change to either is a new protocol, never an edit.
#: (smoke: unchanged since the expansion code before the schema existed, commit 04f32d8.)
PRESET_KEYS = {"default": (69, "db58dc5363bf5787"), "paper": (264, "8904b5551d571eea"),
               "smoke": (12, "46fc26d69cc0cfa3")}


def test_default_is_a_subset_of_the_protocol():
    default = {job_key(j) for j in expand(load_spec("default"))}
    assert default <= {job_key(j) for j in expand(load_spec("paper"))}


@pytest.mark.parametrize("name", sorted(PRESET_KEYS))
def test_preset_job_keys_unchanged(name):
    keys = [job_key(j) for j in expand(load_spec(name))]
    n, digest = PRESET_KEYS[name]
    assert len(keys) == n
    assert hashlib.sha256(",".join(sorted(keys)).encode()).hexdigest()[:16] == digest


def test_every_preset_loads_and_is_listed():
    assert {"default", "paper", "smoke"} <= set(preset_names())
    for name in preset_names():
        assert expand(load_spec(name))


# -- one-line errors on load, before anything runs ------------------------------------------

BAD = [
    # (mutation of base_spec, regex the one-line message must match)
    (lambda s: s.update(seed=[0]), r"unknown field 'seed' \(did you mean 'seeds'\?\)"),
    (lambda s: s.update(dims=[5]), r"unknown field 'dims' \(did you mean 'd'\?\)"),
    (lambda s: s["n_grid"].update(n_mx=9), r"unknown field 'n_grid.n_mx' \(did you mean 'n_max'"),
    (lambda s: s.update(n_max=9), r"unknown field 'n_max' \(did you mean 'n_grid.n_max'\?"),
    (lambda s: s["models"][0].update(widht=9), r"'models\[0\].widht' \(did you mean 'width'"),
    (lambda s: s.update(n_grid=5), r"n_grid must be a table .*got an integer 5"),
    (lambda s: s.update(target="x"), r"target must be a table .*got a string 'x'"),
    (lambda s: s.update(models={"model": "ntk"}), r"models must be a list of tables"),
    (lambda s: s.update(models=[]), r"models must not be empty"),
    (lambda s: s.update(models=["ntk"]), r"models\[0\] must be a table"),
    (lambda s: s.pop("models"), r"models is required"),
    (lambda s: s.update(d=[]), r"^d must not be empty"),
    (lambda s: s.update(d=[5, 5]), r"d lists 5 twice"),
    (lambda s: s.update(d=[1]), r"d\[0\] must be in \[2, "),
    (lambda s: s.update(n_grid={"values": []}), r"n_grid.values must not be empty"),
    (lambda s: s.update(n_grid={"values": [8, 0]}), r"n_grid.values\[1\] must be in \[1, "),
    (lambda s: s.update(eps="big"), r"eps must be a number in \(0, 1\].*got a string 'big'"),
    (lambda s: s.update(eps=-0.5), r"eps must be in \(0, 1\], got -0.5"),
    (lambda s: s.update(eps=[0.5, float("nan")]), r"eps\[1\] must be a finite number"),
    (lambda s: s.update(eps=[]), r"eps must not be empty"),
    (lambda s: s.update(seeds=[]), r"seeds must not be empty"),
    (lambda s: s.update(seeds=10**12), r"seeds = 1000000000000 asks for more seeds than"),
    (lambda s: s.update(seeds="3"), r"seeds must be an integer N .* got a string '3'"),
    (lambda s: s.update(seeds=[-1]), r"seeds\[0\] must be in \[0, "),
    (lambda s: s.update(n_test=True), r"n_test must be an integer .*got a boolean"),
    (lambda s: s["target"].update(basis="hermite"), r"target.basis must be one of"),
    (lambda s: s["target"].update(rank=7), r"target.rank = 7 exceeds the smallest d = 5"),
    (lambda s: s["n_grid"].update(per_doubling=2), r"both points and per_doubling"),
    (lambda s: s["n_grid"].update(values=[8]), r"gives both values and n_min, n_max, points"),
    (lambda s: s["n_grid"].update(n_max_c=2.0), r"gives n_max and n_max_c/n_max_power"),
    (lambda s: s.update(n_grid={"n_max_c": 2.0}), r"n_grid.n_max_c needs n_max_power"),
    (lambda s: s["models"][0].update(model="svm"), r"models\[0\].model must be one of"),
    (lambda s: s["models"][0].update(activation="relu5"), r"did you mean 'relu'"),
    (lambda s: s["models"][0].update(input_bias=0.3), r"input_bias does not apply to model"),
    (lambda s: s["models"][0].update(randomized=True), r"randomized does not apply to model 'ntk'"),
    (lambda s: s["models"][1].update(width=21), r"width of a trained net must be even"),
    (lambda s: s["models"][1].update(width=3.5), r"width must be an integer in"),
    (lambda s: s["models"][1].update(width="big"), r"width must be an integer .* or \{per_harm"),
    (lambda s: s["models"][1].update(width={"c": 2}), r"width needs power"),
    (lambda s: s["models"][1].update(width={"cc": 2}), r"\(did you mean 'c'\?\)"),
    (lambda s: s["models"][1].update(d=[7]), r"models\[1\].d = \[7\] lists d = 7, which is not"),
    (lambda s: s["models"][1].update(d=[]), r"models\[1\].d must not be empty"),
    (lambda s: s["models"][0].update(test_error="exact", width=100), r"'exact' needs a closed"),
    (lambda s: s["models"][0].update(test_error="both"), r"test_error must be one of"),
    (lambda s: s["models"][0].update(val_fraction=0.3), r"only used with selection"),
    (lambda s: s["models"][0].update(solver="pcg"), r"solver 'pcg' chooses the ridge"),
    (lambda s: s["models"][0].update(ridges=[]), r"ridges must not be empty"),
    (lambda s: s["models"][0].update(ridges=[-1.0]), r"ridges\[0\] must be in \[0, "),
    (lambda s: s["models"][1].update(regs="fast"), r'regs must be "auto" or'),
    (lambda s: s["models"][1].update(input="repr", repr_width="inf"), r"repr_width 'inf' is not"),
    (lambda s: s["models"][1].update(input="repr", repr_c=2.0, repr_width=10), r"both repr_c"),
    (lambda s: s["models"][1].update(repr_c=2.0), r"repr_c does not apply .* on raw input"),
    (lambda s: s["models"][0].update(n_grid={"n_max": {"per_repr_width": 2}}),
     r"per_repr_width = \.\.\} needs a finite representation"),
    (lambda s: s["models"][0].update(n_grid={"n_max": {"predicted_eps": 1.5}}),
     r"predicted_eps must be in \(0, 1\)"),
    (lambda s: s["models"][0].update(label=" "), r"label must be a non-empty one-line string"),
    (lambda s: s["models"].append({"model": "ntk", "bias": 0.5, "label": "Q"})
     or s["models"][1].update(label="Q"), r"models\[1\] and models\[2\] have the same label"),
    (lambda s: s["models"].append({"model": "ntk", "bias": 0.5}),
     r"models\[0\] and models\[2\] both get the row label 'NTK on raw x'"),
    (lambda s: s.update(name="../x"), r"name must be a name of letters"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_bad_spec_is_one_clear_line(mutate, message):
    spec = base_spec()
    mutate(spec)
    with pytest.raises(ConfigError) as exc:
        expand(spec)
    text = str(exc.value)
    assert re.search(message, text), text
    assert "\n" not in text


def test_errors_name_the_file_and_top_level_shape(tmp_path):
    p = tmp_path / "list.json"
    p.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"^list.json: a sweep file holds a table"):
        load_spec(str(p))
    p = tmp_path / "typo.toml"
    p.write_text('seed = [0]\n[[models]]\nmodel = "ntk"\n')
    with pytest.raises(ConfigError, match=r"^typo.toml: unknown field 'seed'"):
        load_spec(str(p))
    p = tmp_path / "broken.toml"
    p.write_text("d = [5,\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_spec(str(p))
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"unknown preset 'smok' \(did you mean 'smoke'\?\)"):
        load_spec("smok")


def test_zero_jobs_and_overrides_are_errors():
    spec = base_spec()
    spec["models"][0]["d"] = [5]
    spec["models"][1]["d"] = [5]
    with pytest.raises(ConfigError, match="the sweep has no jobs"):
        expand(spec, d=[6])
    with pytest.raises(ConfigError, match="--models ntk:repr matches no model"):
        expand(base_spec(), models=["ntk:repr"])
    with pytest.raises(ConfigError, match=r"unknown model 'qnet'"):
        expand(base_spec(), models=["qnet"])
    with pytest.raises(ConfigError, match="seeds must not be empty"):
        expand(base_spec(), seeds=[])
    with pytest.raises(ConfigError, match="target.rank = 3 exceeds d = 2"):
        expand(base_spec(target={"rank": 3}, d=[5]), d=[2])


# -- new fields ---------------------------------------------------------------------------------

def test_eps_may_be_a_list():
    assert eps_values(base_spec(eps=[0.7, 0.5, 0.3])) == [0.7, 0.5, 0.3]
    assert eps_values(base_spec(eps=0.5)) == [0.5]
    assert eps_values({}) == [0.1]
    # eps is read by the report, never by a job: it is not part of any key
    keys = {job_key(j) for j in expand(base_spec(eps=0.5))}
    assert keys == {job_key(j) for j in expand(base_spec(eps=[0.7, 0.5, 0.3]))}


def test_ratio_pairs_are_report_only_label_pairs():
    spec = base_spec(ratios=[["NTK on raw x", "Quad-Net on raw x"]])
    validate_spec(spec)
    assert ratio_pairs(spec) == [("NTK on raw x", "Quad-Net on raw x")]
    assert ratio_pairs(base_spec()) is None
    assert {job_key(j) for j in expand(spec)} == {job_key(j) for j in expand(base_spec())}
    with pytest.raises(ConfigError, match=r"ratios\[0\] must be a pair"):
        ratio_pairs(base_spec(ratios=[["NTK on raw x"]]))
    with pytest.raises(ConfigError, match="ratios"):
        validate_spec(base_spec(ratios="NTK on raw x / Quad-Net on raw x"))


def test_width_rules_resolve_to_even_integers():
    from hierlearn.targets import harmonic_dimension

    for d in (5, 10, 16):
        m = width_for({"per_harmonics": 2.0, "degree": 2}, d)
        assert m == 2 * harmonic_dimension(d, 2) + (2 * harmonic_dimension(d, 2)) % 2
        assert m % 2 == 0 and m >= 2 * harmonic_dimension(d, 2)
    assert width_for({"per_harmonics": 1.5, "degree": 2}, 5) == 22  # 1.5 * 14 = 21 -> 22
    assert width_for({"c": 1.0, "power": 2.0}, 7) == 50   # 49 -> 50
    assert width_for({"c": 0.5, "power": 2.0}, 6) == 18   # exactly 18 stays 18
    assert width_for(200, 7) == 200
    spec = base_spec()
    spec["models"][1]["width"] = {"per_harmonics": 2, "degree": 2}
    spec["models"].append({"model": "ntk", "width": {"c": 2, "power": 2}, "label": "rf"})
    jobs = expand(spec)
    nets = [j for j in jobs if j["model"] == "quadnet"]
    assert [j["width"] for j in nets] == [28, 28, 40, 40]  # 2 N(5,2) = 28, 2 N(6,2) = 40
    assert all(j["width_rule"] == {"per_harmonics": 2.0, "degree": 2} for j in nets)
    rf = [j for j in jobs if j.get("label") == "rf"]
    assert [j["width"] for j in rf] == [50, 50, 72, 72]
    # a rule names the curve across d, not the d-dependent width
    spec["models"][2].pop("label")
    rf = [j for j in expand(spec) if j["model"] == "ntk" and j["width"] is not None]
    assert {label(j) for j in rf} == {"NTK on raw x [m=2d^2]"}


def test_n_max_rules():
    legacy = {"n_min": 16, "n_max_c": 2.0, "n_max_power": 2, "n_cap": 60, "per_doubling": 2}
    rule = {"n_min": 16, "n_max": {"c": 2, "power": 2}, "n_cap": 60, "per_doubling": 2}
    for d in (3, 5, 7):
        assert n_grid(rule, d) == n_grid(legacy, d)
    assert n_grid(rule, 5)[-1] == 45  # capped at 60: the per-doubling sizes <= 60
    assert n_grid({"n_min": 8, "n_max": {"per_repr_width": 3}, "points": 2}, 5, D=25) == [8, 75]
    # a model's n_max replaces the sweep's n_max_c/n_max_power (it was silently ignored)
    spec = base_spec(n_grid={"n_min": 16, "n_max_c": 1.0, "n_max_power": 3, "points": 3})
    spec["models"][0]["n_grid"] = {"n_max": 40}
    spec["models"][1]["n_grid"] = {"n_max_power": 2}
    jobs = expand(spec, d=[5])
    assert {max(j["n_grid"]) for j in jobs if j["model"] == "ntk"} == {40}
    assert {max(j["n_grid"]) for j in jobs if j["model"] == "quadnet"} == {25}
    spec["models"][1]["n_grid"] = {"values": [10, 20]}
    assert {tuple(j["n_grid"]) for j in expand(spec) if j["model"] == "quadnet"} == {(10, 20)}


def test_n_max_from_predicted_nstar(monkeypatch):
    from hierlearn.bench import theory

    calls = []

    def fake(config, eps):
        calls.append((config["d"], config["seed"], eps))
        assert "n_grid" not in config and config["model"] == "ntk"
        return 10.0 * config["d"]

    monkeypatch.setattr(theory, "predicted_nstar_for_config", fake, raising=False)
    spec = base_spec(seeds=[0, 1, 2])
    spec["models"][0]["n_grid"] = {"n_max": {"predicted_eps": 0.3, "factor": 2}, "n_cap": 110}
    jobs = [j for j in expand(spec) if j["model"] == "ntk"]
    assert {j["d"]: max(j["n_grid"]) for j in jobs} == {5: 100, 6: 110}  # 2 x 50; 120 capped
    assert sorted(calls) == [(5, 0, 0.3), (6, 0, 0.3)]  # one prediction per config, not per seed

    def broken(config, eps):
        raise ValueError("no closed form for this kernel")

    monkeypatch.setattr(theory, "predicted_nstar_for_config", broken)
    with pytest.raises(ConfigError, match=r"models\[0\].n_grid.n_max: no predicted n\*\(0.3\) "
                       r"for NTK on raw x at d = 5 \(no closed form"):
        expand(spec)
    monkeypatch.setattr(theory, "predicted_nstar_for_config", lambda c, e: float("inf"))
    with pytest.raises(ConfigError, match="is inf, not a size"):
        expand(spec)


def test_model_subsets_and_flags_enter_the_config_only_when_set():
    plain = expand(base_spec())
    spec = base_spec()
    spec["models"][1].update(d=[6], n_test=300, randomized=False)
    spec["models"][0].update(test_error="sample")
    same = expand(spec)
    # defaults left out: the keys of the other jobs do not move
    plain_keys = {job_key(j) for j in plain}
    assert {job_key(j) for j in same if j["model"] == "ntk"} <= plain_keys
    nets = [j for j in same if j["model"] == "quadnet"]
    assert [j["d"] for j in nets] == [6, 6] and all(j["n_test"] == 300 for j in nets)
    assert all("randomized" not in j and "test_error" not in j for j in same)
    spec["models"][1].update(randomized=True, label="Quad-Net, randomized")
    spec["models"][0].update(test_error="exact")
    flagged = expand(spec)
    assert all(j["randomized"] is True and j["label"] == "Quad-Net, randomized"
               for j in flagged if j["model"] == "quadnet")
    assert all(j["test_error"] == "exact" for j in flagged if j["model"] == "ntk")
    assert not {job_key(j) for j in flagged} & plain_keys
    spec["models"][1].pop("label")
    assert label(expand(spec)[-1]) == "Quad-Net on raw x [randomized]"


def test_ints_and_floats_key_alike():
    a = base_spec()
    a["models"][0].update(bias=1, ridges=[1, 2])
    b = base_spec()
    b["models"][0].update(bias=1.0, ridges=[1.0, 2.0])
    assert [job_key(j) for j in expand(a)] == [job_key(j) for j in expand(b)]


# -- the schema is the documentation ----------------------------------------------------------

def test_docs_page_is_generated_from_the_schema():
    text = DOC.read_text()
    block = text.split(schema.BEGIN, 1)[1].split(schema.END, 1)[0]
    assert block.strip() == schema.reference_markdown().strip(), (
        "docs/sweep-format.md is out of date: run python -c \"from hierlearn.bench.schema "
        "import update_docs; update_docs('docs/sweep-format.md')\"")
    for section, fields in schema.SECTIONS.items():
        for name in fields:
            assert f"`{name}`" in text, (section, name)


def test_docs_examples_are_valid_sweeps():
    examples = re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(examples) >= 5
    for text in examples:
        spec = tomllib.loads(text)
        if "models" not in spec:  # a fragment: a model entry or a grid
            spec = {"d": [6, 8], "models": spec.get("models") or [{"model": "ntk",
                                                                     **spec}]}
        validate_spec(spec)


def test_activation_list_matches_the_kernels():
    from hierlearn.kernels import activation_names

    assert set(schema.ACTIVATIONS) == set(activation_names())


# -- fuzz: any spec gives jobs or one ConfigError, never another exception --------------------

_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=True),
                    st.sampled_from(["", "inf", "auto", "relu", "raw", "repr", "ntk", "x"]),
                    st.lists(st.integers(-1, 30), max_size=3),
                    st.dictionaries(st.sampled_from(["c", "power", "per_harmonics", "degree",
                                                     "per_repr_width", "n_min", "q"]),
                                    st.integers(-1, 4), max_size=2))


def _entries(section):
    names = sorted(schema.SECTIONS[section]) + ["bogus"]
    return st.dictionaries(st.sampled_from(names), _values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(top=_entries("sweep"), grid=_entries("n_grid"),
       models=st.lists(_entries("models").map(lambda m: {"model": "ntk", **m}), max_size=3))
def test_fuzz_specs_fail_only_with_config_error(top, grid, models):
    spec = copy.deepcopy(base_spec())
    spec.update(top)
    if isinstance(spec.get("n_grid"), dict):
        spec["n_grid"].update(grid)
    if models:
        spec["models"] = models
    try:
        jobs = expand(spec)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert jobs and all(json.loads(json.dumps(j)) == j for j in jobs)


def test_base_preset_fields_are_replaced_by_the_spec_s_own(tmp_path):
    child = tmp_path / "child.toml"
    child.write_text('base = "smoke"\nd = [7]\nseeds = [3]\n')
    spec = load_spec(str(child))
    smoke = load_spec("smoke")
    assert spec["name"] == "child" and spec["d"] == [7] and spec["models"] == smoke["models"]
    assert {j["d"] for j in expand(spec)} == {7} and {j["seed"] for j in expand(spec)} == {3}
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(f'base = "{b}"\n')
    b.write_text(f'base = "{a}"\n')
    with pytest.raises(ConfigError, match="circle of presets"):
        load_spec(str(a))
    (tmp_path / "bad.toml").write_text('base = "no_such_preset"\n')
    with pytest.raises(ConfigError, match="no_such_preset"):
        load_spec(str(tmp_path / "bad.toml"))
