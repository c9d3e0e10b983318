"""Solver benchmark: Cholesky solve vs LAPACK and scikit-learn; whole learning curves.

Run::

    hierlearn solvers               # solves at n = 2000, 5000, 10000; curves 4000, 8000
    hierlearn solvers --skip-solve --curve-n 4000
    hierlearn solvers --large       # adds the n = 20000 solve

Every number is a ratio against a reference timed in the same run (the machine may be
shared; absolute times are printed for context only). Targets (DESIGN.md, issue 14):

* ``kernel_ridge`` (safe Cholesky + rcond estimate + solve) within 1.2x of scipy's
  ``cho_factor`` + ``cho_solve`` (LAPACK alone). At n >= 15000 with several BLAS threads the
  LAPACK reference would segfault (OpenBLAS), so it is timed single-threaded there and
  labelled so.
* ``learning_curve`` over 8 sizes x 20 ridges (n/8 .. n, ridges 1e-4 .. 10) with a selection
  criterion, against one Cholesky factorisation of the largest n (scipy's ``cho_factor``, and
  in brackets ours, :func:`hierlearn.solvers.linalg.cho_factor` on a copy into a reused
  buffer, as the curves factor):
  today's full-grid eigendecomposition path and the exact search (``method="search"``), and
  the agreement of the search's selected test error with the full grid's. The kernel is the
  relu NTK (both layers) on the sphere with a noisy degree-2 target, so the criteria have
  interior minima; the validation points are held out beyond the largest n.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np
import scipy.linalg

from hierlearn import kernels
from hierlearn._products import gram_product
from hierlearn.solvers import kernel_ridge, learning_curve
from hierlearn.solvers.linalg import (SAFE_POTRF_N, blas_threads, check_memory, cho_factor,
                                      cholesky_strategy, single_threaded_blas)
from hierlearn.targets import LowRankPolynomial, make_task

from . import _args

__all__ = ["main", "build_parser", "bench_solve", "bench_curve"]

CRITERIA = ("gcv", "loo", "validation")


def _gram(n, seed=0, rank=64):
    """A cheap well-conditioned SPD matrix (factorisation cost does not depend on values)."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, rank))
    K = gram_product(F)
    K /= rank
    K[np.diag_indices(n)] += 1e-2
    return K, rng.standard_normal(n)


def _best(fn, repeats):
    """Smallest wall time of ``repeats`` calls (noise on a shared machine only adds time)."""
    return _timed(fn, repeats)[0]


def _timed(fn, repeats):
    """(smallest wall time of ``repeats`` calls, the last call's result)."""
    best, result = np.inf, None
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


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


def curve_problem(n, *, d=16, n_test=500, noise=0.5, seed=0, validation_fraction=0.2):
    """NTK Gram (relu, both layers) on the sphere and a noisy degree-2 harmonic target.

    Returns ``K`` over ``n / (1 - validation_fraction)`` training points (the tail is the
    validation hold-out), ``y``, ``K_test``, ``f_test``, the normalizer, and the fraction.
    """
    n_total = int(np.ceil(n / (1.0 - validation_fraction)))
    target = LowRankPolynomial(d, 2, rank=2, basis="harmonic", seed=seed)
    task = make_task(target, n_total, n_test, noise=noise, seed=seed)
    K = kernels.ntk_gram(task.X_train, trained="both")
    K_test = kernels.ntk_gram(task.X_test, task.X_train, trained="both")
    return K, task.y_train, K_test, task.f_test, task.normalizer, (n_total - n) / n_total


def _selected(table, criterion):
    """(n -> (ridge, test_error)) of the rows minimising ``criterion`` per n."""
    best = table.loc[table.groupby("n")[criterion].idxmin()]
    return best.set_index("n")[["ridge", "test_error"]]


