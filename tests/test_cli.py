"""The CLI checks every flag and the whole sweep file before a job starts: one line, exit 2,
no traceback (unless --debug); presets; warnings above the progress bar; job failures as
the worker's exception; the backend chosen by the sweep's size."""

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from hierlearn.bench import _args, models
from hierlearn.bench.cli import main
from hierlearn.bench.config import ConfigError, expand, load_spec, preset_path
from hierlearn.bench.execute import (_remote_job, check_runner_support, choose_backend,
                                     expected_seconds)

REPO = Path(__file__).resolve().parents[1]


def tiny_spec(**top):
    spec = {"name": "tiny", "eps": 0.6, "seeds": 2, "d": [5], "n_test": 100,
            "target": {"degree": 4}, "n_grid": {"n_min": 16, "n_max": 64, "points": 3},
            "models": [{"model": "ntk"}, {"model": "kq", "ridges": [1e-3, 1e-1]}]}
    spec.update(top)
    return spec


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    return lines[0]


BAD_FLAGS = [
    (["run", "--workers", "0"], "argument --workers: expected an integer in [1, 4096], got 0"),
    (["run", "--threads", "-2"], "argument --threads: expected an integer in [1, 1024]"),
    (["run", "--timeout", "0"], "argument --timeout: expected a number in (0, 3600]"),
    (["run", "--timeout", "nan"], "argument --timeout: expected a finite number"),
    (["run", "--seeds", str(10**12)], "N seeds must be in [1, 100000], got 1000000000000"),
    (["run", "--seeds", "0"], "N seeds must be in [1, 100000], got 0"),
    (["run", "--seeds", "1,1"], "a value is listed twice"),
    (["run", "--seeds", "x"], "expected a number of seeds N or a list"),
    (["run", "--d", "1"], "argument --d: expected an integer in [2, 100000], got 1"),
    (["run", "--d", "5,,6"], "empty entry"),
    (["run", "--eps", "0"], "argument --eps: expected a number in (0, 1], got '0'"),
    (["run", "--eps", "1.5"], "expected a number in (0, 1]"),
    (["run", "--models", "ntkk"], "unknown value 'ntkk' (did you mean 'ntk'?)"),
    (["run", "--backend", "gpu"], "argument --backend: invalid choice"),
    (["run", "--scheduler", "localhost"], "expected a scheduler address such as tcp://HOST"),
    (["report", "x", "--n-boot", "0"], "argument --n-boot: expected an integer in [1, 100000]"),
]


