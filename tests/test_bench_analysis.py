"""bench.analysis: n* per seed (lower bounds), exponents with intervals whose coverage is
measured, theory ratios, same-seed ratios, and the nstar.csv / slopes.csv contract."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from hierlearn.bench.analysis import (NSTAR_COLUMNS, SLOPES_COLUMNS, check_rows, exponent_table,
                                      fit_exponent, median_nstar, median_shrink, n_star,
                                      nstar_table, ratio_table, read_nstar_csv, same_seed_ratios,
                                      slope_table, write_nstar_csv, write_slopes_csv)
from hierlearn.bench.theory import config_spectrum, log_crossing, predicted_nstar


# -- n* and exponents ------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(a=st.floats(0.5, 3.0), n0=st.floats(1.0, 100.0), eps=st.floats(1e-3, 0.9))
def test_n_star_exact_on_power_law(a, n0, eps):
    # err = (n / n0)^(-a) is a straight line in log-log: interpolation is exact
    n = np.geomspace(1, 1e12, 25)
    err = (n / n0) ** (-a)  # >= 1 at n[0] = 1 <= n0, so the crossing is interior
    assert n_star(n, err, eps) == pytest.approx(n0 * eps ** (-1 / a), rel=1e-9)


def test_n_star_edge_cases():
    n = [10, 20, 40]
    assert math.isnan(n_star(n, [1.0, 0.9, 0.8], 0.5))  # never reached
    assert n_star(n, [0.4, 0.3, 0.2], 0.5) == 10  # reached at the first size
    # first crossing counts, even if the curve goes up again afterwards
    assert n_star(n, [1.0, 0.25, 0.9], 0.5) == pytest.approx(10 * 2 ** 0.5)
    with pytest.raises(ValueError, match="eps"):
        n_star(n, [1, 1, 1], 0.0)
    with pytest.raises(ValueError, match="increasing"):
        n_star([10, 5, 40], [1, 1, 1], 0.5)
    with pytest.raises(ValueError, match="equal length"):
        n_star([10, 20], [1, 1, 1], 0.5)


@settings(max_examples=30, deadline=None)
@given(k=st.floats(0.5, 5.0), c=st.floats(0.1, 10.0))
def test_fit_exponent_recovers_power(k, c):
    d = np.array([6, 8, 12, 16])
    slope, intercept = fit_exponent(d, c * d ** k)
    assert slope == pytest.approx(k, abs=1e-9)
    assert intercept == pytest.approx(math.log(c), abs=1e-8)


def test_fit_exponent_needs_two_finite_points():
    assert math.isnan(fit_exponent([4, 8], [100, np.nan])[0])
    assert fit_exponent([4, 8, 16], [16, np.nan, 256])[0] == pytest.approx(2.0)


# -- synthetic sweeps ------------------------------------------------------------------

DS = (6, 8, 10, 12, 14, 16)
GRID = np.unique(np.round(2 ** np.arange(4, 23, 0.5)).astype(int))


def m0(d):
    """Noise-free n*(1/2) of the synthetic curves: d^4 with finite-d curvature (local slopes
    4 - 12 / (d + 6): 3.0 at d = 6, 3.45 at d = 16, like the NTK's finite-d theory)."""
    return 0.5 * d ** 4 * (1 + 6 / d) ** 2


def synthetic(rng, *, seeds=5, ds=DS, scatter=0.25, test_rel=0.1, label="NTK on raw x",
              model="ntk", inp="raw", grid=GRID, shift=None):
    """Curves err = 1 / (1 + n / m) (so n*(eps) = m (1/eps - 1)) with heavy-tailed (t_3)
    seed scatter of log m around m0(d) and heavy-tailed (t_4) relative test noise."""
    rows = []
    for d in ds:
        for s in range(seeds):
            z = scatter * rng.standard_t(3) if shift is None else shift(d, s)
            err = 1 / (1 + grid / (m0(d) * math.exp(z)))
            obs = err * (1 + test_rel * rng.standard_t(4, size=err.size) / math.sqrt(2))
            for n, e in zip(grid, np.maximum(obs, 1e-9)):
                rows.append((label, model, inp, d, 4, s, n, e, test_rel * e, 1e-3))
    return pd.DataFrame(rows, columns=["label", "model", "input", "d", "degree", "seed", "n",
                                       "test_error", "test_error_se", "reg"])


def test_nstar_table_per_seed_with_lower_bounds():
    rng = np.random.default_rng(0)
    df = synthetic(rng, seeds=3, ds=(6, 8), grid=GRID[GRID <= 3000])
    df["extra"] = "kept"
    nst = nstar_table(df, [0.7, 0.5, 0.05])
    assert list(nst.columns[: len(NSTAR_COLUMNS)]) == list(NSTAR_COLUMNS)
    assert len(nst) == 2 * 3 * 3
    # at d = 8, eps = 0.05 needs n ~ 19 m0(8) ~ 1e5 > 3000: every seed a lower bound at n_max
    low = nst[(nst["d"] == 8) & (nst["eps"] == 0.05)]
    assert (~low["reached"]).all() and (low["n_star"] == low["n_max"]).all()
    hit = nst[(nst["d"] == 6) & (nst["eps"] == 0.7)]
    assert hit["reached"].all() and (hit["n_star"] < hit["n_max"]).all()
    assert not hit["at_first_n"].any()
    first = nstar_table(synthetic(rng, seeds=3, ds=(6,), grid=GRID[GRID >= 4000]), 0.7)
    assert first["at_first_n"].all() and first["reached"].all()  # n* <= n_min: upper bounds
    assert nst["predicted_n_star"].isna().all()  # no theory given
    assert "extra" in check_rows(df).columns  # extra columns are carried through


def test_check_rows_names_the_problem():
    df = synthetic(np.random.default_rng(1), seeds=1, ds=(6,), grid=GRID[:4])
    with pytest.raises(ValueError, match="reg"):
        check_rows(df.drop(columns="reg"))
    with pytest.raises(ValueError, match="duplicate"):
        check_rows(pd.concat([df, df.iloc[:1]]))
    bad = df.copy()
    bad.loc[0, "model"] = "kq"
    with pytest.raises(ValueError, match="spans"):
        check_rows(bad)
    assert check_rows(df.drop(columns="test_error_se"))["test_error_se"].isna().all()


def _truth(eps):
    """Estimand: LS slope over DS of log n* of the noise-free curves (same interpolation)."""
    ns = [log_crossing(GRID.astype(float), 1 / (1 + GRID / m0(d)), eps).n_star for d in DS]
    x = np.log(DS)
    return np.polyfit(x, np.log(ns), 1)[0], np.diff(np.log(ns)) / np.diff(x)


def test_interval_coverage_on_synthetic_curves():
    # 5 seeds, heavy-tailed seed scatter and test noise, curved log n*: the nominal 90%
    # interval must cover the estimand 85-95% of the time (global fit and local slopes)
    eps, reps = 0.5, 250
    k_true, local_true = _truth(eps)
    assert 3.1 < k_true < 3.4 and np.ptp(local_true) > 0.3  # curved: local slopes 3.0 .. 3.45
    rng = np.random.default_rng(12)
    hits, local_hits, widths = [], [], []
    for r in range(reps):
        sl = slope_table(nstar_table(synthetic(rng), eps), n_boot=500, seed=r)
        g = sl[sl["kind"] == "global"].iloc[0]
        hits.append(g["ci_lo"] <= k_true <= g["ci_hi"])
        widths.append(g["ci_hi"] - g["ci_lo"])
        loc = sl[sl["kind"] == "local"]
        local_hits += list((loc["ci_lo"] <= local_true) & (local_true <= loc["ci_hi"]))
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)
    assert 0.85 <= np.mean(local_hits) <= 0.95, np.mean(local_hits)
    assert np.median(widths) < 1.0  # informative, not just wide


