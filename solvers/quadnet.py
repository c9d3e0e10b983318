"""Trained Quad-Net and trained linearised network: scikit-learn regressors.

The formulas are those of docs/math.md, sections 4-5.

:class:`QuadNetRegressor` trains the quadratic Taylor model
``f_Q(z) = (1/(2 sqrt m)) sum_r a_r sigma''(w0_r.z) (w_r.z)^2`` of a two-layer network
around a fixed random ``W0``, under squared (or Huber) loss plus ``reg * ||W||_{2,4}^8``.
This is the model the paper's sample-complexity gains are about. It is **not** kernel
ridge regression with the quadratic kernel K_Q (that one is rotation-invariant on raw
inputs and obeys the d^p lower bound; see ``solvers.KernelRegressor(kernel="quad")``).
What it predicts is f_Q itself; how far the trained weights are from the regime where f_Q
describes the real network is reported by the fitted diagnostics (``movement_median_``,
``movement_max_``, ``taylor_gap_``; ``QuadNetRegressor.diagnostics()``).
``QuadNetRegressor(randomized=True)`` is the faithful learner instead: the full network at
``W0 + S W`` trained by noisy SGD with a fresh random sign matrix ``S`` each step (Bai &
Lee's randomized coupling, which cancels the linear term in expectation), predicting with
the exact sign average ``E_S f(W0 + S W)``.

:class:`LinearizedNetRegressor` trains the linearised (finite-width NTK) model
``f_L(z) = (1/sqrt m) sum_r a_r sigma'(w0_r.z) (w_r.z)`` with the same machinery, under a
ridge penalty ``reg * ||W||_F^2``. With squared loss its minimiser is random-feature K_L
kernel ridge regression at the same width and seed, with ridge ``n * reg`` (on the
standardised targets; see ``standardize``).

Both train with scipy's L-BFGS-B on analytic gradients (two ``n x m x D`` matrix products
and one fused elementwise pass per evaluation) or with (momentum) gradient descent, stop when
the objective stalls (``tol``), choose ``reg`` on a hold-out split along a path fitted from
large to small ``reg`` with warm starts, and run with one BLAS thread when the products are
small (restored afterwards).
"""

from __future__ import annotations

import numpy as np

from hierlearn._random import DEPRECATED
from hierlearn.kernels.activations import SMOOTH_DEFAULT

from ._netbase import NetRegressorBase, gauss_moment
from ._netpath import AUTO_REG_GRID

