"""The result store checks what it reads: damaged records are named, never used, and
recomputed by `run` (and only they); files are readable by others; runs are recorded."""

import hashlib
import json
import os
import shutil
import stat
import warnings

import numpy as np
import pandas as pd
import pytest

from hierlearn.bench.cli import main
from hierlearn.bench.config import ENGINE_VERSION, expand
from hierlearn.bench.execute import run_sweep
from hierlearn.bench.store import (DamagedRowsError, ResultStore, StoreWarning, check_rows,
                                   file_mode)


def tiny_spec(seeds=16):
    return {"name": "tiny", "eps": 0.6, "seeds": seeds, "d": [5], "n_test": 100,
            "target": {"degree": 4}, "n_grid": {"n_min": 16, "n_max": 64, "points": 3},
            "models": [{"model": "ntk"}]}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A results directory of 16 finished jobs, computed once for the module."""
    root = tmp_path_factory.mktemp("pristine") / "res"
    jobs = expand(tiny_spec())
    summary = run_sweep(jobs, ResultStore(root), backend="serial", progress=False)
    assert summary["computed"] == 16 > len(DAMAGE)
    return root, jobs


def _keys(root):
    return sorted(p.stem for p in (root / "runs").glob("*.json"))


def _csv(root, key):
    return root / "runs" / f"{key}.csv"


def _marker(root, key):
    return root / "runs" / f"{key}.json"


def _edit_marker(root, key, fn):
    meta = json.loads(_marker(root, key).read_text())
    fn(meta)
    _marker(root, key).write_text(json.dumps(meta))


def _garble_number(path):
    # change one digit of a test error: same length, still parses, wrong number
    lines = path.read_text().splitlines(keepends=True)
    cols = lines[0].rstrip("\n").split(",")
    cells = lines[2].rstrip("\n").split(",")
    i = cols.index("test_error")
    cells[i] = cells[i][:-1] + ("1" if cells[i][-1] != "1" else "2")
    lines[2] = ",".join(cells) + "\n"
    path.write_text("".join(lines))


def _legacy(root, key, fn=None):
    """Rewrite ``key`` as a format-1 record (no checksum), optionally damaging its rows."""
    _edit_marker(root, key, lambda m: [m.pop(k) for k in ("format", "rows", "run")])
    if fn is not None:
        fn(_csv(root, key))


#: damage class -> (how, the reason `scan` must give)
DAMAGE = {
    "truncated": (lambda r, k: _csv(r, k).write_bytes(_csv(r, k).read_bytes()[:150]),
                  "does not match its checksum"),
    "garbled number": (lambda r, k: _garble_number(_csv(r, k)), "does not match its checksum"),
    "duplicated row": (lambda r, k: _csv(r, k).write_text(
        _csv(r, k).read_text() + _csv(r, k).read_text().splitlines()[-1] + "\n"),
        "does not match its checksum"),
    "header only": (lambda r, k: _csv(r, k).write_text(_csv(r, k).read_text().splitlines()[0]
                                                      + "\n"), "does not match its checksum"),
    "binary junk": (lambda r, k: _csv(r, k).write_bytes(np.random.default_rng(0).bytes(700)),
                    "does not match its checksum"),
    "row file missing": (lambda r, k: _csv(r, k).unlink(), "row file runs/{key}.csv is missing"),
    "garbled marker": (lambda r, k: _marker(r, k).write_bytes(b'{"key": "' + b"\xff" * 20),
                       "is not valid JSON"),
    "marker checksum": (lambda r, k: _edit_marker(r, k, lambda m: m["rows"].update(
        sha256=hashlib.sha256(b"other").hexdigest())), "does not match its checksum"),
    "marker config": (lambda r, k: _edit_marker(r, k, lambda m: m["config"].update(seed=99)),
                      "config does not hash to its key"),
    "marker of another key": (lambda r, k: _edit_marker(r, k, lambda m: m.update(key="0" * 16)),
                              "names key '0000000000000000'"),
    # records written before checksums: checked against the row schema alone
    "legacy duplicated row": (lambda r, k: _legacy(r, k, lambda p: p.write_text(
        p.read_text() + p.read_text().splitlines()[-1] + "\n")), "has duplicated rows"),
    "legacy header only": (lambda r, k: _legacy(r, k, lambda p: p.write_text(
        p.read_text().splitlines()[0] + "\n")), "has a header but no rows"),
    "legacy truncated at a row": (lambda r, k: _legacy(r, k, lambda p: p.write_text(
        "".join(p.read_text().splitlines(keepends=True)[:-1]))), "the job's grid is"),
    "legacy garbled": (lambda r, k: _legacy(r, k, lambda p: p.write_text(
        p.read_text().replace(",", ";", 3))), "lacks the column"),
}


@pytest.fixture
def corrupted(pristine, tmp_path):
    """A copy of the pristine directory with one record damaged per class; returns (root,
    jobs, {key: class}, original rows)."""
    src, jobs = pristine
    root = tmp_path / "res"
    shutil.copytree(src, root)
    original = ResultStore(root).load().set_index(["key", "n"])
    keys = _keys(root)
    damaged = {}
    for key, (name, (how, _)) in zip(keys, DAMAGE.items()):
        how(root, key)
        damaged[key] = name
    return root, jobs, damaged, original


def test_every_damage_class_is_named_and_nothing_bad_is_used(corrupted):
    root, jobs, damaged, original = corrupted
    store = ResultStore(root)
    scan = store.scan()
    assert set(scan.damaged) == set(damaged)
    for key, name in damaged.items():
        expected = DAMAGE[name][1].format(key=key)
        assert expected in scan.damaged[key], (name, scan.damaged[key])
        assert "\n" not in scan.damaged[key]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = store.load()
    msgs = [str(w.message) for w in caught if issubclass(w.category, StoreWarning)]
    assert len(msgs) == len(damaged) and all("\n" not in m for m in msgs)
    assert all(any(k in m for m in msgs) for k in damaged)
    good = set(_keys(root)) - set(damaged)
    assert set(df["key"]) == good
    # the rows used are exactly the rows computed, bit for bit
    got = df.set_index(["key", "n"]).sort_index()
    want = original.loc[sorted(good)].sort_index()
    assert np.array_equal(got["test_error"].to_numpy(), want["test_error"].to_numpy())
    assert set(store.configs()) == good


def test_run_recomputes_only_the_damaged(corrupted):
    root, jobs, damaged, original = corrupted
    good = sorted(set(_keys(root)) - set(damaged))
    before = {k: (_csv(root, k).stat().st_mtime_ns, _marker(root, k).stat().st_mtime_ns)
              for k in good}
    store = ResultStore(root)
    summary = run_sweep(jobs, store, backend="serial", progress=False)
    assert sorted(summary["damaged"]) == sorted(damaged)
    assert summary["computed"] == len(damaged) and summary["skipped"] == len(good)
    assert {k: (_csv(root, k).stat().st_mtime_ns, _marker(root, k).stat().st_mtime_ns)
            for k in good} == before  # nothing good recomputed (or even rewritten)
    scan = store.scan()
    assert not scan.damaged and len(scan.good) == 16 and not scan.legacy
    df = store.load().set_index(["key", "n"]).sort_index()
    assert np.array_equal(df["test_error"].to_numpy(),
                          original.sort_index()["test_error"].to_numpy())
    moved = {p.name.split(".")[0] for p in (root / "damaged").iterdir()}
    assert moved == set(damaged)  # kept for inspection


def test_intact_legacy_record_is_adopted_not_recomputed(pristine, tmp_path):
    src, jobs = pristine
    root = tmp_path / "res"
    shutil.copytree(src, root)
    key = _keys(root)[0]
    _legacy(root, key)
    csv_mtime = _csv(root, key).stat().st_mtime_ns
    store = ResultStore(root)
    assert store.scan().legacy == {key} and key in store.finished_keys()
    summary = run_sweep(jobs, store, backend="serial", progress=False)
    assert summary["computed"] == 0
    assert _csv(root, key).stat().st_mtime_ns == csv_mtime
    meta = json.loads(_marker(root, key).read_text())
    assert meta["format"] == 2 and meta["rows"]["sha256"] == hashlib.sha256(
        _csv(root, key).read_bytes()).hexdigest()


def test_report_excludes_damaged_with_one_line_each(corrupted, capsys):
    root, _, damaged, _ = corrupted
    assert main(["report", str(root), "--n-boot", "5", "--no-theory"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "damaged result" in ln]
    assert len(lines) == len(damaged) and "Traceback" not in err
    assert all(ln.startswith("warning: StoreWarning: damaged result") for ln in lines)
    table = pd.read_csv(root / "results.csv", dtype={"key": str})
    assert not set(table["key"]) & set(damaged)


def test_write_refuses_rows_that_fail_the_schema(tmp_path):
    store = ResultStore(tmp_path)
    cfg = {"model": "ntk", "d": 5, "seed": 0, "n_grid": [4, 8]}
    good = pd.DataFrame({"label": ["x", "x"], "d": [5, 5], "seed": [0, 0], "n": [4, 8],
                         "test_error": [0.5, 0.25]})
    for bad, why in ((good.assign(test_error=[0.5, np.nan]), "test_error"),
                     (good.assign(n=[4, 4]), "duplicated rows"),
                     (good.assign(n=[4, 16]), r"the job's grid is \[4, 8\]"),
                     (good.assign(d=[6, 6]), "d values other than"),
                     (good.iloc[:0], "no rows"),
                     (good.drop(columns="test_error"), "lacks the column")):
        with pytest.raises(DamagedRowsError, match=why):
            store.write(cfg, bad)
    assert not store.runs.exists() or not any(store.runs.iterdir())
    key = store.write(cfg, good)
    assert store.finished_keys() == {key}


def test_check_rows_against_config():
    df = pd.DataFrame({"key": ["k", "k"], "version": ["1", "1"], "label": ["x", "x"],
                       "d": [5, 5], "seed": [0, 0], "n": [8, 4], "test_error": [0.1, 0.2]})
    assert "out of order" in check_rows(df, list(df.columns), key="k", version="1", config={})
    assert check_rows(df.iloc[::-1], list(df.columns), key="k", version="1", config={}) is None
    assert "another key" in check_rows(df, list(df.columns), key="j", version="1", config={})


def test_files_are_readable_by_others_and_runs_are_recorded(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert file_mode() == 0o644
        cfg = tmp_path / "spec.json"
        cfg.write_text(json.dumps(tiny_spec(seeds=2)))
        out = tmp_path / "res"
        assert main(["run", "--config", str(cfg), "--out", str(out), "--backend", "serial",
                     "--no-progress"]) == 0
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    (entry,) = json.loads((out / "manifest.json").read_text())["runs"]
    for pkg in ("hierlearn", "numpy", "scipy", "numba", "scikit-learn"):
        assert entry["versions"][pkg], pkg
    assert entry["engine_version"] == ENGINE_VERSION and entry["status"] == "finished"
    assert entry["command"].startswith("hierlearn run --config") and entry["computed"] == 2
    assert entry["spec_file_sha256"] == hashlib.sha256(cfg.read_bytes()).hexdigest()
    marker = json.loads(next((out / "runs").glob("*.json")).read_text())
    assert marker["run"]["run_id"] == entry["run_id"]
    assert marker["run"]["spec_sha256"] == entry["spec_sha256"]
    assert marker["info"]["worker"]["versions"]["numpy"] == entry["versions"]["numpy"]
