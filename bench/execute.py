"""Execute a sweep serially, on local processes or on Dask, writing each finished key.

Workers only compute: they return a job's rows to the client process, which checks them and
writes them to the :class:`~hierlearn.bench.store.ResultStore` as each job completes. So the
store has a single writer (no races), works with a remote cluster that does not share the
file system, and a sweep killed at any moment keeps every job that had been written.

Jobs travel by reference to ``_remote_job`` in ``hierlearn.bench.execute`` (never to a
checkout path), so any worker with hierlearn installed runs them; a remote cluster is checked
first (:func:`connect_dask`: workers present, hierlearn importable there), and each job
reports the engine version it ran with. A failed job is shown as the worker's exception
(type and message, one line per job) with the traceback in ``errors/KEY.txt``. Warnings
raised inside jobs are collected by the worker and printed once each by the client above
the progress bar (tqdm), never through it.

Thread pinning: each job runs with BLAS and numba limited to ``threads`` (default 1) through
threadpoolctl and ``numba.set_num_threads``; embedded Dask workers and local processes also
start with OMP/OPENBLAS/MKL/NUMBA thread variables set to 1, so W workers use W cores.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib.metadata
import importlib.util
import multiprocessing
import os
import platform
import sys
import time
import traceback
import uuid
import warnings

from hierlearn import _measured

from .config import ENGINE_VERSION, KERNEL_MODELS, ConfigError, job_key
from .store import DamagedRowsError, ResultStore, _utc_now, atomic_write_text, describe_job

__all__ = ["run_sweep", "connect_dask", "choose_backend", "expected_seconds",
           "package_versions", "scheduler_address", "check_runner_support",
           "SchedulerUnreachable", "ClusterError", "BACKENDS", "RUNNER_OPTIONS"]

BACKENDS = ("auto", "dask", "processes", "serial")
#: Packages whose versions every run and every job records.
PACKAGES = ("hierlearn", "numpy", "scipy", "numba", "scikit-learn", "pandas", "dask",
            "distributed")
#: Job-config options that need the job runner's support (hierlearn.bench.models lists the
#: ones it reads in SUPPORTED_OPTIONS); a job using another one is refused before the sweep
#: starts instead of silently running without it.
RUNNER_OPTIONS = ("randomized", "test_error")

_PIN_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1"}


class SchedulerUnreachable(RuntimeError):
    """The Dask scheduler given with ``--scheduler`` could not be contacted."""


class ClusterError(RuntimeError):
    """The Dask cluster cannot run hierlearn jobs (no workers, hierlearn not installed)."""


def package_versions() -> dict:
    """Python and the versions of ``PACKAGES`` (None where not installed)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _warning_line(w) -> str:
    text = str(w.message).strip().splitlines()
    return f"{w.category.__name__}: {text[0] if text else ''}"[:300]


def _remote_job(config: dict, threads: int):
    """Run one job where it lands; returns (rows, info). Module-level, so it pickles by
    reference (``hierlearn.bench.execute._remote_job``) for processes and Dask workers."""
    from hierlearn.bench.models import run_job

    with warnings.catch_warnings(record=True) as caught:
        rows, info = run_job(config, threads=threads)
    seen = {}
    for w in caught:
        line = _warning_line(w)
        seen[line] = seen.get(line, 0) + 1
    info = dict(info)
    info["warnings"] = [line + (f" (x{k})" if k > 1 else "") for line, k in seen.items()]
    info["worker"] = {"host": platform.node(), "pid": os.getpid(), "threads": threads,
                      "engine_version": ENGINE_VERSION, "versions": package_versions()}
    return rows, info


def _init_process():
    os.environ.update(_PIN_ENV)