def test_median_shrink():
    c = [median_shrink(S) for S in (3, 4, 5, 9, 20)]
    assert 0.8 < c[2] < 0.92  # the bootstrap overstates a median-of-5's variance ~1.35x
    assert all(0.8 < x < 0.97 for x in c) and c[-1] > c[2]
    assert median_shrink(2) == 1.0 and median_shrink(100) == 1.0


def test_slopes_follow_from_nstar_csv(tmp_path):
    rng = np.random.default_rng(3)
    df = synthetic(rng, ds=(6, 8, 10, 12), grid=GRID[GRID <= 24_000])
    nst = nstar_table(df, [0.7, 0.5, 0.3])
    slopes = slope_table(nst, n_boot=200)
    write_nstar_csv(nst, tmp_path / "nstar.csv")
    write_slopes_csv(slopes, tmp_path / "slopes.csv")
    back = read_nstar_csv(tmp_path / "nstar.csv")
    assert back["reached"].dtype == bool and list(back.columns[:9]) == list(NSTAR_COLUMNS)
    assert back["predicted_n_star"].isna().all()  # empty cells where theory has none
    sl = pd.read_csv(tmp_path / "slopes.csv")
    assert list(sl.columns[: len(SLOPES_COLUMNS)]) == list(SLOPES_COLUMNS)
    assert set(sl["kind"]) == {"local", "global"} and sorted(sl["eps"].unique()) == [0.3, 0.5, 0.7]
    # recompute every point estimate by hand from the file: medians over seeds, then fits
    for _, s in sl.iterrows():
        cell = back[(back["row"] == s["row"]) & np.isclose(back["eps"], s["eps"])]
        med = cell.groupby("d").agg(n=("n_star", "median"), hit=("reached", "mean"))
        med = med[(med.index >= s["d_lo"]) & (med.index <= s["d_hi"]) & (med["hit"] > 0.5)]
        if s["bound"] == "none" and np.isfinite(s["slope"]):
            k = np.polyfit(np.log(med.index.to_numpy(float)), np.log(med["n"]), 1)[0]
            assert s["slope"] == pytest.approx(k, rel=1e-8)
            assert s["ci_lo"] <= s["slope"] <= s["ci_hi"]
    # at eps = 0.3, d = 10 and 12 are not reached by most seeds (n* ~ 2.3 m0 > 23170): the
    # local slope 8 -> 10 is a lower bound, 10 -> 12 unknown, the global fit stops at d = 8
    loc = sl[(sl["eps"] == 0.3) & (sl["kind"] == "local")].set_index("d_lo")
    assert loc.loc[8, "bound"] == "lower" and pd.isna(loc.loc[8, "ci_lo"])
    assert pd.isna(loc.loc[10, "slope"])
    glob = sl[(sl["eps"] == 0.3) & (sl["kind"] == "global")].iloc[0]
    assert glob["d_hi"] == 8 and glob["n_d"] == 2
    assert (sl["theory_slope"] == 4.0).all() and (sl["theory_kind"] == "paper").all()