@pytest.mark.parametrize("argv, message", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in _one_error_line(capsys.readouterr().err)


BAD_FILES = [
    ("[1, 2]", "a sweep file holds a table of fields"),
    ('{"target": "x", "models": [{"model": "ntk"}]}', "target must be a table"),
    ('{"n_grid": 5, "models": [{"model": "ntk"}]}', "n_grid must be a table"),
    ('{"d": [], "models": [{"model": "ntk"}]}', "d must not be empty"),
    ('{"n_grid": {"values": []}, "models": [{"model": "ntk"}]}', "n_grid.values must not be empty"),
    ('{"eps": "x", "models": [{"model": "ntk"}]}', "eps must be a number in (0, 1]"),
    ('{"eps": -1, "models": [{"model": "ntk"}]}', "eps must be in (0, 1], got -1"),
    ('{"models": []}', "models must not be empty"),
    ('{"seed": [0], "dims": [5], "models": [{"model": "ntk"}]}', "unknown field 'seed' (did you "
     "mean 'seeds'?)"),
    ('{"d": [5], "models": [{"model": "ntk", "d": [6]}]}', "lists d = 6, which is not in"),
    ('{"d": [5], "models": [{"model": "ntk", "test_error": "exact"}]}',
     "test_error = 'exact' (NTK on raw x, d=5, seed=0) is not supported by this version"),
]


@pytest.mark.parametrize("text, message", BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_bad_sweep_files_stop_before_anything_runs(text, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models, "SUPPORTED_OPTIONS", (), raising=False)
    spec = tmp_path / "bad.json"
    spec.write_text(text)
    out = tmp_path / "out"
    assert main(["run", "--config", str(spec), "--out", str(out)]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not out.exists()  # nothing started, nothing written


def test_debug_shows_the_traceback(tmp_path, capsys):
    spec = tmp_path / "bad.json"
    spec.write_text('{"d": [], "models": [{"model": "ntk"}]}')
    with pytest.raises(ConfigError, match="d must not be empty"):
        main(["run", "--config", str(spec), "--debug"])
    with pytest.raises(ConfigError):
        main(["--debug", "run", "--config", str(spec)])


def test_unexpected_errors_are_one_line_with_exit_1(tmp_path, capsys, monkeypatch):
    import hierlearn.bench.execute as ex

    def broken(*a, **k):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(ex, "run_sweep", broken)
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(tiny_spec()))
    argv = ["run", "--config", str(spec), "--out", str(tmp_path / "o"), "--backend", "serial"]
    assert main(argv) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "RuntimeError: disk on fire (rerun with --debug for the traceback)" in line
    with pytest.raises(RuntimeError):
        main(argv + ["--debug"])


def test_out_must_be_a_directory(tmp_path, capsys):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(tiny_spec()))
    (tmp_path / "file").write_text("x")
    assert main(["run", "--config", str(spec), "--out", str(tmp_path / "file")]) == 2
    assert "exists and is not a directory" in _one_error_line(capsys.readouterr().err)


def test_presets_list_and_show(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("default", "paper", "smoke"):
        assert f"{name} " in out and load_spec(name)["description"] in out
    assert main(["presets", "--show", "smoke"]) == 0
    assert capsys.readouterr().out == preset_path("smoke").read_text()
    assert main(["presets", "--show", "smok"]) == 2
    assert "unknown preset 'smok' (did you mean 'smoke'?)" in capsys.readouterr().err


def test_warnings_and_failures_go_above_the_progress_bar(tmp_path, capsys, monkeypatch):
    """Warnings raised in jobs are printed once each as whole lines (tqdm.write), failed jobs
    as the job's exception in one line, and a list of eps is reported value by value."""
    real = models.run_job

    def noisy(config, *, threads=1):
        warnings.warn("ill-conditioned system, ridge raised", RuntimeWarning)
        if config["model"] == "kq" and config["seed"] == 1:
            raise ValueError("boom in the solver")
        return real(config, threads=threads)

    monkeypatch.setattr(models, "run_job", noisy)
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps(tiny_spec(eps=[0.7, 0.6])))
    out = tmp_path / "o"
    rc = main(["run", "--config", str(spec), "--out", str(out), "--backend", "serial",
               "--no-report"])
    assert rc == 1  # one job failed
    err = capsys.readouterr().err
    segments = [ln.split("\r")[-1] for ln in err.split("\n")]  # what is left on each line
    warned = [s for s in segments if s.startswith("warning in job ")]
    assert len(warned) == 1 and warned[0].endswith(
        "RuntimeWarning: ill-conditioned system, ridge raised")
    assert any(s.startswith("2 more job(s) raised warnings shown above") for s in segments)
    failed = [s for s in segments if " failed: " in s]
    assert len(failed) == 1 and failed[0].endswith("failed: ValueError: boom in the solver")
    assert "KRR with K_Q on raw x, d=5, seed=1" in failed[0]
    key = failed[0].split()[1]
    assert "Traceback" in (out / "errors" / f"{key}.txt").read_text()
    assert "Traceback" not in err and "warnings.warn" not in err
    assert main(["report", str(out), "--n-boot", "5", "--no-theory"]) == 0
    # one pass over every eps of the spec: nstar.csv has each eps, the table names them
    assert set(pd.read_csv(out / "nstar.csv")["eps"]) == {0.7, 0.6}
    assert "eps = 0.7, 0.6" in (out / "table.md").read_text()
    assert (out / "nstar.png").is_file() and (out / "nstar.pdf").is_file()


def test_backend_follows_the_expected_work():
    small = expand(tiny_spec())
    assert choose_backend(small, 2)[0] == "serial"
    assert choose_backend(small, 1)[0] == "serial"
    assert choose_backend(small, 8, "tcp://127.0.0.1:8786")[0] == "dask"
    default = expand(load_spec("default"))
    assert choose_backend(default, 2)[0] == "dask"  # minutes of work: the cluster pays off
    medium = [dict(j, n_grid=[2048, 4096]) for j in expand(tiny_spec(seeds=4))]
    secs = sum(expected_seconds(j) for j in medium)  # 8 kernel jobs of about 2 s
    assert 10 < secs < 60 and choose_backend(medium, 2)[0] == "processes"


def test_runner_options_need_the_runners_support(monkeypatch):
    spec = tiny_spec()
    spec["models"][0]["test_error"] = "exact"
    jobs = expand(spec)
    monkeypatch.setattr(models, "SUPPORTED_OPTIONS", (), raising=False)
    with pytest.raises(ConfigError, match="test_error = 'exact'"):
        check_runner_support(jobs)
    monkeypatch.setattr(models, "SUPPORTED_OPTIONS", ("test_error",), raising=False)
    check_runner_support(jobs)


def test_jobs_travel_by_reference_to_the_package():
    payload = pickle.dumps(_remote_job)
    assert b"hierlearn.bench.execute" in payload and str(REPO).encode() not in payload


def test_args_types_for_benchmarks():
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=_args.int_list(1, 10**6))
    p.add_argument("--ridge", type=_args.float_range(0, None, lo_open=True))
    p.add_argument("--repeats", type=_args.positive_int)
    a = p.parse_args(["--sizes", "100, 200", "--ridge", "1e-3", "--repeats", "3"])
    assert (a.sizes, a.ridge, a.repeats) == ([100, 200], 1e-3, 3)
    for bad in (["--sizes", "0"], ["--ridge", "0"], ["--repeats", "1.5"], ["--ridge", "inf"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)
    assert _args.seeds("3") == [0, 1, 2] and _args.seeds("4,9") == [4, 9]
    assert _args.scheduler_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"


def _clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return env


def test_entry_points_and_dask_config_address(tmp_path):
    # `python -m hierlearn` anywhere; `python -m bench` in a checkout
    r = subprocess.run([sys.executable, "-m", "hierlearn", "presets"], cwd=tmp_path,
                       env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "smoke" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=REPO, env=_clean_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "usage: hierlearn" in r.stdout, r.stderr
    # the scheduler address from Dask's own configuration
    env = dict(_clean_env(), DASK_SCHEDULER_ADDRESS="tcp://127.0.0.1:9")
    r = subprocess.run([sys.executable, "-m", "hierlearn", "run", "--preset", "smoke", "--out",
                        str(tmp_path / "r"), "--timeout", "1"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "using the Dask scheduler at tcp://127.0.0.1:9 from Dask's configuration" in r.stderr
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in _one_error_line(r.stderr)