def _say(msg: str) -> None:
    """Print one line to stderr above any progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stderr)


@contextlib.contextmanager
def warnings_above_bar():
    """Show warnings raised in this process as one line each above the progress bar."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message).strip().splitlines()
        _say(f"warning: {category.__name__}: {text[0] if text else ''}")

    old = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = old


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="job", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _job_error(exc: BaseException, tb=None) -> tuple[str, str]:
    """(one line "Type: message", full traceback text) of a job's exception."""
    text = str(exc).strip().splitlines()
    one = f"{type(exc).__name__}: {text[0] if text else ''}".strip()
    full = "".join(traceback.format_exception(type(exc), exc, tb if tb is not None
                                              else exc.__traceback__))
    return (one if len(one) <= 300 else one[:297] + "..."), full


# -- cost model and backend choice ----------------------------------------------------------

def expected_seconds(cfg: dict) -> float:
    """Rough one-thread wall time of a job (constants in :mod:`hierlearn._measured`).

    Kernel jobs: ``SWEEP_KERNEL_S_PER_N3 * n_max^3`` (one eigendecomposition of the largest
    Gram dominates). Trained nets: per size n, ``SWEEP_NET_S_PER_SIZE + SWEEP_NET_S_PER_UNIT
    * n * m * F * max_iter / 500`` (F input features: d or D), times
    ``SWEEP_RANDOMIZED_FACTOR`` for the faithful learner. Plus ``SWEEP_JOB_S``.
    """
    if cfg["model"] in KERNEL_MODELS:
        work = _measured.SWEEP_KERNEL_S_PER_N3 * float(max(cfg["n_grid"])) ** 3
    else:
        features = cfg.get("repr_width") or cfg["d"]
        scale = cfg.get("max_iter", 500) / 500.0
        work = sum(_measured.SWEEP_NET_S_PER_SIZE + _measured.SWEEP_NET_S_PER_UNIT * n
                   * cfg["width"] * features * scale for n in cfg["n_grid"])
        if cfg.get("randomized"):
            work *= _measured.SWEEP_RANDOMIZED_FACTOR
    return _measured.SWEEP_JOB_S + work


def expected_cost(cfg: dict) -> tuple:
    """Sort key for the order jobs start in: the costliest first (longest-processing-time
    order), so that on a few workers the last job does not run alone for minutes."""
    return (expected_seconds(cfg), job_key(cfg))


def choose_backend(jobs: list[dict], workers: int, scheduler: str | None = None):
    """``(backend, reason)`` for ``backend="auto"``.

    A scheduler address means Dask. Otherwise, from the expected seconds of the jobs
    (:func:`expected_seconds`): serial when the parallel makespan (max of total / workers
    and the longest job) plus :data:`~hierlearn._measured.PROCESS_STARTUP_S` is no faster,
    the embedded Dask cluster when its start (:data:`~hierlearn._measured.DASK_STARTUP_S`)
    is under a tenth of the makespan, local processes in between (or when dask is absent).
    """
    if scheduler:
        return "dask", f"Dask scheduler {scheduler}"
    secs = [expected_seconds(c) for c in jobs]
    total = sum(secs)
    makespan = max(total / max(workers, 1), max(secs, default=0.0))
    est = f"expected about {total:.2g} s of work" if total < 10 else \
        f"expected about {total:.0f} s of work"
    if workers <= 1 or total <= makespan + _measured.PROCESS_STARTUP_S:
        return "serial", f"{est}: too little to gain from {workers} worker(s)"
    has_dask = importlib.util.find_spec("distributed") is not None
    if makespan < 10 * _measured.DASK_STARTUP_S or not has_dask:
        return "processes", f"{est}: {workers} local processes" + (
            "" if has_dask else " (dask[distributed] is not installed)")
    return "dask", f"{est}: embedded Dask cluster of {workers} workers"


def scheduler_address(explicit: str | None = None):
    """``(address, source)``: the explicit one, else Dask's configuration
    (``DASK_SCHEDULER_ADDRESS`` or ``scheduler-address`` in a dask config file), else
    ``(None, None)``."""
    if explicit:
        return explicit, "--scheduler"
    if importlib.util.find_spec("dask") is None:
        return None, None
    import dask.config

    addr = dask.config.get("scheduler-address", None)
    return (str(addr), "Dask's configuration (DASK_SCHEDULER_ADDRESS / scheduler-address)") \
        if addr else (None, None)