def test_exact_curves_give_collapsed_intervals():
    df = synthetic(np.random.default_rng(4), scatter=0.0, test_rel=0.0, shift=lambda d, s: 0.0)
    df["test_error_se"] = np.nan
    table = exponent_table(df, 0.5, n_boot=50)
    row = table.iloc[0]
    k_true, _ = _truth(0.5)
    assert row["measured_exponent"] == pytest.approx(k_true, abs=1e-9)
    assert row["ci_high"] - row["ci_low"] < 1e-9
    assert row["paper_exponent"] == 4.0 and row["d_used"] == "6,8,10,12,14,16"


def test_test_noise_resampling_widens_the_interval():
    df = synthetic(np.random.default_rng(5), scatter=0.0, shift=lambda d, s: 0.0, test_rel=0.2)
    nst = nstar_table(df, 0.5)
    plain = slope_table(nst, n_boot=300)
    noisy = slope_table(nst, n_boot=300, rows=df, test_noise=True)
    w = lambda t: float((t["ci_hi"] - t["ci_lo"])[t["kind"] == "global"].iloc[0])
    assert w(noisy) > w(plain) > 0
    with pytest.raises(ValueError, match="rows"):
        slope_table(nst, test_noise=True)


def test_ratios_against_theory_and_between_rows():
    rng = np.random.default_rng(6)
    shift = {(d, s): 0.3 * rng.standard_normal() for d in DS for s in range(5)}
    a = synthetic(rng, label="NTK on raw x", model="ntk", inp="raw", test_rel=0.0,
                  shift=lambda d, s: shift[d, s] + math.log(d / 2))
    b = synthetic(rng, label="Quad-Net on raw x", model="quadnet", inp="raw", test_rel=0.0,
                  shift=lambda d, s: shift[d, s])
    nst = nstar_table(pd.concat([a, b]), 0.5)
    same = same_seed_ratios(nst, n_boot=100)
    assert set(same["numerator"]) == {"NTK on raw x"}
    # same seeds, same scatter: the ratio is d / 2 exactly (up to grid interpolation)
    np.testing.assert_allclose(same["ratio"], same["d"] / 2, rtol=0.03)
    assert (same["ci_hi"] - same["ci_lo"] < 0.05 * same["ratio"]).all()
    # a fake prediction at half the measured n*: measured / predicted = 2 with an interval
    nst["predicted_n_star"] = nst["n_star"] / 2 * np.exp(0.05 * rng.standard_normal(len(nst)))
    nst["predicted_reached"] = True
    rat = ratio_table(nst, n_boot=200)
    assert len(rat) == 2 * len(DS)
    assert ((rat["ci_lo"] < 2) & (2 < rat["ci_hi"])).mean() > 0.7
    np.testing.assert_allclose(rat["ratio"], 2, rtol=0.1)
    med = median_nstar(nst, n_boot=100)
    assert (med["ci_lo"] <= med["n_star"]).all() and (med["n_star"] <= med["ci_hi"]).all()
    sl = slope_table(nst, n_boot=0)
    assert (sl["theory_kind"] == "finite-d").all() and sl["ci_lo"].isna().all()


