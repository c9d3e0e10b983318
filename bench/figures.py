"""Figures of sample-complexity sweeps and the report of a results directory.

Conventions (issue 16): every plotting function draws into ``ax=`` when given (else it builds
its own :class:`matplotlib.figure.Figure`) and returns the Figure; nothing here touches pyplot
or the global matplotlib backend. :func:`save_figure` writes PNG and PDF (or SVG), each
atomically. A row keeps its look in every run and every figure: the colour is fixed by
(model, input) (:data:`MODEL_COLORS`, not by plotting order) and the marker by a CRC of the row
label. An n* that was not reached is a lower bound: an upward arrow from the largest n tried.

Figures: learning curves with interquartile bands and theory overlays
(:func:`plot_learning_curves`); n* against d on log-log axes with the fitted and theoretical
slopes and lower-bound arrows (:func:`plot_nstar`); error curves against n / d^k or
n / N(d, k) (:func:`plot_collapse`); measured / predicted n* (:func:`plot_ratios`) and
same-seed ratios n*_A / n*_B (:func:`plot_same_seed_ratios`) against d.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import (check_rows, curve_summary, exponent_table, median_nstar, nstar_table,
                       ratio_table, same_seed_ratios, slope_table, write_nstar_csv,
                       write_slopes_csv)
from ..targets import harmonic_dimension
from .config import KERNEL_MODELS, paper_exponent, ratio_pairs
from .store import ResultStore, atomic_write_text

__all__ = ["MODEL_COLORS", "row_style", "save_figure", "plot_learning_curves", "plot_nstar",
           "plot_collapse", "plot_ratios", "plot_same_seed_ratios", "report", "theory_for"]

#: One colour per (model, input), the same in every run (matplotlib's tab10 hues).
MODEL_COLORS = {
    ("ntk", "raw"): "#1f77b4", ("kq", "raw"): "#ff7f0e", ("ntk", "repr"): "#2ca02c",
    ("quadnet", "raw"): "#d62728", ("quadnet", "repr"): "#9467bd",
    ("linnet", "raw"): "#8c564b", ("linnet", "repr"): "#e377c2", ("kq", "repr"): "#7f7f7f",
}
_MARKERS = "osD^vp<>hPX*"


def row_style(model: str, input: str, label: str) -> dict:
    """Colour (fixed by model and input) and marker (a CRC of the label) of a row.

    Measurements are drawn solid; dashed and dotted lines are kept for theory.
    """
    return {"color": MODEL_COLORS.get((model, input), "#17becf"),
            "marker": _MARKERS[zlib.crc32(label.encode()) % len(_MARKERS)]}


def _figure(ax, nrows=1, ncols=1, size=(6.4, 4.8), **kw):
    """(fig, axes array) on the given ax or on a new pyplot-free Figure."""
    if ax is not None:
        return ax.figure, np.array([[ax]])
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    return fig, np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False, **kw))


def save_figure(fig, path, *, formats=("png", "pdf"), dpi: int = 200) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats`` (atomically); returns paths."""
    path = Path(path)
    out = []
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise ValueError(f"unknown figure format {fmt!r}; expected png, pdf or svg")
        target = path.with_suffix("." + fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            fig.savefig(tmp, format=fmt, dpi=dpi)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        out.append(target)
    return out


def _style(df_or_row, label):
    r = df_or_row
    return row_style(str(r["model"]), str(r["input"]), str(label))


def _log_axes(ax, xlabel, ylabel):
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.25)


# -- learning curves -----------------------------------------------------------------------

