"""From stored rows to sample complexities n*(eps), exponents with intervals, theory ratios,
and the two files the paper protocol leaves (issue 12).

Input contract (one row per (job, n), as the sweep stores them)
---------------------------------------------------------------
``label`` (unique per table row), ``model`` (ntk | kq | quadnet | linnet), ``input``
(raw | repr), ``d``, ``degree``, ``seed``, ``n``, ``test_error`` (normalised by Var f*),
``test_error_se`` (its standard error from the test points; NaN when the error is exact;
a missing column counts as all NaN), ``reg`` (ridge or penalty selected at that n). Any
other column is carried through untouched by :func:`check_rows`. Theory needs each row's job
config: pass ``theory`` as a mapping label -> job config (the dict stored in
``runs/KEY.json``; its ``d`` is ignored, the row's d is used) or a callable
``(label, d) -> config or None``. Rows without a closed-form dot-product kernel on the
sphere get no prediction.

n* per seed
-----------
:func:`nstar_table`: for each (label, d, seed, eps), the first crossing of that seed's curve
below eps, interpolated linearly in (log n, log error) (:func:`theory.log_crossing`). A curve
that never reaches eps gives ``reached=False`` and ``n_star`` = the largest n tried: a lower
bound, drawn and tabulated as one. Beside it, for kernel rows, the eigenlearning prediction
made with the ridge the learner selected at each n (``predicted_n_star``, interpolated the
same way between the measured n) and at the optimal ridge (``predicted_n_star_optimal``).

Exponents and their intervals
-----------------------------
:func:`slope_table`: per (label, eps), local slopes between adjacent d and one global
least-squares fit of log n* against log d, each fitted to the median n* over seeds at each
d (a median counts as reached when more than half of its seeds reached eps).

*Estimand.* The least-squares slope, over the same d values, of log m(d) against log d, where
m(d) is the median over the seed distribution (training and test draws) of n*(d, seed). With
seed-to-seed scatter of median zero in log n* this is the slope of the noise-free n* curve's
least-squares fit over those d, whatever the curvature of log n* in log d (a finite-d
curve is not a power law; the fitted slope is still a well-defined number).

*Interval.* A percentile bootstrap that resamples seeds independently at each d (each seed
has its own training and test points, so resampling seeds carries test-point noise too;
resampling the test points as well would count it twice: Davison and Hinkley 1997, sec. 3.8)
with one correction: the bootstrap spread of a median of S values overstates its sampling
spread at small S (variance x1.38 at S = 5 for normal data), so each bootstrap median is
pulled towards the observed median by c_S = sd(median of S) / mean bootstrap sd
(:func:`median_shrink`; 0.85 at S = 5, -> 1 as S grows), computed once by simulation.
``test_noise=True`` additionally perturbs each seed's errors by their ``test_error_se``
(for test sets shared between seeds). Measured coverage of the nominal 90% interval on
synthetic curves (tests/test_bench_analysis.py: 6 d from 6 to 16, 5 seeds, t_3 scatter of
log n* with scale 0.25, t_4 relative test noise of 10%, local slopes curving from 3.1 to 3.45):
global fit 89.2% and local slopes 89.5% in the test's 250 replications, 92.2% and 89.8% in
1000 others; with light scatter (scale 0.1) 93.6% and 88.6% (500). Without the correction the
percentile bootstrap covers 96.5% and 92.6% (400); with ``test_noise=True`` on these curves,
whose test sets are independent per seed, 98.0% and 95.7% (150): test noise counted twice.

Other tables: :func:`median_nstar` (median n* per d with its interval), :func:`ratio_table`
(measured / predicted n*, per seed, median and interval), :func:`same_seed_ratios`
(n*_A / n*_B on the same seeds). :func:`write_nstar_csv` and :func:`write_slopes_csv` write
the contract files atomically.
"""

from __future__ import annotations

