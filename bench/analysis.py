"""From stored rows to learning curves, sample complexities n*(eps) and exponents.

- :func:`curve_summary`: median and interquartile range of the test error over seeds per
  (label, d, n).
- :func:`n_star`: the smallest n whose (median) error is <= eps, interpolated linearly in
  (log n, log error) between the two grid points around the first crossing (docs/math.md,
  section 2).
- :func:`fit_exponent`: least-squares slope of log n* against log d.
- :func:`exponent_table`: per (model, input) the fitted exponent with a bootstrap interval
  (seeds resampled with replacement independently per d, medians and n* recomputed), next to
  the paper's exponent.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from .config import paper_exponent

__all__ = ["curve_summary", "n_star", "fit_exponent", "exponent_table", "nstar_table"]


def curve_summary(df: pd.DataFrame, value: str = "test_error") -> pd.DataFrame:
    """Median, 25% and 75% quantiles of ``value`` over seeds, per (label, d, n)."""
    g = df.groupby(["label", "model", "input", "d", "n"], sort=True)[value]
    out = g.agg(median="median", q25=lambda s: s.quantile(0.25),
                q75=lambda s: s.quantile(0.75), seeds="count").reset_index()
    return out


def n_star(n, err, eps: float) -> float:
    """Smallest n with err(n) <= eps, by log-log interpolation at the first crossing.

    Parameters
    ----------
    n : array-like
        Increasing training sizes.
    err : array-like
        Error at each size (e.g. the median over seeds).
    eps : float
        Target error (> 0).

    Returns
    -------
    float
        n* (``n[0]`` if the first size already reaches eps; NaN if none does).
    """
    n = np.asarray(n, dtype=float)
    err = np.asarray(err, dtype=float)
    if n.ndim != 1 or n.shape != err.shape:
        raise ValueError(f"n and err must be 1-d of equal length, got {n.shape} and {err.shape}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if n.size and np.any(np.diff(n) <= 0):
        raise ValueError("n must be strictly increasing")
    below = np.flatnonzero(err <= eps)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(n[0])
    e0, e1 = max(err[i - 1], 1e-300), max(err[i], 1e-300)
    l0, l1 = np.log(n[i - 1]), np.log(n[i])
    if e1 == e0:
        return float(n[i])
    t = (np.log(eps) - np.log(e0)) / (np.log(e1) - np.log(e0))
    return float(np.exp(l0 + t * (l1 - l0)))


def fit_exponent(d, nstar) -> tuple[float, float]:
    """Least-squares fit log n* = a + k log d; returns (k, a). NaN n* are dropped."""
    d = np.asarray(d, dtype=float)
    nstar = np.asarray(nstar, dtype=float)
    ok = np.isfinite(nstar) & (nstar > 0)
    if ok.sum() < 2 or np.unique(d[ok]).size < 2:
        return float("nan"), float("nan")
    k, a = np.polyfit(np.log(d[ok]), np.log(nstar[ok]), 1)
    return float(k), float(a)


def _median_curve_nstar(sub: pd.DataFrame, eps: float) -> float:
    med = sub.groupby("n")["test_error"].median().sort_index()
    return n_star(med.index.to_numpy(), med.to_numpy(), eps)


def nstar_table(df: pd.DataFrame, eps: float) -> pd.DataFrame:
    """n*(eps) of the median curve per (label, d)."""
    rows = []
    for (lab, model, inp, d), sub in df.groupby(["label", "model", "input", "d"], sort=True):
        rows.append({"label": lab, "model": model, "input": inp, "d": int(d),
                     "n_star": _median_curve_nstar(sub, eps),
                     "n_max": int(sub["n"].max()), "seeds": sub["seed"].nunique()})
    return pd.DataFrame(rows)


def exponent_table(df: pd.DataFrame, eps: float, *, n_boot: int = 200, seed: int = 0,
                   level: float = 0.9) -> pd.DataFrame:
    """Measured exponent of n*(eps) against d per (model, input), beside the paper's.

    Bootstrap: for each replicate, the seeds of every d are resampled with replacement, the
    median curves and n* recomputed, and the slope refitted; the interval is the central
    ``level`` quantile range of the finite replicates. Each row draws from its own stream
    (``seed`` and a CRC of its label), so its interval does not depend on the other rows.
    """
    rows = []
    for (lab, model, inp), sub in df.groupby(["label", "model", "input"], sort=True):
        rng = np.random.default_rng([seed, zlib.crc32(lab.encode())])
        degree = int(sub["degree"].iloc[0])
        per_d = {int(d): g for d, g in sub.groupby("d")}
        ds = sorted(per_d)
        ns = [_median_curve_nstar(per_d[d], eps) for d in ds]
        k, _ = fit_exponent(ds, ns)
        boots = []
        if np.isfinite(k) and n_boot > 0:
            # seeds x n matrices per d (every seed of a (label, d) shares the n grid)
            mats = {d: per_d[d].pivot_table(index="seed", columns="n", values="test_error")
                    for d in ds}
            for _ in range(n_boot):
                bn = []
                for d in ds:
                    m = mats[d].to_numpy()
                    pick = rng.integers(0, m.shape[0], size=m.shape[0])
                    bn.append(n_star(mats[d].columns.to_numpy(), np.median(m[pick], axis=0), eps))
                kb, _ = fit_exponent(ds, bn)
                if np.isfinite(kb):
                    boots.append(kb)
        lo = hi = float("nan")
        if boots:
            lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
        rows.append({
            "label": lab, "model": model, "input": inp, "degree": degree,
            "paper_exponent": paper_exponent(model, inp, degree),
            "measured_exponent": k, "ci_low": float(lo), "ci_high": float(hi),
            "d_used": ",".join(str(d) for d, v in zip(ds, ns) if np.isfinite(v)),
            "n_star": ", ".join(f"{d}:{v:.0f}" if np.isfinite(v) else f"{d}:>{per_d[d]['n'].max()}"
                                for d, v in zip(ds, ns)),
        })
    return pd.DataFrame(rows)
