"""solvers.prefix (every prefix from one factor) and solvers.ridge_search (the grid search)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hierlearn.solvers.prefix import inverse_column_norms, prefix_fits, workspace_size
from hierlearn.solvers.ridge_search import initial_points, propose, search


def spd(n, rank=30, seed=0, jitter=1e-3):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, rank))
    return F @ F.T / rank + jitter * np.eye(n), rng.standard_normal(n)


@pytest.mark.parametrize("inverse", ["trsm", "trtri"])
@pytest.mark.parametrize("panel", [7, 64, 1024])
def test_prefix_fits_match_direct_inverses(inverse, panel):
    K, y = spd(150)
    sizes = [1, 9, 64, 65, 150]
    fits = prefix_fits(K, y, sizes, 0.05, panel=panel, inverse=inverse)
    for (alpha, gdiag), m in zip(fits, sizes):
        G = np.linalg.inv(K[:m, :m] + 0.05 * np.eye(m))
        np.testing.assert_allclose(alpha, G @ y[:m], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gdiag, np.diag(G), rtol=1e-9)


def test_prefix_fits_smaller_factor_and_no_diag():
    K, y = spd(120)
    fits = prefix_fits(K, y, [10, 50], 1e-2, diag=False)  # factor of order 50 only
    assert all(g is None for _, g in fits)
    np.testing.assert_allclose(fits[1][0], np.linalg.solve(K[:50, :50] + 1e-2 * np.eye(50),
                                                           y[:50]), rtol=1e-9)


def test_prefix_fits_singular_returns_none():
    K, y = spd(40, rank=5, jitter=0.0)  # rank 5: K + 0 I is singular
    assert prefix_fits(K, y, [20, 40], 0.0) is None
    assert prefix_fits(K, y, [20, 40], 1e-3) is not None


def test_prefix_fits_into_a_reused_buffer_are_bit_identical():
    # one buffer for every factor of a curve (larger than needed, reused after a singular
    # attempt) gives the same bits as a fresh copy each time
    K, y = spd(90, rank=5, jitter=0.0)
    work = np.full(workspace_size(100, panel=32), np.nan)
    assert prefix_fits(K, y, [30, 90], 0.0, work=work, panel=32) is None
    for ridge, sizes in ((1e-3, [30, 90]), (0.5, [10, 60]), (1e-2, [45, 90])):
        fresh = prefix_fits(K, y, sizes, ridge, panel=32)
        reused = prefix_fits(K, y, sizes, ridge, work=work, panel=32)
        for (a, g), (b, h) in zip(fresh, reused):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(g, h)


def test_inverse_column_norms_bad_method():
    with pytest.raises(ValueError, match="'trsm' or 'trtri'"):
        inverse_column_norms(np.eye(3), [3], method="lu")


def test_initial_points():
    assert initial_points(20) == [0, 10, 19]
    assert initial_points(2) == [0, 1] and initial_points(1) == [0]


def test_propose_certifies_and_steps():
    done = np.zeros(7, dtype=bool)
    vals = np.full(7, np.nan)
    done[[0, 3, 6]] = True
    vals[[0, 3, 6]] = [5.0, 1.0, 3.0]
    assert propose(vals, done) == 4  # right side looks lower (3 < 5)
    done[4], vals[4] = True, 2.0
    assert propose(vals, done) == 2
    done[2], vals[2] = True, 1.5
    assert propose(vals, done) is None  # 3 is certified: both neighbours worse
    vals[6] = np.nan  # an evaluated NaN counts as +inf
    assert propose(vals, done) is None


def unimodal(draw_min, R, rng):
    """Strictly convex-ish sequence with its minimum at draw_min, random slopes."""
    x = np.arange(R) - draw_min
    return 1.0 + np.abs(x) * rng.uniform(0.01, 1.0) + x ** 2 * rng.uniform(0, 0.2)


@settings(max_examples=40, deadline=None)
@given(R=st.integers(1, 25), k=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_search_finds_every_minimum_of_unimodal_curves(R, k, seed):
    rng = np.random.default_rng(seed)
    curves = np.array([unimodal(rng.integers(R), R, rng) for _ in range(k)])
    calls = []

    def evaluate(j, top):
        calls.append((j, top))
        return curves[:top + 1, j]

    done, values = search(evaluate, k, R)
    for i in range(k):
        best = int(np.nanargmin(np.where(done[i], values[i], np.nan)))
        assert best == int(np.argmin(curves[i]))
        np.testing.assert_array_equal(values[i][done[i]], curves[i][done[i]])
    for j in {j for j, _ in calls}:  # a point is evaluated again only for larger sizes
        tops = [top for jj, top in calls if jj == j]
        assert tops == sorted(set(tops))


def test_search_catches_a_minimum_at_the_far_end():
    # two basins: a shallow one in the middle, the deeper one at the last grid point
    curve = np.array([5, 4, 3, 2, 1.5, 2, 3, 4, 3, 2, 1.0])
    done, values = search(lambda j, top: curve[None, j], 1, len(curve))
    assert int(np.nanargmin(np.where(done[0], values[0], np.nan))) == len(curve) - 1


def test_search_factors_each_point_at_the_largest_size_that_needs_it():
    R = 12
    curves = np.array([np.abs(np.arange(R) - m) + 1.0 for m in (2, 2, 9)])
    tops = {}

    def evaluate(j, top):
        tops.setdefault(j, []).append(top)
        return curves[:top + 1, j]

    search(evaluate, 3, R)
    # point 1 and 3 only interest the two small sizes: factored at size index 1, not 2
    assert tops[1] == [1] and tops[3] == [1]
    assert tops[0] == [2] and tops[6] == [2]  # the initial points, for every size
