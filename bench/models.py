"""Run one job: sample the task, build the input, fit every training size, return rows.

One job = one (target, d, model, input, seed) with its whole grid of training sizes n.
Every model with the same (d, seed) sees exactly the same training and test points (the
data streams are derived from (seed, d, degree) only), so models are compared at the same n
on the same samples. Regularisation is chosen from the n labelled points alone for every
model: GCV/LOO (closed form) for kernel ridge, a hold-out split of the n points followed by
a refit on all n for the trained networks. Kernels, representations and networks come from
:mod:`.build` (one function per kind from the config).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import targets
from .._threads import limit_threads
from ..solvers import (PopulationError, dense_or_pcg, kernel_ridge, learning_curve,
                       learning_curve_pcg)
from .build import kernel_from_config, net_from_config, representation_from_config
from .config import KERNEL_MODELS, label
from .theory import dot_product_kernel, population_spectrum

__all__ = ["ROW_COLUMNS", "SUPPORTED_OPTIONS", "job_data", "run_job"]

#: Job-config options this runner reads (the sweep refuses others before it starts).
SUPPORTED_OPTIONS = frozenset({"randomized", "test_error"})

#: Taylor-regime diagnostics of trained nets (QuadNetRegressor.diagnostics()), NaN for kernels.
NET_DIAGNOSTICS = ("penalty_share", "norm24", "movement_median", "movement_max", "taylor_gap",
                   "n_iter", "evaluations")
#: The representation's diagnostics (NeuralRepresentation.diagnostics()), NaN without one.
REPR_DIAGNOSTICS = ("repr_lambda_min", "repr_lambda_max", "repr_n_floored",
                    "repr_n_components", "repr_effective_rank")

ROW_COLUMNS = (["label", "model", "input", "d", "degree", "seed", "n", "test_error",
                "test_error_se", "test_error_kind", "train_error", "reg", "criterion",
                "oracle_test_error", "repr_width", "width", "fit_time_s"]
               + list(NET_DIAGNOSTICS) + list(REPR_DIAGNOSTICS))


def _streams(config: dict):
    # Data depends on (seed, d, degree) only, never on the model: same samples for every model.
    ss = np.random.SeedSequence([int(config["seed"]), int(config["d"]), int(config["degree"])])
    target_ss, task_ss, repr_ss, model_ss = ss.spawn(4)
    return target_ss, task_ss, int(repr_ss.generate_state(1)[0]), int(model_ss.generate_state(1)[0])


def job_data(config: dict):
    """The task (train/test split) and the model inputs Z_train, Z_test of one job.

    Returns
    -------
    task : targets.Task
    Z_train, Z_test : ndarray or None
        The representation h_bar(x) for ``input="repr"`` at finite width D, the raw inputs
        otherwise; ``None`` when a closed-form kernel composes the infinite-width
        representation itself.
    repr_diagnostics : dict
        The fitted representation's diagnostics (empty without one).
    """
    target_ss, task_ss, repr_seed, _ = _streams(config)
    target = targets.LowRankPolynomial(
        config["d"], config["degree"], config["rank"], basis=config["basis"],
        distribution=config["distribution"], seed=target_ss)
    # kernel models choosing the ridge on held-out points get them after the largest n (the
    # sample is prefix-consistent, so the first n points are the same for every model)
    n_max = max(config["n_grid"]) + n_held_out(config)
    task = targets.make_task(target, n_max, config["n_test"], noise=config["noise"], seed=task_ss)
    if config["input"] == "raw":
        return task, task.X_train, task.X_test, {}
    if config["repr_width"] is None:
        return task, None, None, {}
    rep = representation_from_config(config, random_state=repr_seed).fit(task.X_train)
    return task, rep.transform(task.X_train), rep.transform(task.X_test), rep.diagnostics()


def n_held_out(config: dict) -> int:
    """Held-out points a kernel job draws beyond its largest n (``selection="validation"``)."""
    if config["model"] not in KERNEL_MODELS or config["selection"] != "validation":
        return 0
    return max(1, int(round(config["val_fraction"] * max(config["n_grid"]))))


def _kernel_solver(config, n_total):
    """"dense" or "pcg" for this job: the config's, or by the memory guard for "auto"."""
    solver = config.get("solver", "auto")
    if solver != "auto":
        return solver
    return dense_or_pcg(
        n_total, name="training Gram matrix of the sweep job",
        matrix_free=config["selection"] == "validation" and min(config["ridges"]) > 0,
        hint="For the matrix-free solver set selection = 'validation' and ridges > 0 in the "
             "model's config")


def _squared_errors(pred, task):
    """(normalised test error, its standard error) from the per-point squared errors."""
    e = (np.asarray(pred, dtype=float) - task.f_test) ** 2 / task.normalizer
    return float(e.mean()), float(e.std(ddof=1) / np.sqrt(e.size))


def _exact_error(config, task):
    """The exact population error hook of a closed-form dot-product kernel on the sphere."""
    spec = population_spectrum(dot_product_kernel(config), int(config["d"]))
    return PopulationError(task.X_train, spec.mu, task.target, tail_power=spec.tail_power)


def _selected_se(K, y, K_test, task, sel):
    """Standard errors of the selected predictors' sampled test errors (one more solve per
    size at the selected ridge: the curve itself keeps no coefficients)."""
    out = []
    for n, ridge in zip(sel["n"].to_numpy(int), sel["ridge"].to_numpy(float)):
        alpha = kernel_ridge(K[:n, :n], y[:n], ridge, check_finite=False)
        out.append(_squared_errors(K_test[:, :n] @ alpha, task)[1])
    return np.array(out)


