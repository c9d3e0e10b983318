"""Network internals: the fused elementwise pass against plain numpy, the L-BFGS against
scipy and its stall rule, Taylor-regime diagnostics against a direct computation, the
faithful (randomized) learner, and the BLAS thread policy of a fit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, rosen, rosen_der

from hierlearn._threads import blas_threads, limit_threads
from hierlearn.solvers import QuadNetRegressor
from hierlearn.solvers import _netbase
from hierlearn.solvers._fused import taylor_pass, taylor_rows
from hierlearn.solvers._networks import (DIAGNOSTIC_NAMES, Objective, TwoLayerNet,
                                         loss_value_and_derivative, taylor_diagnostics)
from hierlearn.solvers._optimize import lbfgs, stalled


def _sphere(n, D, seed):
    X = np.random.default_rng(seed).standard_normal((n, D))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ----------------------------------------------------------------------------- fused pass

@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), m=st.integers(1, 40), quadratic=st.booleans(),
       huber=st.booleans(), seed=st.integers(0, 2**16))
def test_fused_pass_equals_numpy(n, m, quadratic, huber, seed):
    rng = np.random.default_rng(seed)
    P, C, y = rng.standard_normal((n, m)), rng.standard_normal((n, m)), rng.standard_normal(n)
    f = np.sum(C * P * P, 1) if quadratic else np.sum(C * P, 1)
    value, deriv = loss_value_and_derivative(f - y, "huber" if huber else "squared", 0.4)
    dfdP = 2 * C * P if quadratic else C
    G = dfdP * (deriv / n)[:, None]
    out = P.copy()
    v = taylor_pass(out, C, y, quadratic, huber, 0.4)
    assert v == pytest.approx(np.mean(value), rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(out, G, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(taylor_rows(P, C, quadratic, np.empty(n)), f, rtol=1e-12,
                               atol=1e-13)


def test_objective_reg_can_change_between_calls():
    net = TwoLayerNet.sample(6, 3, "relu2", np.random.default_rng(0))
    Z, y = _sphere(9, 3, 1), np.arange(9.0)
    W = np.random.default_rng(2).standard_normal((6, 3))
    obj = Objective(net, Z, y)
    v0, g0 = obj(W.ravel())
    obj.reg = 0.5
    v1, g1 = obj(W.ravel())
    pv, pg = obj.penalty_value_and_grad(W)
    assert v1 == pytest.approx(v0 + 0.5 * pv)
    np.testing.assert_allclose(g1, g0 + 0.5 * pg.ravel())
    assert obj.loss_value(W) == pytest.approx(v0)


# ----------------------------------------------------------------------------- optimizer

def test_lbfgs_matches_scipy_on_a_convex_quadratic_and_rosenbrock():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 40))
    H = A @ A.T + 0.1 * np.eye(40)
    b = rng.standard_normal(40)
    quad = lambda x: (0.5 * x @ H @ x - b @ x, H @ x - b)  # noqa: E731
    r = lbfgs(quad, np.zeros(40), max_iter=2000, tol=1e-15, floor=1e-300)
    ref = minimize(quad, np.zeros(40), jac=True, method="L-BFGS-B",
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000})
    # condition number ~1.5e3: function values pin x down to ~1e-7 in double precision,
    # where both stop (scipy: 4e-7 from the solution, this one: 1e-7)
    xs = np.linalg.solve(H, b)
    assert np.abs(r.x - xs).max() <= max(np.abs(ref.x - xs).max(), 1e-7) * 2
    assert r.converged and np.all(np.diff(r.losses) <= 0)
    rb = lbfgs(lambda x: (rosen(x), rosen_der(x)), np.full(8, -1.2), max_iter=2000,
               tol=1e-15, floor=1e-300)
    ref = minimize(rosen, np.full(8, -1.2), jac=rosen_der, method="L-BFGS-B")
    np.testing.assert_allclose(rb.x, np.ones(8), atol=1e-6)
    assert rb.losses[-1] <= ref.fun + 1e-12


def test_lbfgs_escapes_the_saddle_at_zero_from_a_tiny_start():
    """W = 0 is a stationary point of every Quad-Net objective; from a start 1e-6 away the
    line search must expand its step instead of giving up (it once returned 'no
    decrease' after its evaluation budget, leaving the fit at the zero predictor)."""
    D, m, n = 8, 20, 60
    net = TwoLayerNet.sample(m, D, "shifted_sigmoid", np.random.default_rng(0))
    Z = _sphere(n, D, 1)
    y = D * Z[:, 0] ** 2
    y = (y - y.mean()) / y.std()
    obj = Objective(net, Z, y)
    x0 = 1e-6 * np.random.default_rng(2).standard_normal(m * D)
    r = lbfgs(obj, x0, max_iter=500, tol=1e-3, floor=1e-3)
    assert r.losses[-1] < 0.1 * r.losses[0]


def test_stall_rule():
    assert not stalled([1.0] * 10, 1e-3, 1e-3)  # fewer than window + 1 values
    assert stalled([1.0] * 11, 1e-3, 1e-3)
    halving = list(0.5 ** np.arange(20))
    assert not stalled(halving, 1e-3, 1e-9)  # steady relative progress never stalls
    # below the floor, decreases are measured against the floor
    tiny = list(1e-9 * 0.5 ** np.arange(20))
    assert stalled(tiny, 1e-3, 1e-3)


# ----------------------------------------------------------------------------- diagnostics

def test_diagnostics_against_direct_computation():
    """Movement and norm from their definitions; the gap from E_S f computed by enumerating
    all 2^m sign patterns (m = 6: 64 networks), not by the neuron-wise shortcut."""
    D, m = 4, 6
    net = TwoLayerNet.sample(m, D, "shifted_sigmoid", np.random.default_rng(3))
    Z = _sphere(11, D, 4)
    W = 0.7 * np.random.default_rng(5).standard_normal((m, D))
    diag = taylor_diagnostics(net, Z, W)
    assert tuple(diag) == DIAGNOSTIC_NAMES
    ratios = [np.sqrt(np.sum(W[r] ** 2)) / np.sqrt(np.sum(net.W0[r] ** 2)) for r in range(m)]
    assert diag["movement_median"] == pytest.approx(np.median(ratios), rel=1e-12)
    assert diag["movement_max"] == pytest.approx(max(ratios), rel=1e-12)
    assert diag["norm24"] == pytest.approx(sum(np.sum(w * w) ** 2 for w in W) ** 0.25)
    sigma = net.activation.fn
    f0 = sum(net.a[r] * sigma(Z @ net.W0[r]) for r in range(m)) / np.sqrt(m)
    avg = np.zeros(len(Z))
    for signs in itertools.product([-1.0, 1.0], repeat=m):
        W1 = net.W0 + np.asarray(signs)[:, None] * W
        avg += sum(net.a[r] * sigma(Z @ W1[r]) for r in range(m)) / np.sqrt(m) - f0
    avg /= 2**m
    s2 = net.activation.d2
    fq = sum(net.a[r] * s2(Z @ net.W0[r]) * (Z @ W[r]) ** 2 for r in range(m)) / (2 * np.sqrt(m))
    np.testing.assert_allclose(net.sign_averaged(Z, W), avg, rtol=1e-10, atol=1e-13)
    gap = np.linalg.norm(avg - fq) / np.linalg.norm(fq)
    assert diag["taylor_gap"] == pytest.approx(gap, rel=1e-8)


def test_estimator_diagnostics_are_those_of_its_training_points():
    Z = _sphere(50, 5, 6)
    y = 4 * Z[:, 0] * Z[:, 1]
    est = QuadNetRegressor(16, reg=1e-4, input_bias=0.5, random_state=0).fit(Z, y)
    Za = np.hstack([Z, np.full((50, 1), 0.5)])
    d = taylor_diagnostics(est.net_, Za, est.coef_)
    assert est.movement_median_ == d["movement_median"]
    assert est.movement_max_ == d["movement_max"] and est.norm24_ == d["norm24"]
    assert est.taylor_gap_ == d["taylor_gap"]


# ----------------------------------------------------------------------------- faithful learner

def test_faithful_learner_is_close_to_the_deterministic_fit_on_the_planted_task():
    """Noisy SGD with fresh signs each step (randomized=True) on the noisy planted task of
    tests/test_quadnet_path.py, at the penalty the deterministic fit chose.

    relu2 keeps the trained weights near the Taylor regime (movement ~0.5, gap ~0.1), where
    E_S f of the SGD weights and f_Q agree; measured on 5 task seeds, the randomized test
    error is 0.72-0.87 times the deterministic one (the variance term of E_S loss, a ridge
    on the linear features, regularises further). Asserted: within 1.5x, as the issue asks.
    (With the smooth default activation at this width the weights move ~1 and the gap is
    ~0.4: E_S f is then 1.7x worse than f_Q, which the diagnostics report.)
    """
    rng = np.random.default_rng(100)
    D, n = 20, 400
    u = np.linalg.qr(rng.standard_normal((D, 1)))[0][:, 0]
    f = lambda Z: (D * (Z @ u) ** 2 - 1) / np.sqrt(2 * (D - 1) / (D + 2))  # noqa: E731
    Z = rng.standard_normal((n, D))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Zt = rng.standard_normal((4000, D))
    Zt /= np.linalg.norm(Zt, axis=1, keepdims=True)
    y, ft = f(Z) + rng.standard_normal(n), f(Zt)
    det = QuadNetRegressor(200, activation="relu2", random_state=0).fit(Z, y)
    rnd = QuadNetRegressor(200, activation="relu2", randomized=True, reg=det.reg_,
                           random_state=0).fit(Z, y)
    err = lambda est: np.mean((est.predict(Zt) - ft) ** 2) / np.var(ft)  # noqa: E731
    assert err(rnd) < 1.5 * err(det), (err(rnd), err(det))
    # it predicts with the exact sign average, which is f_Q up to fourth order: the gap is
    # what the diagnostics report, and small here
    np.testing.assert_allclose(rnd.predict(Zt), rnd.y_mean_ + rnd.y_scale_ *
                               rnd.net_.sign_averaged(Zt, rnd.coef_))
    assert rnd.taylor_gap_ < 0.25 and rnd.optimizer_ == "sgd"


def test_sgd_step_draws_fresh_signs_and_noise():
    """Two fits differing only in the perturbation stream differ; perturbation=0 and the
    same random_state reproduce each other exactly."""
    Z = _sphere(40, 4, 7)
    y = 3 * Z[:, 0] ** 2
    kw = dict(activation="relu2", randomized=True, reg=0.0, max_iter=40)
    a = QuadNetRegressor(8, random_state=1, perturbation=0.0, **kw).fit(Z, y)
    b = QuadNetRegressor(8, random_state=1, perturbation=0.0, **kw).fit(Z, y)
    c = QuadNetRegressor(8, random_state=1, perturbation=0.5, **kw).fit(Z, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.allclose(a.coef_, c.coef_)
    assert a.n_iter_ == 40 and len(a.loss_curve_) == 41


# ----------------------------------------------------------------------------- threads

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_runs_small_problems_on_one_blas_thread_and_restores(monkeypatch):
    seen = []
    original = _netbase.Objective.__call__

    def spy(self, w, signs=None):
        seen.append(blas_threads())
        return original(self, w, signs)

    monkeypatch.setattr(_netbase.Objective, "__call__", spy)
    Z = _sphere(40, 4, 8)
    with limit_threads(2, numba=False):
        before = blas_threads()
        QuadNetRegressor(8, reg=0.0, random_state=0, max_iter=5).fit(Z, Z[:, 0] ** 2)
        after = blas_threads()
    assert seen and set(seen) == {1}
    assert after == before
