"""Validate the exact population error against Monte Carlo with many test points.

For each kernel and ridge: fit kernel ridge on n sphere points (noise-free harmonic target),
evaluate :class:`hierlearn.solvers.PopulationError` and a Monte Carlo estimate of
E_x (f_hat - f*)^2 on ``--n-test`` fresh points (in blocks), and print both with the Monte
Carlo standard error and the z-score (a control line compares the Monte Carlo mean of f*^2 with
its exact value: the test points are shared by all rows, so their own deviation shows there).
Also prints the naive float64 sum a'Ma - 2a'b + ||f*||^2, and the time of the exact error in
units of one Cholesky factorisation of the same Gram (measured in the same run). Run::

    python -m hierlearn.bench.population_check --d 10 --n 2000 --n-test 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg

from hierlearn import kernels, targets
from hierlearn.solvers.population import PopulationError, zonal_matrix

from .theory import dot_product_kernel, kernel_spectrum

KERNELS = {
    "ntk-relu": dict(model="ntk", input="raw", activation="relu", trained="first"),
    "kq-relu2": dict(model="kq", input="raw", activation="relu2"),
    "ntk-softplus": dict(model="ntk", input="raw", activation="softplus", trained="first"),
    "kq-shifted_sigmoid": dict(model="kq", input="raw", activation="shifted_sigmoid"),
}


def _gram(cfg, X, Y=None):
    kw = dict(activation=cfg["activation"])
    if cfg["model"] == "ntk":
        return kernels.ntk_gram(X, Y, trained=cfg["trained"], **kw)
    return kernels.quad_gram(X, Y, **kw)


def monte_carlo(cfg, X, A, f, n_test, *, block=20_000, seed=7):
    """Mean and standard error of (f_hat - f*)^2 over n_test fresh sphere points."""
    ss = np.random.SeedSequence(seed)
    total = np.zeros(A.shape[1] + 1)
    total2 = np.zeros(A.shape[1] + 1)
    done = 0
    for child in ss.spawn(int(np.ceil(n_test / block))):
        m = min(block, n_test - done)
        Xt = targets.sample_inputs(m, X.shape[1], seed=child)
        ft = f(Xt)[:, None]
        # last column: f_hat = 0, whose exact error is ||f*||^2 (a control of the test set)
        r2 = np.hstack([(_gram(cfg, Xt, X) @ A - ft) ** 2, ft ** 2])
        total += r2.sum(0)
        total2 += (r2 ** 2).sum(0)
        done += m
    mean = total / done
    var = total2 / done - mean ** 2
    return mean, np.sqrt(np.maximum(var, 0) / (done - 1))


def check(name, d, n, ridges, n_test, l_max, seed=0):
    cfg = KERNELS[name]
    f = targets.LowRankPolynomial(d, 4, 1, basis="harmonic", seed=seed)
    X = targets.sample_inputs(n, d, seed=seed + 1)
    spec = kernel_spectrum(dot_product_kernel(dict(cfg, bias=0.0)), d, l_max)
    K = _gram(cfg, X)
    t0 = time.perf_counter()
    scipy.linalg.cho_factor(K + np.eye(n), lower=True)  # reference: one Cholesky, same n
    t_chol = time.perf_counter() - t0
    A = np.stack([np.linalg.solve(K + r * np.eye(n), f(X)) for r in ridges], axis=1)
    t0 = time.perf_counter()
    pe = PopulationError(X, spec.mu, f, tail_power=spec.tail_power)
    res = pe.evaluate(A)
    t_pop = time.perf_counter() - t0
    t0 = time.perf_counter()
    mc, se = monte_carlo(cfg, X, A, f, n_test)
    norm2 = f.mean ** 2 + f.variance
    print(f"  control: MC of ||f*||^2 = {mc[-1]:.6e} +- {se[-1]:.1e} against exact {norm2:.6e} "
          f"(z={(mc[-1] - norm2) / se[-1]:+.2f})")
    t_mc = time.perf_counter() - t0
    coef = spec.N * spec.mu ** 2
    M = zonal_matrix(X, X, coef, symmetric=True)
    b = sum(spec.mu[l] * f.harmonic_component(X, l) for l in range(5))
    naive = np.einsum("ij,ij->j", A, M @ A) - 2 * b @ A + f.mean ** 2 + f.variance
    for j, r in enumerate(ridges):
        z = (mc[j] - res.error[j]) / se[j]
        print(f"{name:20s} d={d} n={n} ridge={r:<7g} exact={res.error[j]:.6e} "
              f"(trunc <= {res.truncation_bound[j]:.1e}, rounding ~ {res.rounding[j]:.1e}) "
              f"MC={mc[j]:.6e} +- {se[j]:.1e} z={z:+.2f}  naive={naive[j]:.6e}")
    print(f"  exact error: {t_pop:.1f} s (build + evaluate, {t_pop / t_chol:.2f}x one Cholesky "
          f"of K); Monte Carlo with {n_test} points: {t_mc:.1f} s")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=10)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=1_000_000)
    p.add_argument("--l-max", type=int, default=40)
    p.add_argument("--ridges", type=float, nargs="+", default=[1e-6, 1.0])
    p.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    args = p.parse_args(argv)
    for name in args.kernels:
        check(name, args.d, args.n, args.ridges, args.n_test, args.l_max)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
