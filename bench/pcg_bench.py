"""Benchmark of the matrix-free kernel ridge solver (``solvers.pcg_kernel_ridge``).

Closed-form relu NTK, K_NTK (both layers trained, the default) and/or K_L (first layer only,
``--trained first,both``), inputs uniform on S^(d-1), a low-rank polynomial target. For each n: wall time, CG iterations, final relative residual, peak resident memory of
the solving process (each job runs in a fresh spawned process, so ``ru_maxrss`` is its own
peak), and test error; where the dense solve fits (n <= --dense-max) the exact dense solution is
computed in the same run and the benchmark prints the relative test-error difference and the
time ratio. As a second reference measured in the same run, it times one dense Gram tile and
prints how fast the solver evaluated kernel entries relative to it.

Each size runs at each ridge of ``--ridges`` (default 1e-2, 1e-4, 1e-6) and prints the
centres used beside those the kernel's spectrum asks for (Gram eigenvalues above 10 x ridge,
:func:`hierlearn.solvers.nystrom.spectral_n_centers`), the iterations and the seconds per
iteration, and the seconds spent before the first iteration (centres, their factor and the
preconditioner's setup). Centres default to ``--n-centers spectrum`` (within half the memory
budget).

Default sizes are small (n = 20000 only). ``--full`` runs the sizes 20000, 50000, 100000
(targets: n = 100000, d = 16, ridge 1e-4, tol 1e-6 within 300 s and 8 GB; n = 20000 within
1e-3 relative test-error difference of the dense solve).

Usage: ``hierlearn pcg [--full] [--sizes N1,N2] [--methods exact,nystrom] ...``
(or ``bench.pcg_bench.main(argv)``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import resource
import sys
import time

import numpy as np

from . import _args

FULL_SIZES = (20000, 50000, 100000)


# ------------------------------------------------------------------------------- kernel setup
def _kernel(trained="both"):
    """The benchmark's kernel (closed-form relu NTK, ``trained`` layers) and its label."""
    from hierlearn.kernels import NTK

    return NTK("relu", trained=trained), f"NTK(relu, {trained}) closed form"


def _data(n, d, n_test, seed, degree, rank):
    from hierlearn.targets import LowRankPolynomial, sample_inputs

    f = LowRankPolynomial(d, degree, rank, seed=seed)
    X = sample_inputs(n, d, seed=seed + 1)
    Xt = sample_inputs(n_test, d, seed=seed + 2)
    return X, f(X), Xt, f(Xt), f.variance


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _limit_threads(threads):
    """Limit BLAS in this (child) process for the rest of its life."""
    from hierlearn._threads import limit_threads

    limit_threads(threads, numba=False).__enter__()


# ------------------------------------------------------------------------------------- jobs
def _job_pcg(cfg):
    _limit_threads(cfg["threads"])
    from hierlearn.solvers import falkon, pcg_kernel_ridge
    from hierlearn.solvers.nystrom import spectral_n_centers

    kern, _ = _kernel(cfg["trained"])
    X, y, Xt, ft, var = _data(cfg["n"], cfg["d"], cfg["n_test"], cfg["seed"], cfg["degree"],
                              cfg["rank"])
    solve = pcg_kernel_ridge if cfg["method"] == "exact" else falkon
    wanted = spectral_n_centers(kern, cfg["d"], cfg["n"], cfg["ridge"])[0]
    t0 = time.perf_counter()
    n_centers = None if cfg["n_centers"] == "sqrt" else cfg["n_centers"]
    res = solve(X, y, kern, ridge=cfg["ridge"], n_centers=n_centers,
                centers=cfg["centers"], tol=cfg["tol"], max_iter=cfg["max_iter"],
                memory_budget=cfg["memory_budget"], seed=cfg["seed"])
    fit_s = time.perf_counter() - t0
    pred = res.predict(Xt)
    return {"fit_s": fit_s, "iterations": res.iterations, "residual": float(res.residuals[-1]),
            "converged": res.converged, "n_centers": len(res.centers), "wanted": wanted,
            "cached": res.cached_factor, "timings": res.timings,
            "kernel_evals": res.kernel_evaluations, "pred": pred,
            "test_error": float(np.mean((pred - ft) ** 2) / var), "peak_rss": _peak_rss_bytes()}


def _job_dense(cfg):
    _limit_threads(cfg["threads"])
    from hierlearn.solvers import kernel_ridge

    kern, _ = _kernel(cfg["trained"])
    X, y, Xt, ft, var = _data(cfg["n"], cfg["d"], cfg["n_test"], cfg["seed"], cfg["degree"],
                              cfg["rank"])
    t0 = time.perf_counter()
    K = kern(X, X)
    gram_s = time.perf_counter() - t0
    alpha = kernel_ridge(K, y, cfg["ridge"], overwrite_a=True, check_finite=False)
    fit_s = time.perf_counter() - t0
    del K
    pred = kern.matvec(Xt, alpha, Y=X)
    return {"fit_s": fit_s, "gram_s": gram_s, "pred": pred,
            "test_error": float(np.mean((pred - ft) ** 2) / var), "peak_rss": _peak_rss_bytes()}