import functools
import io
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .config import paper_exponent
from .store import atomic_write_text
from ..targets import harmonic_dimension
from .theory import config_spectrum, log_crossing, predicted_nstar

__all__ = [
    "REQUIRED_COLUMNS", "NSTAR_COLUMNS", "SLOPES_COLUMNS",
    "check_rows", "curve_summary", "n_star", "fit_exponent", "median_shrink",
    "nstar_table", "median_nstar", "slope_table", "ratio_table", "same_seed_ratios",
    "exponent_table", "write_nstar_csv", "write_slopes_csv", "read_nstar_csv",
]

REQUIRED_COLUMNS = ("label", "model", "input", "d", "degree", "seed", "n", "test_error", "reg")
NSTAR_COLUMNS = ("row", "model", "input", "d", "seed", "eps", "n_star", "reached",
                 "predicted_n_star")
SLOPES_COLUMNS = ("row", "model", "input", "eps", "d_lo", "d_hi", "kind", "slope", "ci_lo",
                  "ci_hi", "theory_slope")


# -- input ------------------------------------------------------------------------------

def check_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Validate stored rows against the input contract; returns a sorted copy.

    Adds ``test_error_se`` (all NaN: exact or unknown) when absent. Raises ValueError naming
    missing columns, duplicate (label, d, seed, n) rows, or a label that spans several
    (model, input, degree).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"rows must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"rows lack the columns {missing} (required: {list(REQUIRED_COLUMNS)})")
    out = df.copy()
    if "test_error_se" not in out.columns:
        out["test_error_se"] = np.nan
    out = out.sort_values(["label", "d", "seed", "n"], kind="stable").reset_index(drop=True)
    key = out[["label", "d", "seed", "n"]].to_numpy(object)
    dup = np.flatnonzero((key[1:] == key[:-1]).all(axis=1))
    if dup.size:
        lab, d, seed, n = key[dup[0]]
        raise ValueError(f"duplicate rows for label={lab!r}, d={d}, seed={seed}, n={n}")
    spans = out.drop_duplicates(["label", "model", "input", "degree"])["label"]
    if spans.duplicated().any():
        raise ValueError(f"label {spans[spans.duplicated()].iloc[0]!r} spans several (model, "
                         "input, degree); labels must be unique per table row")
    return out


def curve_summary(df: pd.DataFrame, value: str = "test_error") -> pd.DataFrame:
    """Median, 25% and 75% quantiles of ``value`` over seeds, per (label, d, n)."""
    g = df.groupby(["label", "model", "input", "d", "n"], sort=True)[value]
    return g.agg(median="median", q25=lambda s: s.quantile(0.25),
                 q75=lambda s: s.quantile(0.75), seeds="count").reset_index()


def n_star(n, err, eps: float) -> float:
    """Smallest n with err(n) <= eps by log-log interpolation at the first crossing.

    ``n[0]`` if the first size already reaches eps, NaN if none does (see
    :func:`theory.log_crossing` for the lower-bound form).
    """
    res = log_crossing(n, err, eps)
    return res.n_star if res.reached else float("nan")


def fit_exponent(d, nstar) -> tuple[float, float]:
    """Least-squares fit log n* = a + k log d; returns (k, a). NaN n* are dropped."""
    d = np.asarray(d, dtype=float)
    nstar = np.asarray(nstar, dtype=float)
    ok = np.isfinite(nstar) & (nstar > 0)
    if ok.sum() < 2 or np.unique(d[ok]).size < 2:
        return float("nan"), float("nan")
    k, a = np.polyfit(np.log(d[ok]), np.log(nstar[ok]), 1)
    return float(k), float(a)


def _eps_list(eps) -> list[float]:
    vals = [eps] if np.isscalar(eps) else list(eps)
    if not vals:
        raise ValueError("eps must be a number or a non-empty list of numbers")
    out = []
    for e in vals:
        e = float(e)
        if not (math.isfinite(e) and e > 0):
            raise ValueError(f"eps must be > 0, got {e}")
        out.append(e)
    return out