__all__ = ["QuadNetRegressor", "LinearizedNetRegressor", "AUTO_REG_GRID"]


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
        L-BFGS-B (noisy SGD when ``randomized=True``, which accepts only "auto").
    learning_rate : float or "auto", default="auto"
        GD/SGD step length; "auto" starts from half a Barzilai-Borwein estimate.
    momentum : float in [0, 1), default=0.9
        GD/SGD heavy-ball momentum (0 gives plain GD).
    max_iter : int, default=500
        Most iterations (L-BFGS-B) or steps (GD) of each fit; the number of SGD steps.
    tol : float, default=1e-3
        A fit stops when its objective fell by at most ``tol`` times its current value over
        the last 10 iterations (values below 0.1 of the zero predictor's loss count as 0.1
        of it: 1 for standardised targets). The default ends fits on the sweep presets'
        problems before ``max_iter``, interpolating or not.
    validation_fraction : float in (0, 1), default=0.2
        Share of samples held out to choose ``reg`` when a grid (or "auto") is given. The
        split is stable as n grows: for data whose first rows stay the same (a learning
        curve on prefixes of one sample) and a fixed ``random_state``, every point held out
        at one n is held out at every larger n (see ``warm_start``).
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
    warm_start : bool, default=False
        scikit-learn's convention: when True and the estimator was fitted before on inputs
        of the same dimension, keep its network ``W0`` and validation stream and start the
        new fit from the previous one's solutions (the pilot and the largest ``reg`` of the
        path, or the previous ``coef_`` for a single ``reg``). Meant for learning curves:
        fit ``X[:n1]``, then ``X[:n2]`` with ``n2 > n1`` (same rows first), and so on; the
        hold-out split then keeps every held-out point held out, so no point trained on at
        one n is validated on at the next. With False (default) every fit is independent
        of earlier ones.
    random_state : None, int, SeedSequence, Generator or RandomState, default=None
        Draws W0, the initial W, the validation split and (randomized) the signs and the
        perturbations, from independent streams. An int gives the same fitted weights on
        every fit; None draws fresh ones.
    seed : deprecated
        Former name of ``random_state``; accepted with a FutureWarning for one release.
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
        The penalty strength of the final fit (chosen on validation for a grid).
    reg_grid_ : ndarray
        The candidate strengths in the path's order (largest first);
        ``validation_scores_`` holds their validation mean squared errors (in units of y),
        or None when a single value was given.
    validation_indices_ : ndarray of int or None
        Rows of X held out to choose ``reg`` (fitted on the others, then refitted on all);
        None when a single value was given.
    penalty_share_ : float
        ``reg * penalty(W) / (data term + reg * penalty(W))`` at the returned W, on all
        samples (0 when reg = 0; for randomized fits the data term is that of the
        sign-averaged prediction).
    norm24_ : float
        ``||W||_{2,4}``.
    movement_median_, movement_max_ : float
        Median and max over neurons of ``||w_r|| / ||w0_r||``.
    taylor_gap_ : float
        Relative distance, on the training inputs, between the trained Taylor model and
        the network it is the Taylor model of: for Quad-Net
        ``||E_S f(W0 + S W) - f_Q(W)|| / ||f_Q(W)||`` (E_S the exact average over sign
        flips), for the linearised net ``||f(W0 + W) - f(W0) - f_L(W)|| / ||f_L(W)||``.
    loss_curve_ : ndarray
        Objective value (standardised units) at the start and after each iteration of the
        final fit.
    grad_norm_ : float
        Euclidean norm of the objective's gradient at the returned W.
    n_iter_ : int
        Iterations (or GD steps) of the final fit.
    converged_ : bool
        Whether the stopping rule fired before ``max_iter`` (always False for randomized
        training, which runs a fixed number of stochastic steps).
    optimizer_ : str
        The optimizer used ("lbfgs", "gd" or "sgd").
    timing_ : dict
        The whole fit (path and refit): ``total`` seconds; seconds inside objective
        evaluations (``objective``), inside their matrix products (``matmul``), in the
        optimizers outside evaluations (``optimizer``), in the fixed features of W0
        (``precompute``) and in the diagnostics (``diagnostics``); ``evaluations`` (count),
        ``final_evaluations`` (of the final refit) and ``fits`` (optimizer runs).
    y_mean_, y_scale_ : float
        Target centring and scaling.
    n_features_in_ : int
"""


class QuadNetRegressor(NetRegressorBase):
    __doc__ = """Quad-Net: the quadratic Taylor model of a two-layer network, trained.

    Minimises ``(1/n) sum_i loss(f_Q(z_i), y_i) + reg * ||W||_{2,4}^8`` over the movement W,
    where ``f_Q(z) = (1/(2 sqrt m)) sum_r a_r sigma''(w0_r.z) (w_r.z)^2``, ``w0_r ~ N(0, I)``
    fixed and ``a_r = +-1`` in symmetric pairs. W starts small and random (W = 0 is a
    stationary point). With ``randomized=True`` it instead trains the full network at
    ``W0 + S W`` on ``E_S loss(f(W0 + S W)) + reg ||W||_{2,4}^8`` by noisy SGD: each step
    draws fresh signs S, takes the gradient at ``W0 + S W`` (unbiased for ``E_S``) and adds
    Gaussian noise (``perturbation``); it predicts with the exact sign average
    ``E_S f(W0 + S W)``, which equals f_Q(W) up to fourth order in W.

    This trains the factored weights; it is not kernel ridge regression with K_Q. What it
    predicts is f_Q (or, randomized, E_S f); ``taylor_gap_`` says how far the two are apart
    at the trained weights.

    Parameters
    ----------
    width : int, default=512
        Number of neurons m (even). Any value works; how m should grow with the input
        dimension is the caller's choice (the sweeps set it per d).
    reg : float, "auto" or sequence of float, default="auto"
        Strength of ``||W||_{2,4}^8`` (targets standardised). A sequence is fitted as a
        path from the largest to the smallest value (each fit warm-started from the
        previous one) on a hold-out split, the value with the lowest validation error is
        refitted on all samples (starting from its path fit). "auto" first fits reg = 0
        (the pilot, also a candidate) and then the path ``c * loss0 / ||W_pilot||_{2,4}^8``
        for c in ``AUTO_REG_GRID`` = 1e4 ... 1e-2 (loss0 = the zero predictor's loss, 1 for
        standardised targets): from a penalty that shrinks the fit to a fraction of the
        target to one whose only effect is to pick a small-norm interpolant.
    init_scale : float, default=0.1
        Initial W has i.i.d. N(0, init_scale^2 / (D sqrt m)) entries, so
        ``||W||_{2,4}`` is about ``init_scale``.
    randomized : bool, default=False
        Train the full network with randomized coupling (the faithful learner).
    perturbation : float, default=0.1
        Randomized training only: standard deviation of the Gaussian noise added to every
        stochastic gradient, relative to the root-mean-square entry of the first gradient.
