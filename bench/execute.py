"""Execute a sweep serially, on local processes or on Dask, writing each finished key.

Workers only compute: they return a job's rows to the client process, which writes them to
the :class:`~bench.store.ResultStore` as each job completes. So the store has a single writer
(no races), works with a remote cluster that does not share the file system, and a sweep
killed at any moment keeps every job that had been written.

Thread pinning: each job runs with BLAS and numba limited to ``threads`` (default 1) through
threadpoolctl and ``numba.set_num_threads``; embedded Dask workers and local processes also
start with OMP/OPENBLAS/MKL/NUMBA thread variables set to 1, so W workers use W cores.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
import traceback

from .config import NET_MODELS, job_key
from .store import ResultStore, atomic_write_text

__all__ = ["run_sweep", "SchedulerUnreachable", "BACKENDS"]

BACKENDS = ("dask", "processes", "serial")

_PIN_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1"}


class SchedulerUnreachable(RuntimeError):
    """The Dask scheduler given with ``--scheduler`` could not be contacted."""


def _remote_job(config: dict, threads: int):
    # Module-level so it pickles by reference for processes and Dask workers.
    from hierlearn.bench.models import run_job

    return run_job(config, threads=threads)


def _init_process():
    os.environ.update(_PIN_ENV)


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="job", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def _iter_serial(todo, threads):
    for cfg in todo:
        try:
            yield cfg, _remote_job(cfg, threads), None
        except Exception:
            yield cfg, None, traceback.format_exc()


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
                except Exception:
                    yield cfg, None, traceback.format_exc()
        finally:
            for f in futs:
                f.cancel()


def connect_dask(scheduler: str | None, workers: int, timeout: float = 10.0):
    """A ``distributed.Client``: to ``scheduler`` if given, else to an embedded LocalCluster.

    Raises
    ------
    SchedulerUnreachable
        When ``scheduler`` cannot be reached within ``timeout`` seconds.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=f"{timeout}s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s "
                f"({type(exc).__name__}: {exc})") from None
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
                    yield cfg, fut.result(), None
                except Exception:
                    yield cfg, None, traceback.format_exc()
        finally:
            client.cancel(futs)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def expected_cost(cfg: dict) -> tuple:
    """Sort key for the order jobs start in: the costliest first (longest-processing-time
    order), so that on a few workers the last job does not run alone for minutes.

    Trained networks (a fit per size, each many L-BFGS steps over width x features weights)
    come before kernel jobs (one Gram and one eigendecomposition per curve); within each, the
    sum of the sizes times the input features orders them. A rough proxy, not a prediction.
    """
    features = cfg.get("repr_width") or cfg["d"]
    return (cfg["model"] in NET_MODELS, sum(cfg["n_grid"]) * features)


def run_sweep(jobs: list[dict], store: ResultStore, *, backend: str = "dask",
              workers: int | None = None, scheduler: str | None = None, threads: int = 1,
              progress: bool = True, force: bool = False, timeout: float = 10.0) -> dict:
    """Run every unfinished job of ``jobs`` and write each to ``store`` as it finishes.

    Parameters
    ----------
    jobs : list of dict
        Job configs from :func:`bench.config.expand`.
    store : ResultStore
    backend : {"dask", "processes", "serial"}, default="dask"
        ``dask`` uses ``scheduler`` when given, else an embedded LocalCluster of ``workers``
        single-threaded worker processes.
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

    Returns
    -------
    dict
        ``total``, ``skipped`` (finished before), ``computed``, ``failed`` (list of keys),
        ``elapsed_s``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError("scheduler is only used by backend='dask'")
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    finished = set() if force else store.finished_keys()
    todo, seen = [], set()
    for cfg in jobs:
        key = job_key(cfg)
        if key in finished or key in seen:
            continue
        seen.add(key)
        todo.append(cfg)
    todo.sort(key=expected_cost, reverse=True)
    skipped = len(jobs) - len(todo)
    summary = {"total": len(jobs), "skipped": skipped, "computed": 0, "failed": []}
    t0 = time.perf_counter()
    if todo:
        if backend == "serial":
            it = _iter_serial(todo, threads)
        elif backend == "processes":
            it = _iter_processes(todo, threads, workers)
        else:  # connect first: an unreachable scheduler fails before any progress output
            client, cluster = connect_dask(scheduler, workers, timeout)
            it = _iter_dask(todo, threads, client, cluster)
        bar = _progress(len(jobs), skipped, progress, f"sweep [{backend}]")
        try:
            for cfg, result, error in it:
                key = job_key(cfg)
                if error is not None:
                    summary["failed"].append(key)
                    atomic_write_text(store.root / "errors" / f"{key}.txt", error)
                    bar.write(f"job {key} ({cfg['model']} on {cfg['input']}, d={cfg['d']}, "
                              f"seed={cfg['seed']}) failed: {error.strip().splitlines()[-1]}")
                else:
                    rows, info = result
                    store.write(cfg, rows, info=info)
                    summary["computed"] += 1
                bar.update(1)
        finally:
            bar.close()
            close = getattr(it, "close", None)
            if close is not None:
                close()
    summary["elapsed_s"] = time.perf_counter() - t0
    return summary
