"""Choosing the Quad-Net penalty: the hold-out split, the pilot-relative grid, the selection
rule, a noisy planted task where the penalty must help, the warm-started path against cold
fits, and scikit-learn's warm_start convention over a learning curve."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierlearn.solvers import QuadNetRegressor
from hierlearn.solvers._netpath import (AUTO_REG_GRID, choose_on_validation, holdout_split,
                                        relative_grid)


def _sphere(n, D, rng):
    X = rng.standard_normal((n, D))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ----------------------------------------------------------------------------- the split

@settings(max_examples=40, deadline=None)
@given(n1=st.integers(2, 300), extra=st.integers(0, 300),
       fraction=st.floats(0.05, 0.9), seed=st.integers(0, 2**20))
def test_holdout_split_is_stable_as_n_grows(n1, extra, fraction, seed):
    n2 = n1 + extra
    tr1, va1 = holdout_split(n1, fraction, np.random.SeedSequence(seed))
    tr2, va2 = holdout_split(n2, fraction, np.random.SeedSequence(seed))
    for tr, va, n in ((tr1, va1, n1), (tr2, va2, n2)):
        assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(n))
        assert len(va) >= 1
    # the count is floor(fraction n) or one more (or the one fallback point at tiny n)
    assert int(np.floor(fraction * n2)) <= len(va2) <= int(np.floor(fraction * n2)) + 1 \
        or (len(va2) == 1 and fraction * n2 < 1)
    # no point trained on at n1 is held out at n2 (the tiny-n fallback point aside)
    fallback = len(va1) == 1 and va1[0] == n1 - 1
    if not fallback:
        assert set(va1) <= set(va2) and set(tr1) <= set(tr2)


def test_holdout_split_is_uniform_within_cycles():
    # fraction 1/4: one held-out point per 4 positions, each position equally likely
    counts = np.zeros(4)
    for seed in range(400):
        _, va = holdout_split(8, 0.25, np.random.SeedSequence(seed))
        assert len(va) == 2 and va[0] < 4 <= va[1]
        counts[va[0]] += 1
    # 400 draws of a uniform over 4 positions: each count 100 +- 4.3 sd (binomial)
    assert np.all(np.abs(counts - 100) < 30)


# ----------------------------------------------------------------------------- the grid

def test_relative_grid_is_in_units_of_the_pilot_penalty():
    grid = relative_grid(2.0, 3.0)
    np.testing.assert_allclose(grid[:-1], np.asarray(AUTO_REG_GRID) * 2.0 / 3.0**8)
    assert grid[-1] == 0.0 and np.all(np.diff(grid) < 0)  # largest first, 0 last
    # at c = 1 the pilot's penalty equals the zero predictor's loss
    c1 = grid[list(AUTO_REG_GRID).index(1.0)]
    assert c1 * 3.0**8 == pytest.approx(2.0)
    # a pilot that did not move gives no scale: unit 1
    np.testing.assert_allclose(relative_grid(1.0, 0.0)[:-1], AUTO_REG_GRID)


def test_choose_on_validation_needs_a_clear_win_over_no_penalty():
    rng = np.random.default_rng(0)
    base = rng.exponential(1.0, size=(1, 200))
    noise = 0.05 * rng.standard_normal((1, 200))
    noise -= noise.mean()  # candidate 0 is better by 0.1% on average, 1/3 of a standard error
    zero = np.array([False, True])
    # slightly better than reg = 0, by far less than the noise: reg = 0 stays
    assert choose_on_validation(np.vstack([base * 0.999 + noise, base]), zero) == 1
    # clearly better: the penalised candidate wins
    assert choose_on_validation(np.vstack([base * 0.5, base]), zero) == 0
    # no reg = 0 candidate: plain argmin
    assert choose_on_validation(np.vstack([base * 0.999 + noise, base]),
                                np.array([False, False])) == 0


# ----------------------------------------------------------------------------- planted task

def _planted(seed, D=20, n=400, noise=1.0):
    """y = a centred rank-one quadratic form (unit variance) in D dimensions + label noise of
    the same variance; test points noise-free."""
    rng = np.random.default_rng(100 + seed)
    u = np.linalg.qr(rng.standard_normal((D, 1)))[0][:, 0]
    scale = np.sqrt(2 * (D - 1) / (D + 2))  # sd of D (u.z)^2 on the unit sphere

    def f(Z):
        return (D * (Z @ u) ** 2 - 1) / scale

    Z, Zt = _sphere(n, D, rng), _sphere(4000, D, rng)
    return Z, f(Z) + noise * rng.standard_normal(n), Zt, f(Zt)


def test_penalty_helps_on_a_noisy_planted_task():
    """D = 20, n = 20 D, label noise as large as the signal, relu2 (sigma'' = step).

    The unpenalised fit interpolates the noise (m D = 4000 weights for 400 points) and
    leaves the tiny-movement regime (median ||w_r|| / ||w0_r|| ~ 0.8); the path chooses a
    penalty that bites (c = 10 or 1 in units of the pilot's norm, penalty share 0.3-0.6).
    Measured on 6 task seeds: test error 0.52-0.64 with reg = 0 against 0.26-0.33 with
    reg="auto" (ratio 0.43-0.57). Asserted: ratio < 0.75, the chosen reg > 0 with a penalty
    share > 0.1, and movement above 0.5 for the reg = 0 fit.
    """
    Z, y, Zt, ft = _planted(seed=0)
    zero = QuadNetRegressor(200, activation="relu2", reg=0.0, random_state=0).fit(Z, y)
    auto = QuadNetRegressor(200, activation="relu2", random_state=0).fit(Z, y)
    err = lambda est: np.mean((est.predict(Zt) - ft) ** 2) / np.var(ft)  # noqa: E731
    e0, ea = err(zero), err(auto)
    assert zero.movement_median_ > 0.5
    assert auto.reg_ > 0 and auto.penalty_share_ > 0.1
    assert ea < 0.75 * e0, (ea, e0)
    # the grid spans the pilot-relative decades and ends with reg = 0
    assert len(auto.reg_grid_) == len(AUTO_REG_GRID) + 1 and auto.reg_grid_[-1] == 0
    ratios = auto.reg_grid_[:-1] / auto.reg_grid_[1:-1].max()
    np.testing.assert_allclose(ratios, np.asarray(AUTO_REG_GRID) / AUTO_REG_GRID[1],
                               rtol=1e-12)


def test_warm_path_equals_cold_fit_where_the_minimiser_is_unique():
    """A strong penalty (c = 100 in pilot units) makes the minimiser unique in practice: the
    final fit warm-started from the path (c = 1e4, 1e3, then 1e2 on the hold-out part, then
    on all samples) and a cold fit from the small start agree within the stopping
    tolerance (measured: predictions within 1e-4 relative at tol = 1e-8)."""
    Z, y, Zt, _ = _planted(seed=1, n=200)
    probe = QuadNetRegressor(100, activation="relu2", random_state=0).fit(Z, y)
    c = probe.reg_grid_[:3]  # the three strongest strengths of the auto grid
    kw = dict(activation="relu2", random_state=0, tol=1e-8, max_iter=5000)
    path = QuadNetRegressor(100, reg=list(c), validation_fraction=0.2, **kw)
    path.fit(Z, y)
    cold = QuadNetRegressor(100, reg=path.reg_, **kw).fit(Z, y)
    fp, fc = path.predict(Zt), cold.predict(Zt)
    assert np.linalg.norm(fp - fc) < 1e-3 * np.linalg.norm(fc)


# ----------------------------------------------------------------------------- warm_start

def test_plain_fit_is_idempotent_and_ignores_earlier_fits():
    Z, y, _, _ = _planted(seed=2, n=120)
    est = QuadNetRegressor(40, activation="relu2", random_state=3)
    a = est.fit(Z, y).coef_.copy()
    est.fit(Z[:60], y[:60])
    np.testing.assert_array_equal(est.fit(Z, y).coef_, a)


def test_warm_start_keeps_network_and_held_out_points_over_a_learning_curve():
    """random_state=None draws afresh for every plain fit, but under warm_start the second
    fit keeps the first one's W0 and validation stream: held-out points stay held out."""
    Z, y, Zt, ft = _planted(seed=3, n=240)
    est = QuadNetRegressor(40, activation="relu2", warm_start=True)
    est.fit(Z[:120], y[:120])
    W0, va1 = est.W0_.copy(), set(est.validation_indices_)
    est.fit(Z, y)
    np.testing.assert_array_equal(est.W0_, W0)
    assert va1 <= set(est.validation_indices_)
    # the fit itself is a full fit at the new n: better than the one at n = 120
    assert np.mean((est.predict(Zt) - ft) ** 2) < np.var(ft)
    # without warm_start a new network is drawn
    fresh = QuadNetRegressor(40, activation="relu2").fit(Z[:120], y[:120])
    assert not np.array_equal(fresh.W0_, QuadNetRegressor(40, activation="relu2")
                              .fit(Z[:120], y[:120]).W0_)
    # inputs of another dimension: a cold fit, no error
    est.fit(np.hstack([Z, Z[:, :1]]), y)
    assert est.W0_.shape == (40, Z.shape[1] + 1)


def test_warm_start_with_a_single_reg_continues_from_the_previous_weights():
    Z, y, _, _ = _planted(seed=4, n=100)
    est = QuadNetRegressor(20, activation="relu2", reg=1e-3, random_state=0, warm_start=True)
    est.fit(Z, y)
    n_first = est.n_iter_
    est.fit(Z, y)  # same data: starts at the solution, stops after the stall window
    assert est.n_iter_ <= max(12, n_first // 2)