""" + _COMMON_PARAMS_DOC + _ATTRS_DOC

    def __init__(self, width=512, *, activation=SMOOTH_DEFAULT, reg="auto", loss="squared",
                 huber_delta=1.0, optimizer="auto", init_scale=0.1, randomized=False,
                 perturbation=0.1, learning_rate="auto", momentum=0.9, max_iter=500, tol=1e-3,
                 validation_fraction=0.2, input_bias=0.0, fit_intercept=True,
                 standardize=True, warm_start=False, random_state=None, seed=DEPRECATED):
        self.width = width
        self.activation = activation
        self.reg = reg
        self.loss = loss
        self.huber_delta = huber_delta
        self.optimizer = optimizer
        self.init_scale = init_scale
        self.randomized = randomized
        self.perturbation = perturbation
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.max_iter = max_iter
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.input_bias = input_bias
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.warm_start = warm_start
        self.random_state = random_state
        self.seed = seed


class LinearizedNetRegressor(NetRegressorBase):
    __doc__ = """The linearised network f_L (finite-width NTK model, first layer), trained.

    Minimises ``(1/n) sum_i loss(f_L(z_i), y_i) + reg * ||W||_F^2`` with
    ``f_L(z) = (1/sqrt m) sum_r a_r sigma'(w0_r.z) (w_r.z)``, by the same machinery as
    :class:`QuadNetRegressor`. The penalty is the ridge (squared Frobenius) norm, so with
    squared loss the minimiser is random-feature kernel ridge regression with
    ``K(x, y) = (1/m) sum_r sigma'(w0_r.x) sigma'(w0_r.y) (x.y)`` (K_L at width m) and
    ridge ``n * reg`` on the standardised targets: predictions are
    ``K(x, X) (K(X, X) + n reg I)^(-1) y``. Since rows r and r + m/2 of W0 are equal, K is
    also the random-feature K_L of the m/2 distinct rows; for an int ``random_state`` s
    they are the first m/2 rows drawn by
    ``numpy.random.default_rng(numpy.random.SeedSequence(s).spawn(1)[0])``, which is what
    ``kernels.ntk_gram(X, width=m // 2, seed=<that SeedSequence>)`` draws. The objective is
    convex, so the starting point only affects the path.

    Parameters
    ----------
    width : int, default=512
        Number of neurons m (even).
    reg : float, "auto" or sequence of float, default="auto"
        Strength of ``||W||_F^2`` (targets standardised); the equivalent kernel ridge is
        ``n * reg``. A sequence is fitted as a path from large to small on a hold-out split
        (warm starts); "auto" searches ``c * E[sigma'(g)^2] / n`` for c in 1e-1 ... 1e-6
        (kernel ridges relative to the Gram's diagonal).
    init_scale : float, default=0.0
        Scale of the random start (as in QuadNetRegressor); 0 starts at W = 0.
""" + _COMMON_PARAMS_DOC + _ATTRS_DOC

    _model = "linear"
    _penalty = "fro"
    _needs_pilot = False
    #: Kernel ridges relative to the Gram's diagonal searched by ``reg="auto"``.
    _relative_ridges = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

    def _auto_grid(self, loss0, pilot, n, net):
        # K_L(z, z) ~ E[sigma'(g)^2] |z|^2 and the equivalent kernel ridge is n * reg, so
        # "auto" searches kernel ridges c * E[sigma'(g)^2] relative to the Gram's diagonal.
        return np.asarray(self._relative_ridges) * gauss_moment(net.activation.d1) / n

    def _taylor_gap(self, net, Z, W, diag):
        fl = net.linear(Z, W)
        denom = float(np.linalg.norm(fl))
        return float(np.linalg.norm(net.full(Z, W) - fl)) / denom if denom > 0 else float("nan")

    def __init__(self, width=512, *, activation=SMOOTH_DEFAULT, reg="auto", loss="squared",
                 huber_delta=1.0, optimizer="auto", init_scale=0.0,
                 learning_rate="auto", momentum=0.9, max_iter=500, tol=1e-3,
                 validation_fraction=0.2, input_bias=0.0, fit_intercept=True,
                 standardize=True, warm_start=False, random_state=None, seed=DEPRECATED):
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
        self.warm_start = warm_start
        self.random_state = random_state
        self.seed = seed