# -- n* per seed with predictions ----------------------------------------------------------

def _theory_lookup(theory):
    if theory is None:
        return lambda label, d: None
    if callable(theory):
        return theory
    return lambda label, d: theory.get(label)


def _kernel_theory(config, d, n_max):
    """(Spectrum, v, variance, noise, ridge grid) or None when the row has no kernel theory."""
    if config is None or config.get("model") not in ("ntk", "kq"):
        return None
    try:
        spec, v, var = config_spectrum(config, int(d), n_max=n_max)
    except (ValueError, KeyError):
        return None
    return spec, v, var, float(config.get("noise", 0.0)), config.get("ridges")


def _predictions(th, ns, regs, eps_list):
    """Per eps: (predicted n* with the selected ridges, reached) or NaNs."""
    out = {}
    if th is None or not np.all(np.isfinite(regs)):
        return {e: (np.nan, None) for e in eps_list}
    spec, v, var, noise, _ = th
    kw = dict(variance=var, noise=noise, tail=spec.tail_estimate)
    for e in eps_list:
        res = predicted_nstar(spec.mu, spec.N, v, e, ridge_of_n=(ns, regs), **kw)
        out[e] = (res.n_star, res.reached)
    return out


def nstar_table(df: pd.DataFrame, eps, *, theory=None) -> pd.DataFrame:
    """n*(eps) of every seed's curve, with the finite-d predictions for kernel rows.

    Parameters
    ----------
    df : DataFrame
        Rows of the input contract (module docstring).
    eps : float or list of float
    theory : mapping label -> config, or callable (label, d) -> config, optional

    Returns
    -------
    DataFrame
        The columns of ``nstar.csv`` (:data:`NSTAR_COLUMNS`) and, after them, ``degree``,
        ``n_min``, ``n_max``, ``at_first_n`` (the first size already reached eps: n* = n_min
        is only an upper bound; widen the grid), ``N_dp`` (N(d, p), the degree-p harmonic
        dimension), ``predicted_reached`` (the prediction crossed eps within the measured
        sizes) and ``predicted_n_star_optimal`` (eigenlearning at the best ridge of the
        config's ``ridges`` grid, or of a continuous range when it has none).
    """
    df = check_rows(df)
    eps_list = _eps_list(eps)
    lookup = _theory_lookup(theory)
    n_top = float(df["n"].max())
    # plain arrays and group boundaries: pandas groupby per curve costs more than the work
    keys = df[["label", "d", "seed"]]
    starts = np.flatnonzero(np.r_[True, (keys.iloc[1:].to_numpy() != keys.iloc[:-1].to_numpy())
                                  .any(axis=1)])
    stops = np.r_[starts[1:], len(df)]
    n_all, err_all, reg_all = (df[c].to_numpy(float) for c in ("n", "test_error", "reg"))
    meta = df[["label", "model", "input", "d", "seed", "degree"]].to_numpy(object)
    rows, th_cache, opt_cache = [], {}, {}
    for i0, i1 in zip(starts, stops):
        lab, model, inp, d, seed, p = meta[i0]
        d, p = int(d), int(p)
        ns, err = n_all[i0:i1], err_all[i0:i1]
        if (lab, d) not in th_cache:
            cfg = lookup(lab, d)
            if cfg is not None and (cfg.get("model"), cfg.get("input", "raw")) != (model, inp):
                raise ValueError(f"theory config for {lab!r} is for model={cfg.get('model')!r}, "
                                 f"input={cfg.get('input')!r} but its rows are {model}/{inp}")
            th_cache[lab, d] = _kernel_theory(cfg, d, 4 * n_top)
        th = th_cache[lab, d]
        pred = _predictions(th, ns, reg_all[i0:i1], eps_list)
        for e in eps_list:
            res = log_crossing(ns, err, e)
            if th is not None and (lab, d, e) not in opt_cache:
                spec, v, var, noise, grid = th
                o = predicted_nstar(spec.mu, spec.N, v, e, ridge="optimal", ridges=grid,
                                    variance=var, noise=noise, tail=spec.tail_estimate,
                                    n_min=max(n_all.min() / 100, 1.0), n_max=1e3 * n_top)
                opt_cache[lab, d, e] = o.n_star if o.reached else np.nan
            rows.append((lab, model, inp, d, seed, e, res.n_star, bool(res.reached),
                         pred[e][0], p, ns[0], ns[-1], bool(res.reached and err[0] <= e),
                         float(harmonic_dimension(d, p)) if d >= 2 else np.nan, pred[e][1],
                         opt_cache.get((lab, d, e), np.nan)))
    cols = list(NSTAR_COLUMNS) + ["degree", "n_min", "n_max", "at_first_n", "N_dp",
                                  "predicted_reached", "predicted_n_star_optimal"]
    return pd.DataFrame(rows, columns=cols)


