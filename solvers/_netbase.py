"""Fitting machinery shared by the network estimators of :mod:`solvers.quadnet`.

One fit: validate, draw (or, with ``warm_start``, reuse) the fixed network, standardise y,
choose ``reg`` on a hold-out split along a path fitted from large to small ``reg`` with warm
starts (:mod:`solvers._netpath`), refit on all samples at the chosen ``reg`` from the
chosen path fit, and record diagnostics. All of it runs under one BLAS thread when the
products are small (:func:`hierlearn._threads.threads_for_flops`), restored afterwards.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from hierlearn._random import as_seed_sequence, resolve_random_state
from hierlearn._threads import limit_threads, threads_for_flops
from hierlearn._validation import (check_bool, check_choice, check_float, check_int,
                                  check_target_scale)
from hierlearn.kernels.activations import get_activation

from ._netpath import choose_on_validation, holdout_split, relative_grid
from ._networks import (LOSSES, Objective, TwoLayerNet, loss_value_and_derivative, norm24,
                        taylor_diagnostics)
from ._optimize import gradient_descent, lbfgs, noisy_sgd

__all__ = ["NetRegressorBase", "OPTIMIZERS", "gauss_moment"]

OPTIMIZERS = ("auto", "lbfgs", "gd")

# Stall rule floor (solvers._optimize.stalled), as a share of the zero predictor's loss:
# once the objective is below it, a fit ends when it falls by less than tol * floor over 10
# iterations (1e-4 of the target's variance at the defaults). Measured on the default
# preset (12 Quad-Net jobs, 2026-12-01): floor 0.1 against 1e-3 left every test error
# unchanged to 2-3 digits and took 1.7x less time; fits that cannot interpolate (raw x,
# d = 6..12, n = 2000, width 200) end in 170-280 iterations instead of running into
# max_iter = 500, at test errors 0.002 / 0.012 / 0.11 against 0.001 / 0.010 / 0.13.
_STALL_FLOOR = 0.1


def gauss_moment(fn, nodes: int = 80) -> float:
    """E[fn(g)^2] for g ~ N(0, 1), by Gauss-Hermite quadrature."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    return float(np.sum(w * fn(t) ** 2) / np.sqrt(2 * np.pi))


