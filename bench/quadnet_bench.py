"""Quad-Net training benchmark: cost of one objective evaluation against its references, and
the cost of whole fits, all measured in the same run.

``python -m hierlearn quadnet`` prints, for a few problem sizes (n samples, width m, input
dimension D):

- ``alone``: one evaluation of the objective (value and gradient), called back to back as
  many times as the fit below evaluates it (best of ``--repeat``, like the fit);
- ``in fit``: one evaluation inside a fit (seconds inside evaluations / evaluations), and
  ``optim.``: the optimizer's own work per evaluation in that fit (L-BFGS directions, line
  search; the estimator's ``timing_["optimizer"]``);
- ``numpy``: a plain numpy evaluation of the same function (separate elementwise passes);
- ``bound``: ``4 n m D`` flops at the DGEMM rate measured now (a full-size product on all
  threads), the time of the two matrix products if they ran at that rate;
- ``jax``: a ``jax.jit`` float64 ``value_and_grad`` of the same function, where JAX imports;
- ``evals``: evaluations of a default ``reg="auto"`` fit at that size (path and refit).

It then fits the planted problem of issue 13 (D = 40, n = 400, m = 512, ``reg="auto"``) and
prints its time against 500 plain numpy evaluations of the objective. Everything runs with
the estimator's own thread policy (one BLAS thread below
:data:`hierlearn._measured.BLAS_SINGLE_THREAD_FLOPS`). Absolute times depend on the machine
and its load; the ratios are the result.

Other modes: ``--threads-sweep`` measures the one-thread threshold (per-evaluation time
inside an optimizer loop with one BLAS thread against all threads, over problem sizes);
``--preset NAME`` times the Quad-Net jobs of a sweep preset with a large test set (a
before/after comparison: the driver uses only ``bench.config`` and ``bench.models``, so it
runs against an older checkout too).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from . import _args
from ._timing import best_time, dgemm_rate

__all__ = ["main", "evaluation_table", "planted_fit", "threads_sweep", "preset_timing"]

#: (n, m, D) of the default table: the issue's planted problem, raw x and h(x) sizes of
#: the default preset at d = 10 (n = 724, D = 10 and 100), and a protocol size.
DEFAULT_SIZES = ((400, 512, 40), (724, 200, 10), (724, 200, 100), (2500, 256, 256))


def _problem(n, m, D, seed=0, activation="shifted_sigmoid"):
    """Inputs on the sphere, a rank-two quadratic form target, the network, a small W."""
    from hierlearn.solvers._networks import TwoLayerNet

    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, D))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    U = np.linalg.qr(rng.standard_normal((D, 2)))[0]
    y = D * ((Z @ U[:, 0]) ** 2 - (Z @ U[:, 1]) ** 2)
    y = (y - y.mean()) / y.std()
    net = TwoLayerNet.sample(m, D, activation, rng)
    W = 0.3 * rng.standard_normal((m, D)) / np.sqrt(D)
    return Z, y, net, W


def numpy_objective(net, Z, y):
    """The quadratic model's squared-loss objective, plain numpy: the reference."""
    C = net.activation.d2(Z @ net.W0.T) * (0.5 * net.coef)

    def value_and_grad(W):
        P = Z @ W.T
        G = C * P
        f = np.einsum("ij,ij->i", G, P)
        r = f - y
        G *= (4.0 / len(y)) * r[:, None]
        return float(np.mean(r * r)), G.T @ Z

    return value_and_grad


