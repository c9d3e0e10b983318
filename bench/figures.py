"""Figures (matplotlib, Agg backend, PNG) and the report of a results directory."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import curve_summary, exponent_table, nstar_table
from .config import KERNEL_MODELS
from .store import ResultStore, atomic_write_text

__all__ = ["plot_learning_curves", "plot_nstar", "report", "theory_for"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colors(labels):
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {lab: cmap(i % 10) for i, lab in enumerate(sorted(labels))}


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


def plot_learning_curves(df: pd.DataFrame, path, *, eps: float | None = None,
                         theory: dict | None = None, title: str | None = None) -> Path:
    """Test error against n (log-log), median over seeds with the interquartile band,
    one panel per d; dashed: eigenlearning prediction, dotted grey: staircase."""
    plt = _plt()
    summ = curve_summary(df)
    ds = sorted(summ["d"].unique())
    colors = _colors(summ["label"].unique())
    ncol = min(3, len(ds))
    nrow = math.ceil(len(ds) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.2 * nrow + 1.2), squeeze=False,
                             sharey=True)
    theory = theory or {}
    from matplotlib.ticker import NullFormatter

    # y range from the measurements (a staircase at zero must not stretch the axis)
    lo = max(float(np.nanmin(summ["q25"].clip(lower=1e-8))) / 2, 1e-5)
    hi = float(np.nanmax(summ["q75"])) * 1.5
    for ax, d in zip(axes.flat, ds):
        sub = summ[summ["d"] == d]
        for lab, g in sub.groupby("label"):
            g = g.sort_values("n")
            c = colors[lab]
            ax.plot(g["n"], g["median"], "o-", color=c, ms=3.5, lw=1.6, label=lab)
            ax.fill_between(g["n"], g["q25"], g["q75"], color=c, alpha=0.2, lw=0)
            th = theory.get((lab, int(d)))
            if th is not None:
                ax.plot(th["n"], np.maximum(th["eigenlearning"], lo), "--", color=c, lw=1.2,
                        label=f"{lab}: eigenlearning theory")
        stair = next((th for (lab, dd), th in theory.items() if dd == d), None)
        if stair is not None:
            ax.step(stair["n"], np.maximum(stair["staircase"], lo), where="post", color="0.4",
                    ls=":", lw=1.5, label="staircase (rotation-invariant kernels)")
        if eps is not None:
            ax.axhline(eps, color="k", lw=0.8, alpha=0.5)
            ax.annotate(f"eps = {eps:g}", (0.02, eps), xycoords=("axes fraction", "data"),
                        fontsize=8, va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(lo, hi)
        ax.xaxis.set_minor_formatter(NullFormatter())
        p = int(df["degree"].iloc[0])
        ax.set_title(f"d = {d}, degree p = {p}")
        ax.set_xlabel("training samples n")
        ax.grid(True, which="both", alpha=0.25)
    for ax in axes[:, 0]:
        ax.set_ylabel("test error / Var f*  (median, IQR over seeds)")
    for ax in list(axes.flat)[len(ds):]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * math.ceil(len(labels) / 2), 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_nstar(nst: pd.DataFrame, table: pd.DataFrame, path, *, eps: float,
               title: str | None = None) -> Path:
    """n*(eps) against d on log-log axes: measured points, least-squares fit (solid) and a
    line of the paper's slope through the measured points' centre (dashed)."""
    plt = _plt()
    colors = _colors(nst["label"].unique())
    fig, ax = plt.subplots(figsize=(7, 5.2))
    for lab, g in nst.groupby("label"):
        g = g.sort_values("d")
        ok = np.isfinite(g["n_star"])
        c = colors[lab]
        row = table[table["label"] == lab].iloc[0]
        k = row["measured_exponent"]
        kp = row["paper_exponent"]
        txt = f"{lab}: fit {k:.2f}" if np.isfinite(k) else f"{lab}: fit n/a"
        ax.plot(g["d"][ok], g["n_star"][ok], "o", color=c, label=f"{txt} (paper {kp:g})")
        # unreached eps: mark the largest n tried as a lower bound
        ax.plot(g["d"][~ok], g["n_max"][~ok], "^", color=c, mfc="none")
        if ok.sum() >= 1:
            dd = np.asarray(g["d"][ok], float)
            nn = np.asarray(g["n_star"][ok], float)
            cx, cy = np.exp(np.mean(np.log(dd))), np.exp(np.mean(np.log(nn)))
            xs = np.geomspace(min(g["d"]) / 1.1, max(g["d"]) * 1.1, 10)
            ax.plot(xs, cy * (xs / cx) ** kp, "--", color=c, lw=1, alpha=0.7)
            if np.isfinite(k):
                ax.plot(xs, cy * (xs / cx) ** k, "-", color=c, lw=1.4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xticks(sorted(nst["d"].unique()))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("input dimension d")
    ax.set_ylabel(f"n*(eps = {eps:g}): samples to reach the target error")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, title="solid: fit, dashed: paper slope; open triangle: not reached (n max)",
              title_fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _markdown(table: pd.DataFrame, meta: str) -> str:
    lines = [meta, "",
             "| model / input | paper exponent | measured exponent | 90% bootstrap CI | n*(eps) per d |",
             "|---|---|---|---|---|"]
    for _, r in table.iterrows():
        k = f"{r['measured_exponent']:.2f}" if np.isfinite(r["measured_exponent"]) else "n/a"
        ci = (f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if np.isfinite(r["ci_low"]) else "n/a")
        lines.append(f"| {r['label']} | {r['paper_exponent']:g} | {k} | {ci} | {r['n_star']} |")
    return "\n".join(lines) + "\n"


def report(results_dir, *, eps: float | None = None, n_boot: int = 200,
           theory: bool = True) -> dict:
    """Rebuild results.csv, the exponent table and the figures of a results directory.

    Returns a dict of the written paths and the tables (``table``, ``final`` errors at the
    largest n per (label, d)).
    """
    store = ResultStore(results_dir)
    df = store.load()
    if df.empty:
        raise FileNotFoundError(f"no finished results under {store.runs}")
    spec = store.read_spec() or {}
    eps = float(eps if eps is not None else spec.get("eps", 0.1))
    name = spec.get("name", Path(results_dir).name)
    out = {"results": store.write_table(df, "results.csv")}
    table = exponent_table(df, eps, n_boot=n_boot)
    nst = nstar_table(df, eps)
    out["table_csv"] = store.write_table(table, "table.csv")
    out["nstar_csv"] = store.write_table(nst, "nstar.csv")
    n_max = df.groupby(["label", "d"])["n"].transform("max")
    final = (df[df["n"] == n_max].groupby(["label", "d", "n"])["test_error"]
             .agg(["median", "min", "max", "count"]).reset_index())
    out["final_csv"] = store.write_table(final, "final_errors.csv")
    p = int(df["degree"].iloc[0])
    meta = (f"Sweep `{name}`: degree p = {p}, eps = {eps:g}, d in "
            f"{sorted(int(x) for x in df['d'].unique())}, seeds = {df['seed'].nunique()}.")
    md = _markdown(table, meta)
    md += "\nMedian test error at the largest n:\n\n| model / input | d | n | median | min | max |\n|---|---|---|---|---|---|\n"
    for _, r in final.iterrows():
        md += (f"| {r['label']} | {r['d']} | {r['n']} | {r['median']:.3g} | {r['min']:.3g} "
               f"| {r['max']:.3g} |\n")
    atomic_write_text(store.root / "table.md", md)
    out["table_md"] = store.root / "table.md"
    th = {}
    if theory:
        ns_by_d = {int(d): g["n"].to_numpy() for d, g in df.groupby("d")}
        th = theory_for(store.configs(), ns_by_d)
    out["learning_curves"] = plot_learning_curves(
        df, store.root / "learning_curves.png", eps=eps, theory=th,
        title=f"{name}: test error vs n (degree {p})")
    out["nstar_png"] = plot_nstar(nst, table, store.root / "nstar.png", eps=eps,
                                  title=f"{name}: samples needed vs d (degree {p})")
    out["table"] = table
    out["final"] = final
    out["markdown"] = md
    return out
