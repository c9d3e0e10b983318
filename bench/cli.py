"""Command-line entry point: ``python -m bench COMMAND``.

Commands
--------
run       run a sweep (default: the ``default`` preset on an embedded Dask LocalCluster),
          skipping keys already finished, then write the table and figures
report    redraw the figures and the exponent table from a results directory
presets   list the bundled presets
speed, solvers, quadnet
          benchmarks owned by other modules (``bench.speed``, ``bench.solvers_bench``,
          ``bench.quadnet_bench``); their arguments are passed through
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

_BENCHMARKS = {
    "speed": ("hierlearn.bench.speed", "Gram assembly speed benchmark"),
    "solvers": ("hierlearn.bench.solvers_bench", "kernel-ridge solver benchmark"),
    "quadnet": ("hierlearn.bench.quadnet_bench", "Quad-Net training benchmark"),
    "pcg": ("hierlearn.bench.pcg_bench", "matrix-free kernel ridge benchmark"),
}


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return vals


def _dims(text: str) -> list[int]:
    vals = _int_list(text)
    if any(v < 2 for v in vals):
        raise argparse.ArgumentTypeError(f"every d must be >= 2, got {text!r}")
    return vals


def _seeds(text: str):
    vals = _int_list(text)
    if any(v < 0 for v in vals):
        raise argparse.ArgumentTypeError(f"seeds must be >= 0, got {text!r}")
    if len(vals) == 1:  # "--seeds 5" means five seeds 0..4
        if vals[0] < 1:
            raise argparse.ArgumentTypeError("--seeds N needs N >= 1")
        return list(range(vals[0]))
    return vals


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


def _scheduler(text: str) -> str:
    if "://" not in text:
        raise argparse.ArgumentTypeError(
            f"expected a scheduler address such as tcp://HOST:8786, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hierlearn",
        description="hierlearn experiments: sample-complexity sweeps, reports and benchmarks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run", help="run a sweep (resumable) and write the table and figures",
        description="Run a sample-complexity sweep. Finished configurations are skipped, so a "
                    "killed sweep resumes where it stopped.")
    src = run.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None,
                     help="bundled preset name (default: 'default'; see `python -m bench presets`)")
    src.add_argument("--config", default=None, metavar="FILE",
                     help="a sweep spec file (.toml or .json) instead of a preset")
    run.add_argument("--out", default=None, metavar="DIR",
                     help="results directory (default: results/NAME)")
    run.add_argument("--backend", choices=("dask", "processes", "serial"), default="dask",
                     help="dask (default; embedded LocalCluster unless --scheduler), local "
                          "processes, or serial in this process")
    run.add_argument("--scheduler", type=_scheduler, default=None, metavar="ADDRESS",
                     help="existing Dask scheduler, e.g. tcp://HOST:8786")
    run.add_argument("--workers", type=_positive_int, default=None,
                     help="local workers (default: number of CPUs)")
    run.add_argument("--threads", type=_positive_int, default=1,
                     help="BLAS/numba threads per job (default 1)")
    run.add_argument("--timeout", type=_positive_float, default=10.0,
                     help="seconds to wait for --scheduler (default 10)")
    run.add_argument("--d", type=_dims, default=None, metavar="D1,D2,...",
                     help="override the input dimensions")
    run.add_argument("--seeds", type=_seeds, default=None, metavar="N|S1,S2,...",
                     help="override the seeds (a single N means seeds 0..N-1)")
    run.add_argument("--models", default=None, metavar="M1,M2,...",
                     help="keep only these models (ntk, kq, quadnet, linnet, or model:input)")
    run.add_argument("--eps", type=_positive_float, default=None,
                     help="target error for n*(eps) (default: the spec's)")
    run.add_argument("--force", action="store_true", help="recompute finished keys")
    run.add_argument("--dry-run", action="store_true", help="list the jobs and exit")
    run.add_argument("--no-report", action="store_true", help="skip the table and figures")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    rep = sub.add_parser("report", help="redraw figures and the table from stored results")
    rep.add_argument("results_dir", metavar="RESULTS_DIR")
    rep.add_argument("--eps", type=_positive_float, default=None,
                     help="target error for n*(eps) (default: the stored spec's)")
    rep.add_argument("--n-boot", type=_positive_int, default=200, help="bootstrap replicates")
    rep.add_argument("--no-theory", action="store_true", help="skip the theory overlays")

    sub.add_parser("presets", help="list the bundled presets")
    for name, (_, what) in _BENCHMARKS.items():
        sub.add_parser(name, help=f"{what} (arguments passed through)", add_help=False)
    return parser


def _fail(msg: str, code: int = 2) -> int:
    print(f"python -m bench: error: {msg}", file=sys.stderr)
    return code


def _benchmark(name: str, argv: list[str]) -> int:
    module, what = _BENCHMARKS[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name in (module, "bench." + module.rsplit(".", 1)[-1]):
            return _fail(f"`{name}` ({what}) is not available: module {module} is missing")
        raise
    entry = getattr(mod, "main", None)
    if entry is None:
        return _fail(f"`{name}` ({what}) is not available: {module} has no main(argv)")
    rc = entry(argv)
    return int(rc or 0)


def _cmd_presets() -> int:
    from .config import load_spec, preset_names

    for name in preset_names():
        spec = load_spec(name)
        print(f"{name:10s} {spec.get('description', '')}")
    return 0


def _cmd_run(args) -> int:
    from .config import ConfigError, expand, job_key, label, load_spec
    from .execute import SchedulerUnreachable, run_sweep
    from .store import ResultStore

    if args.scheduler is not None and args.backend != "dask":
        return _fail("--scheduler needs --backend dask")
    try:
        spec = load_spec(args.config or args.preset or "default")
        if args.eps is not None:
            spec["eps"] = args.eps
        models = [m.strip() for m in args.models.split(",")] if args.models else None
        jobs = expand(spec, d=args.d, seeds=args.seeds, models=models)
    except ConfigError as exc:
        return _fail(str(exc))
    name = spec["name"]
    out = Path(args.out) if args.out else Path("results") / name
    store = ResultStore(out)
    if args.dry_run:
        finished = store.finished_keys()
        for cfg in jobs:
            key = job_key(cfg)
            mark = "done" if key in finished else "todo"
            print(f"{key} {mark} d={cfg['d']:<3d} seed={cfg['seed']:<3d} n<={max(cfg['n_grid']):<7d} "
                  f"{label(cfg)}")
        return 0
    if args.backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            return _fail("the dask backend needs dask[distributed] (pip install -e '.[dist]'); "
                         "or use --backend processes")
    stale = store.stale_keys()
    store.write_spec(spec)
    print(f"sweep {name!r}: {len(jobs)} jobs -> {out}/"
          + (f" ({len(stale)} stored by another engine version will be recomputed)" if stale else ""),
          file=sys.stderr)
    try:
        summary = run_sweep(jobs, store, backend=args.backend, workers=args.workers,
                            scheduler=args.scheduler, threads=args.threads,
                            progress=not args.no_progress, force=args.force, timeout=args.timeout)
    except SchedulerUnreachable as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("\ninterrupted: finished jobs are saved; rerun the same command to resume.",
              file=sys.stderr)
        return 130
    print(f"done in {summary['elapsed_s']:.1f} s: {summary['computed']} computed, "
          f"{summary['skipped']} already finished, {len(summary['failed'])} failed", file=sys.stderr)
    rc = 0
    if summary["failed"]:
        print(f"failed jobs' tracebacks are in {out / 'errors'}/", file=sys.stderr)
        rc = 1
    if not args.no_report and summary["computed"] + summary["skipped"] > 0:
        rc = max(rc, _report(out, eps=None, n_boot=200, theory=True))
    return rc


def _report(results_dir, *, eps, n_boot, theory) -> int:
    from .figures import report

    try:
        res = report(results_dir, eps=eps, n_boot=n_boot, theory=theory)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    print(res["markdown"])
    for key in ("learning_curves", "nstar_png", "table_md", "table_csv", "results"):
        print(f"wrote {res[key]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _BENCHMARKS:
        return _benchmark(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "presets":
        return _cmd_presets()
    if args.command == "report":
        if not Path(args.results_dir).is_dir():
            return _fail(f"results directory {args.results_dir!r} does not exist")
        return _report(args.results_dir, eps=args.eps, n_boot=args.n_boot,
                       theory=not args.no_theory)
    return _cmd_run(args)


def run_main() -> None:
    """Console entry point (``hierlearn``, ``python -m hierlearn``): exit with main's code."""
    try:
        rc = main()
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        rc = 1
    sys.exit(rc)
