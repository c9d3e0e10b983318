"""Trained Quad-Net and trained linearised network: scikit-learn regressors.

The formulas are those of docs/math.md, sections 4-5.

:class:`QuadNetRegressor` trains the quadratic Taylor model
``f_Q(z) = (1/(2 sqrt m)) sum_r a_r sigma''(w0_r.z) (w_r.z)^2`` of a two-layer network
around a fixed random ``W0``, under squared (or Huber) loss plus ``reg * ||W||_{2,4}^8``.
This is the model the paper's sample-complexity gains are about. It is **not** kernel
ridge regression with the quadratic kernel K_Q (that one is rotation-invariant on raw
inputs and obeys the d^p lower bound; see ``solvers.KernelRegressor(kernel="quad")``).

:class:`LinearizedNetRegressor` trains the linearised (finite-width NTK) model
``f_L(z) = (1/sqrt m) sum_r a_r sigma'(w0_r.z) (w_r.z)`` with the same machinery, under a
ridge penalty ``reg * ||W||_F^2``. With squared loss its minimiser is random-feature K_L
kernel ridge regression at the same width and seed, with ridge ``n * reg`` (on the
standardised targets; see ``standardize``).

Both train with scipy's L-BFGS-B on analytic gradients (two ``n x m x D`` matrix products
per evaluation) or with (momentum) gradient descent; ``QuadNetRegressor(randomized=True)``
trains the full network at ``W0 + S W`` with a fresh random sign matrix ``S`` each step
(the paper's randomized coupling), which cancels the linear term in expectation.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from hierlearn.kernels.activations import SMOOTH_DEFAULT, get_activation

from ._networks import LOSSES, Objective, TwoLayerNet, norm24

__all__ = ["QuadNetRegressor", "LinearizedNetRegressor", "DEFAULT_REG_GRID"]

#: Relative grid searched by ``reg="auto"``; each estimator turns it into absolute values
#: with its own reference scale (see ``_reg_reference``), 0 (no explicit penalty) included.
DEFAULT_REG_GRID = (0.0, 1e-7, 1e-6, 1e-5, 1e-4)

_OPTIMIZERS = ("auto", "lbfgs", "gd")


# --------------------------------------------------------------------------- optimizers

def _lbfgs(fun, x0, *, max_iter, tol):
    """scipy L-BFGS-B; returns x, loss curve, grad-norm curve, iterations, success."""
    last = {}

    def wrapped(x):
        v, g = fun(x)
        last["x"], last["v"], last["g"] = x.copy(), v, g
        return v, g

    v0, g0 = wrapped(x0)
    losses, gnorms = [v0], [float(np.linalg.norm(g0))]

    def callback(intermediate_result):
        x = intermediate_result.x
        if "x" in last and np.array_equal(x, last["x"]):
            losses.append(last["v"])
            gnorms.append(float(np.linalg.norm(last["g"])))
        else:  # should not happen with L-BFGS-B, which reports the last evaluated point
            v, g = fun(x)
            losses.append(v)
            gnorms.append(float(np.linalg.norm(g)))

    res = minimize(wrapped, x0, jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": max_iter, "ftol": tol, "gtol": tol, "maxcor": 10})
    _, g = fun(res.x) if not np.array_equal(res.x, last.get("x")) else (None, last["g"])
    return res.x, np.asarray(losses), float(np.linalg.norm(g)), int(res.nit), bool(res.success)


def _probe_step(fun, x0, v0, g0, signs=None):
    """A Barzilai-Borwein step length |s.s / s.y| from a tiny probe step along -g."""
    gn = np.linalg.norm(g0)
    if not np.isfinite(gn) or gn == 0:
        return 1.0
    s = -(1e-4 * max(np.linalg.norm(x0), 1e-3) / gn) * g0
    _, g1 = fun(x0 + s) if signs is None else fun(x0 + s, signs)
    sy = abs(float(np.dot(s, g1 - g0)))
    return float(np.dot(s, s) / sy) if sy > 0 else 1.0


def _gd(fun, x0, *, lr, momentum, max_iter, tol, sign_sampler=None):
    """(Momentum) gradient descent with a safeguarded step length.

    Deterministic objective ("bold driver"): a step that raises the objective is undone,
    the step length halved and the momentum reset; an accepted step grows it by 5%. Stops
    when the relative decrease falls below ``tol`` (scipy's ftol rule) or the gradient's
    max-norm does.

    Stochastic objective (``sign_sampler`` given: a callable returning a fresh sign vector
    per step): exactly ``max_iter`` steps; a step whose loss is non-finite or above three
    times the running average is undone and the step length halved (the sign noise makes
    single losses jumpy, so only blow-ups are caught).
    """
    x = x0.copy()
    stochastic = sign_sampler is not None
    signs = sign_sampler() if stochastic else None
    v_cur, g = fun(x, signs) if stochastic else fun(x)
    if lr == "auto":
        # half a Barzilai-Borwein step, divided by the heavy-ball gain 1/(1 - momentum)
        lr = 0.5 * (1.0 - momentum) * _probe_step(fun, x, v_cur, g, signs)
    lr = float(lr)
    vel = np.zeros_like(x)
    losses, converged, it = [v_cur], False, 0
    avg = v_cur
    for it in range(1, max_iter + 1):
        vel = momentum * vel - lr * g
        x_new = x + vel
        if stochastic:
            signs = sign_sampler()
            v_new, g_new = fun(x_new, signs)
            if not np.isfinite(v_new) or v_new > 3.0 * avg:
                lr *= 0.5
                vel[:] = 0.0
                losses.append(avg)
                continue
            x, v_cur, g = x_new, v_new, g_new
            avg = 0.9 * avg + 0.1 * v_cur
            losses.append(v_cur)
            continue
        v_new, g_new = fun(x_new)
        if not np.isfinite(v_new) or v_new > v_cur:
            lr *= 0.5
            vel[:] = 0.0
            losses.append(v_cur)
            if lr < 1e-300:
                break
            continue
        decrease = v_cur - v_new
        x, v_cur, g = x_new, v_new, g_new
        lr *= 1.05
        losses.append(v_cur)
        if (0 < decrease <= tol * max(abs(v_cur), abs(v_cur + decrease), 1.0)
                or np.max(np.abs(g)) <= tol):
            converged = True
            break
    return x, np.asarray(losses), float(np.linalg.norm(g)), it, converged


# --------------------------------------------------------------------------- estimators

def _check_param_int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_param_float(value, name, *, minimum=0.0, strict=False, maximum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    bad = not np.isfinite(value) or value < minimum or (strict and value == minimum) \
        or (maximum is not None and value >= maximum)
    if bad:
        rng = f"{'>' if strict else '>='} {minimum}" + (f" and < {maximum}" if maximum else "")
        raise ValueError(f"{name} must be finite and {rng}, got {value}")
    return value


def _gauss_moment(fn, nodes=80) -> float:
    """E[fn(g)^2] for g ~ N(0, 1), by Gauss-Hermite quadrature."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    return float(np.sum(w * fn(t) ** 2) / np.sqrt(2 * np.pi))


def _seed_sequence(seed) -> np.random.SeedSequence:
    """A SeedSequence from the accepted seed types (a Generator is advanced by one draw)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_))):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise TypeError("seed must be None, an int, a numpy SeedSequence or Generator, "
                    f"got {type(seed).__name__}")


class _NetRegressorBase(RegressorMixin, BaseEstimator):
    """Shared fitting machinery; subclasses fix the model and the penalty."""

    _model = "quadratic"
    _penalty = "norm24"

    # ---- parameter checks

    def _validate_params_(self):
        width = _check_param_int(self.width, "width", 2)
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
        if not isinstance(self.loss, str) or self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {list(LOSSES)}")
        _check_param_float(self.huber_delta, "huber_delta", strict=True)
        if not isinstance(self.optimizer, str) or self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {list(_OPTIMIZERS)}")
        randomized = bool(getattr(self, "randomized", False))
        if randomized and self.optimizer == "lbfgs":
            raise ValueError("randomized=True draws fresh signs every step (a stochastic "
                             "objective); use optimizer='gd' or 'auto', not 'lbfgs'")
        optimizer = self.optimizer
        if optimizer == "auto":
            optimizer = "gd" if randomized else "lbfgs"
        _check_param_float(self.init_scale, "init_scale")
        _check_param_float(self.input_bias, "input_bias", minimum=-np.inf)
        if not (isinstance(self.learning_rate, str) and self.learning_rate == "auto"):
            _check_param_float(self.learning_rate, "learning_rate", strict=True)
        _check_param_float(self.momentum, "momentum", maximum=1.0)
        _check_param_int(self.max_iter, "max_iter", 1)
        _check_param_float(self.tol, "tol")
        _check_param_float(self.validation_fraction, "validation_fraction", strict=True, maximum=1.0)
        regs = self._reg_grid()
        return width, act, optimizer, randomized, regs

    def _reg_grid(self, reference=None):
        reg = self.reg
        if isinstance(reg, str):
            if reg != "auto":
                raise ValueError(f"reg must be a float >= 0, 'auto' or a sequence of floats, got {reg!r}")
            return [float(r) * (1.0 if reference is None else reference)
                    for r in self._auto_grid]
        if isinstance(reg, numbers.Real) and not isinstance(reg, (bool, np.bool_)):
            return [_check_param_float(reg, "reg")]
        try:
            regs = [_check_param_float(r, "reg") for r in reg]
        except TypeError as exc:
            if "not iterable" in str(exc):
                raise TypeError(f"reg must be a float, 'auto' or a sequence of floats, "
                                f"got {type(reg).__name__}") from None
            raise
        if not regs:
            raise ValueError("reg grid is empty")
        return regs

    # ---- training

    def _train(self, net, Z, y, reg, W_init, rng, optimizer, randomized):
        obj = Objective(net, Z, y, model="full" if randomized else self._model,
                        loss=self.loss, delta=float(self.huber_delta), reg=reg,
                        penalty=self._penalty)
        x0 = W_init.ravel().copy()
        t0 = time.perf_counter()
        if optimizer == "lbfgs":
            x, curve, gnorm, nit, ok = _lbfgs(obj, x0, max_iter=self.max_iter, tol=self.tol)
        else:
            sampler = None
            if randomized:
                m = net.width
                sampler = lambda: rng.choice(np.array([-1.0, 1.0]), size=m)  # noqa: E731
            x, curve, gnorm, nit, ok = _gd(obj, x0, lr=self.learning_rate, momentum=self.momentum,
                                           max_iter=self.max_iter, tol=self.tol, sign_sampler=sampler)
        timing = {"total": time.perf_counter() - t0 + obj.precompute_seconds,
                  "matmul": obj.matmul_seconds, "objective": obj.call_seconds,
                  "precompute": obj.precompute_seconds, "evaluations": obj.n_calls}
        return x.reshape(net.W0.shape), curve, gnorm, nit, ok, timing

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
        width, act, optimizer, randomized, regs = self._validate_params_()
        ss = _seed_sequence(self.seed)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        X = self._augment(X)
        n, D = X.shape
        regs = self._reg_grid(self._reg_reference(act, n, D))
        net_ss, init_ss, split_ss, sign_ss = ss.spawn(4)
        net = TwoLayerNet.sample(width, D, act, np.random.default_rng(net_ss))
        # Rows ~ N(0, init_scale^2 / (D sqrt m) I): then ||W||_{2,4} ~ init_scale at any m, the
        # scale at which f_Q is O(1) (row norms ~ m^(-1/4), Bai & Lee 2020).
        W_init = np.random.default_rng(init_ss).standard_normal((width, D)) * (
            float(self.init_scale) / np.sqrt(D * np.sqrt(width)))

        self.y_mean_ = float(np.mean(y)) if self.fit_intercept else 0.0
        yc = y - self.y_mean_
        scale = float(np.sqrt(np.mean(yc * yc))) if self.standardize else 1.0
        self.y_scale_ = scale if scale > 0 and np.isfinite(scale) else 1.0
        ys = yc / self.y_scale_

        sign_rng = np.random.default_rng(sign_ss)
        self.reg_grid_ = np.asarray(regs, dtype=float)
        self.validation_scores_ = None
        if len(regs) > 1:
            n_val = int(round(self.validation_fraction * n))
            if n_val < 1 or n - n_val < 1:
                raise ValueError(
                    f"choosing reg on a validation split needs at least 2 samples with "
                    f"validation_fraction={self.validation_fraction}; got n_samples={n}")
            perm = np.random.default_rng(split_ss).permutation(n)
            val, tr = perm[:n_val], perm[n_val:]
            scores, fits = [], []
            for reg in regs:
                W, *_ = self._train(net, X[tr], ys[tr], reg, W_init, sign_rng, optimizer, randomized)
                resid = self._raw_predict(net, X[val], W, randomized) - ys[val]
                scores.append(float(np.mean(resid * resid)))
                fits.append(W)
            best = int(np.nanargmin(scores)) if np.any(np.isfinite(scores)) else 0
            self.validation_scores_ = np.asarray(scores) * self.y_scale_**2
            self.reg_ = float(regs[best])
            W_init = fits[best]  # warm start the refit on all samples
        else:
            self.reg_ = float(regs[0])

        W, curve, gnorm, nit, ok, timing = self._train(
            net, X, ys, self.reg_, W_init, sign_rng, optimizer, randomized)
        if not np.all(np.isfinite(W)):
            raise FloatingPointError("training diverged (non-finite weights); lower "
                                     "learning_rate or init_scale")
        self.net_ = net
        self.W0_ = net.W0
        self.a_ = net.a
        self.coef_ = W
        self.loss_curve_ = curve
        self.grad_norm_ = gnorm
        self.norm24_ = norm24(W)
        self.n_iter_ = nit
        self.converged_ = ok
        self.optimizer_ = optimizer
        self.timing_ = timing
        if not ok and not randomized:
            warnings.warn(f"{type(self).__name__} did not converge in max_iter={self.max_iter} "
                          "iterations; raise max_iter or tol", ConvergenceWarning, stacklevel=2)
        return self

    _auto_grid = DEFAULT_REG_GRID

    def _augment(self, X):
        """Append the constant input coordinate ``input_bias`` (when nonzero)."""
        if self.input_bias == 0:
            return X
        return np.hstack([X, np.full((X.shape[0], 1), float(self.input_bias))])

    def _reg_reference(self, act, n, D):
        """Multiplier that turns the relative ``reg="auto"`` grid into penalty strengths."""
        raise NotImplementedError

    def _raw_predict(self, net, Z, W, randomized):
        if randomized:
            return net.sign_averaged(Z, W)
        return net.quadratic(Z, W) if self._model == "quadratic" else net.linear(Z, W)

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
        f = self._raw_predict(self.net_, X, self.coef_, bool(getattr(self, "randomized", False)))
        return self.y_mean_ + self.y_scale_ * f

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Small default widths and iteration budgets on the checks' generic (near-linear)
        # data: the quadratic model has no linear term, so R^2 > 0.5 is not guaranteed.
        tags.regressor_tags.poor_score = True
        return tags


_COMMON_PARAMS_DOC = """
    activation : str or Activation, default="shifted_sigmoid"
        Name from :func:`kernels.get_activation` (smooth default: every Hermite degree of
        sigma'' is present).
    loss : {"squared", "huber"}, default="squared"
        Per-sample loss of r = f - y: ``r^2``, or Huber ``r^2`` for ``|r| <= huber_delta``
        and ``2 huber_delta |r| - huber_delta^2`` beyond. The objective is its mean over
        samples plus the penalty.
    huber_delta : float, default=1.0
        Huber threshold, in units of the standardised target.
    optimizer : {"auto", "lbfgs", "gd"}, default="auto"
        scipy L-BFGS-B, or gradient descent with momentum and an adaptive step length
        ("bold driver": a step that raises the objective is undone and halved). "auto":
        L-BFGS-B, or GD when ``randomized=True``.
    learning_rate : float or "auto", default="auto"
        GD step length; "auto" starts from half a Barzilai-Borwein estimate at the start.
    momentum : float in [0, 1), default=0.9
        GD heavy-ball momentum (0 gives plain GD).
    max_iter : int, default=500
        Iterations (L-BFGS-B) or steps (GD).
    tol : float, default=1e-8
        Stop when the objective's relative decrease per iteration, or the gradient's
        max-norm, falls below tol (scipy's ftol/gtol).
    validation_fraction : float in (0, 1), default=0.2
        Share of samples held out to choose ``reg`` when a grid is given.
    input_bias : float, default=0.0
        When nonzero, a constant coordinate of this value is appended to every input, i.e.
        the first layer gets a bias ``w0_r,D+1 ~ N(0, input_bias^2)`` and trained
        ``w_r,D+1``. Then ``(w_r . z)^2`` also holds terms linear in z, which a quadratic
        form on centred inputs (such as the whitened representation) cannot express.
    fit_intercept : bool, default=True
        Centre y by its mean (the Taylor models have no output bias).
    standardize : bool, default=True
        Divide the centred y by its root mean square before training, so ``reg``,
        ``huber_delta`` and ``loss_curve_`` are in units of a unit-variance target;
        predictions are scaled back.
    seed : None, int, SeedSequence or Generator, default=None
        Draws W0, the initial W, the validation split and (randomized) the signs, from
        independent streams. The same seed gives the same fitted weights.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    coef_ : ndarray of shape (width, n_features + (input_bias != 0))
        The trained movement W.
    W0_ : ndarray of shape (width, n_features + (input_bias != 0))
        The fixed initial weights (rows r and r + width/2 equal).
    a_ : ndarray of shape (width,)
        Output signs (+1 then -1).
    reg_ : float
        The penalty strength used for the final fit (chosen on validation for a grid).
    reg_grid_ : ndarray
        The candidate strengths; ``validation_scores_`` holds their validation mean squared
        errors (in units of y), or None when a single value was given.
    loss_curve_ : ndarray
        Objective value (standardised units) at the start and after each iteration.
    grad_norm_ : float
        Euclidean norm of the objective's gradient at the returned W.
    norm24_ : float
        ``||W||_{2,4}``.
    n_iter_ : int
        Iterations (or GD steps) of the final fit.
    converged_ : bool
        Whether the stopping rule fired before ``max_iter`` (always False for randomized
        training, which runs a fixed number of stochastic steps).
    timing_ : dict
        Seconds of the final fit: ``total``, ``matmul`` (inside the two matrix products per
        evaluation and the precomputation), ``objective``, ``precompute``; and
        ``evaluations``.
    y_mean_, y_scale_ : float
        Target centring and scaling.
    n_features_in_ : int
"""


class QuadNetRegressor(_NetRegressorBase):
    __doc__ = """Quad-Net: the quadratic Taylor model of a two-layer network, trained.

    Minimises ``(1/n) sum_i loss(f_Q(z_i), y_i) + reg * ||W||_{2,4}^8`` over the movement W,
    where ``f_Q(z) = (1/(2 sqrt m)) sum_r a_r sigma''(w0_r.z) (w_r.z)^2``, ``w0_r ~ N(0, I)``
    fixed and ``a_r = +-1`` in symmetric pairs. W starts small and random (W = 0 is a
    stationary point). With ``randomized=True`` it instead trains the full network at
    ``W0 + S W`` with fresh random signs S each step (Bai & Lee's randomized coupling) and
    predicts with the exact sign average ``E_S f(W0 + S W)``.

    This trains the factored weights; it is not kernel ridge regression with K_Q.

    Parameters
    ----------
    width : int, default=512
        Number of neurons m (even).
    reg : float, "auto" or sequence of float, default="auto"
        Strength of ``||W||_{2,4}^8`` (targets standardised). Its useful scale depends
        strongly on D: a unit-variance rank-one quadratic form on inputs with ``|z| ~ 1``
        needs ``||W||_{2,4}^8 ~ D^4 / E[sigma''(g)^2]`` (e.g. ~ 1e9 at D = 40 for relu2),
        so useful values are tiny (~1e-13 there); 0 leaves only the implicit bias of the
        small start. A sequence is searched on a validation split and the best refitted on
        all samples (warm-started); "auto" searches ``DEFAULT_REG_GRID`` times
        ``E[sigma''(g)^2] / D^4`` (0 included).
    init_scale : float, default=0.1
        Initial W has i.i.d. N(0, init_scale^2 / (D sqrt m)) entries, so
        ``||W||_{2,4}`` is about ``init_scale``.
    randomized : bool, default=False
        Train the full network with randomized coupling (GD only).
""" + _COMMON_PARAMS_DOC + _ATTRS_DOC

    def _reg_reference(self, act, n, D):
        # A unit-variance rank-one quadratic form on |z| ~ 1 inputs in R^D needs
        # ||W||_{2,4}^4 ~ D^2 / sqrt(E sigma''(g)^2) (measured: ~16 D^2 for relu2), so
        # ||W||_{2,4}^8 ~ D^4 / E[sigma''(g)^2]: "auto" divides its grid by that.
        return float(_gauss_moment(act.d2) / D**4)

    def __init__(self, width=512, *, activation=SMOOTH_DEFAULT, reg="auto", loss="squared",
                 huber_delta=1.0, optimizer="auto", init_scale=0.1, randomized=False,
                 learning_rate="auto", momentum=0.9, max_iter=500, tol=1e-8,
                 validation_fraction=0.2, input_bias=0.0, fit_intercept=True,
                 standardize=True, seed=None):
        self.width = width
        self.activation = activation
        self.reg = reg
        self.loss = loss
        self.huber_delta = huber_delta
        self.optimizer = optimizer
        self.init_scale = init_scale
        self.randomized = randomized
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.max_iter = max_iter
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.input_bias = input_bias
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.seed = seed


class LinearizedNetRegressor(_NetRegressorBase):
    __doc__ = """The linearised network f_L (finite-width NTK model, first layer), trained.

    Minimises ``(1/n) sum_i loss(f_L(z_i), y_i) + reg * ||W||_F^2`` with
    ``f_L(z) = (1/sqrt m) sum_r a_r sigma'(w0_r.z) (w_r.z)``, by the same machinery as
    :class:`QuadNetRegressor`. The penalty is the ridge (squared Frobenius) norm, so with
    squared loss the minimiser is random-feature kernel ridge regression with
    ``K(x, y) = (1/m) sum_r sigma'(w0_r.x) sigma'(w0_r.y) (x.y)`` (K_L at width m) and
    ridge ``n * reg`` on the standardised targets: predictions are
    ``K(x, X) (K(X, X) + n reg I)^(-1) y``. The objective is convex, so the starting point
    only affects the path.

    Parameters
    ----------
    width : int, default=512
        Number of neurons m (even).
    reg : float, "auto" or sequence of float, default="auto"
        Strength of ``||W||_F^2`` (targets standardised); the equivalent kernel ridge is
        ``n * reg``. A sequence is searched on a validation split; "auto" searches
        ``c * E[sigma'(g)^2] / n`` for c in 1e-6 ... 1e-1 (kernel ridges relative to the
        Gram's diagonal).
    init_scale : float, default=0.0
        Scale of the random start (as in QuadNetRegressor); 0 starts at W = 0.
""" + _COMMON_PARAMS_DOC + _ATTRS_DOC

    _model = "linear"
    _penalty = "fro"
    _auto_grid = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)

    def _reg_reference(self, act, n, D):
        # K_L(z, z) ~ E[sigma'(g)^2] |z|^2 and the equivalent kernel ridge is n * reg, so
        # "auto" searches kernel ridges c * E[sigma'(g)^2] relative to the Gram's diagonal.
        return float(_gauss_moment(act.d1) / n)

    def __init__(self, width=512, *, activation=SMOOTH_DEFAULT, reg="auto", loss="squared",
                 huber_delta=1.0, optimizer="auto", init_scale=0.0,
                 learning_rate="auto", momentum=0.9, max_iter=500, tol=1e-8,
                 validation_fraction=0.2, input_bias=0.0, fit_intercept=True,
                 standardize=True, seed=None):
        self.width = width
        self.activation = activation
        self.reg = reg
        self.loss = loss
        self.huber_delta = huber_delta
        self.optimizer = optimizer
        self.init_scale = init_scale
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.max_iter = max_iter
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.input_bias = input_bias
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.seed = seed