# -- bootstrap of medians ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def median_shrink(S: int) -> float:
    """c_S = sd of the median of S normal draws / root mean bootstrap variance of it.

    The percentile bootstrap of a small sample's median spreads wider than the median
    itself varies (its variance is 1.38x too large at S = 5); bootstrap medians are pulled
    towards the observed one by c_S. Simulated once with a fixed seed (Monte Carlo error
    about 1%); 1 for S < 3 and S > 40.
    """
    S = int(S)
    if S < 3 or S > 40:
        return 1.0
    rng = np.random.default_rng([2024, S])
    true_sd = np.std(np.median(rng.standard_normal((100_000, S)), axis=1))
    z = rng.standard_normal((3000, 1, S))
    idx = rng.integers(0, S, size=(3000, 200, S))
    boot = np.median(np.take_along_axis(np.broadcast_to(z, idx.shape), idx, axis=2), axis=2)
    # variances, not sds: a slope's bootstrap variance is a weighted sum of these
    return float(true_sd / np.sqrt(np.mean(boot.var(axis=1))))


def _boot_medians(logv, n_boot, rng, reps=None):
    """Shrunk bootstrap medians of log values over seeds; reps: (S, B) perturbed values."""
    S = logv.size
    med = float(np.median(logv))
    if n_boot <= 0 or S < 2:
        return med, np.full(max(n_boot, 0), np.nan if S < 2 else med)
    idx = rng.integers(0, S, size=(n_boot, S))
    vals = logv[idx] if reps is None else reps[idx, np.arange(n_boot)[:, None]]
    return med, med + median_shrink(S) * (np.median(vals, axis=1) - med)


def _perturbed_log_nstar(curve, eps, n_boot, rng):
    """(B,) log n* of one seed's curve with each error redrawn from N(err, se^2)."""
    ns, err, se = curve
    se = np.where(np.isfinite(se), se, 0.0)
    draws = err[None, :] + se[None, :] * rng.standard_normal((n_boot, err.size))
    draws = np.maximum(draws, 1e-12)
    return np.log([log_crossing(ns, e, eps).n_star for e in draws])