def check_runner_support(jobs: list[dict]) -> None:
    """ConfigError if a job sets an option of :data:`RUNNER_OPTIONS` that the job runner
    (hierlearn.bench.models.SUPPORTED_OPTIONS) does not read."""
    from . import models

    supported = set(getattr(models, "SUPPORTED_OPTIONS", ()))
    for cfg in jobs:
        for opt in RUNNER_OPTIONS:
            if opt in cfg and opt not in supported:
                raise ConfigError(f"{opt} = {cfg[opt]!r} ({describe_job(cfg)}) is not supported "
                                  "by this version's job runner (hierlearn.bench.models); it "
                                  "would run without it")


# -- backends ---------------------------------------------------------------------------------

def _iter_serial(todo, threads):
    for cfg in todo:
        try:
            yield cfg, _remote_job(cfg, threads), None
        except Exception as exc:
            yield cfg, None, _job_error(exc)


def _iter_processes(todo, threads, workers):
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                initializer=_init_process) as pool:
        futs = {pool.submit(_remote_job, cfg, threads): cfg for cfg in todo}
        try:
            for fut in cf.as_completed(futs):
                cfg = futs[fut]
                try:
                    yield cfg, fut.result(), None
                except Exception as exc:
                    yield cfg, None, _job_error(exc)
        finally:
            for f in futs:
                f.cancel()


def _check_cluster(client, address: str, timeout: float) -> None:
    """Workers present and hierlearn importable on each (before any job is sent)."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError):
        raise ClusterError(f"the Dask scheduler at {address!r} has no workers (waited "
                           f"{timeout:g} s); start `dask worker {address}` in an environment "
                           "with hierlearn installed (docs/cluster.md)") from None
    found = client.run(importlib.metadata.version, "hierlearn", on_error="return")
    bad = {w: v for w, v in found.items() if isinstance(v, BaseException)}
    mine = package_versions()["hierlearn"]
    if bad:
        worker, exc = next(iter(bad.items()))
        raise ClusterError(f"{len(bad)} of {len(found)} Dask workers cannot find hierlearn "
                           f"(worker {worker}: {type(exc).__name__}: {exc}); install hierlearn "
                           f"{mine} in the workers' environment (docs/cluster.md)")
    other = sorted({v for v in found.values() if v != mine})
    if other:
        _say(f"warning: Dask workers run hierlearn {', '.join(other)}, this client {mine}; "
             "jobs computed by another engine version are refused")


def connect_dask(scheduler: str | None, workers: int, timeout: float = 10.0):
    """``(client, cluster)``: a client of ``scheduler`` (cluster None) if given, checked with
    ``_check_cluster``, else of a new embedded LocalCluster.

    Raises
    ------
    SchedulerUnreachable
        When ``scheduler`` cannot be reached within ``timeout`` seconds.
    ClusterError
        When it has no workers or they lack hierlearn.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s "
                f"({type(exc).__name__}: {exc})") from None
        try:
            _check_cluster(client, scheduler, timeout)
        except BaseException:
            client.close()
            raise
        return client, None
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    env.update(_PIN_ENV)
    # silence_logs=CRITICAL: a worker's heartbeat racing the scheduler's shutdown logs an
    # ERROR traceback after the last job; failed jobs are reported by run_sweep itself.
    # The embedded nannies live in this process and apply pre-spawn-environ to its own
    # os.environ. Left there, NUMBA_NUM_THREADS=1 makes numba's next config reload (at
    # any later compilation) raise, since this process already launched its threads.
    saved = {k: os.environ.get(k) for k in env}
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Client(cluster), cluster