def bench_curve(n, n_sizes=8, n_ridges=20, repeats=1, reference=True, out=print):
    """One line per algorithm: time / one Cholesky at n, and the search's agreement."""
    check_memory(int(n / 0.8), copies=4, name="benchmark Gram")
    K, y, K_test, f_test, normalizer, frac = curve_problem(n)
    sizes = np.unique(np.geomspace(n / 8, n, n_sizes).round().astype(int))
    ridges = np.logspace(-4, 1, n_ridges)
    common = dict(sizes=sizes, ridges=ridges, normalizer=normalizer, validation_fraction=frac,
                  check_finite=False)
    Kn = np.ascontiguousarray(K[:n, :n])
    chol = _best(lambda: scipy.linalg.cho_factor(Kn, check_finite=False), max(repeats, 2))
    # ours as the curves run it: a copy into one reused buffer, factored in place (a fresh
    # copy's page faults can cost more than the factorisation on a virtual machine)
    work = np.zeros((n, n), order="F")

    def ours_in_place():
        np.copyto(work, Kn.T)
        return cho_factor(work, lower=True, overwrite_a=True, check_finite=False)

    ours = _best(ours_in_place, max(repeats, 2))
    del Kn, work
    out(f"# learning curve: n={n}, {len(sizes)} sizes {sizes.tolist()}, {n_ridges} ridges "
        f"1e-4..10, NTK on S^15, noisy degree-2 target (BLAS threads {blas_threads()})")
    out(f"  one Cholesky (scipy cho_factor) at n   {chol:9.3f} s   (solvers.linalg.cho_factor "
        f"into a reused buffer {ours / chol:.2f}x of it; ratios below are to scipy's, "
        f"[to ours])")
    full = None
    if reference:
        t_full, full = _timed(lambda: learning_curve(
            K, y, K_test, f_test, selection="validation", method="eigh", **common), 1)
        out(f"  full grid, eigh per size (all three)  {t_full:9.3f} s   "
            f"{t_full / chol:6.2f}x [{t_full / ours:6.2f}x] one Cholesky")
    rows = {}
    for crit in CRITERIA:
        t, table = _timed(lambda: learning_curve(K, y, K_test, f_test, selection=crit,
                                                 method="search", **common), repeats)
        work = table.attrs
        line = (f"  search, {crit:<10}                   {t:9.3f} s   {t / chol:6.2f}x "
                f"[{t / ours:6.2f}x] one Cholesky; {work['cholesky_factorisations']:.2f} "
                f"factorisations + "
                f"{work['triangular_inverses']:.2f} inverses at n; {len(table)} of "
                f"{len(sizes) * n_ridges} (n, ridge) rows")
        if full is not None:
            a, b = _selected(full, crit), table[table["selected"]].set_index("n")
            same = int((np.isclose(a["ridge"], b["ridge"])).sum())
            diff = float(np.max(np.abs(b["test_error"] / a["test_error"] - 1)))
            line += f"; agreement: same ridge {same}/{len(sizes)}, max |dtest| {diff:.1e}"
        out(line)
        rows[crit] = dict(time=t, ratio=t / chol, ratio_ours=t / ours, **work)
    out("  target (issue 14): whole curve with selection <= 6x one Cholesky at n")
    return dict(one_cholesky=chol, one_cholesky_ours=ours, curves=rows)


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line on stderr and exit code 2 (raised to :func:`main`)."""

    def error(self, message):
        raise _ArgumentError(message)


def _curve_n(text):
    value = _args.positive_int(text)
    if value < 64:
        raise argparse.ArgumentTypeError(f"expected a curve size >= 64 (8 sizes from n/8), "
                                         f"got {value}")
    return value


def build_parser():
    p = _Parser(prog="hierlearn solvers", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=_args.positive_int, nargs="+", default=[2000, 5000, 10000],
                   help="Gram orders for the solve benchmark (default: 2000 5000 10000)")
    p.add_argument("--large", action="store_true",
                   help="also n=20000 (3.2 GB per copy, minutes on 2 cores)")
    p.add_argument("--curve-n", type=_curve_n, nargs="+", default=[4000, 8000],
                   help="largest n of each learning curve (default: 4000 8000)")
    p.add_argument("--curve-sizes", type=_args.positive_int, default=8)
    p.add_argument("--curve-ridges", type=_args.positive_int, default=20)
    p.add_argument("--repeats", type=_args.positive_int, default=1,
                   help="best of this many runs (default 1; the Cholesky reference takes "
                        "at least 2)")
    p.add_argument("--no-sklearn", action="store_true", help="skip the KernelRidge reference")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the full-grid eigh curve (and so the agreement)")
    p.add_argument("--skip-solve", action="store_true")
    p.add_argument("--skip-curve", action="store_true")
    return p


def main(argv=None) -> int:
    """Run the benchmark; ``argv`` as for argparse. Returns an exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    sizes = list(args.sizes) + ([20000] if args.large and 20000 not in args.sizes else [])
    if not args.skip_solve:
        bench_solve(sizes, args.repeats, sklearn=not args.no_sklearn)
    if not args.skip_curve:
        for n in args.curve_n:
            bench_curve(n, args.curve_sizes, args.curve_ridges, args.repeats,
                        reference=not args.no_reference)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
