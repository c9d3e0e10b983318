"""bench.figures: Figures without pyplot state, ax= support, fixed colours, lower-bound arrows,
PNG + PDF/SVG output, and the report of a results directory."""

import json
import math
import stat
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from hierlearn.bench import figures
from hierlearn.bench.analysis import (NSTAR_COLUMNS, SLOPES_COLUMNS, median_nstar, nstar_table,
                                      same_seed_ratios, slope_table)
from hierlearn.bench.config import ENGINE_VERSION
from hierlearn.bench.store import ResultStore


def _rows(label="NTK on raw x", model="ntk", inp="raw", ds=(6, 8, 10), seeds=3, k=3.0, c=0.5,
          n_max=4096, rng=None):
    rng = rng or np.random.default_rng(0)
    grid = np.unique(np.round(2 ** np.arange(4, np.log2(n_max) + 0.01, 0.5)).astype(int))
    out = []
    for d in ds:
        for s in range(seeds):
            m = c * d ** k * math.exp(0.1 * rng.standard_normal())
            for n in grid:
                out.append(dict(label=label, model=model, input=inp, d=d, degree=4, seed=s, n=n,
                                test_error=1 / (1 + n / m), test_error_se=np.nan, reg=1e-3))
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def tables():
    df = pd.concat([_rows(), _rows("Quad-Net on raw x", "quadnet", "raw", k=2.0),
                    _rows("Quad-Net on h(x), D=1d^2", "quadnet", "repr", k=1.5, c=2.0)])
    nst = nstar_table(df, [0.5, 0.05])
    return df, nst, slope_table(nst, n_boot=100)


def test_no_pyplot_state_and_backend_untouched(tables):
    df, nst, slopes = tables
    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    figs = [figures.plot_learning_curves(df, eps=0.5),
            figures.plot_nstar(median_nstar(nst, n_boot=50), slopes, eps=0.5),
            figures.plot_collapse(df),
            figures.plot_same_seed_ratios(same_seed_ratios(nst, n_boot=50))]
    assert all(isinstance(f, Figure) for f in figs)
    assert matplotlib.get_backend() == backend
    if not had_pyplot:
        assert "matplotlib.pyplot" not in sys.modules
    else:  # nothing registered with pyplot's figure manager
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []


def test_plots_draw_into_a_given_axes(tables):
    df, nst, slopes = tables
    fig = Figure()
    axes = fig.subplots(2, 2)
    assert figures.plot_learning_curves(df, d=8, ax=axes[0, 0]) is fig
    assert figures.plot_nstar(median_nstar(nst, n_boot=0), slopes, eps=0.5, ax=axes[0, 1]) is fig
    assert figures.plot_same_seed_ratios(same_seed_ratios(nst, n_boot=0), ax=axes[1, 0]) is fig
    assert len(axes[0, 0].lines) >= 3 and axes[0, 0].get_xscale() == "log"
    with pytest.raises(ValueError, match="one d"):
        figures.plot_learning_curves(df, ax=axes[1, 1])


def test_colours_are_fixed_per_model_and_input():
    a = figures.row_style("ntk", "raw", "NTK on raw x")
    b = figures.row_style("ntk", "raw", "NTK on raw x [m=100]")
    assert a["color"] == b["color"] == figures.MODEL_COLORS["ntk", "raw"]
    assert a == figures.row_style("ntk", "raw", "NTK on raw x")  # no state, no order
    assert len(set(figures.MODEL_COLORS.values())) == len(figures.MODEL_COLORS)
    df = pd.concat([_rows("B", "quadnet", "raw"), _rows("A", "ntk", "raw")])
    for order in (df, df.iloc[::-1]):
        fig = figures.plot_learning_curves(order, d=6, ax=Figure().subplots())
        colours = {l.get_label(): matplotlib.colors.to_hex(l.get_color())
                   for l in fig.axes[0].lines if l.get_label() in ("A", "B")}
        assert colours == {"A": figures.MODEL_COLORS["ntk", "raw"],
                           "B": figures.MODEL_COLORS["quadnet", "raw"]}


def test_unreached_nstar_is_drawn_as_a_lower_bound(tables):
    df, nst, slopes = tables
    med = median_nstar(nst, n_boot=0)
    low = med[(med["eps"] == 0.05) & ~med["reached"]]
    assert len(low) > 0  # eps = 0.05 is out of reach at the larger d
    fig = figures.plot_nstar(med, slopes, eps=0.05)
    arrows = [t for t in fig.axes[0].texts if isinstance(t, Annotation) and t.arrow_patch]
    assert len(arrows) == len(low)
    assert {round(a.xy[0]) for a in arrows} == set(low["d"])
    assert all(a.xy[1] > a.xyann[1] for a in arrows)  # pointing up from n_max