def _cells(sub: pd.DataFrame, n_boot, rng, curves=None, eps=None):
    """Per d of one (row, eps): log median, reached, bootstrap log medians, theory logs."""
    sub = sub.sort_values(["d", "seed"], kind="stable")
    d_all = sub["d"].to_numpy(int)
    logv_all = np.log(sub["n_star"].to_numpy(float))
    reached_all = sub["reached"].to_numpy(bool)
    seeds = sub["seed"].to_numpy()
    nan = np.full(len(sub), np.nan)
    pred_all = sub["predicted_n_star"].to_numpy(float) if "predicted_n_star" in sub else nan
    pr_all = (sub["predicted_reached"].to_numpy() if "predicted_reached" in sub
              else np.zeros(len(sub), bool))
    opt_all = (sub["predicted_n_star_optimal"].to_numpy(float)
               if "predicted_n_star_optimal" in sub else nan)
    row = sub["row"].iloc[0]
    out = []
    for d in np.unique(d_all):
        m = d_all == d
        logv, reached = logv_all[m], reached_all[m]
        reps = None
        if curves is not None:
            reps = np.stack([_perturbed_log_nstar(curves[(row, int(d), s)], eps, n_boot, rng)
                             for s in seeds[m]])
        med, boot = _boot_medians(logv, n_boot, rng, reps)
        pred, pr = pred_all[m], pr_all[m]
        th = np.nan
        if np.all(np.isfinite(pred)) and np.sum(pr == True) > pred.size / 2:  # noqa: E712
            th = float(np.median(np.log(pred)))
        opt = opt_all[m][0]
        out.append(dict(d=int(d), med=med, reached=reached.sum() > reached.size / 2, boot=boot,
                        S=logv.size, theory=th,
                        theory_opt=float(np.log(opt)) if np.isfinite(opt) and opt > 0 else np.nan))
    return out


def _interval(est, reps, level):
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return np.nan, np.nan
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(min(lo, est)), float(max(hi, est))


def _ls_weights(x):
    xc = x - x.mean()
    return xc / np.sum(xc * xc)


def _rng(seed, *parts):
    return np.random.default_rng([int(seed)] + [zlib.crc32(str(p).encode()) for p in parts])


def _theory_slope(cells, x, model, inp, degree):
    th = np.array([c["theory"] for c in cells])
    if np.all(np.isfinite(th)):
        return float(_ls_weights(x) @ th), "finite-d"
    opt = np.array([c["theory_opt"] for c in cells])
    if np.all(np.isfinite(opt)):
        return float(_ls_weights(x) @ opt), "finite-d-optimal"
    return paper_exponent(model, inp, degree), "paper"


def _slope_rows(cells, meta, level):
    """Local and global slope rows of one (row, eps) from its per-d cells; meta is
    (model, input, degree) for the paper's exponent."""
    rows = []
    for a, b in zip(cells, cells[1:]):
        x = np.log([a["d"], b["d"]])
        w = _ls_weights(x)
        slope = float(w @ [a["med"], b["med"]])
        bound, ci = "none", (np.nan, np.nan)
        if a["reached"] and b["reached"]:
            ci = _interval(slope, w[0] * a["boot"] + w[1] * b["boot"], level)
        elif a["reached"]:
            bound = "lower"  # n* at the larger d is only a lower bound
        elif b["reached"]:
            bound = "upper"
        else:
            slope = np.nan
        th, kind = _theory_slope([a, b], x, *meta)
        rows.append(dict(d_lo=a["d"], d_hi=b["d"], kind="local", slope=slope, ci_lo=ci[0],
                         ci_hi=ci[1], theory_slope=th, n_d=2, bound=bound, theory_kind=kind))
    ok = [c for c in cells if c["reached"]]
    if len(ok) >= 2:
        x = np.log([c["d"] for c in ok])
        w = _ls_weights(x)
        slope = float(w @ [c["med"] for c in ok])
        ci = _interval(slope, sum(wi * c["boot"] for wi, c in zip(w, ok)), level)
        th, kind = _theory_slope(ok, x, *meta)
        rows.append(dict(d_lo=ok[0]["d"], d_hi=ok[-1]["d"], kind="global", slope=slope,
                         ci_lo=ci[0], ci_hi=ci[1], theory_slope=th, n_d=len(ok), bound="",
                         theory_kind=kind))
    return rows


def _curves(df):
    df = check_rows(df)
    return {(lab, int(d), s): (g["n"].to_numpy(float), g["test_error"].to_numpy(float),
                               g["test_error_se"].to_numpy(float))
            for (lab, d, s), g in df.groupby(["label", "d", "seed"])}


