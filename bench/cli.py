"""Command-line entry point: ``hierlearn COMMAND`` (also ``python -m hierlearn`` and, in a
checkout, ``python -m bench``).

Commands
--------
run
    run a sweep (default: the ``default`` preset; backend chosen by its size), skipping
    keys already finished, then write the table and figures
report
    redraw the figures and the exponent table from a results directory
presets
    list the bundled presets; ``--show NAME`` prints one
speed, solvers, quadnet, pcg
    benchmarks owned by other modules (``bench.speed``, ``bench.solvers_bench``,
    ``bench.quadnet_bench``, ``bench.pcg_bench``); their arguments are passed through

Every flag and the whole sweep file are checked before any job starts. Problems are one line
on stderr and exit code 2 (1 for an unexpected error), without a traceback unless
``--debug`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import shlex
import sys
from pathlib import Path

from . import _args

_BENCHMARKS = {
    "speed": ("hierlearn.bench.speed", "Gram assembly speed benchmark"),
    "solvers": ("hierlearn.bench.solvers_bench", "kernel-ridge solver benchmark"),
    "quadnet": ("hierlearn.bench.quadnet_bench", "Quad-Net training benchmark"),
    "pcg": ("hierlearn.bench.pcg_bench", "matrix-free kernel ridge benchmark"),
    "population": ("hierlearn.bench.population_check",
                   "exact population error against Monte Carlo"),
}
PROG = "hierlearn"


def _debug_flag(parser, default):
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the Python traceback of an error")


def _run_parser(sub, common):
    run = sub.add_parser(
        "run", parents=[common], help="run a sweep (resumable) and write the table and figures",
        description="Run a sample-complexity sweep. Finished configurations are skipped, so a "
                    "killed sweep resumes where it stopped; damaged stored results are "
                    "recomputed. Sweep format: docs/sweep-format.md.")
    src = run.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None,
                     help="bundled preset name (default: 'default'; see `hierlearn presets`)")
    src.add_argument("--config", default=None, metavar="FILE",
                     help="a sweep spec file (.toml or .json) instead of a preset")
    run.add_argument("--out", default=None, metavar="DIR",
                     help="results directory (default: results/NAME)")
    run.add_argument("--backend", choices=("auto", "dask", "processes", "serial"),
                     default="auto",
                     help="auto (default: Dask when a scheduler is given or configured, else "
                          "serial / local processes / an embedded Dask cluster by the sweep's "
                          "expected work), dask, processes, or serial in this process")
    run.add_argument("--scheduler", type=_args.scheduler_address, default=None,
                     metavar="ADDRESS", help="existing Dask scheduler, e.g. tcp://HOST:8786 "
                     "(default: DASK_SCHEDULER_ADDRESS / Dask's scheduler-address if set)")
    run.add_argument("--workers", type=_args.int_range(1, 4096), default=None,
                     help="local workers (default: number of CPUs)")
    run.add_argument("--threads", type=_args.int_range(1, 1024), default=1,
                     help="BLAS/numba threads per job (default 1)")
    run.add_argument("--timeout", type=_args.float_range(0, 3600, lo_open=True), default=10.0,
                     help="seconds to wait for --scheduler and its workers (default 10)")
    run.add_argument("--d", type=_args.dims, default=None, metavar="D1,D2,...",
                     help="override the input dimensions")
    run.add_argument("--seeds", type=_args.seeds, default=None, metavar="N|S1,S2,...",
                     help="override the seeds (a single N means seeds 0..N-1)")
    run.add_argument("--models", type=_args.models, default=None, metavar="M1,M2,...",
                     help="keep only these models (ntk, kq, quadnet, linnet, or model:input)")
    run.add_argument("--eps", type=_args.eps_list, default=None, metavar="E1,E2,...",
                     help="target error(s) in (0, 1] for n*(eps) (default: the spec's)")
    run.add_argument("--force", action="store_true", help="recompute finished keys")
    run.add_argument("--dry-run", action="store_true", help="list the jobs and exit")
    run.add_argument("--no-report", action="store_true", help="skip the table and figures")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="hierlearn experiments: sample-complexity sweeps, reports and benchmarks.",
    )
    _debug_flag(parser, False)
    common = argparse.ArgumentParser(add_help=False)
    _debug_flag(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _run_parser(sub, common)
    rep = sub.add_parser("report", parents=[common],
                         help="redraw figures and the table from stored results")
    rep.add_argument("results_dir", metavar="RESULTS_DIR")
    rep.add_argument("--eps", type=_args.eps_list, default=None, metavar="E1,E2,...",
                     help="target error(s) for n*(eps) (default: the stored spec's)")
    rep.add_argument("--n-boot", type=_args.int_range(1, 100_000), default=200,
                     help="bootstrap replicates")
    rep.add_argument("--no-theory", action="store_true", help="skip the theory overlays")
    rep.add_argument("--formats", type=_args.choice_list(("png", "pdf", "svg")),
                     default=["png", "pdf"], metavar="F1,F2",
                     help="figure formats (png, pdf, svg; default png,pdf)")
    pre = sub.add_parser("presets", parents=[common],
                         help="list the bundled presets (--show NAME prints one)")
    pre.add_argument("--show", metavar="NAME", default=None, help="print preset NAME's file")
    for name, (_, what) in _BENCHMARKS.items():
        sub.add_parser(name, help=f"{what} (arguments passed through)", add_help=False)
    return parser


def _fail(msg: str, code: int = 2) -> int:
    print(f"{PROG}: error: {msg}", file=sys.stderr)
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


def _cmd_presets(show: str | None) -> int:
    from .config import load_spec, preset_names, preset_path

    if show is not None:
        sys.stdout.write(preset_path(show).read_text(encoding="utf-8"))
        return 0
    names = preset_names()
    width = max(map(len, names), default=0)
    for name in names:
        print(f"{name:{width}s}  {load_spec(name).get('description', '')}")
    print(f"\n`{PROG} presets --show NAME` prints one; `{PROG} run --preset NAME` runs it.")
    return 0


def _check_out(out: Path) -> None:
    """The results directory can be created and written (before any job starts)."""
    from .config import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the results directory {str(out)!r} "
                          f"({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"the results directory {str(out)!r} is not writable")


def _dry_run(jobs, store) -> int:
    from .config import job_key, label

    scan = store.scan()
    for cfg in jobs:
        key = job_key(cfg)
        mark = "done" if key in scan.good else "damaged" if key in scan.damaged else "todo"
        print(f"{key} {mark:7s} d={cfg['d']:<3d} seed={cfg['seed']:<3d} "
              f"n<={max(cfg['n_grid']):<7d} {label(cfg)}")
    return 0


def _run_info(argv, source, spec, args) -> dict:
    from .config import spec_path, spec_sha256

    path = spec_path(source)
    return {"command": shlex.join([PROG, *argv]), "cwd": os.getcwd(), "spec_name": spec["name"],
            "spec_source": str(path.resolve()), "spec_sha256": spec_sha256(spec),
            "spec_file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "overrides": {"d": args.d, "seeds": args.seeds, "models": args.models,
                          "eps": args.eps}}


def _cmd_run(args, argv) -> int:
    from .config import ConfigError, expand, load_spec
    from .execute import check_runner_support, run_sweep, scheduler_address
    from .store import ResultStore

    if args.scheduler is not None and args.backend not in ("dask", "auto"):
        raise ConfigError("--scheduler needs --backend dask (or auto)")
    source = args.config or args.preset or "default"
    spec = load_spec(source)
    if args.eps is not None:
        spec["eps"] = args.eps if len(args.eps) > 1 else args.eps[0]
    jobs = expand(spec, d=args.d, seeds=args.seeds, models=args.models)
    check_runner_support(jobs)
    out = Path(args.out) if args.out else Path("results") / spec["name"]
    store = ResultStore(out)
    if args.dry_run:
        return _dry_run(jobs, store)
    address, where = (None, None) if args.backend in ("processes", "serial") \
        else scheduler_address(args.scheduler)
    if (args.backend == "dask" or address) and importlib.util.find_spec("distributed") is None:
        raise ConfigError("the dask backend needs dask[distributed] (pip install "
                          "'hierlearn[dist]'); or use --backend processes")
    _check_out(out)
    stale = store.stale_keys()
    run_info = _run_info(argv, source, spec, args)
    store.write_spec(spec)
    print(f"sweep {spec['name']!r}: {len(jobs)} jobs -> {out}/"
          + (f" ({len(stale)} stored by another engine version will be recomputed)" if stale
             else ""), file=sys.stderr)
    if address and where != "--scheduler":
        print(f"using the Dask scheduler at {address} from {where}", file=sys.stderr)
    try:
        summary = run_sweep(jobs, store, backend=args.backend, workers=args.workers,
                            scheduler=address, threads=args.threads,
                            progress=not args.no_progress, force=args.force,
                            timeout=args.timeout, run_info=run_info)
    except KeyboardInterrupt:
        print("\ninterrupted: finished jobs are saved; rerun the same command to resume.",
              file=sys.stderr)
        return 130
    damaged = f", {len(summary['damaged'])} damaged recomputed" if summary["damaged"] else ""
    print(f"done in {summary['elapsed_s']:.1f} s [{summary['backend']}]: {summary['computed']} "
          f"computed, {summary['skipped']} already finished, {len(summary['failed'])} failed"
          f"{damaged}", file=sys.stderr)
    rc = 0
    if summary["failed"]:
        print(f"failed jobs' tracebacks are in {out / 'errors'}/", file=sys.stderr)
        rc = 1
    if not args.no_report and summary["computed"] + summary["skipped"] > 0:
        rc = max(rc, _report(out, eps=None, n_boot=200, theory=True))
    return rc


def _report(results_dir, *, eps, n_boot, theory, formats=("png", "pdf")) -> int:
    """Report every eps (the stored spec's unless given) in one pass: nstar.csv and
    slopes.csv carry a row per eps; the table and the n* figure are at the first eps."""
    from .execute import warnings_above_bar
    from .figures import report

    with warnings_above_bar():
        try:
            res = report(results_dir, eps=eps, n_boot=n_boot, theory=theory, formats=formats)
        except FileNotFoundError as exc:
            return _fail(str(exc))
    print(res["markdown"])
    for path in [res[k] for k in ("results", "nstar_csv", "slopes_csv", "table_md")] \
            + list(res["figures"]):
        print(f"wrote {path}")
    return 0


def _dispatch(args, argv) -> int:
    if args.command == "presets":
        return _cmd_presets(args.show)
    if args.command == "report":
        if not Path(args.results_dir).is_dir():
            return _fail(f"results directory {args.results_dir!r} does not exist")
        return _report(args.results_dir, eps=args.eps, n_boot=args.n_boot,
                       theory=not args.no_theory, formats=tuple(args.formats))
    return _cmd_run(args, argv)


def _guarded(fn, debug: bool) -> int:
    """Run ``fn``; known problems become one line and exit code 2, others exit code 1."""
    from .config import ConfigError
    from .execute import ClusterError, SchedulerUnreachable

    try:
        return fn()
    except (ConfigError, SchedulerUnreachable, ClusterError) as exc:
        if debug:
            raise
        return _fail(str(exc))
    except BrokenPipeError:
        raise
    except Exception as exc:
        if debug:
            raise
        text = str(exc).strip().splitlines()
        return _fail(f"{type(exc).__name__}: {text[0] if text else ''} (rerun with --debug for "
                     "the traceback)", 1)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(argv) and argv[0] == "--debug" and len(argv) > 1 and argv[1] in _BENCHMARKS
    bench_argv = argv[1:] if debug else argv
    if bench_argv and bench_argv[0] in _BENCHMARKS:
        return _guarded(lambda: _benchmark(bench_argv[0], bench_argv[1:]), debug)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return _guarded(lambda: _dispatch(args, argv), args.debug)


def run_main() -> None:
    """Console entry point (``hierlearn``, ``python -m hierlearn``): exit with main's code."""
    try:
        rc = main()
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    sys.exit(rc)
