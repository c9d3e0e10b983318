"""Quad-Net training benchmark: one training run and the share of its time in BLAS.

``python -m bench quadnet [--n 4000 --m 2000 --D 256 --max-iter 30 ...]``

Trains :class:`solvers.QuadNetRegressor` (or the linearised / randomized variants) once on
a planted target and reports, from the same run: wall time, seconds inside the two matrix
products per objective evaluation (``Z @ W.T`` and ``G.T @ Z``, timed inside the
objective) and their share, seconds per evaluation, and the ratio of one evaluation to a
bare pair of the same matrix products timed alone (the reference: 1.0 would mean nothing
but BLAS). Absolute seconds depend on the machine and its load; the ratios are the result.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings

import numpy as np

__all__ = ["main", "run"]


def _bare_matmul_pair(Z, W, repeats):
    """Best-of time of ``Z @ W.T`` followed by ``G.T @ Z`` with G of shape (n, m)."""
    G = np.ones((Z.shape[0], W.shape[0]))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        P = Z @ W.T
        g = G.T @ Z
        best = min(best, time.perf_counter() - t0)
        del P, g
    return best


def run(n=4000, m=2000, D=256, *, max_iter=30, model="quad", activation="shifted_sigmoid",
        optimizer="auto", seed=0, threads=None):
    """Time one training run; returns a dict of measurements."""
    from hierlearn.solvers import LinearizedNetRegressor, QuadNetRegressor

    ctx = contextlib.nullcontext()
    if threads is not None:
        import scipy.linalg  # noqa: F401  (load BLAS before threadpoolctl limits it)
        from threadpoolctl import threadpool_limits
        ctx = threadpool_limits(limits=threads, user_api="blas")
    with ctx:
        rng = np.random.default_rng(seed)
        Z = rng.standard_normal((n, D))
        Z /= np.linalg.norm(Z, axis=1, keepdims=True)
        U = np.linalg.qr(rng.standard_normal((D, 2)))[0]
        y = D * ((Z @ U[:, 0]) ** 2 - (Z @ U[:, 1]) ** 2)  # a rank-two quadratic form
        kw = dict(activation=activation, reg=0.0, seed=seed, max_iter=max_iter, optimizer=optimizer)
        if model == "linear":
            est = LinearizedNetRegressor(m, **kw)
        else:
            est = QuadNetRegressor(m, randomized=(model == "randomized"), **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(Z, y)
            wall = time.perf_counter() - t0
        tm = est.timing_
        ref = _bare_matmul_pair(Z, est.coef_, repeats=3)
    evals = max(tm["evaluations"], 1)
    per_eval = tm["objective"] / evals
    return {
        "n": n, "m": m, "D": D, "model": model, "optimizer": est.optimizer_, "iterations": est.n_iter_,
        "evaluations": tm["evaluations"], "wall_s": wall, "train_s": tm["total"],
        "matmul_s": tm["matmul"], "matmul_share": tm["matmul"] / tm["total"],
        "per_eval_s": per_eval, "bare_matmul_pair_s": ref, "eval_over_bare": per_eval / ref,
        "gflops_per_s": 4.0 * n * m * D * evals / 1e9 / max(tm["matmul"], 1e-12),
        "final_loss": float(est.loss_curve_[-1]),
    }


def main(argv=None) -> int:
    """Command-line entry: parse ``argv``, run, print a table; returns an exit code."""
    p = argparse.ArgumentParser(prog="python -m bench quadnet", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--m", type=int, default=2000, help="network width (even)")
    p.add_argument("--D", type=int, default=256, help="input dimension")
    p.add_argument("--max-iter", type=int, default=30)
    p.add_argument("--model", choices=("quad", "linear", "randomized"), default="quad")
    p.add_argument("--activation", default="shifted_sigmoid")
    p.add_argument("--optimizer", choices=("auto", "lbfgs", "gd"), default="auto")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: leave alone)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.m % 2 or min(args.n, args.m, args.D, args.max_iter) < 1:
        p.error("n, D, max-iter must be >= 1 and m a positive even integer")
    r = run(args.n, args.m, args.D, max_iter=args.max_iter, model=args.model,
            activation=args.activation, optimizer=args.optimizer, seed=args.seed,
            threads=args.threads)
    print(f"Quad-Net training benchmark ({r['model']}, {r['optimizer']}): n={r['n']} m={r['m']} D={r['D']}, "
          f"{r['iterations']} iterations, {r['evaluations']} objective evaluations")
    print(f"  training time            {r['train_s']:9.3f} s   (wall incl. checks {r['wall_s']:.3f} s)")
    print(f"  in matrix products       {r['matmul_s']:9.3f} s   share {100 * r['matmul_share']:5.1f} %")
    print(f"  per evaluation           {r['per_eval_s']:9.4f} s")
    print(f"  bare matmul pair (ref)   {r['bare_matmul_pair_s']:9.4f} s   "
          f"evaluation / reference = {r['eval_over_bare']:.2f}x")
    print(f"  matmul throughput        {r['gflops_per_s']:9.1f} GFLOP/s")
    print(f"  final objective          {r['final_loss']:.4g}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