def _iter_dask(todo, threads, client, cluster):
    from distributed import as_completed

    try:
        futs = client.map(_remote_job, todo, threads=threads, pure=False,
                          key=[f"hierlearn-job-{job_key(c)}" for c in todo])
        cfg_of = {f.key: c for f, c in zip(futs, todo)}
        try:
            for fut in as_completed(futs):
                cfg = cfg_of[fut.key]
                try:
                    result = fut.result()
                except Exception as exc:  # the worker's own exception, with its traceback
                    tb = fut.traceback() if fut.status == "error" else None
                    yield cfg, None, _job_error(exc, tb)
                else:
                    yield cfg, result, None
        finally:
            client.cancel(futs)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# -- the sweep --------------------------------------------------------------------------------

class _WarningRelay:
    """Print each distinct warning of the jobs once (above the bar); count the repeats."""

    def __init__(self):
        self.seen, self.repeats = set(), 0

    def add(self, key: str, cfg: dict, lines) -> None:
        for line in lines:
            core = line.rsplit(" (x", 1)[0]
            if core in self.seen:
                self.repeats += 1
                continue
            self.seen.add(core)
            _say(f"warning in job {key} ({describe_job(cfg)}): {line}")

    def close(self) -> None:
        if self.repeats:
            _say(f"{self.repeats} more job(s) raised warnings shown above (each job's warnings "
                 "are in its marker, runs/KEY.json, info.warnings)")


def _prepare(jobs, store: ResultStore, force: bool):
    """Verify the store: damaged records of this sweep are moved aside (and recomputed),
    format-1 records that pass the row checks get checksums. Returns (todo, damaged keys)."""
    scan = store.scan()
    by_key = {job_key(c): c for c in jobs}
    damaged = []
    for key, reason in sorted(scan.damaged.items()):
        if key in by_key:
            store.quarantine(key)
            _say(f"damaged result {key} ({describe_job(by_key[key])}): {reason}; moved to "
                 "damaged/ and recomputing")
            damaged.append(key)
        else:
            _say(f"damaged result {key}: {reason}; not a job of this sweep, left in place "
                 "(report leaves it out)")
    adopted = [k for k in sorted(scan.legacy) if store.adopt(k)]
    if adopted:
        _say(f"{len(adopted)} result(s) written before checksums passed the row checks and "
             "now carry checksums")
    finished = set() if force else set(scan.good)
    todo, seen = [], set()
    for cfg in jobs:
        key = job_key(cfg)
        if key in finished or key in seen:
            continue
        seen.add(key)
        todo.append(cfg)
    return todo, damaged


def _store_result(store, cfg, result, run, relay):
    """Write one job's rows; returns None, or (one line, text) when they cannot be used."""
    rows, info = result
    key = job_key(cfg)
    theirs = (info.get("worker") or {}).get("engine_version", ENGINE_VERSION)
    if theirs != ENGINE_VERSION:
        msg = (f"the worker computed it with engine version {theirs}, this client has "
               f"{ENGINE_VERSION}: install the same hierlearn on the workers")
        return msg, msg + "\n"
    relay.add(key, cfg, info.get("warnings", ()))
    try:
        store.write(cfg, rows, info=info, run=run)
    except DamagedRowsError as exc:
        return str(exc), str(exc) + "\n"
    err = store.root / "errors" / f"{key}.txt"
    if err.exists():
        err.unlink()
    return None


def _execute(todo, store, backend, workers, scheduler, threads, progress, timeout, summary,
             run) -> None:
    if backend == "serial":
        it = _iter_serial(todo, threads)
    elif backend == "processes":
        it = _iter_processes(todo, threads, workers)
    else:  # connect first: an unreachable scheduler fails before any progress output
        client, cluster = connect_dask(scheduler, workers, timeout)
        it = _iter_dask(todo, threads, client, cluster)
    bar = _progress(summary["total"], summary["skipped"], progress, f"sweep [{backend}]")
    relay = _WarningRelay()
    try:
        with warnings_above_bar():
            for cfg, result, error in it:
                key = job_key(cfg)
                if error is None:
                    error = _store_result(store, cfg, result, run, relay)
                if error is not None:
                    summary["failed"].append(key)
                    atomic_write_text(store.root / "errors" / f"{key}.txt", error[1])
                    _say(f"job {key} ({describe_job(cfg)}) failed: {error[0]}")
                else:
                    summary["computed"] += 1
                bar.update(1)
    finally:
        bar.close()
        close = getattr(it, "close", None)
        if close is not None:
            close()
        relay.close()