def test_kernel_predictions_use_the_selected_ridges():
    cfg = dict(model="ntk", input="raw", activation="relu", trained="first", bias=0.0,
               degree=4, rank=1, basis="harmonic", distribution="sphere", noise=0.0,
               ridges=[1e-6, 1e-3, 1e-1])
    df = synthetic(np.random.default_rng(7), seeds=2, ds=(6, 8), grid=GRID[GRID <= 4096])
    df["reg"] = np.where(df["n"] < 300, 1e-1, 1e-3)
    nst = nstar_table(df, 0.5, theory={"NTK on raw x": cfg})
    assert nst["predicted_n_star"].notna().all() and nst["predicted_n_star_optimal"].notna().all()
    r = nst.iloc[0]
    spec, v, var = config_spectrum(cfg, int(r["d"]), n_max=4 * 4096)
    g = df[(df["d"] == r["d"]) & (df["seed"] == r["seed"])]
    want = predicted_nstar(spec.mu, spec.N, v, 0.5, ridge_of_n=(g["n"], g["reg"]),
                           variance=var, tail=spec.tail_estimate)
    assert r["predicted_n_star"] == pytest.approx(want.n_star, rel=1e-12)
    assert (nst["predicted_n_star_optimal"] <= nst["predicted_n_star"] * 1.001).all()
    # rows the theory does not cover get none
    other = df.assign(model="quadnet")
    quad = nstar_table(other, 0.5, theory={"NTK on raw x": dict(cfg, model="quadnet")})
    assert quad["predicted_n_star"].isna().all()
    with pytest.raises(ValueError, match="theory config"):
        nstar_table(other, 0.5, theory={"NTK on raw x": cfg})
    assert nstar_table(df, 0.5, theory=lambda label, d: None)["predicted_n_star"].isna().all()