def _jax_objective(net, Z, y):
    """A jit-compiled float64 value_and_grad of the same function, or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    C = jnp.asarray(net.activation.d2(Z @ net.W0.T) * (0.5 * net.coef))
    Zj, yj = jnp.asarray(Z), jnp.asarray(y)

    def loss(W):
        P = Zj @ W.T
        return jnp.mean((jnp.sum(C * P * P, axis=1) - yj) ** 2)

    fn = jax.jit(jax.value_and_grad(loss))
    return lambda W: jax.block_until_ready(fn(W))


def evaluation_row(n, m, D, *, rate, fit_iter=30, repeat=5):
    """One row of the evaluation table (seconds and counts; see the module docstring)."""
    from hierlearn._threads import limit_threads, threads_for_flops
    from hierlearn.solvers import QuadNetRegressor
    from hierlearn.solvers._networks import Objective

    Z, y, net, W = _problem(n, m, D)
    with limit_threads(threads_for_flops(2.0 * n * m * D)):
        obj = Objective(net, Z, y)
        w = W.ravel()
        obj(w)  # compile / warm up

        def calls():  # as many back-to-back calls as the fit below makes, about
            for _ in range(fit_iter):
                obj(w)

        alone = best_time(calls, repeat) / fit_iter
        ref = numpy_objective(net, Z, y)
        numpy_s = best_time(lambda: ref(W), repeat)
        jax_fn = _jax_objective(net, Z, y)
        jax_s = None
        if jax_fn is not None:
            jax_fn(W)
            jax_s = best_time(lambda: jax_fn(W), repeat)
    in_fit, opt = np.inf, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeat):
            t = QuadNetRegressor(m, reg=0.0, max_iter=fit_iter, tol=0.0,
                                 random_state=0).fit(Z, y).timing_
            in_fit = min(in_fit, t["objective"] / t["evaluations"])
            opt = min(opt, t["optimizer"] / t["evaluations"])
        auto = QuadNetRegressor(m, random_state=0).fit(Z, y)
    return {"n": n, "m": m, "D": D, "alone_s": alone, "in_fit_s": in_fit,
            "optimizer_s": opt, "numpy_s": numpy_s,
            "bound_s": 4.0 * n * m * D / rate, "jax_s": jax_s,
            "auto_evaluations": auto.timing_["evaluations"], "auto_fits": auto.timing_["fits"]}


def evaluation_table(sizes=DEFAULT_SIZES, *, fit_iter=30, repeat=5, dgemm=2000, out=print):
    """Print the per-evaluation table; returns its rows."""
    rate = dgemm_rate(dgemm)
    out(f"DGEMM {dgemm} x {dgemm}, all threads: {rate / 1e9:.1f} GFLOP/s (this run)")
    out(f"{'n':>5} {'m':>4} {'D':>4} | {'alone':>8} {'in fit':>8} {'optim.':>8} {'numpy':>8} "
        f"{'bound':>8} {'jax':>8} | {'fit/alone':>9} {'fit/bound':>9} {'numpy/fit':>9} "
        f"{'jax/fit':>7} | {'evals':>5} {'fits':>4}")
    rows = []
    for n, m, D in sizes:
        r = evaluation_row(n, m, D, rate=rate, fit_iter=fit_iter, repeat=repeat)
        rows.append(r)
        ms = lambda s: "     n/a" if s is None else f"{1e3 * s:8.3f}"  # noqa: E731
        jr = "    n/a" if r["jax_s"] is None else f"{r['jax_s'] / r['in_fit_s']:7.2f}"
        out(f"{n:>5} {m:>4} {D:>4} | {ms(r['alone_s'])} {ms(r['in_fit_s'])} "
            f"{ms(r['optimizer_s'])} {ms(r['numpy_s'])} {ms(r['bound_s'])} {ms(r['jax_s'])} | "
            f"{r['in_fit_s'] / r['alone_s']:9.2f} {r['in_fit_s'] / r['bound_s']:9.2f} "
            f"{r['numpy_s'] / r['in_fit_s']:9.2f} {jr} | {r['auto_evaluations']:>5} "
            f"{r['auto_fits']:>4}")
    out("times in ms per evaluation; targets: fit/alone <= 1.5, fit/bound <= 2 where "
        "n m >= 1e5 and D >= 64")
    return rows


def planted_fit(*, n=400, m=512, D=40, references=500, out=print):
    """The issue's planted fit (reg="auto") against ``references`` numpy evaluations."""
    from hierlearn._threads import limit_threads
    from hierlearn.solvers import QuadNetRegressor

    Z, y, net, W = _problem(n, m, D)
    ref = numpy_objective(net, Z, y)
    ref(W)
    plain = best_time(lambda: ref(W), 5)
    with limit_threads(1):
        plain1 = best_time(lambda: ref(W), 5)
    with warnings.catch_warnings():  # compile the numba kernels outside the timing
        warnings.simplefilter("ignore")
        QuadNetRegressor(8, reg=0.0, max_iter=2).fit(Z[:10], y[:10])
    t0 = time.perf_counter()
    est = QuadNetRegressor(m, reg="auto", random_state=0).fit(Z, y)
    wall = time.perf_counter() - t0
    base = references * min(plain, plain1)
    t = est.timing_
    out(f"planted fit n={n} m={m} D={D} reg='auto': {wall:.3f} s, {t['evaluations']} evaluations "
        f"in {t['fits']} fits ({t['final_evaluations']} in the final refit), chose reg "
        f"{est.reg_:.3g} (penalty share {est.penalty_share_:.2f})")
    out(f"  {references} plain numpy evaluations: {base:.3f} s (faster of all threads "
        f"{1e3 * plain:.3f} ms and one thread {1e3 * plain1:.3f} ms each); "
        f"fit / that = {wall / base:.1f}x (target <= 20x)")
    return {"wall_s": wall, "reference_s": base, "ratio": wall / base,
            "evaluations": t["evaluations"], "fits": t["fits"]}