class NetRegressorBase(RegressorMixin, BaseEstimator):
    """Shared fitting machinery; subclasses fix the model, the penalty and the "auto" grid."""

    _model = "quadratic"
    _penalty = "norm24"

    # ------------------------------------------------------------------ parameters

    def _check_params(self) -> dict:
        width = check_int(self.width, "width", minimum=2)
        if width % 2:
            raise ValueError(f"width must be even (neurons come in +- pairs), got {width}")
        act = get_activation(self.activation)
        if self._model == "quadratic" and act.relu_order is not None and act.relu_order < 2:
            raise ValueError(
                f"activation {act.name!r} has sigma'' = 0 almost everywhere, so the quadratic "
                "model is identically zero; use relu2 or higher, or a smooth activation")
        if self._model == "linear" and act.relu_order == 0:
            raise ValueError("activation 'step' has sigma' = 0 almost everywhere, so the "
                             "linearised model is identically zero")
        randomized = check_bool(getattr(self, "randomized", False), "randomized")
        optimizer = check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if randomized and optimizer != "auto":
            raise ValueError("randomized=True trains by noisy SGD with fresh signs each step (a "
                             f"stochastic objective); use optimizer='auto', not {optimizer!r}")
        if optimizer == "auto":
            optimizer = "sgd" if randomized else "lbfgs"
        lr = self.learning_rate
        if not (isinstance(lr, str) and lr == "auto"):
            lr = check_float(lr, "learning_rate", minimum=0.0, strict=True)
        momentum = check_float(self.momentum, "momentum", minimum=0.0)
        if momentum >= 1.0:
            raise ValueError(f"momentum must be < 1, got {momentum!r}")
        return dict(
            width=width, act=act, randomized=randomized, optimizer=optimizer, lr=lr,
            momentum=momentum, loss=check_choice(self.loss, "loss", LOSSES),
            delta=check_float(self.huber_delta, "huber_delta", minimum=0.0, strict=True),
            init_scale=check_float(self.init_scale, "init_scale", minimum=0.0),
            input_bias=check_float(self.input_bias, "input_bias"),
            max_iter=check_int(self.max_iter, "max_iter", minimum=1),
            tol=check_float(self.tol, "tol", minimum=0.0),
            fraction=check_float(self.validation_fraction, "validation_fraction",
                                 minimum=0.0, maximum=1.0, strict=True),
            perturbation=check_float(getattr(self, "perturbation", 0.0), "perturbation",
                                     minimum=0.0),
            fit_intercept=check_bool(self.fit_intercept, "fit_intercept"),
            standardize=check_bool(self.standardize, "standardize"),
            warm_start=check_bool(self.warm_start, "warm_start"),
            regs=self._check_reg())

    def _check_reg(self):
        """"auto", or the candidate strengths, largest first (the path's order)."""
        reg = self.reg
        if isinstance(reg, str):
            if reg != "auto":
                raise ValueError(f"reg must be a float >= 0, 'auto' or a sequence of floats, "
                                 f"got {reg!r}")
            return "auto"
        if isinstance(reg, numbers.Real) and not isinstance(reg, (bool, np.bool_)):
            return [check_float(reg, "reg", minimum=0.0)]
        if isinstance(reg, (bool, np.bool_)) or not np.iterable(reg):
            raise TypeError(f"reg must be a float, 'auto' or a sequence of floats, got "
                            f"{type(reg).__name__}")
        regs = [check_float(r, "reg", minimum=0.0) for r in reg]
        if not regs:
            raise ValueError("reg grid is empty")
        return sorted(set(regs), reverse=True)

    def _auto_grid(self, loss0, pilot, n, net):
        """The "auto" strengths (largest first) from the zero predictor's loss and the pilot
        ``reg = 0`` fit; subclasses that need no pilot get ``None`` for both."""
        return relative_grid(loss0, norm24(pilot))

    _needs_pilot = True

    # ------------------------------------------------------------------ fitting

    def _augment(self, X):
        """Append the constant input coordinate ``input_bias`` (when nonzero)."""
        if self.input_bias == 0:
            return X
        return np.hstack([X, np.full((X.shape[0], 1), float(self.input_bias))])

    def _streams(self, cfg, random_state):
        """Seed sequences (net, init, split, signs, noise); reused under warm_start."""
        if cfg["warm_start"] and getattr(self, "_seed_", None) is not None:
            entropy, key = self._seed_
        else:
            ss = as_seed_sequence(random_state, "random_state")
            entropy, key = ss.entropy, ss.spawn_key
        self._seed_ = (entropy, key)
        # a fresh SeedSequence each fit: spawning from the caller's object would advance it
        return np.random.SeedSequence(entropy, spawn_key=key).spawn(5)

    def _warm(self, cfg, D):
        """The previous fit's state when warm_start applies to this one, else None."""
        if not cfg["warm_start"] or not hasattr(self, "coef_"):
            return None
        net = self.net_
        if net.W0.shape != (cfg["width"], D) or net.activation.name != cfg["act"].name:
            return None
        return self._path_state_

    def _scale_targets(self, y, cfg):
        self.y_mean_ = float(np.mean(y)) if cfg["fit_intercept"] else 0.0
        yc = y - self.y_mean_
        scale = float(np.sqrt(np.mean(yc * yc))) if cfg["standardize"] else 1.0
        if cfg["standardize"] and not 0 < scale < np.inf and yc.size:
            # the plain root mean square over- or underflowed: scale by the largest entry first
            # (only then, so that ordinary targets keep the numbers of earlier versions)
            top = float(np.max(np.abs(yc)))
            scale = top * float(np.sqrt(np.mean((yc / top) ** 2))) if top > 0 else 0.0
        self.y_scale_ = scale if scale > 0 and np.isfinite(scale) else 1.0
        return yc / self.y_scale_

    def _objective(self, net, Z, y, cfg, reg=0.0):
        model = "full" if cfg["randomized"] else self._model
        obj = Objective(net, Z, y, model=model, loss=cfg["loss"], delta=cfg["delta"],
                        reg=reg, penalty=self._penalty)
        self._objectives_.append(obj)
        return obj

    def _train(self, obj, x0, cfg, rngs):
        """Minimise ``obj`` from ``x0`` (a weight matrix); returns an OptimizeResult."""
        floor = _STALL_FLOOR * max(float(np.mean(obj.y * obj.y)), 1e-300)
        x0 = np.ascontiguousarray(x0, dtype=np.float64).ravel().copy()
        calls, seconds, t0 = obj.n_calls, obj.call_seconds, time.perf_counter()
        if cfg["optimizer"] == "lbfgs":
            res = lbfgs(obj, x0, max_iter=cfg["max_iter"], tol=cfg["tol"], floor=floor)
        elif cfg["optimizer"] == "gd":
            res = gradient_descent(obj, x0, lr=cfg["lr"], momentum=cfg["momentum"],
                                   max_iter=cfg["max_iter"], tol=cfg["tol"], floor=floor)
        else:
            sign_rng, noise_rng = rngs
            m = obj.shape[0]

            def signs():
                return 2.0 * sign_rng.integers(0, 2, size=m) - 1.0

            res = noisy_sgd(obj, x0, signs, noise_rng, lr=cfg["lr"], momentum=cfg["momentum"],
                            max_iter=cfg["max_iter"], perturbation=cfg["perturbation"])
        res.x = res.x.reshape(obj.shape)
        res.n_evaluations = obj.n_calls - calls
        res.objective_seconds = obj.call_seconds - seconds
        res.optimizer_seconds = time.perf_counter() - t0 - res.objective_seconds
        self._fits_.append(res)
        return res

    def _predict_raw(self, net, Z, W, randomized):
        if randomized:
            return net.sign_averaged(Z, W)
        return net.quadratic(Z, W) if self._model == "quadratic" else net.linear(Z, W)

    def _choose_reg(self, net, Z, ys, W_init, cfg, rngs, split_ss, warm):
        """Fit the path on a hold-out split.

        Returns the chosen ``reg``, the start of the final fit and the path's state (the
        starts of the next fit under ``warm_start``).
        """
        regs = cfg["regs"]
        self.validation_scores_ = self.validation_indices_ = None
        if regs != "auto" and len(regs) == 1:
            self.reg_grid_ = np.asarray(regs, dtype=float)
            return regs[0], (warm["coef"] if warm else W_init), {"path": []}
        n = Z.shape[0]
        tr, va = holdout_split(n, cfg["fraction"], split_ss)
        if len(tr) < 1 or len(va) < 1:
            raise ValueError(f"choosing reg on a validation split needs at least 2 samples with "
                             f"validation_fraction={cfg['fraction']}; got n_samples={n}")
        obj = self._objective(net, Z[tr], ys[tr], cfg)
        pilot = None
        if regs == "auto" and self._needs_pilot:
            # always from the small random start: the implicit bias of that start is what
            # reg = 0 means (a warm start from the previous n's interpolant loses it)
            pilot = self._train(obj, W_init, cfg, rngs).x
            grid = self._auto_grid(float(np.mean(ys[tr] ** 2)), pilot, len(tr), net)
        elif regs == "auto":
            grid = self._auto_grid(None, None, len(tr), net)
        else:
            grid = np.asarray(regs, dtype=float)
        # each path fit starts from the previous, larger reg's fit; the first from W_init,
        # or under warm_start from the previous n's first path fit. (Starting every path fit
        # from the previous n's fit at the same reg was measured slower on the default
        # preset: at small reg the neighbouring reg's fit on the same data is closer than
        # the same reg's fit on fewer data.)
        start = warm["path"][0] if warm and warm["path"] else W_init
        fits, path, sq = [], [], []
        for reg in grid:
            if reg == 0 and pilot is not None:
                W = pilot
            else:
                obj.reg = float(reg)
                W = start = self._train(obj, start, cfg, rngs).x
                path.append(W)
            fits.append(W)
            resid = self._predict_raw(net, Z[va], W, cfg["randomized"]) - ys[va]
            sq.append(resid * resid)
        sq = np.asarray(sq)
        scores = sq.mean(axis=1)
        best = choose_on_validation(sq, np.asarray(grid) == 0)
        self.reg_grid_ = np.asarray(grid, dtype=float)
        self.validation_scores_ = scores * self.y_scale_**2
        self.validation_indices_ = va
        # the pilot is refitted as it was made (from the small start, see above); a path fit
        # is refitted from its hold-out solution (re-running the path on all samples would
        # cost as much again for a start that the path makes close already)
        refit_start = W_init if grid[best] == 0 and pilot is not None else fits[best]
        return float(grid[best]), refit_start, {"path": path}

    def fit(self, X, y):
        """Train the network's movement ``W`` on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs z (raw x, or a representation such as ``NeuralRepresentation`` output).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        t_start = time.perf_counter()
        cfg = self._check_params()
        random_state = resolve_random_state(self, self.random_state, self.seed)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        check_target_scale(y, "y")  # validation scores and losses square it
        Z = self._augment(X)
        n, D = Z.shape
        warm = self._warm(cfg, D)
        net_ss, init_ss, split_ss, sign_ss, noise_ss = self._streams(cfg, random_state)
        net = self.net_ if warm else TwoLayerNet.sample(cfg["width"], D, cfg["act"],
                                                        np.random.default_rng(net_ss))
        # Rows ~ N(0, init_scale^2 / (D sqrt m) I): then ||W||_{2,4} ~ init_scale at any m, the
        # scale at which f_Q is O(1) (row norms ~ m^(-1/4), Bai & Lee 2020).
        W_init = np.random.default_rng(init_ss).standard_normal((cfg["width"], D)) * (
            cfg["init_scale"] / np.sqrt(D * np.sqrt(cfg["width"])))
        ys = self._scale_targets(y, cfg)
        rngs = (np.random.default_rng(sign_ss), np.random.default_rng(noise_ss))
        self._fits_, self._objectives_ = [], []
        with limit_threads(threads_for_flops(2.0 * n * cfg["width"] * D)):
            reg, W_start, state = self._choose_reg(net, Z, ys, W_init, cfg, rngs, split_ss, warm)
            obj = self._objective(net, Z, ys, cfg, reg)
            final = self._train(obj, W_start, cfg, rngs)
        self._set_fitted(net, Z, obj, final, reg, cfg, t_start)
        self._path_state_ = dict(state, coef=self.coef_)
        return self

    def _set_fitted(self, net, Z, obj, final, reg, cfg, t_start):
        W = final.x
        if not np.all(np.isfinite(W)):
            raise FloatingPointError("training diverged (non-finite weights); lower "
                                     "learning_rate or init_scale")
        self.net_, self.W0_, self.a_, self.coef_, self.reg_ = net, net.W0, net.a, W, float(reg)
        self.optimizer_ = cfg["optimizer"]
        self.loss_curve_ = final.losses
        self.grad_norm_ = final.grad_norm
        self.n_iter_ = final.n_iter
        self.converged_ = final.converged
        # randomized: the data term of the sign-averaged prediction (the one it predicts with)
        r = self._predict_raw(net, Z, W, cfg["randomized"]) - obj.y
        loss = float(np.mean(loss_value_and_derivative(r, cfg["loss"], cfg["delta"])[0]))
        pen = reg * obj.penalty_value(W)
        self.penalty_share_ = pen / (loss + pen) if pen > 0 else 0.0
        t_diag = time.perf_counter()
        diag = taylor_diagnostics(net, Z, W)
        self.norm24_ = diag["norm24"]
        self.movement_median_, self.movement_max_ = diag["movement_median"], diag["movement_max"]
        self.taylor_gap_ = self._taylor_gap(net, Z, W, diag)
        t_diag = time.perf_counter() - t_diag
        fits, objs = self._fits_, self._objectives_
        self.timing_ = {
            "total": time.perf_counter() - t_start,
            "objective": sum(o.call_seconds for o in objs),
            "matmul": sum(o.matmul_seconds for o in objs),
            "precompute": sum(o.precompute_seconds for o in objs),
            "optimizer": sum(f.optimizer_seconds for f in fits),
            "diagnostics": t_diag,
            "evaluations": sum(o.n_calls for o in objs),
            "final_evaluations": final.n_evaluations,
            "fits": len(fits)}
        stuck = [f for f in fits if not f.converged and cfg["optimizer"] != "sgd"]
        del self._fits_, self._objectives_
        if stuck:
            warnings.warn(f"{type(self).__name__}: {len(stuck)} of {len(fits)} fits did not "
                          f"converge in max_iter={cfg['max_iter']} iterations; raise max_iter "
                          "or tol", ConvergenceWarning, stacklevel=3)

    def _taylor_gap(self, net, Z, W, diag):
        return diag["taylor_gap"]

    # ------------------------------------------------------------------ using the fit

    def predict(self, X):
        """Predict with the trained model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = self._augment(validate_data(self, X, reset=False, dtype=np.float64))
        f = self._predict_raw(self.net_, X, self.coef_, bool(getattr(self, "randomized", False)))
        return self.y_mean_ + self.y_scale_ * f

    def diagnostics(self) -> dict:
        """The fit's diagnostics as a flat dict (one sweep row's extra columns).

        Returns
        -------
        dict
            ``reg``, ``penalty_share``, ``norm24``, ``movement_median``, ``movement_max``,
            ``taylor_gap`` (see the attributes of the same names with a trailing ``_``),
            ``n_iter``, ``converged``, ``evaluations`` (objective evaluations of the whole
            fit: path and refit) and ``fit_seconds``.
        """
        check_is_fitted(self, "coef_")
        return {"reg": self.reg_, "penalty_share": self.penalty_share_, "norm24": self.norm24_,
                "movement_median": self.movement_median_, "movement_max": self.movement_max_,
                "taylor_gap": self.taylor_gap_, "n_iter": self.n_iter_,
                "converged": self.converged_, "evaluations": self.timing_["evaluations"],
                "fit_seconds": self.timing_["total"]}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The quadratic model has no linear term, so on the checks' generic (near-linear)
        # data R^2 > 0.5 is not guaranteed.
        tags.regressor_tags.poor_score = True
        return tags
