"""Gram and matvec speed: the engine's closed-form relu NTK against references in the same run.

``hierlearn speed [--n 10000] [--d 16,128] [--repeat 3] [--trained both]`` prints, per
(n, d), for the symmetric Gram K(X, X) and the symmetric product K v:

- M entries/s of the engine and of the textbook numpy formula
  (:func:`hierlearn.kernels.arccos.relu_ntk_formula`; for the product, Gram then ``@ v``),
  and their ratio; neural-tangents' (jit, float64) where it is importable;
- the Gram's fraction of the memory-write limit measured now (filling a fresh n x n float64
  buffer, page faults included, as the Gram's own output is), and, where the engine takes its
  cosines from BLAS (wide inputs), the fraction of the DGEMM rate measured now (a full-size
  threaded product) that its 2 n^2 d cosine flops alone would take.

Every number comes from this run on this machine; ratios are the result, absolute rates
depend on the load. The best of ``--repeat`` runs is kept (noise only adds time).
"""

from __future__ import annotations

import argparse

import numpy as np

from .._measured import BLAS_COSINE_MIN_DIM
from ..kernels import NTK
from ..kernels.arccos import relu_ntk_formula
from ..targets import sample_inputs
from . import _args
from ._timing import best_time, dgemm_rate, write_rate

__all__ = ["main", "measure"]


def _neural_tangents(trained):
    """neural-tangents' kernel_fn of the same network (jit, float64), or None."""
    try:
        import jax
        from neural_tangents import stax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    _, _, kernel_fn = stax.serial(stax.Dense(1), stax.Relu(), stax.Dense(1))
    fn = jax.jit(kernel_fn, static_argnames="get")
    key = "ntk" if trained == "both" else "nngp"
    # neural-tangents divides by the input width: feed x * sqrt(d) (docs/math.md, section 4)
    return lambda X: np.asarray(fn(X * np.sqrt(X.shape[1]), None, get=key))


def measure(n, d, *, trained="both", repeat=3):
    """One row of the table: rates, ratios and fractions for (n, d)."""
    X = sample_inputs(n, d, seed=0)
    v = np.random.default_rng(1).standard_normal(n)
    kern = NTK("relu", trained=trained)
    kern(X[:64])  # compile, load
    row = {"n": n, "d": d}
    row["gram"] = n * n / best_time(lambda: kern(X), repeat)
    row["gram_numpy"] = n * n / best_time(lambda: relu_ntk_formula(X, trained=trained), repeat)
    row["matvec"] = n * n / best_time(lambda: kern.matvec(X, v), repeat)
    row["matvec_numpy"] = n * n / best_time(lambda: relu_ntk_formula(X, trained=trained) @ v,
                                        repeat)
    nt = _neural_tangents(trained)
    row["gram_nt"] = n * n / best_time(lambda: nt(X), repeat) if nt is not None else np.nan
    row["write_frac"] = row["gram"] / write_rate(n, repeat)
    dgemm = dgemm_rate(repeat=repeat)
    row["dgemm_frac"] = (2.0 * d * row["gram"] / dgemm if d >= BLAS_COSINE_MIN_DIM
                         else np.nan)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="hierlearn speed", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=_args.int_list(2, 40_000), default=[10_000],
                   help="sizes (comma-separated; default 10000)")
    p.add_argument("--d", type=_args.int_list(1, 100_000), default=[16, 128],
                   help="input dimensions (default 16,128)")
    p.add_argument("--trained", choices=("first", "both"), default="both",
                   help="K_L (first) or K_NTK (both, default)")
    p.add_argument("--repeat", type=_args.int_range(1, 100), default=3)
    a = p.parse_args(argv)
    print(f"relu NTK ({a.trained}), symmetric Gram and product; M entries/s; best of {a.repeat}")
    print(f"{'n':>6} {'d':>4} {'Gram':>8} {'x numpy':>8} {'x n-t':>6} {'write':>6} "
          f"{'DGEMM':>6} {'matvec':>8} {'x numpy':>8}")
    for n in a.n:
        for d in a.d:
            r = measure(n, d, trained=a.trained, repeat=a.repeat)
            nt = r["gram"] / r["gram_nt"] if np.isfinite(r["gram_nt"]) else np.nan
            print(f"{n:>6} {d:>4} {r['gram'] / 1e6:>8.1f} {r['gram'] / r['gram_numpy']:>8.2f} "
                  f"{nt:>6.2f} {r['write_frac']:>6.2f} {r['dgemm_frac']:>6.3f} "
                  f"{r['matvec'] / 1e6:>8.1f} {r['matvec'] / r['matvec_numpy']:>8.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