def threads_sweep(*, m=256, D=128, ns=(32, 64, 128, 256, 512, 1024, 2048, 4096, 8192),
                  iters=20, repeat=5, out=print):
    """Per-evaluation time inside an optimizer loop, one BLAS thread against all threads.

    Each size runs ``iters`` L-BFGS iterations of the quadratic model's objective (the
    optimizer's own vector work interleaved with the products, as in a fit) under both
    settings, ``repeat`` times alternately, and reports the ratio of the best runs (whole
    run time per evaluation); the suggested threshold is the flops per product
    (``2 n m D``) of the smallest size from which all threads win by >= 10% at every
    larger size.
    """
    from hierlearn._threads import blas_threads, limit_threads
    from hierlearn.solvers._networks import Objective
    from hierlearn.solvers._optimize import lbfgs

    allt = blas_threads()
    out(f"threads sweep: m={m} D={D}, {iters} L-BFGS iterations per run, all threads = {allt}")
    out(f"{'n':>6} {'flops/product':>13} | {'1 thread':>9} {'all':>9} | {'1/all':>6}")
    wins = []
    for n in ns:
        Z, y, net, W = _problem(n, m, D)
        obj = Objective(net, Z, y)
        per = {1: np.inf, None: np.inf}
        for _ in range(repeat):  # alternate the settings; the best run of each filters load
            for threads in (1, None):
                with limit_threads(threads):
                    obj(W.ravel())
                    obj.n_calls = 0
                    t0 = time.perf_counter()
                    lbfgs(obj, W.ravel(), max_iter=iters, tol=0.0, floor=0.0)
                    per[threads] = min(per[threads],
                                       (time.perf_counter() - t0) / max(obj.n_calls, 1))
        ratio = per[1] / per[None]
        wins.append(ratio >= 1.1)
        out(f"{n:>6} {2.0 * n * m * D:13.3g} | {1e3 * per[1]:9.3f} {1e3 * per[None]:9.3f} | "
            f"{ratio:6.2f}")
    first = next((i for i in range(len(ns)) if all(wins[i:])), None)
    if first is None:
        out(f"all threads never won by >= 10% up to {2.0 * ns[-1] * m * D:.3g} flops per "
            "product: one thread throughout this range")
        return None
    thr = 2.0 * ns[first] * m * D
    out(f"suggested BLAS_SINGLE_THREAD_FLOPS ~ {thr:.3g} (all threads win from n = {ns[first]})")
    return thr


