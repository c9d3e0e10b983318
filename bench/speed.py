"""Gram speed benchmark: numba closed-form relu K_L against the plain numpy formula, same run.

``python -m bench speed [--n 2000 5000 10000] [--d 16 128]`` prints entries/s of both, their
ratio, and the fraction of the memory-write rate measured now (np.ndarray.fill of an n x n
float64 matrix). Absolute numbers depend on the machine's load; ratios are the result.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _best(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def _numpy_relu_ntk(X):
    G = X @ X.T
    nrm = np.sqrt(np.diag(G))
    C = G / np.outer(nrm, nrm)
    np.clip(C, -1.0, 1.0, out=C)
    return G * (np.pi - np.arccos(C)) / (2 * np.pi)


def main(argv=None) -> int:
    from hierlearn.kernels import ntk_gram
    p = argparse.ArgumentParser(prog="python -m bench speed")
    p.add_argument("--n", type=int, nargs="+", default=[2000, 5000, 10000])
    p.add_argument("--d", type=int, nargs="+", default=[16, 128])
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    ntk_gram(np.eye(3))  # load / compile
    print(f"{'n':>6} {'d':>4} {'numba M/s':>10} {'numpy M/s':>10} {'ratio':>6} {'write frac':>10}")
    for n in a.n:
        buf = np.empty((n, n))
        tw = _best(lambda: buf.fill(1.0), a.repeat)
        del buf
        for d in a.d:
            X = np.random.default_rng(0).standard_normal((n, d))
            X /= np.linalg.norm(X, axis=1, keepdims=True)
            tb = _best(lambda: ntk_gram(X), a.repeat)
            tn = _best(lambda: _numpy_relu_ntk(X), a.repeat)
            e = n * n
            print(f"{n:>6} {d:>4} {e / tb / 1e6:>10.1f} {e / tn / 1e6:>10.1f} {tn / tb:>6.2f} "
                  f"{tw / tb:>10.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