def slope_table(nstar: pd.DataFrame, *, level: float = 0.9, n_boot: int = 2000, seed: int = 0,
                rows: pd.DataFrame | None = None, test_noise: bool = False) -> pd.DataFrame:
    """Local and global exponents of n* against d with bootstrap intervals.

    Parameters
    ----------
    nstar : DataFrame
        :func:`nstar_table` output (or ``nstar.csv`` read back with :func:`read_nstar_csv`).
    level : float, default=0.9
    n_boot : int, default=2000
        Bootstrap replicates; 0 gives point estimates only (NaN intervals).
    seed : int
        Each (row, eps) draws from its own stream (seed, CRC of the row label and eps), so
        its interval does not depend on the other rows.
    rows, test_noise
        With ``test_noise=True`` the stored rows (``test_error_se``) are needed: each seed's
        errors are redrawn from N(err, se^2) in every replicate (module docstring).

    Returns
    -------
    DataFrame
        :data:`SLOPES_COLUMNS`, then ``n_d`` (d values in the fit), ``bound`` ("none" for an
        estimate; "lower"/"upper" when one end's median n* is only a bound, then without an
        interval; NaN slope when neither end is reached) and ``theory_kind``
        ("finite-d": eigenlearning at the selected ridges; "finite-d-optimal": at the
        optimal ridge; "paper": the paper's exponent).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if test_noise and rows is None:
        raise ValueError("test_noise=True needs the stored rows (rows=...)")
    curves = _curves(rows) if test_noise else None
    out = []
    for (row, eps), sub in nstar.groupby(["row", "eps"], sort=True):
        model, inp = sub["model"].iloc[0], sub["input"].iloc[0]
        degree = int(sub["degree"].iloc[0]) if "degree" in sub else 4
        cells = _cells(sub, n_boot, _rng(seed, row, eps), curves, eps)
        for r in _slope_rows(cells, (model, inp, degree), level):
            out.append(dict(row=row, model=model, input=inp, eps=eps, **r))
    cols = list(SLOPES_COLUMNS) + ["n_d", "bound", "theory_kind"]
    return pd.DataFrame(out, columns=cols)


def median_nstar(nstar: pd.DataFrame, *, level: float = 0.9, n_boot: int = 2000,
                 seed: int = 0) -> pd.DataFrame:
    """Median n* over seeds per (row, d, eps) with its bootstrap interval (for figures).

    Columns: row, model, input, eps, d, n_star (median), reached (more than half of the
    seeds reached eps), ci_lo, ci_hi, seeds, n_max, predicted_n_star (median, NaN where
    theory has none), N_dp.
    """
    out = []
    for (row, eps), sub in nstar.groupby(["row", "eps"], sort=True):
        for c in _cells(sub, n_boot, _rng(seed, row, eps, "median")):
            g = sub[sub["d"] == c["d"]]
            lo, hi = _interval(c["med"], c["boot"], level)
            out.append(dict(row=row, model=g["model"].iloc[0], input=g["input"].iloc[0], eps=eps,
                            d=c["d"], n_star=math.exp(c["med"]), reached=bool(c["reached"]),
                            ci_lo=math.exp(lo) if np.isfinite(lo) else np.nan,
                            ci_hi=math.exp(hi) if np.isfinite(hi) else np.nan,
                            seeds=c["S"], n_max=float(g["n_max"].max()) if "n_max" in g else np.nan,
                            predicted_n_star=math.exp(c["theory"]) if np.isfinite(c["theory"])
                            else np.nan,
                            N_dp=float(g["N_dp"].iloc[0]) if "N_dp" in g else np.nan))
    return pd.DataFrame(out)


def _median_interval(logr, n_boot, rng, level):
    med, boot = _boot_medians(logr, n_boot, rng)
    lo, hi = _interval(med, boot, level)
    return math.exp(med), math.exp(lo) if np.isfinite(lo) else np.nan, \
        math.exp(hi) if np.isfinite(hi) else np.nan


def ratio_table(nstar: pd.DataFrame, *, level: float = 0.9, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """Measured / predicted n* per (row, d, eps): median over seeds of n*_s / predicted_s.

    Only seeds whose measured and predicted n* were both reached enter. Columns: row, model,
    input, d, eps, ratio, ci_lo, ci_hi (bootstrap over seeds, as for slopes), seeds,
    n_star and predicted_n_star (medians), N_dp.
    """
    have = nstar[np.isfinite(nstar["predicted_n_star"].astype(float))]
    out = []
    for (row, d, eps), g in have.groupby(["row", "d", "eps"], sort=True):
        ok = g["reached"].astype(bool) & g["predicted_reached"].astype(bool) \
            if "predicted_reached" in g else g["reached"].astype(bool)
        g = g[ok]
        if g.empty:
            continue
        logr = np.log(g["n_star"].to_numpy(float) / g["predicted_n_star"].to_numpy(float))
        r, lo, hi = _median_interval(logr, n_boot, _rng(seed, row, d, eps, "ratio"), level)
        out.append(dict(row=row, model=g["model"].iloc[0], input=g["input"].iloc[0], d=int(d),
                        eps=eps, ratio=r, ci_lo=lo, ci_hi=hi, seeds=len(g),
                        n_star=float(g["n_star"].median()),
                        predicted_n_star=float(g["predicted_n_star"].median()),
                        N_dp=float(g["N_dp"].iloc[0]) if "N_dp" in g else np.nan))
    return pd.DataFrame(out, columns=["row", "model", "input", "d", "eps", "ratio", "ci_lo",
                                      "ci_hi", "seeds", "n_star", "predicted_n_star", "N_dp"])


DEFAULT_PAIRS = ((("ntk", "raw"), ("quadnet", "raw")), (("quadnet", "raw"), ("quadnet", "repr")))


def _default_pairs(nstar):
    labels = nstar.groupby(["model", "input"])["row"].unique()
    pairs = []
    for num, den in DEFAULT_PAIRS:
        if num in labels.index and den in labels.index:
            pairs += [(a, b) for a in labels[num] for b in labels[den]]
    return pairs


def same_seed_ratios(nstar: pd.DataFrame, pairs=None, *, level: float = 0.9,
                     n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """n*_A / n*_B on the same seeds (same training and test points) against d.

    ``pairs``: list of (label A, label B); default NTK on raw x / Quad-Net on raw x and
    Quad-Net on raw x / Quad-Net on h(x) (all labels of those (model, input)). The paper
    predicts each to grow like d. Per (A, B, d, eps): the median over seeds of the ratio with
    its bootstrap interval, over seeds where both reached eps; ``bound`` says "lower" or
    "upper" when unreached seeds (n* only bounded) were left out on one side.
    """
    pairs = _default_pairs(nstar) if pairs is None else list(pairs)
    out = []
    for a, b in pairs:
        cols = ["d", "eps", "seed", "n_star", "reached"]
        both = nstar.loc[nstar["row"] == a, cols].merge(
            nstar.loc[nstar["row"] == b, cols], on=["d", "eps", "seed"], suffixes=("_a", "_b"))
        for (d, eps), g in both.groupby(["d", "eps"], sort=True):
            ok = g["reached_a"].astype(bool) & g["reached_b"].astype(bool)
            lower = int((~g["reached_a"].astype(bool) & g["reached_b"].astype(bool)).sum())
            upper = int((g["reached_a"].astype(bool) & ~g["reached_b"].astype(bool)).sum())
            r = lo = hi = np.nan
            if ok.any():
                logr = np.log(g["n_star_a"][ok].to_numpy(float) / g["n_star_b"][ok].to_numpy(float))
                r, lo, hi = _median_interval(logr, n_boot, _rng(seed, a, b, d, eps), level)
            out.append(dict(numerator=a, denominator=b, d=int(d), eps=eps, ratio=r, ci_lo=lo,
                            ci_hi=hi, seeds=int(ok.sum()), left_out_lower=lower,
                            left_out_upper=upper))
    return pd.DataFrame(out, columns=["numerator", "denominator", "d", "eps", "ratio", "ci_lo",
                                      "ci_hi", "seeds", "left_out_lower", "left_out_upper"])


def exponent_table(df: pd.DataFrame, eps: float, *, n_boot: int = 200, seed: int = 0,
                   level: float = 0.9, theory=None, nstar: pd.DataFrame | None = None
                   ) -> pd.DataFrame:
    """Global exponent per row at one eps beside the paper's (the report's table).

    Columns: label, model, input, degree, paper_exponent, measured_exponent, ci_low,
    ci_high, theory_slope, theory_kind, d_used, n_star (median per d; ">N" marks a lower
    bound).
    """
    nst = nstar_table(df, eps, theory=theory) if nstar is None else nstar
    nst = nst[np.isclose(nst["eps"], eps)]
    slopes = slope_table(nst, level=level, n_boot=n_boot, seed=seed)
    glob = slopes[slopes["kind"] == "global"].set_index("row")
    meds = median_nstar(nst, n_boot=0)
    out = []
    for row, g in nst.groupby("row", sort=True):
        model, inp, p = g["model"].iloc[0], g["input"].iloc[0], int(g["degree"].iloc[0])
        m = meds[meds["row"] == row].sort_values("d")
        s = glob.loc[row] if row in glob.index else None
        out.append({
            "label": row, "model": model, "input": inp, "degree": p,
            "paper_exponent": paper_exponent(model, inp, p),
            "measured_exponent": float(s["slope"]) if s is not None else np.nan,
            "ci_low": float(s["ci_lo"]) if s is not None else np.nan,
            "ci_high": float(s["ci_hi"]) if s is not None else np.nan,
            "theory_slope": float(s["theory_slope"]) if s is not None else np.nan,
            "theory_kind": s["theory_kind"] if s is not None else "",
            "d_used": ",".join(str(d) for d, r in zip(m["d"], m["reached"]) if r),
            "n_star": ", ".join(f"{d}:{v:.0f}" if r else f"{d}:>{v:.0f}"
                                for d, v, r in zip(m["d"], m["n_star"], m["reached"])),
        })
    return pd.DataFrame(out)


# -- contract files ---------------------------------------------------------------------

def _csv_text(df: pd.DataFrame, columns) -> str:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"table lacks the contract columns {missing}")
    extra = [c for c in df.columns if c not in columns]
    buf = io.StringIO()
    df[list(columns) + extra].to_csv(buf, index=False, float_format="%.10g", na_rep="")
    return buf.getvalue()


def write_nstar_csv(nstar: pd.DataFrame, path) -> Path:
    """Write ``nstar.csv`` atomically: :data:`NSTAR_COLUMNS` first (predicted_n_star empty
    where theory has none), extra columns after."""
    out = nstar.copy()
    out["reached"] = out["reached"].astype(bool)
    path = Path(path)
    atomic_write_text(path, _csv_text(out, NSTAR_COLUMNS))
    return path


def write_slopes_csv(slopes: pd.DataFrame, path) -> Path:
    """Write ``slopes.csv`` atomically: :data:`SLOPES_COLUMNS` first, extra columns after."""
    path = Path(path)
    atomic_write_text(path, _csv_text(slopes, SLOPES_COLUMNS))
    return path


def read_nstar_csv(path) -> pd.DataFrame:
    """Read ``nstar.csv`` back with its types (reached as bool, empty predictions as NaN)."""
    df = pd.read_csv(path)
    missing = [c for c in NSTAR_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not an nstar.csv (missing {missing})")
    for col in ("reached", "predicted_reached"):
        if col in df.columns:
            df[col] = df[col].map(lambda v: str(v).strip().lower() == "true"
                                  if pd.notna(v) else np.nan)
    df["reached"] = df["reached"].astype(bool)
    return df