def preset_timing(preset="default", *, d=None, seeds=None, n_test=20000, out=print):
    """Time the Quad-Net jobs of a sweep preset (one BLAS thread per job, like a sweep).

    Uses only :func:`hierlearn.bench.config.expand` and
    :func:`hierlearn.bench.models.run_job`, so the same call times an older checkout.
    Returns the total wall seconds.
    """
    from hierlearn.bench.config import expand, load_spec
    from hierlearn.bench.models import run_job

    spec = load_spec(preset)
    spec["n_test"] = n_test
    jobs = expand(spec, d=d, seeds=seeds, models=["quadnet"])
    total = cpu = 0.0
    for cfg in jobs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0, c0 = time.perf_counter(), time.process_time()
            rows, _ = run_job(cfg, threads=1)
            wall, used = time.perf_counter() - t0, time.process_time() - c0
        conv = sum("converge" in str(w.message) for w in caught)
        total += wall
        cpu += used
        errs = " ".join(f"{e:.3f}" for e in rows["test_error"])
        out(f"{cfg['input']:>4} d={cfg['d']} seed={cfg['seed']}: {wall:7.1f} s wall "
            f"{used:7.1f} s cpu, {conv} convergence warnings; test errors (n = "
            f"{rows['n'].iloc[0]}..{rows['n'].iloc[-1]}): {errs}")
    out(f"total {total:.1f} s wall, {cpu:.1f} s cpu, {len(jobs)} jobs, n_test = {n_test}")
    return total


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit code 2, as argparse's own errors
        self.exit(2, f"{self.prog}: error: {message}\n")


def _size(text):
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected n,m,D (three integers), got {text!r}")
    n, m, D = (_args.positive_int(p) for p in parts)
    if m % 2:
        raise argparse.ArgumentTypeError(f"width m must be even (neurons come in +- pairs), "
                                         f"got {text!r}")
    return n, m, D


def _int_list(text):
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return vals


def _parser():
    p = _Parser(prog="hierlearn quadnet", description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--sizes", type=_size, nargs="+", default=list(DEFAULT_SIZES),
                   metavar="N,M,D", help="problem sizes of the evaluation table")
    p.add_argument("--fit-iter", type=_args.positive_int, default=30,
                   help="iterations of the fit that measures evaluations inside a fit")
    p.add_argument("--repeat", type=_args.positive_int, default=5, help="best-of repeats")
    p.add_argument("--dgemm", type=_args.positive_int, default=2000, help="order of the DGEMM")
    p.add_argument("--no-planted", action="store_true", help="skip the planted fit")
    p.add_argument("--threads-sweep", action="store_true",
                   help="measure the one-BLAS-thread threshold instead")
    p.add_argument("--preset", default=None,
                   help="time this preset's Quad-Net jobs instead (e.g. default)")
    p.add_argument("--d", type=_int_list, default=None, help="--preset: these d only")
    p.add_argument("--seeds", type=_int_list, default=None, help="--preset: these seeds only")
    p.add_argument("--n-test", type=_args.positive_int, default=20000, help="--preset: test points")
    return p


def main(argv=None) -> int:
    """Command-line entry: parse ``argv``, run, print; returns an exit code."""
    args = _parser().parse_args(argv)
    if args.preset is not None:
        from hierlearn.bench.config import ConfigError

        try:
            preset_timing(args.preset, d=args.d, seeds=args.seeds, n_test=args.n_test)
        except ConfigError as exc:
            print(f"python -m hierlearn quadnet: error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.threads_sweep:
        threads_sweep()
        return 0
    evaluation_table(args.sizes, fit_iter=args.fit_iter, repeat=args.repeat, dgemm=args.dgemm)
    if not args.no_planted:
        planted_fit()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