def _check_args(backend, workers, scheduler, threads, timeout):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if scheduler is not None and backend not in ("dask", "auto"):
        raise ValueError("scheduler is only used by backend='dask'")
    for name, v in (("workers", workers), ("threads", threads)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def run_sweep(jobs: list[dict], store: ResultStore, *, backend: str = "auto",
              workers: int | None = None, scheduler: str | None = None, threads: int = 1,
              progress: bool = True, force: bool = False, timeout: float = 10.0,
              run_info: dict | None = None) -> dict:
    """Run every unfinished job of ``jobs`` and write each to ``store`` as it finishes.

    Parameters
    ----------
    jobs : list of dict
        Job configs from :func:`hierlearn.bench.config.expand`.
    store : ResultStore
        Verified first: damaged records of these jobs are moved to ``damaged/`` and
        recomputed (one line each says which and why); verified ones are skipped.
    backend : {"auto", "dask", "processes", "serial"}, default="auto"
        ``auto``: :func:`choose_backend`. ``dask`` uses ``scheduler`` when given, else an
        embedded LocalCluster of ``workers`` single-threaded worker processes.
    workers : int, optional
        Local workers (default: the number of CPUs).
    scheduler : str, optional
        Address of an existing Dask scheduler, e.g. ``tcp://host:8786``.
    threads : int, default=1
        BLAS/numba threads per job.
    progress : bool, default=True
        Show a tqdm bar of finished/total jobs with the time left.
    force : bool, default=False
        Recompute finished keys too.
    timeout : float, default=10
        Seconds to wait for the scheduler and its first worker.
    run_info : dict, optional
        Recorded in manifest.json with this run (command, spec name and hash); its
        ``spec_sha256`` also goes into every marker written.

    Returns
    -------
    dict
        ``total``, ``skipped`` (finished before), ``computed``, ``failed`` (list of keys),
        ``damaged`` (keys recomputed because their records were damaged), ``backend``,
        ``backend_reason``, ``elapsed_s``.
    """
    _check_args(backend, workers, scheduler, threads, timeout)
    check_runner_support(jobs)
    workers = workers or os.cpu_count() or 1
    todo, damaged = _prepare(jobs, store, force)
    todo.sort(key=expected_cost, reverse=True)
    if backend == "auto":
        backend, reason = choose_backend(todo, workers, scheduler) if todo else ("serial", "")
        if todo:
            _say(f"backend: {backend} ({reason})")
    else:
        reason = "as asked"
    summary = {"total": len(jobs), "skipped": len(jobs) - len(todo), "computed": 0,
               "failed": [], "damaged": damaged, "backend": backend, "backend_reason": reason}
    run_info = dict(run_info or {})
    run = {"run_id": f"{_utc_now()}-{uuid.uuid4().hex[:8]}",
           "spec_sha256": run_info.get("spec_sha256")}
    entry = dict(run_info, run_id=run["run_id"], started_utc=_utc_now(),
                 engine_version=ENGINE_VERSION, versions=package_versions(), backend=backend,
                 backend_reason=reason, workers=workers, scheduler=scheduler, threads=threads)
    t0 = time.perf_counter()
    status = "interrupted"
    try:
        if todo:
            _execute(todo, store, backend, workers, scheduler, threads, progress, timeout,
                     summary, run)
        status = "finished"
    except Exception as exc:
        status = f"stopped: {type(exc).__name__}"
        raise
    finally:
        summary["elapsed_s"] = time.perf_counter() - t0
        entry.update(status=status, finished_utc=_utc_now(), **{
            k: summary[k] for k in ("total", "skipped", "computed", "failed", "damaged",
                                    "elapsed_s")})
        store.record_run(entry)
    return summary