def _job_tile_rate(cfg):
    """Kernel entries per second of one dense tile (reference for the solver's rate)."""
    _limit_threads(cfg["threads"])
    kern, label = _kernel(cfg["trained"])
    X, *_ = _data(cfg["tile"], cfg["d"], 1, cfg["seed"], cfg["degree"], cfg["rank"])
    out = kern(X, X)  # compile, warm up, fault the pages in
    t0 = time.perf_counter()
    kern(X, X, out=out)  # into the same pages: a fresh array's page faults can cost 10x
    dt = time.perf_counter() - t0
    return {"rate": X.shape[0] ** 2 / dt, "label": label}


def _in_child(fn, cfg, isolate):
    if not isolate:
        return fn(cfg)
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(fn, cfg).result()


# --------------------------------------------------------------------------------------- CLI
def _ints(text):
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 2 for v in vals):
        raise argparse.ArgumentTypeError(f"expected integers >= 2, got {text!r}")
    return vals


def _pos(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


def _trained(text):
    vals = [v.strip() for v in text.split(",") if v.strip()]
    if not vals or any(v not in ("first", "both") for v in vals):
        raise argparse.ArgumentTypeError(f"expected first and/or both, got {text!r}")
    return vals


def _centres(text):
    if text in ("spectrum", "sqrt"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an int, 'sqrt' or 'spectrum', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected n_centers >= 1, got {value}")
    return value


def build_parser():
    p = argparse.ArgumentParser(
        prog="hierlearn pcg",
        description="Matrix-free kernel ridge (Nystrom-preconditioned CG) benchmark: time, "
                    "peak memory, iterations, test error against the dense solve.")
    p.add_argument("--sizes", type=_ints, default=[20000], metavar="N1,N2,...",
                   help="training sizes (default 20000)")
    p.add_argument("--full", action="store_true",
                   help=f"the issue's sizes {','.join(map(str, FULL_SIZES))} (overrides --sizes)")
    p.add_argument("--d", type=int, default=16, help="input dimension (default 16)")
    p.add_argument("--trained", type=_trained, default=["both"], metavar="T1,T2",
                   help="relu NTK layers trained: both (K_NTK) and/or first (K_L) "
                        "(default both)")
    p.add_argument("--methods", default="exact", metavar="M1,M2",
                   help="exact and/or nystrom (default exact)")
    p.add_argument("--ridges", "--ridge", type=_args.float_list(0, None, lo_open=True),
                   default=[1e-2, 1e-4, 1e-6], metavar="R1,R2,...",
                   help="(K + ridge I) alpha = y, one run per ridge (default 1e-2,1e-4,1e-6)")
    p.add_argument("--n-centers", type=_centres, default="spectrum",
                   help="Nystrom centres: an int, 'sqrt' (the solver's default, "
                        "min(n, max(200, 10 sqrt n))) or 'spectrum' (default: every Gram "
                        "eigenvalue above 10 x ridge, within half the memory budget)")
    p.add_argument("--centers", choices=("uniform", "leverage"), default="uniform")
    p.add_argument("--tol", type=_pos, default=1e-6, help="relative residual (default 1e-6)")
    p.add_argument("--max-iter", type=int, default=200)
    p.add_argument("--memory-gb", type=_pos, default=2.0,
                   help="solver memory budget in GiB (default 2)")
    p.add_argument("--dense-max", type=int, default=20000,
                   help="largest n for the dense reference solve (default 20000; 0 skips)")
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--degree", type=int, default=2, help="target polynomial degree (default 2)")
    p.add_argument("--rank", type=int, default=2, help="target rank (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS threads in the jobs (default: all CPUs)")
    p.add_argument("--ref-tile", type=int, default=2048,
                   help="side of the reference Gram tile (default 2048)")
    p.add_argument("--no-isolate", action="store_true",
                   help="run jobs in this process (peak memory is then cumulative)")
    return p


def _bench_cell(base, n, ridge, methods, dense_max, ref, isolate):
    """Print the dense reference (where it fits) and each method at (n, ridge) for the kernel
    ``base["trained"]``; return the number of failed runs."""
    cfg = dict(base, n=n, ridge=ridge)
    tag = {"both": "ntk", "first": "kl"}[cfg["trained"]]
    dense, failures = None, 0
    if 0 < n <= dense_max:
        try:
            dense = _in_child(_job_dense, cfg, isolate)
        except Exception as exc:  # noqa: BLE001 - report and go on with the matrix-free runs
            print(f"{tag:>4} {n:>7} {ridge:7.0e} {'dense':>8}  failed: {type(exc).__name__}: "
                  f"{exc}")
        else:
            print(f"{tag:>4} {n:>7} {ridge:7.0e} {'dense':>8} {'':>6} {'':>6} {'':>5} {'':>7} "
                  f"{'':>8} {'':>7} {dense['fit_s']:8.1f} {1.0:8.2f} {dense['peak_rss'] / 2**30:7.2f} "
                  f"{dense['test_error']:10.4e} {'':>9} {'':>8}")
    for method in methods:
        try:
            r = _in_child(_job_pcg, dict(cfg, method=method), isolate)
        except Exception as exc:  # noqa: BLE001
            failures += 1
            print(f"{tag:>4} {n:>7} {ridge:7.0e} {method:>8}  failed: {type(exc).__name__}: "
                  f"{exc}")
            continue
        vs = f"{r['fit_s'] / dense['fit_s']:8.2f}" if dense else f"{'-':>8}"
        reld = (f"{abs(r['test_error'] - dense['test_error']) / dense['test_error']:9.1e}"
                if dense else f"{'-':>9}")
        t = r["timings"]
        rate = r["kernel_evals"] / max(t.get("iterations", 0) + t.get("preconditioner", 0)
                                       + t.get("centers", 0), 1e-9)
        per_iter = t.get("iterations", 0.0) / max(r["iterations"], 1)
        print(f"{tag:>4} {n:>7} {ridge:7.0e} {method:>8} {r['n_centers']:>6} {r['wanted']:>6} "
              f"{r['iterations']:>5} {per_iter:7.2f} {t.get('preconditioner', 0.0):7.1f} "
              f"{r['residual']:8.1e} {r['fit_s']:8.1f} {vs} "
              f"{r['peak_rss'] / 2**30:7.2f} {r['test_error']:10.4e} {reld} "
              f"{rate / ref['rate']:8.2f}" + ("" if r["converged"] else "  (not converged)"))
    return failures


def main(argv=None):
    """Run the benchmark; returns a process exit code."""
    args = build_parser().parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in ("exact", "nystrom")]
    if bad or not methods:
        print(f"hierlearn pcg: error: --methods must list exact and/or nystrom, got "
              f"{args.methods!r}", file=sys.stderr)
        return 2
    sizes = list(FULL_SIZES) if args.full else args.sizes
    isolate = not args.no_isolate
    base = {"d": args.d, "n_test": args.n_test, "seed": args.seed, "degree": args.degree,
            "rank": args.rank, "threads": args.threads, "tol": args.tol,
            "max_iter": args.max_iter, "memory_budget": int(args.memory_gb * 2**30),
            "centers": args.centers, "n_centers": args.n_centers, "trained": args.trained[0]}

    ref = _in_child(_job_tile_rate, dict(base, tile=args.ref_tile), isolate)
    print(f"kernel: closed-form relu NTK, trained {','.join(args.trained)} (reference "
          f"{ref['label']}); d={args.d}, "
          f"target degree {args.degree} rank {args.rank}, tol {args.tol:g}, centres "
          f"{args.centers}, n_centers {args.n_centers}, budget {args.memory_gb:g} GiB, "
          f"{args.threads} thread(s)")
    print(f"reference: one {args.ref_tile} x {args.ref_tile} Gram tile at {ref['rate'] / 1e6:.1f} M entries/s")
    header = (f"{'kern':>4} {'n':>7} {'ridge':>7} {'method':>8} {'M':>6} {'M spec':>6} "
              f"{'iters':>5} {'s/iter':>7} {'setup s':>7} {'resid':>8} {'fit s':>8} {'vs dense':>8} {'peak GB':>7} "
              f"{'test err':>10} {'rel diff':>9} {'rate/ref':>8}")
    print(header)
    print("-" * len(header))
    failures = 0
    for trained in args.trained:
        for n in sizes:
            for ridge in args.ridges:
                failures += _bench_cell(dict(base, trained=trained), n, ridge, methods,
                                        args.dense_max, ref, isolate)
    print("kern: ntk = K_NTK (both layers), kl = K_L (first layer); M: centres used; M spec: centres the spectrum asks for (Gram eigenvalues above 10 x "
          "ridge); s/iter: seconds per CG iteration; setup s: seconds before the first iteration (fit s includes them); vs dense: fit time / dense fit time (Gram + "
          "Cholesky) at the same n; rel diff: |err - err_dense| / err_dense; rate/ref: kernel "
          "entries per second during the solve / the reference tile's.")
    return 1 if failures else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
