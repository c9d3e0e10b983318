"""A sweep on a real Dask cluster whose workers have only the installed wheel.

Builds a wheel of this checkout (offline: ``pip wheel --no-deps --no-build-isolation`` from a
copy of the source), installs it (not editable) into a fresh virtual environment that sees
this environment's dependencies through a ``.pth`` file but not its hierlearn, starts
``dask scheduler`` and ``dask worker`` from that environment as separate processes working
outside the checkout (loopback only), and runs a small sweep through the installed
``hierlearn`` console script, with the address taken from ``DASK_SCHEDULER_ADDRESS``. Then a
failing job sent from this process shows the worker's exception in one line. Every process
and folder is cleaned up, also on failure; every step has a time limit.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("setuptools")
pytest.importorskip("wheel", reason="the test extra (pip install -e '.[test]') provides wheel")

from hierlearn.bench.config import expand  # noqa: E402
from hierlearn.bench.execute import run_sweep  # noqa: E402
from hierlearn.bench.store import ResultStore  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 420
SPEC = """
name = "cluster"
eps = 0.6
seeds = [0, 1]
d = [5]
n_test = 200
[target]
degree = 4
[n_grid]
values = [16, 32]
# Small trained nets: kernel jobs would spend a minute compiling the numba Gram builders in
# the fresh environment (numba's cache is keyed by the source path); these compile little.
[[models]]
model = "quadnet"
width = 8
max_iter = 3        # too few on purpose: the worker's ConvergenceWarning must come back
[[models]]
model = "linnet"
width = 8
max_iter = 30
"""


def _copy_source(dst: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "build", "dist", "results", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".hypothesis", "*.pyc")
    shutil.copytree(REPO, dst, ignore=ignore)
    return dst


def _dependency_paths() -> list[str]:
    """This environment's site-packages folders (not the checkout, not its hierlearn).

    A path listed in a .pth file is added to sys.path, but the .pth files inside it are not
    run: the editable install's import hook stays off."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    paths |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    return sorted(p for p in paths if Path(p).is_dir() and REPO not in Path(p).parents
                  and Path(p) != REPO and not (Path(p) / "hierlearn" / "__init__.py").exists())


class _Clock:
    def __init__(self, budget):
        self.end = time.monotonic() + budget

    def left(self, cap=None):
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the cluster test ran out of time")
        return left if cap is None else min(left, cap)


def _run(cmd, clock, cap, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=clock.left(cap), **kw)
    assert r.returncode == 0, f"{cmd[:4]} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _install(tmp: Path, clock) -> Path:
    """The venv's python, with the freshly built wheel installed."""
    src = _copy_source(tmp / "src")
    wheels = tmp / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", str(wheels), str(src)], clock, 180, cwd=tmp)
    (wheel,) = wheels.glob("hierlearn-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], clock, 60)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True,
                             timeout=clock.left(30), check=True).stdout.strip()
    Path(purelib, "_ci_dependencies.pth").write_text("\n".join(_dependency_paths()) + "\n")
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q",
          str(wheel)], clock, 120, cwd=tmp)
    return py


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DASK_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONNOUSERSITE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", **extra)
    return env


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=15)


def _start_cluster(py: Path, work: Path, clock, procs) -> str:
    sched_file = work / "scheduler.json"
    log = lambda name: open(work / f"{name}.log", "w")  # noqa: E731
    procs.append(subprocess.Popen(
        [str(py), "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(sched_file)],
        cwd=work, env=_env(), stdout=log("scheduler"), stderr=subprocess.STDOUT,
        start_new_session=True))
    while not sched_file.exists() or not sched_file.read_text().strip():
        assert procs[0].poll() is None, (work / "scheduler.log").read_text()
        clock.left()
        time.sleep(0.2)
    address = json.loads(sched_file.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:")
    procs.append(subprocess.Popen(
        [str(py), "-m", "dask", "worker", "--scheduler-file", str(sched_file), "--nworkers", "1",
         "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard", "--local-directory",
         str(work / "dask-worker")],
        cwd=work, env=_env(), stdout=log("worker"), stderr=subprocess.STDOUT,
        start_new_session=True))
    return address


def test_sweep_on_a_real_cluster_from_an_installed_wheel(tmp_path, capsys):
    clock = _Clock(BUDGET_S)
    work = tmp_path / "work"  # outside the checkout: the cwd of every process
    work.mkdir()
    procs = []
    try:
        py = _install(tmp_path, clock)
        where = _run([str(py), "-c", "import hierlearn.bench.execute as m; print(m.__file__)"],
                     clock, 60, cwd=work, env=_env()).stdout.strip()
        assert Path(where).is_relative_to(tmp_path / "venv"), where  # the wheel, not the checkout
        site = Path(where).parents[2]  # site-packages/hierlearn/bench/execute.py
        clashes = [n for n in ("kernels", "solvers", "targets", "bench") if (site / n).exists()]
        assert not clashes, f"the wheel installs top-level packages {clashes}"
        address = _start_cluster(py, work, clock, procs)
        (work / "spec.toml").write_text(SPEC)
        out = work / "out"
        r = subprocess.run(
            [str(py.parent / "hierlearn"), "run", "--config", "spec.toml", "--out", str(out),
             "--no-progress", "--no-report", "--timeout", "120"],
            cwd=work, env=_env(DASK_SCHEDULER_ADDRESS=address), capture_output=True, text=True,
            timeout=clock.left(240))
        logs = "".join((work / f"{n}.log").read_text()[-2000:] for n in ("scheduler", "worker"))
        assert r.returncode == 0, r.stderr + logs
        assert f"using the Dask scheduler at {address} from Dask's configuration" in r.stderr
        assert "done in" in r.stderr and "4 computed" in r.stderr and "[dask]" in r.stderr
        # the worker's warnings come back and are printed once each
        assert "ConvergenceWarning: QuadNetRegressor: " in r.stderr
        store = ResultStore(out)
        markers = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
        assert len(markers) == 4 and not store.scan().damaged
        hosts = {m["info"]["worker"]["pid"] for m in markers}
        assert len(hosts) == 1 and procs[1].pid not in hosts  # computed by the worker process
        # the same numbers as in this process, bit for bit
        jobs = expand({**__import__("tomllib").loads(SPEC)})
        here = ResultStore(tmp_path / "here")
        run_sweep(jobs, here, backend="serial", progress=False)
        a, b = (s.load().sort_values(["key", "n"]) for s in (store, here))
        assert np.array_equal(a["test_error"].to_numpy(), b["test_error"].to_numpy())
        # a job that fails on the worker: its exception, one line, traceback in errors/
        capsys.readouterr()
        bad = dict(jobs[0], activation="nope")
        summary = run_sweep([bad], ResultStore(work / "bad"), backend="dask", scheduler=address,
                            progress=False, timeout=60)
        err = capsys.readouterr().err
        (key,) = summary["failed"]
        line = next(ln for ln in err.splitlines() if " failed: " in ln)
        assert line.startswith(f"job {key} (Quad-Net on raw x, d=5, seed=0) failed: ValueError: ")
        assert "'nope'" in line
        assert "Traceback" in (work / "bad" / "errors" / f"{key}.txt").read_text()
    finally:
        _stop(procs)
        shutil.rmtree(tmp_path / "venv", ignore_errors=True)
        shutil.rmtree(tmp_path / "src", ignore_errors=True)