def plot_learning_curves(df: pd.DataFrame, *, eps=None, theory: dict | None = None, d=None,
                         ax=None, title: str | None = None):
    """Test error against n (log-log): median over seeds with the interquartile band.

    One panel per d (or only ``d`` when ``ax`` is given); dashed: eigenlearning prediction,
    dotted grey: staircase (``theory`` from :func:`theory_for`); horizontal lines at eps.
    """
    summ = curve_summary(df)
    ds = sorted(summ["d"].unique()) if d is None else [d]
    if ax is not None and len(ds) != 1:
        raise ValueError(f"ax= draws one d; pass d= (one of {ds})")
    ncol = min(3, len(ds))
    fig, axes = _figure(ax, math.ceil(len(ds) / ncol), ncol, size=(5.0, 4.0), sharey=True)
    theory = theory or {}
    lo = max(float(np.nanmin(summ["q25"].clip(lower=1e-8))) / 2, 1e-5)
    hi = float(np.nanmax(summ["q75"])) * 1.5
    styles = {lab: _style(g.iloc[0], lab) for lab, g in summ.groupby("label")}
    for a, dd in zip(axes.flat, ds):
        for lab, g in summ[summ["d"] == dd].groupby("label"):
            g = g.sort_values("n")
            st = styles[lab]
            a.plot(g["n"], g["median"], color=st["color"], marker=st["marker"], ms=3.5, lw=1.5,
                   label=lab)
            a.fill_between(g["n"], g["q25"], g["q75"], color=st["color"], alpha=0.2, lw=0)
            th = theory.get((lab, int(dd)))
            if th is not None:
                a.plot(th["n"], np.maximum(th["eigenlearning"], lo), "--", color=st["color"],
                       lw=1.0, label=f"{lab}: eigenlearning")
        stair = next((th for (lab, k), th in theory.items() if k == dd), None)
        if stair is not None:
            a.step(stair["n"], np.maximum(stair["staircase"], lo), where="post", color="0.4",
                   ls=":", lw=1.4, label="staircase (rotation-invariant kernels)")
        for e in ([] if eps is None else np.atleast_1d(eps)):
            a.axhline(e, color="k", lw=0.7, alpha=0.5)
        _log_axes(a, "training samples n", "test error / Var f*")
        a.set_ylim(lo, hi)
        a.set_title(f"d = {dd}")
    for a in list(axes.flat)[len(ds):]:
        a.set_visible(False)
    if ax is None:
        h, lab = _unique_legend(axes)
        fig.legend(h, lab, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
        if title:
            fig.suptitle(title)
    else:
        ax.legend(fontsize=7)
    return fig


def _unique_legend(axes):
    handles, labels = [], []
    for a in axes.flat:
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


# -- n* against d ---------------------------------------------------------------------------

def _arrow(ax, x, y, color):
    ax.annotate("", xy=(x, y * 1.8), xytext=(x, y),
                arrowprops=dict(arrowstyle="-|>", color=color, lw=1.2))


def plot_nstar(medians: pd.DataFrame, slopes: pd.DataFrame | None = None, *, eps=None, ax=None,
               title: str | None = None):
    """Median n* against d (log-log) with intervals, fits and theory slopes.

    ``medians``: :func:`analysis.median_nstar` (one eps, or pass ``eps``); ``slopes``:
    :func:`analysis.slope_table`. Solid: the global fit; dashed: a line of the theory slope
    (finite-d prediction, else the paper's exponent) through the same centre; an unreached
    median is drawn at the largest n tried with an upward arrow (a lower bound).
    """
    if eps is not None:
        medians = medians[np.isclose(medians["eps"], eps)]
        slopes = None if slopes is None else slopes[np.isclose(slopes["eps"], eps)]
    if medians["eps"].nunique() > 1:
        raise ValueError("medians hold several eps; pass eps=")
    own = ax is None  # a figure of our own gets its legend below the axes, clear of the data
    fig, axes = _figure(ax, size=(7.0, 7.0))
    a = axes[0, 0]
    for row, g in medians.groupby("row", sort=True):
        g = g.sort_values("d")
        st = _style(g.iloc[0], row)
        ok = g["reached"].to_numpy(bool)
        text = row
        dd, nn = g["d"].to_numpy(float), g["n_star"].to_numpy(float)
        yerr = np.array([nn - g["ci_lo"].to_numpy(float), g["ci_hi"].to_numpy(float) - nn])
        a.errorbar(dd[ok], nn[ok], yerr=np.where(np.isfinite(yerr[:, ok]), yerr[:, ok], 0),
                   fmt=st["marker"], color=st["color"], ms=5, capsize=2, lw=1)
        for x, y in zip(dd[~ok], nn[~ok]):
            a.plot([x], [y], st["marker"], color=st["color"], mfc="none", ms=5)
            _arrow(a, x, y, st["color"])
        s = None if slopes is None else slopes[(slopes["row"] == row) & (slopes["kind"] == "global")]
        if s is not None and len(s) and ok.sum() >= 2:
            s = s.iloc[0]
            cx, cy = np.exp(np.mean(np.log(dd[ok]))), np.exp(np.mean(np.log(nn[ok])))
            xs = np.geomspace(dd.min() / 1.05, dd.max() * 1.05, 10)
            a.plot(xs, cy * (xs / cx) ** s["slope"], "-", color=st["color"], lw=1.4)
            a.plot(xs, cy * (xs / cx) ** s["theory_slope"], "--", color=st["color"], lw=1,
                   alpha=0.7)
            ci = f" [{s['ci_lo']:.2f}, {s['ci_hi']:.2f}]" if np.isfinite(s["ci_lo"]) else ""
            kind = s.get("theory_kind", "")
            text = (f"{row}: fit {s['slope']:.2f}{ci}, theory {s['theory_slope']:.2f}"
                    + (f" ({kind})" if kind else ""))
        a.plot([], [], color=st["color"], marker=st["marker"], label=text)
    _log_axes(a, "input dimension d", "n*: samples to reach eps (median over seeds)")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    a.set_xticks(sorted(medians["d"].unique()))
    a.xaxis.set_major_formatter(ScalarFormatter())
    a.xaxis.set_minor_formatter(NullFormatter())
    legend = dict(fontsize=7, title_fontsize=7,
                  title="solid: fit, dashed: theory slope; arrow: not reached (lower bound)")
    if own:
        fig.legend(loc="outside lower center", frameon=False, **legend)
    else:
        a.legend(**legend)
    if title:
        a.set_title(title)
    elif len(medians):
        a.set_title(f"eps = {medians['eps'].iloc[0]:g}")
    return fig


# -- collapse ---------------------------------------------------------------------------------

def plot_collapse(df: pd.DataFrame, *, exponents: dict | None = None, scale: str = "power",
                  eps=None, axes=None):
    """Each row's median error curves against n / d^k (``scale="power"``) or n / N(d, k)
    (``"harmonic"``), one panel per row, one colour per d: the curves fall onto one when k is
    the row's true exponent.

    ``exponents``: label -> k; default the paper's exponent of the row's (model, input,
    degree). ``axes``: a sequence of Axes, one per row (sorted labels).
    """
    from matplotlib import colormaps

    if scale not in ("power", "harmonic"):
        raise ValueError(f"scale must be 'power' or 'harmonic', got {scale!r}")
    summ = curve_summary(df)
    labels = sorted(summ["label"].unique())
    if axes is None:
        ncol = min(3, len(labels))
        fig, grid = _figure(None, math.ceil(len(labels) / ncol), ncol, size=(4.6, 3.8))
        axes = list(grid.flat)
        for a in axes[len(labels):]:
            a.set_visible(False)
    else:
        axes = list(np.ravel(axes))
        if len(axes) < len(labels):
            raise ValueError(f"axes has {len(axes)} Axes for {len(labels)} rows")
        fig = axes[0].figure
    ds = sorted(summ["d"].unique())
    cmap = colormaps["viridis"]
    for a, lab in zip(axes, labels):
        g = df[df["label"] == lab].iloc[0]
        k = (exponents or {}).get(lab, paper_exponent(g["model"], g["input"], int(g["degree"])))
        for i, dd in enumerate(ds):
            c = summ[(summ["label"] == lab) & (summ["d"] == dd)].sort_values("n")
            if c.empty:
                continue
            sc = float(dd) ** k if scale == "power" else _harmonic_scale(int(dd), k)
            a.plot(c["n"] / sc, c["median"], "o-", ms=2.5, lw=1.2,
                   color=cmap(i / max(len(ds) - 1, 1)), label=f"d = {dd}")
        for e in ([] if eps is None else np.atleast_1d(eps)):
            a.axhline(e, color="k", lw=0.7, alpha=0.5)
        what = f"d^{k:g}" if scale == "power" else f"N(d, {k:g})"
        _log_axes(a, f"n / {what}", "test error / Var f* (median)")
        a.set_title(lab, fontsize=9)
        a.legend(fontsize=6)
    return fig


def _harmonic_scale(d, k):
    if float(k) != int(k):
        return float(d) ** k
    return float(harmonic_dimension(d, int(k)))


# -- ratios ---------------------------------------------------------------------------------

def plot_ratios(ratios: pd.DataFrame, *, eps=None, ax=None, band: float = 0.15):
    """Measured / predicted n* against d per kernel row, with intervals; the grey band is
    +-``band`` around 1 (issue 12 asks to explain ratios outside it)."""
    if eps is not None:
        ratios = ratios[np.isclose(ratios["eps"], eps)]
    fig, axes = _figure(ax, size=(6.4, 4.4))
    a = axes[0, 0]
    a.axhspan(1 - band, 1 + band, color="0.9", lw=0)
    a.axhline(1.0, color="k", lw=0.8)
    for (row, e), g in ratios.groupby(["row", "eps"], sort=True):
        g = g.sort_values("d")
        st = _style(g.iloc[0], row)
        yerr = np.array([g["ratio"] - g["ci_lo"], g["ci_hi"] - g["ratio"]], dtype=float)
        a.errorbar(g["d"], g["ratio"], yerr=np.where(np.isfinite(yerr), yerr, 0),
                   color=st["color"], marker=st["marker"], capsize=2,
                   label=f"{row} (eps = {e:g})")
    a.set_xscale("log")
    a.set_xlabel("input dimension d")
    a.set_ylabel("measured n* / eigenlearning n* (selected ridge)")
    a.grid(True, which="both", alpha=0.25)
    a.legend(fontsize=7)
    return fig


def plot_same_seed_ratios(ratios: pd.DataFrame, *, eps=None, ax=None):
    """n*_A / n*_B on the same seeds against d (log-log), with a reference line of slope 1
    (the paper: each ratio grows like d) through each pair's geometric centre."""
    if eps is not None:
        ratios = ratios[np.isclose(ratios["eps"], eps)]
    fig, axes = _figure(ax, size=(6.4, 4.4))
    a = axes[0, 0]
    for i, ((num, den, e), g) in enumerate(ratios.groupby(["numerator", "denominator", "eps"],
                                                           sort=True)):
        g = g[np.isfinite(g["ratio"])].sort_values("d")
        if g.empty:
            continue
        color = f"C{i % 10}"
        yerr = np.array([g["ratio"] - g["ci_lo"], g["ci_hi"] - g["ratio"]], dtype=float)
        a.errorbar(g["d"], g["ratio"], yerr=np.where(np.isfinite(yerr), yerr, 0), color=color,
                   marker="o", capsize=2, label=f"{num} / {den} (eps = {e:g})")
        cx, cy = np.exp(np.mean(np.log(g["d"]))), np.exp(np.mean(np.log(g["ratio"])))
        xs = np.geomspace(g["d"].min(), g["d"].max(), 5)
        a.plot(xs, cy * xs / cx, ":", color=color, lw=1)
    _log_axes(a, "input dimension d", "same-seed ratio of n*")
    a.legend(fontsize=7, title="dotted: slope 1 (ratio ~ d)", title_fontsize=7)
    return fig


# -- theory overlays and the report -----------------------------------------------------------

def theory_for(configs: dict[str, dict], ns_by_d: dict[int, np.ndarray]) -> dict:
    """Theory curves per (label, d) for closed-form kernels on sphere inputs.

    Returns ``{(label, d): theory_curves(...)}``; jobs the theory does not cover (trained
    nets, random features, finite representations, Gaussian inputs) are skipped, and a
    failure of one overlay only warns.
    """
    from .config import label
    from .theory import theory_curves

    out = {}
    for cfg in configs.values():
        key = (label(cfg), int(cfg["d"]))
        if key in out or cfg["model"] not in KERNEL_MODELS or cfg.get("width") is not None:
            continue
        if cfg["distribution"] != "sphere" or cfg["d"] < 3:
            continue
        if cfg["input"] == "repr" and cfg.get("repr_width") is not None:
            continue
        ns = np.geomspace(min(ns_by_d[cfg["d"]]), max(ns_by_d[cfg["d"]]), 40)
        try:
            out[key] = theory_curves(cfg, ns)
        except Exception as exc:  # an overlay must never sink the report
            warnings.warn(f"theory overlay for {key} failed: {exc}", RuntimeWarning, stacklevel=2)
    return out


def _markdown(table: pd.DataFrame, meta: str, eps: float) -> str:
    lines = [meta, "",
             f"| model / input | paper exponent | measured exponent (eps = {eps:g}) | 90% CI "
             "| finite-d theory | n*(eps) per d |", "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        k = f"{r['measured_exponent']:.2f}" if np.isfinite(r["measured_exponent"]) else "n/a"
        ci = f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if np.isfinite(r["ci_low"]) else "n/a"
        th = (f"{r['theory_slope']:.2f}" if r.get("theory_kind", "").startswith("finite")
              else "-")
        lines.append(f"| {r['label']} | {r['paper_exponent']:g} | {k} | {ci} | {th} | "
                     f"{r['n_star']} |")
    return "\n".join(lines) + "\n"


def _label_configs(store) -> dict:
    from .config import label

    out = {}
    for cfg in store.configs().values():
        out.setdefault(label(cfg), cfg)
    return out


def _report_eps(eps, spec) -> list[float]:
    val = eps if eps is not None else spec.get("eps", 0.1)
    return [float(e) for e in np.atleast_1d(val)]


def report(results_dir, *, eps=None, n_boot: int = 200, theory: bool = True,
           formats=("png", "pdf")) -> dict:
    """Rebuild the tables and figures of a results directory.

    Writes ``results.csv``, ``nstar.csv`` and ``slopes.csv`` (the contract of issue 12),
    ``table.csv``/``table.md`` (global exponents at the first eps beside the paper's and
    the finite-d theory), ``final_errors.csv``, ``ratios.csv`` and ``same_seed.csv`` (where
    they have rows), and the figures ``learning_curves``, ``nstar``, ``collapse``
    (+ ``ratios``, ``same_seed``) in each of ``formats``.

    Parameters
    ----------
    eps : float or list of float, optional
        Default: the spec's ``eps`` (a number or a list).
    n_boot : int
        Bootstrap replicates of the intervals.
    theory : bool
        Eigenlearning predictions and overlays for closed-form kernel rows.

    Returns
    -------
    dict of written paths (``results``, ``nstar_csv``, ``slopes_csv``, ``table_csv``,
    ``table_md``, ``final_csv``, ``ratios_csv`` and ``same_seed_csv`` where written,
    ``learning_curves`` and ``nstar_png`` (PNG paths), ``figures`` (all figure files)) and
    the tables ``table``, ``final``, ``nstar``, ``slopes``, ``ratios``, ``same_seed`` and
    ``markdown``.
    """
    store = ResultStore(results_dir)
    df = store.load()
    if df.empty:
        raise FileNotFoundError(f"no finished results under {store.runs}")
    spec = store.read_spec() or {}
    eps_list = _report_eps(eps, spec)
    name = spec.get("name", Path(results_dir).name)
    out = _report_tables(store, df, eps_list, n_boot, theory)
    p = int(df["degree"].iloc[0])
    meta = (f"Sweep `{name}`: degree p = {p}, eps = {', '.join(f'{e:g}' for e in eps_list)}, "
            f"d in {sorted(int(x) for x in df['d'].unique())}, seeds = {df['seed'].nunique()}.")
    md = _markdown(out["table"], meta, eps_list[0])
    md += ("\nMedian test error at the largest n:\n\n| model / input | d | n | median | min | max |"
           "\n|---|---|---|---|---|---|\n")
    for _, r in out["final"].iterrows():
        md += (f"| {r['label']} | {r['d']} | {r['n']} | {r['median']:.3g} | {r['min']:.3g} "
               f"| {r['max']:.3g} |\n")
    atomic_write_text(store.root / "table.md", md)
    out["table_md"] = store.root / "table.md"
    out["markdown"] = md
    th = theory_for(store.configs(), {int(d): g["n"].to_numpy() for d, g in df.groupby("d")}) \
        if theory else {}
    nst, slopes = out["nstar"], out["slopes"]
    figs = {"learning_curves": plot_learning_curves(
                df, eps=eps_list, theory=th, title=f"{name}: test error vs n (degree {p})"),
            "nstar": plot_nstar(median_nstar(nst, n_boot=n_boot), slopes, eps=eps_list[0],
                                title=f"{name}: samples needed vs d (eps = {eps_list[0]:g})"),
            "collapse": plot_collapse(df, eps=eps_list)}
    if len(out["ratios"]):
        figs["ratios"] = plot_ratios(out["ratios"])
    if len(out["same_seed"]) and np.isfinite(out["same_seed"]["ratio"]).any():
        figs["same_seed"] = plot_same_seed_ratios(out["same_seed"])
    out["figures"] = []
    for key, fig in figs.items():
        out["figures"] += save_figure(fig, store.root / key, formats=formats)
    if "png" in formats:
        out["learning_curves"] = store.root / "learning_curves.png"
        out["nstar_png"] = store.root / "nstar.png"
    return out


def _report_tables(store, df, eps_list, n_boot, theory) -> dict:
    """The report's CSV files (written) and tables (returned)."""
    rows = check_rows(df)
    out = {"results": store.write_table(df, "results.csv")}
    nst = nstar_table(rows, eps_list, theory=_label_configs(store) if theory else None)
    slopes = slope_table(nst, n_boot=n_boot)
    out["nstar_csv"] = write_nstar_csv(nst, store.root / "nstar.csv")
    out["slopes_csv"] = write_slopes_csv(slopes, store.root / "slopes.csv")
    table = exponent_table(rows, eps_list[0], n_boot=n_boot, nstar=nst)
    out["table_csv"] = store.write_table(table, "table.csv")
    n_max = df.groupby(["label", "d"])["n"].transform("max")
    final = (df[df["n"] == n_max].groupby(["label", "d", "n"])["test_error"]
             .agg(["median", "min", "max", "count"]).reset_index())
    out["final_csv"] = store.write_table(final, "final_errors.csv")
    ratios = ratio_table(nst, n_boot=n_boot)
    same = same_seed_ratios(nst, ratio_pairs(store.read_spec() or {}), n_boot=n_boot)
    for key, tab in (("ratios_csv", ratios), ("same_seed_csv", same)):
        if len(tab):
            out[key] = store.write_table(tab, key.replace("_csv", ".csv"))
    out.update(table=table, final=final, nstar=nst, slopes=slopes, ratios=ratios, same_seed=same)
    return out
