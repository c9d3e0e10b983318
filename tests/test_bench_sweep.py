"""bench sweeps: stable keys, atomic resumable store, kill-and-resume, Dask == serial, CLI errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hierlearn.bench.cli import main
from hierlearn.bench.config import ConfigError, expand, job_key, load_spec, preset_names
from hierlearn.bench.execute import run_sweep
from hierlearn.bench.store import ResultStore

REPO = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    # bench runs from the checkout: make it importable wherever the subprocess starts
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO)) if p)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return env


def tiny_spec(seeds=2, d=(5, 6), n_max=96, models=None):
    return {
        "name": "tiny", "eps": 0.6, "seeds": list(range(seeds)), "d": list(d), "n_test": 200,
        "target": {"degree": 4, "basis": "harmonic"},
        "n_grid": {"n_min": 16, "n_max": n_max, "points": 4},
        "models": models or [{"model": "ntk", "input": "raw"},
                             {"model": "kq", "input": "raw", "ridges": [1e-6, 1e-3, 1e-1]}],
    }


def _table(store):
    df = store.load()
    return df.drop(columns=["fit_time_s"]).sort_values(["key", "n"]).reset_index(drop=True)


# -- keys ---------------------------------------------------------------------------------

def test_job_keys_stable_across_processes_and_runs():
    jobs = expand(load_spec("default"))
    keys = [job_key(j) for j in jobs]
    assert len(set(keys)) == len(keys)
    code = ("import json,sys; from hierlearn.bench.config import expand, job_key, load_spec;"
            "print(json.dumps([job_key(j) for j in expand(load_spec('default'))]))")
    for hashseed in ("0", "12345"):  # Python's str hash salt must not leak into keys
        env = _env()
        env["PYTHONHASHSEED"] = hashseed
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
        assert json.loads(out) == keys
    # a pinned value: the key is SHA-256 of canonical JSON, independent of dict order
    cfg = {"model": "ntk", "d": 8, "ridges": [0.0, 1e-3], "seed": 0}
    assert job_key(cfg) == job_key(dict(reversed(list(cfg.items()))))
    assert job_key(cfg) == "c1c4099c9638241a"


def test_keys_only_depend_on_fields_a_model_reads():
    spec = tiny_spec()
    base = {job_key(j) for j in expand(spec) if j["model"] == "ntk"}
    spec["models"][1]["ridges"] = [1.0]  # change the K_Q job only
    assert base == {job_key(j) for j in expand(spec) if j["model"] == "ntk"}


def test_spec_errors_are_clear():
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_spec("nope")
    spec = tiny_spec()
    spec["models"].append({"model": "svm"})
    with pytest.raises(ConfigError, match=r"models\[2\]\.model must be one of"):
        expand(spec)
    spec = tiny_spec()
    spec["models"][0]["widht"] = 10
    with pytest.raises(ConfigError, match="widht"):
        expand(spec)
    with pytest.raises(ConfigError, match="seeds"):
        expand(tiny_spec(), seeds=[])
    assert {"default", "paper", "smoke"} <= set(preset_names())


def test_n_grid_per_doubling_keeps_sizes_up_to_n_max():
    from hierlearn.bench.config import n_grid

    assert n_grid({"n_min": 32, "n_max": 724, "per_doubling": 2}, 6)[-3:] == [362, 512, 724]
    assert n_grid({"n_min": 32, "n_max": 723, "per_doubling": 2}, 6)[-1] == 512
    assert n_grid({"n_min": 16, "n_max": 128, "per_doubling": 1}, 6) == [16, 32, 64, 128]


def test_longest_jobs_start_first():
    from hierlearn.bench.execute import expected_cost

    jobs = sorted(expand(load_spec("default")), key=expected_cost, reverse=True)
    secs = [expected_cost(j)[0] for j in jobs]
    assert secs == sorted(secs, reverse=True)
    # the costliest jobs are at the largest d, the cheapest at the smallest
    assert jobs[0]["d"] == max(j["d"] for j in jobs) and jobs[-1]["d"] == min(j["d"] for j in jobs)


def test_net_input_bias_field():
    """input_bias reaches the estimator and names the curve; 0 leaves the key unchanged."""
    from hierlearn.bench.config import label
    from hierlearn.bench.build import net_from_config

    net = {"model": "quadnet", "input": "repr", "repr_activation": "softplus", "width": 20}
    (plain,) = expand(tiny_spec(seeds=1, d=(5,), models=[net]))
    (zero,) = expand(tiny_spec(seeds=1, d=(5,), models=[dict(net, input_bias=0)]))
    (bias,) = expand(tiny_spec(seeds=1, d=(5,), models=[dict(net, input_bias=0.3)]))
    assert job_key(zero) == job_key(plain) and "input_bias" not in zero
    assert job_key(bias) != job_key(plain)
    assert label(bias) == label(plain) + " [input bias 0.3]"
    assert net_from_config(bias).input_bias == 0.3 and net_from_config(plain).input_bias == 0.0
    with pytest.raises(ConfigError, match=r"models\[0\]\.input_bias must be a number"):
        expand(tiny_spec(models=[dict(net, input_bias="big")]))
    with pytest.raises(ConfigError, match=r"input_bias does not apply to model 'ntk'"):
        expand(tiny_spec(models=[{"model": "ntk", "input_bias": 0.3}]))


# -- store --------------------------------------------------------------------------------

def test_matrix_free_kernel_jobs_match_dense(tmp_path, monkeypatch):
    """solver 'pcg' (and 'auto' past the memory guard) reproduces the dense kernel rows."""
    import hierlearn._memory as memory_mod
    from hierlearn.bench.models import run_job

    models = [{"model": "ntk", "input": "raw", "selection": "validation",
               "ridges": [1e-4, 1e-2], "solver": s, "label": s} for s in ("dense", "pcg")]
    jobs = expand(tiny_spec(seeds=1, d=(5,), n_max=80, models=models))
    dense, pcg = (run_job(j)[0] for j in jobs)
    for col in ("test_error", "train_error", "criterion", "reg"):
        np.testing.assert_allclose(pcg[col], dense[col], rtol=1e-5, err_msg=col)
    # "auto" is left out of the config (keys of earlier jobs unchanged); past the memory
    # guard it runs the matrix-free solver, with the same numbers
    auto = dict(models[0]); auto.pop("solver"); auto.pop("label")
    (job,) = expand(tiny_spec(seeds=1, d=(5,), n_max=80, models=[auto]))
    assert "solver" not in job
    monkeypatch.setattr(memory_mod, "available_memory", lambda: 10_000)
    np.testing.assert_allclose(run_job(job)[0]["test_error"], pcg["test_error"], rtol=1e-5)
    (gcv,) = expand(tiny_spec(seeds=1, d=(5,), n_max=80, models=[{"model": "ntk"}]))
    with pytest.raises(memory_mod.GramTooLargeError, match="set selection = 'validation'"):
        run_job(gcv)
    bad = dict(models[1], selection="gcv")
    with pytest.raises(ConfigError, match="solver 'pcg' chooses the ridge on held-out"):
        expand(tiny_spec(models=[bad]))
    with pytest.raises(ConfigError, match="solver must be one of"):
        expand(tiny_spec(models=[dict(models[1], solver="lsqr")]))


def test_store_atomic_and_versioned(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    cfg = {"model": "ntk", "d": 5, "seed": 0}
    rows = pd.DataFrame({"label": ["x", "x"], "d": [5, 5], "seed": [0, 0], "n": [4, 8],
                         "test_error": [0.5, 0.25]})
    key = store.write(cfg, rows)
    assert store.finished_keys() == {key}
    (store.runs / ".junk.csv.tmp").write_text("half-written")  # a killed writer's leftover
    store.write(cfg, rows)  # rewriting a key replaces it: no duplicate rows
    df = store.load()
    assert len(df) == 2 and set(df["key"]) == {key}
    assert df["test_error"].tolist() == [0.5, 0.25]
    # CSV without its JSON marker (killed between the two writes) is not finished
    (store.runs / f"{key}.json").unlink()
    assert store.finished_keys() == set()
    store.write(cfg, rows)
    import hierlearn.bench.store as bs
    monkeypatch.setattr(bs, "ENGINE_VERSION", "999")
    assert store.finished_keys() == set() and store.stale_keys() == {key}


# -- sweeps -------------------------------------------------------------------------------

def test_serial_sweep_resumes_and_skips(tmp_path):
    jobs = expand(tiny_spec())
    store = ResultStore(tmp_path / "a")
    s1 = run_sweep(jobs[:3], store, backend="serial", progress=False)
    assert (s1["computed"], s1["skipped"]) == (3, 0)
    s2 = run_sweep(jobs, store, backend="serial", progress=False)
    assert (s2["computed"], s2["skipped"]) == (len(jobs) - 3, 3)
    s3 = run_sweep(jobs, store, backend="serial", progress=False)
    assert (s3["computed"], s3["skipped"]) == (0, len(jobs))
    df = store.load()
    assert not df.duplicated(["key", "n"]).any()
    assert len(df) == sum(len(j["n_grid"]) for j in jobs)
    assert ((df["test_error"] > 0) & np.isfinite(df["test_error"])).all()
    # same seed -> same numbers: a fresh store reproduces the table exactly
    other = ResultStore(tmp_path / "b")
    run_sweep(jobs, other, backend="serial", progress=False)
    pd.testing.assert_frame_equal(_table(store), _table(other))


def test_killed_sweep_resumes_with_identical_results(tmp_path):
    spec = tiny_spec(seeds=24, d=(5,), n_max=300, models=[{"model": "ntk", "input": "raw"}])
    cfg = tmp_path / "spec.json"
    cfg.write_text(json.dumps(spec))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "bench", "run", "--config", str(cfg), "--out", str(out),
           "--backend", "serial", "--no-report", "--no-progress"]
    proc = subprocess.Popen(cmd, env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    runs = out / "runs"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    store = ResultStore(out)
    done_before = store.finished_keys()
    assert 3 <= len(done_before) < 24, "the sweep must be interrupted part-way"
    mtimes = {k: (runs / f"{k}.csv").stat().st_mtime_ns for k in done_before}
    rerun = subprocess.run(cmd, env=_env(), cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{24 - len(done_before)} computed, {len(done_before)} already finished" in rerun.stderr
    # nothing recomputed, nothing lost, no duplicates
    assert {k: (runs / f"{k}.csv").stat().st_mtime_ns for k in done_before} == mtimes
    assert len(store.finished_keys()) == 24
    full = ResultStore(tmp_path / "full")
    run_sweep(expand(spec), full, backend="serial", progress=False)
    resumed = _table(store)
    assert not resumed.duplicated(["key", "n"]).any()
    pd.testing.assert_frame_equal(resumed, _table(full))


@pytest.mark.parametrize("backend", ["dask", "processes"])
def test_parallel_backends_match_serial(tmp_path, backend):
    # dask: a real distributed.LocalCluster with two single-threaded worker *processes*
    if backend == "dask":
        pytest.importorskip("distributed")
    jobs = expand(tiny_spec())
    serial = ResultStore(tmp_path / "serial")
    run_sweep(jobs, serial, backend="serial", progress=False)
    par = ResultStore(tmp_path / backend)
    summary = run_sweep(jobs, par, backend=backend, workers=2, progress=False)
    assert summary["computed"] == len(jobs) and not summary["failed"]
    pd.testing.assert_frame_equal(_table(serial), _table(par))


# -- CLI ------------------------------------------------------------------------------------

def test_cli_errors_are_messages_not_tracebacks(capsys, tmp_path):
    assert main(["run", "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nope'" in err and "Traceback" not in err
    for bad in (["run", "--workers", "0"], ["run", "--d", "1"], ["run", "--seeds", "x"],
                ["run", "--backend", "gpu"], ["run", "--scheduler", "localhost"],
                ["run", "--eps", "-1"]):
        with pytest.raises(SystemExit) as exc:
            main(bad)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no finished results" in capsys.readouterr().err
    rc = main(["quadnet"]) if not _has("hierlearn.bench.quadnet_bench") else 0
    if rc:
        assert rc != 0 and "not available" in capsys.readouterr().err


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_cli_unreachable_scheduler(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--preset", "smoke", "--out",
                        str(tmp_path / "r"), "--scheduler", "tcp://127.0.0.1:9", "--timeout", "1"],
                       env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_run_and_report_write_table_and_figures(tmp_path, capsys):
    cfg = tmp_path / "spec.json"
    cfg.write_text(json.dumps(tiny_spec()))
    out = tmp_path / "res"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--backend", "serial",
                 "--no-progress"]) == 0
    for name in ("results.csv", "table.csv", "table.md", "learning_curves.png", "nstar.png",
                 "spec.json"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "table.csv")
    assert set(table["label"]) == {"NTK on raw x", "KRR with K_Q on raw x"}
    assert (table["paper_exponent"] == 4).all()
    (out / "nstar.png").unlink()
    assert main(["report", str(out), "--n-boot", "10"]) == 0
    assert (out / "nstar.png").stat().st_size > 10_000
    assert "| NTK on raw x |" in capsys.readouterr().out


def test_embedded_cluster_leaves_parent_environment_alone():
    # Regression: distributed's nannies applied the worker pinning (NUMBA_NUM_THREADS=1)
    # to this process, and numba's next compilation then raised RuntimeError.
    from hierlearn.bench.execute import _PIN_ENV, connect_dask

    before = {k: os.environ.get(k) for k in _PIN_ENV}
    client, cluster = connect_dask(None, 1)
    try:
        assert {k: os.environ.get(k) for k in _PIN_ENV} == before
    finally:
        client.close()
        cluster.close()


# -- determinism under load ------------------------------------------------------------------

@pytest.mark.parametrize("threads, nets", [(1, True), (2, False)])
def test_sweep_rows_identical_on_a_quiet_and_a_busy_machine(tmp_path, threads, nets):
    """Same seeds and thread setting: bit-identical stored numbers with and without two
    CPU-burning processes competing for the cores (kernel ridge, and a trained net with one
    thread: its tiny products on two contended BLAS threads took 40 s here instead of 10)."""
    models = [{"model": "ntk", "input": "raw"}]
    if nets:
        models.append({"model": "quadnet", "input": "raw", "width": 8, "max_iter": 40})
    jobs = expand(tiny_spec(seeds=2, d=(5,), n_max=64, models=models))

    def numbers(name):
        store = ResultStore(tmp_path / name)
        run_sweep(jobs, store, backend="serial", threads=threads, progress=False)
        df = _table(store)
        return df.select_dtypes("number")

    quiet = numbers("quiet")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                start_new_session=True) for _ in range(2)]
    try:
        busy = numbers("busy")
    finally:
        for p in burners:
            p.kill()
            p.wait(timeout=10)
    assert list(quiet.columns) == list(busy.columns) and len(quiet) == sum(len(j["n_grid"]) for j in jobs)
    for col in quiet.columns:
        assert np.array_equal(quiet[col].to_numpy(float), busy[col].to_numpy(float),
                              equal_nan=True), col
