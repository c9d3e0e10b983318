"""Solver benchmark: Cholesky solve vs LAPACK and scikit-learn; learning curve vs refitting.

Run from a checkout::

    python -c "import bench.solvers_bench as b; b.main()"          # n in 2000 5000 10000
    python -c "import bench.solvers_bench as b; b.main(['--large'])"  # adds n = 20000

Every number is a ratio against a reference timed in the same run (the machine may be
shared; absolute times are printed for context only). Targets (DESIGN.md):

* ``kernel_ridge`` (safe Cholesky + rcond estimate + solve) within 1.2x of scipy's
  ``cho_factor`` + ``cho_solve`` (LAPACK alone). At n >= 15000 with several BLAS threads the
  LAPACK reference would segfault (OpenBLAS), so it is timed single-threaded there and
  labelled so.
* ``learning_curve`` over 8 sizes x 20 ridges at most 2x one factorisation at the largest n
  (reported against both one Cholesky and one eigendecomposition, and against refitting at
  every n and every ridge).
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import scipy.linalg

from hierlearn.solvers import kernel_ridge, learning_curve
from hierlearn.solvers.linalg import (SAFE_POTRF_N, blas_threads, check_memory, cholesky_strategy,
                            single_threaded_blas)

__all__ = ["main", "build_parser"]


def _gram(n, seed=0, rank=64):
    """A cheap well-conditioned SPD matrix (factorisation cost does not depend on values)."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, rank))
    K = F @ F.T
    K /= rank
    K[np.diag_indices(n)] += 1e-2
    return K, rng.standard_normal(n)


def _best(fn, repeats):
    """Smallest wall time of ``repeats`` calls (noise on a shared machine only adds time)."""
    best = np.inf
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_solve(sizes, repeats, sklearn=True, out=print):
    ridge = 1e-3
    out(f"# Cholesky solve (BLAS threads: {blas_threads()}), ridge={ridge}")
    out(f"{'n':>7} {'strategy':>13} {'ours s':>9} {'lapack s':>9} {'ours/lapack':>12} "
        f"{'sklearn s':>10} {'ours/sklearn':>13}")
    rows = []
    for n in sizes:
        check_memory(n, copies=3, name="benchmark Gram")
        K, y = _gram(n)

        # LAPACK alone on K + ridge I: add the ridge the same way we do (on the copy).
        def lapack_ref():
            A = np.array(K, order="F")
            A[np.diag_indices(n)] += ridge
            c, info = scipy.linalg.lapack.dpotrf(A, lower=1, clean=0, overwrite_a=1)
            x, info = scipy.linalg.lapack.dpotrs(c, y, lower=1)
            return x

        strategy = cholesky_strategy(n)
        ours = _best(lambda: kernel_ridge(K, y, ridge, check_finite=False), repeats)
        if n >= SAFE_POTRF_N and blas_threads() > 1:
            with single_threaded_blas():
                ref = _best(lapack_ref, repeats)
            ref_label = "(1 thread)"
        else:
            ref = _best(lapack_ref, repeats)
            ref_label = ""
        sk = np.nan
        if sklearn:
            from sklearn.kernel_ridge import KernelRidge

            if n < SAFE_POTRF_N or blas_threads() == 1:
                sk = _best(lambda: KernelRidge(alpha=ridge, kernel="precomputed").fit(K, y),
                           repeats)
        out(f"{n:>7} {strategy:>13} {ours:>9.3f} {ref:>9.3f} {ours / ref:>12.3f} "
            f"{sk:>10.3f} {ours / sk:>13.3f} {ref_label}")
        rows.append(dict(n=n, strategy=strategy, ours=ours, lapack=ref, sklearn=sk))
        del K
    return rows


def bench_curve(n_max, n_sizes, n_ridges, repeats, refit=True, out=print):
    check_memory(n_max, copies=4, name="benchmark Gram")
    K, y = _gram(n_max, seed=1)
    rng = np.random.default_rng(2)
    n_test = 500
    K_test = rng.standard_normal((n_test, n_max)) / np.sqrt(n_max)
    f_test = rng.standard_normal(n_test)
    sizes = np.unique(np.geomspace(n_max / 8, n_max, n_sizes).round().astype(int))
    ridges = np.logspace(-4, 1, n_ridges)
    out(f"# learning curve: n_max={n_max}, {len(sizes)} sizes {sizes.tolist()}, "
        f"{n_ridges} ridges")
    chol = _best(lambda: scipy.linalg.cho_factor(K, check_finite=False), repeats)
    eig = _best(lambda: scipy.linalg.eigh(K, check_finite=False, driver="evd"), repeats)
    times = {}
    for method in ("auto", "eigh", "cholesky"):
        times[method] = _best(lambda: learning_curve(K, y, K_test, f_test, sizes=sizes,
                                                     ridges=ridges, method=method,
                                                     check_finite=False), repeats)
    chosen = learning_curve(K[:n_max // 2, :n_max // 2], y[:n_max // 2], K_test[:, :n_max // 2],
                            f_test, sizes=[n_max // 2], ridges=ridges[:1])["method"].iloc[0]
    out(f"  one Cholesky at n_max        {chol:9.3f} s")
    out(f"  one eigh (evd) at n_max      {eig:9.3f} s   (eigh/Cholesky {eig / chol:.1f})")
    for method, t in times.items():
        out(f"  learning_curve {method:<9}     {t:9.3f} s   "
            f"/Cholesky {t / chol:6.2f}   /eigh {t / eig:5.2f}")
    if refit:
        def naive():
            for m in sizes:
                for lam in ridges:
                    kernel_ridge(K[:m, :m], y[:m], lam, check_finite=False)
        t_naive = _best(naive, 1)
        out(f"  refit every (n, ridge)       {t_naive:9.3f} s   "
            f"learning_curve(auto) is {t_naive / times['auto']:.1f}x faster "
            f"(and also gives LOO/GCV)")
    out(f"  target: learning curve <= 2x one factorisation at n_max "
        f"(auto/eigh = {times['auto'] / eig:.2f}, auto/Cholesky = {times['auto'] / chol:.2f}); "
        f"auto with one ridge picks: {chosen}")
    return dict(one_cholesky=chol, one_eigh=eig, **{f"curve_{k}": v for k, v in times.items()})


def build_parser():
    p = argparse.ArgumentParser(prog="solvers_bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000],
                   help="Gram orders for the solve benchmark (default: 2000 5000 10000)")
    p.add_argument("--large", action="store_true",
                   help="also n=20000 (3.2 GB per copy, minutes on 2 cores)")
    p.add_argument("--curve-n", type=int, default=4000, help="largest n of the learning curve")
    p.add_argument("--curve-sizes", type=int, default=8)
    p.add_argument("--curve-ridges", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    p.add_argument("--no-sklearn", action="store_true", help="skip the KernelRidge reference")
    p.add_argument("--no-refit", action="store_true", help="skip the naive refit reference")
    p.add_argument("--skip-solve", action="store_true")
    p.add_argument("--skip-curve", action="store_true")
    return p


def main(argv=None) -> int:
    """Run the benchmark; ``argv`` as for argparse. Returns an exit code."""
    args = build_parser().parse_args(argv)
    sizes = list(args.sizes) + ([20000] if args.large and 20000 not in args.sizes else [])
    if not args.skip_solve:
        bench_solve(sizes, args.repeats, sklearn=not args.no_sklearn)
    if not args.skip_curve:
        bench_curve(args.curve_n, args.curve_sizes, args.curve_ridges, args.repeats,
                    refit=not args.no_refit)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