def test_collapse_divides_n_by_the_theory_scale(tables):
    df = tables[0]
    fig = figures.plot_collapse(df, exponents={"NTK on raw x": 3.0})
    ax = next(a for a in fig.axes if a.get_title() == "NTK on raw x")
    lines = {l.get_label(): l for l in ax.lines}
    n = np.unique(df["n"])
    np.testing.assert_allclose(lines["d = 8"].get_xdata(), n / 8 ** 3)
    fig = figures.plot_collapse(df, scale="harmonic", exponents={"NTK on raw x": 2})
    ax = next(a for a in fig.axes if a.get_title() == "NTK on raw x")
    np.testing.assert_allclose(ax.lines[0].get_xdata(), n / 20.0)  # N(6, 2) = 20
    with pytest.raises(ValueError, match="scale"):
        figures.plot_collapse(df, scale="log")


def test_save_figure_writes_png_and_pdf_readable_by_others(tmp_path, tables):
    fig = figures.plot_ratios(pd.DataFrame(dict(row=["NTK on raw x"] * 2, model="ntk",
                                                input="raw", d=[6, 8], eps=0.5,
                                                ratio=[1.1, 0.9], ci_lo=[1.0, 0.8],
                                                ci_hi=[1.2, 1.0])))
    paths = figures.save_figure(fig, tmp_path / "sub" / "ratios", formats=("png", "pdf", "svg"))
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"]
    assert paths[1].read_bytes()[:4] == b"%PDF" and paths[0].stat().st_size > 5000
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in paths)
    assert not list((tmp_path / "sub").glob("*.tmp"))
    with pytest.raises(ValueError, match="format"):
        figures.save_figure(fig, tmp_path / "x", formats=("jpg",))


def test_report_on_a_results_directory(tmp_path):
    store = ResultStore(tmp_path)
    df = pd.concat([_rows(), _rows("Quad-Net on raw x", "quadnet", "raw", k=2.0)])
    cfgs = {"NTK on raw x": dict(model="ntk", input="raw", activation="relu", trained="first",
                                 bias=0.0, width=None, degree=4, rank=1, basis="harmonic",
                                 noise=0.0, distribution="sphere", ridges=[1e-4, 1e-2]),
            "Quad-Net on raw x": dict(model="quadnet", input="raw", activation="shifted_sigmoid",
                                      width=50, degree=4, rank=1, basis="harmonic", noise=0.0,
                                      distribution="sphere")}
    for (lab, d, s), g in df.groupby(["label", "d", "seed"]):
        store.write(dict(cfgs[lab], d=int(d), seed=int(s), n_grid=g["n"].tolist()),
                    g.reset_index(drop=True))
    store.write_spec({"name": "toy", "eps": [0.5, 0.3]})
    out = figures.report(tmp_path, n_boot=50)
    nst = pd.read_csv(out["nstar_csv"])
    sl = pd.read_csv(out["slopes_csv"])
    assert list(nst.columns[:9]) == list(NSTAR_COLUMNS)
    assert list(sl.columns[:11]) == list(SLOPES_COLUMNS)
    assert sorted(nst["eps"].unique()) == [0.3, 0.5]
    ntk = nst[nst["row"] == "NTK on raw x"]
    assert ntk["predicted_n_star"].notna().all()  # kernel rows: eigenlearning prediction
    assert nst.loc[nst["row"] == "Quad-Net on raw x", "predicted_n_star"].isna().all()
    kinds = sl[(sl["kind"] == "global") & (sl["eps"] == 0.5)].set_index("row")["theory_kind"]
    assert kinds["Quad-Net on raw x"] == "paper" and kinds["NTK on raw x"].startswith("finite-d")
    names = {p.name for p in out["figures"]}
    for stem in ("learning_curves", "nstar", "collapse", "ratios"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert out["nstar_png"].is_file() and "| NTK on raw x |" in out["markdown"]
    assert (tmp_path / "table.csv").is_file() and (tmp_path / "ratios.csv").is_file()
    assert json.loads((tmp_path / "spec.json").read_text())["eps"] == [0.5, 0.3]
    assert ENGINE_VERSION  # the store wrote versioned records the report could read