def _kernel_curve(config, task, kern, Z_train, Z_test):
    """The learning curve table and the standard error of each selected test error."""
    n_val = n_held_out(config)  # exactly these points, after the largest n
    common = dict(sizes=config["n_grid"], ridges=config["ridges"],
                  selection=config["selection"], normalizer=task.normalizer,
                  seed=config["seed"],
                  validation_fraction=n_val / Z_train.shape[0] if n_val else 0.2)
    if _kernel_solver(config, Z_train.shape[0]) == "pcg":
        curve = learning_curve_pcg(Z_train, task.y_train, Z_test, task.f_test, kernel=kern,
                                   **common)
        return curve, None
    K = kern(Z_train)
    if config.get("test_error") == "exact":
        return learning_curve(K, task.y_train, error=_exact_error(config, task), **common), None
    K_test = kern(Z_test, Z_train)
    curve = learning_curve(K, task.y_train, K_test, task.f_test, **common)
    sel = curve[curve["selected"].astype(bool)].sort_values("n")
    return curve, _selected_se(K, task.y_train, K_test, task, sel)


def _kernel_rows(config, task, Z_train, Z_test, model_seed) -> pd.DataFrame:
    kern = kernel_from_config(config, random_state=model_seed)
    if Z_train is None:  # closed-form composition with the infinite-width representation
        Z_train, Z_test = task.X_train, task.X_test
    t0 = time.perf_counter()
    curve, se = _kernel_curve(config, task, kern, Z_train, Z_test)
    elapsed = time.perf_counter() - t0
    oracle = curve.groupby("n")["test_error"].min()
    sel = curve[curve["selected"].astype(bool)].sort_values("n")
    if len(sel) != len(config["n_grid"]):
        raise RuntimeError(f"learning_curve selected {len(sel)} rows for {len(config['n_grid'])} sizes")
    exact = config.get("test_error") == "exact"
    return pd.DataFrame({
        "n": sel["n"].to_numpy(int),
        "test_error": sel["test_error"].to_numpy(float),
        "test_error_se": np.full(len(sel), np.nan) if se is None else se,
        "test_error_kind": "exact" if exact else "sample",
        "train_error": sel["train_error"].to_numpy(float),
        "reg": sel["ridge"].to_numpy(float),
        "criterion": sel[config["selection"]].to_numpy(float),
        "oracle_test_error": oracle.loc[sel["n"]].to_numpy(float),
        "fit_time_s": elapsed / len(sel),
    })


def _net_rows(config, task, Z_train, Z_test, model_seed) -> pd.DataFrame:
    """Train one network per n (no prefix trick for trained models).

    The estimator picks its regularisation on a hold-out split of the n points
    (``val_fraction``) and refits on all n with the chosen value. Rows carry the Taylor-regime
    diagnostics of the fit (:data:`NET_DIAGNOSTICS`): the rows measure f_Q itself.
    """
    rows = []
    y = task.y_train
    for n in config["n_grid"]:
        t0 = time.perf_counter()
        Z, yn = Z_train[:n], y[:n]
        est = net_from_config(config, random_state=model_seed).fit(Z, yn)
        test_err, se = _squared_errors(est.predict(Z_test), task)
        train_err = float(np.mean((est.predict(Z) - yn) ** 2) / task.normalizer)
        scores = getattr(est, "validation_scores_", None)
        crit = float(np.min(scores)) / task.normalizer if scores is not None else np.nan
        diag = est.diagnostics()
        rows.append({
            "n": n, "test_error": test_err, "test_error_se": se, "test_error_kind": "sample",
            "train_error": train_err, "reg": float(diag["reg"]), "criterion": crit,
            "oracle_test_error": np.nan,  # would need the test set to choose: not measured
            "fit_time_s": time.perf_counter() - t0,
            **{k: float(diag[k]) for k in NET_DIAGNOSTICS},
        })
    return pd.DataFrame(rows)


def run_job(config: dict, *, threads: int | None = 1) -> tuple[pd.DataFrame, dict]:
    """Run one job config; returns its rows (one per n, columns ``ROW_COLUMNS``) and info.

    Parameters
    ----------
    config : dict
        A job config from :func:`bench.config.expand`.
    threads : int or None, default=1
        BLAS/numba threads for this job (``None`` leaves them alone).
    """
    t0 = time.perf_counter()
    with limit_threads(threads):
        task, Z_train, Z_test, repr_diag = job_data(config)
        _, _, _, model_seed = _streams(config)
        if config["model"] in KERNEL_MODELS:
            rows = _kernel_rows(config, task, Z_train, Z_test, model_seed)
        else:
            rows = _net_rows(config, task, Z_train, Z_test, model_seed)
    for col in ("model", "input", "d", "degree", "seed"):
        rows[col] = config[col]
    rows["label"] = label(config)
    rows["repr_width"] = config.get("repr_width") if config["input"] == "repr" else np.nan
    rows["width"] = config.get("width")
    for col in NET_DIAGNOSTICS + REPR_DIAGNOSTICS:
        if col not in rows:
            rows[col] = float(repr_diag.get(col, np.nan))
    rows = rows[ROW_COLUMNS]
    info = {"wall_time_s": time.perf_counter() - t0}
    return rows, info
