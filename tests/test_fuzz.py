"""Fuzz the public surface (issue 17): every input gets a clear ValueError/TypeError that
names the argument, or the correct finite answer; never a crash, a hang, a silent NaN or an
unnamed error.

Inputs: shapes (empty, one row, d from 1 to 20 so the BLAS-cosine tiles of d >= 16 run),
dtypes (float64, float32, int, bool, object, complex), memory layouts (C, Fortran,
non-contiguous), scales from 1e-300 to 1e300, NaN/inf injected, wrong types. The relu NTK is
checked against the numpy reference (:func:`hierlearn.kernels.arccos.relu_ntk_formula`) on the
rescaled inputs (it is homogeneous of degree 2); other kernels against their own answer on the
same values as a float64 C-ordered array (bit for bit).
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from hierlearn import kernels as K
from hierlearn import solvers as S
from hierlearn import targets as T
from hierlearn.kernels.arccos import relu_ntk_formula

FUZZ = settings(max_examples=30, deadline=20000,  # generous: the machine is shared
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SCALES = [1e-300, 1e-150, 1e-8, 1.0, 1e8, 1e150, 1e300]
BAD = ["none", "none", "nan", "inf", "-inf"]


@st.composite
def arrays(draw, n_min=0, n_max=6, d=None):
    """(array as passed, its float64 values or None, what is wrong with it or None)."""
    n = draw(st.integers(n_min, n_max))
    d = draw(st.integers(1, 20)) if d is None else d
    base = draw(hnp.arrays(np.float64, (n, d), elements=st.floats(-1, 1, width=64)))
    kind = draw(st.sampled_from(["float64", "float32", "int", "bool", "object", "complex"]))
    scale = draw(st.sampled_from(SCALES))
    if kind == "float64":
        A = base * scale
    elif kind == "float32":
        A = (base * min(scale, 1e30)).astype(np.float32)  # float32 holds up to 3.4e38
    elif kind == "int":
        A = np.round(base * 5).astype(np.int64)
    elif kind == "bool":
        A = base > 0
    elif kind == "object":
        A = base.astype(object)
    else:
        A = base.astype(complex)
    bad = draw(st.sampled_from(BAD)) if kind in ("float64", "float32") and A.size else "none"
    if bad != "none":
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))
        A[i, j] = float(bad)
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        A = np.asfortranarray(A)
    elif layout == "strided":
        big = np.zeros((n, 2 * d), dtype=A.dtype)
        big[:, ::2] = A
        A = big[:, ::2]
    problem = ("type" if kind in ("object", "complex") else "empty" if n == 0
               else "nonfinite" if bad != "none" else None)
    values = None if problem else np.ascontiguousarray(A, dtype=np.float64)
    return A, values, problem


def expect_error(fn, problem, name):
    """The call raises the error ``problem`` calls for, naming ``name``."""
    kind = TypeError if problem == "type" else ValueError
    with pytest.raises(kind) as info:
        fn()
    assert name in str(info.value), str(info.value)


def _row_scales(V):
    """A power of two >= each row's largest |entry| (1 for zero rows)."""
    top = np.max(np.abs(V), axis=1, initial=0.0)
    return np.array([2.0 ** math.frexp(t)[1] if t > 0 else 1.0 for t in top])


def relu_reference(V, W=None, trained="first"):
    """relu NTK in numpy, scale-safe: K is positively homogeneous of degree 1 in each
    argument (bias 0), so K(x, y) = s t K(x/s, y/t) with each row scaled to norm <= sqrt(d)
    by a power of two (exact); zero rows give 0. Returns (K(x/s, y/t), s, t)."""
    W = V if W is None else W
    s, t = _row_scales(V), _row_scales(W)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = relu_ntk_formula(V / s[:, None], W / t[:, None], trained=trained)
    return np.nan_to_num(R, nan=0.0), s, t


def _compare(out, ref, scale, bound):
    """out ~ ref * scale entrywise, to 1e-7 of ``bound`` (the size of ref's terms), in
    rescaled units down to 1e-300, else absolutely (the float answer
    of a product near 1e-308 is 0 or subnormal)."""
    with np.errstate(under="ignore"):
        big = scale * bound > 1e-300
        err = np.where(big, np.abs(out / np.where(big, scale, 1.0) - ref) - 1e-7 * bound,
                       np.abs(out - ref * scale) - 1e-305)
    assert (err <= 0).all(), (out, ref, scale)


def check_relu(K_out, V, W, trained):
    R, s, t = relu_reference(V, W, trained)
    assert np.isfinite(K_out).all()
    _compare(K_out, R, s[:, None] * t[None, :], max(np.max(np.abs(R), initial=0.0), 1e-300))


def overflows(V, W=None):
    """Whether the relu NTK of these inputs exceeds float64 (|x| |y| beyond ~1e308)."""
    top = max(np.max(np.abs(V)), np.max(np.abs(W)) if W is not None else 0.0)
    return top * math.sqrt(V.shape[1]) > 1e153


@FUZZ
@given(arrays(), st.sampled_from(["first", "both"]), st.sampled_from(["gram", "object", "blocks"]))
def test_relu_ntk_gram(data, trained, path):
    A, V, problem = data
    if path == "gram":
        fn = lambda: K.ntk_gram(A, trained=trained)  # noqa: E731
    elif path == "object":
        fn = lambda: K.NTK(trained=trained)(A)  # noqa: E731
    else:
        fn = lambda: np.vstack([b for _, _, b in  # noqa: E731
                                K.gram_blocks(A, kernel="ntk", trained=trained, block_rows=2)])
    if problem:
        expect_error(fn, problem, "X")
    elif overflows(V):
        expect_error(fn, "overflow", "X")
    else:
        check_relu(fn(), V, V, trained)


@FUZZ
@given(st.data())
def test_relu_ntk_rectangular_and_matvec(data):
    d = data.draw(st.integers(1, 20))
    A, V, pa = data.draw(arrays(d=d))
    B, W, pb = data.draw(arrays(n_min=1, d=d))
    if pa or pb:
        expect_error(lambda: K.ntk_gram(A, B), pa or pb, "X" if pa else "Y")
        return
    if overflows(V, W):
        expect_error(lambda: K.ntk_gram(A, B), "overflow", "X" if overflows(V) else "Y")
        return
    check_relu(K.ntk_gram(A, B, trained="both"), V, W, "both")
    v = np.linspace(-1, 1, W.shape[0])
    R, s, t = relu_reference(V, W, "first")
    out = K.gram_matvec(A, v, Y=B)
    assert out.shape == (V.shape[0],) and np.isfinite(out).all()
    with np.errstate(under="ignore"):
        tv = t * v  # sum_j K_ij v_j = s_i sum_j R_ij (t_j v_j)
    _compare(out, R @ tv, s, np.abs(R) @ np.abs(tv) + 1e-300)


@FUZZ
@given(arrays(n_min=1), st.sampled_from(["quad", "representation", "ntk_rep", "rf_ntk",
                                         "rf_quad", "rf_rep"]))
def test_other_kernels_named_error_or_float64_answer(data, name):
    A, V, problem = data
    kern = {"quad": K.QuadKernel(), "representation": K.RepresentationKernel(),
            "ntk_rep": K.NTK(representation="relu"),
            "rf_ntk": K.RandomFeatures(K.NTK(trained="both"), 40, random_state=0),
            "rf_quad": K.RandomFeatures(K.QuadKernel(), 40, random_state=0),
            "rf_rep": K.RandomFeatures(K.RepresentationKernel(), 40, random_state=0)}[name]
    if problem:
        expect_error(lambda: kern(A), problem, "X")
        expect_error(lambda: kern.matvec(A, np.ones(len(A))), problem, "X")
        return
    try:
        ref = kern(V)
    except ValueError as exc:  # outside the kernel's range of norms: must say so, naming X
        assert "X" in str(exc)
        expect_error(lambda: kern(A), "range", "X")
        return
    assert np.isfinite(ref).all() and ref.shape == (len(V), len(V))
    assert kern(A).tobytes() == ref.tobytes()  # dtype and layout change nothing
    assert np.isfinite(kern.matvec(A, np.ones(len(A)))).all()


@settings(max_examples=25, deadline=5000)
@given(st.sampled_from([None, "abc", [[1.0, "a"]], [1.0, 2.0], [[[1.0]]], 3.0,
                        np.ones((2, 3), dtype=complex), {"a": 1}]),
       st.sampled_from(["ntk_gram", "quad_gram", "gram", "matvec", "blocks", "rf", "diag"]))
def test_wrong_types_and_ranks_name_X(bad, fn):
    call = {"ntk_gram": lambda: K.ntk_gram(bad), "quad_gram": lambda: K.quad_gram(bad),
            "gram": lambda: K.gram(bad, kernel="quad"),
            "matvec": lambda: K.gram_matvec(bad, np.ones(2)),
            "blocks": lambda: list(K.gram_blocks(bad)),
            "rf": lambda: K.random_feature_gram(bad, width=4, seed=0),
            "diag": lambda: K.NTK().diag(bad)}[fn]
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert "X" in str(info.value)


@pytest.mark.parametrize("call, kind, words", [
    (lambda: K.random_feature_gram(np.ones((2, 3)), kernel="nope", width=4), ValueError,
     "kernel"),
    (lambda: K.random_feature_gram(np.ones((2, 3)), kernel=3, width=4), TypeError, "kernel"),
    (lambda: K.random_feature_gram(np.ones((2, 3)), "ntk", width=4), TypeError, "Y"),
    (lambda: K.RandomFeatures("ntk", 4), TypeError, "NTK"),
    (lambda: K.random_feature_gram(np.ones((2, 3)), width="4"), TypeError, "width"),
    (lambda: K.random_feature_gram(np.ones((2, 3)), width=0), ValueError, "width"),
    (lambda: K.ntk_gram(np.ones((2, 3)), width=4, seed=-1), ValueError, r"random_state must be a non-negative int \(>= 0\), got -1"),
    (lambda: T.sample_inputs(3, 2, seed=-1), ValueError, r"seed must be a non-negative int \(>= 0\), got -1"),
    (lambda: K.gram_matvec(np.ones((2, 3)), np.ones(3)), ValueError, "v"),
    (lambda: K.gram_matvec(np.ones((2, 3)), np.array([1.0, np.nan])), ValueError, "v"),
    (lambda: K.ntk_gram(np.ones((2, 3)), np.ones((2, 4))), ValueError, "Y"),
])
def test_argument_messages(call, kind, words):
    with pytest.raises(kind, match=words):
        call()


# -- estimators ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    X = T.sample_inputs(30, 5, seed=0)
    y = X[:, 0] * X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "kernel": S.KernelRegressor("ntk").fit(X, y),
            "kernel_rf": S.KernelRegressor("ntk", width=20, random_state=0).fit(X, y),
            "quadnet": S.QuadNetRegressor(8, random_state=0, max_iter=10).fit(X, y),
            "linearized": S.LinearizedNetRegressor(8, random_state=0, max_iter=10).fit(X, y),
            "representation": K.NeuralRepresentation(6, random_state=0).fit(X),
            "target": T.LowRankPolynomial(5, 2, seed=0),
        }


@FUZZ
@given(arrays(n_min=1, d=5), st.sampled_from(["kernel", "kernel_rf", "quadnet", "linearized",
                                              "representation", "target"]))
def test_predict_paths(fitted, data, name):
    A, V, problem = data
    model = fitted[name]
    fn = (model.transform if name == "representation" else model if name == "target"
          else model.predict)
    if problem == "type" and A.dtype == object and name != "target":
        # scikit-learn's validate_data converts numeric object arrays: the float64 answer
        problem, V = None, np.ascontiguousarray(A, dtype=np.float64)
    if problem in ("type", "nonfinite"):
        with pytest.raises((TypeError, ValueError)) as info:
            fn(A)
        # scikit-learn's own "Complex data not supported" names no argument
        assert "X" in str(info.value) or "Complex data" in str(info.value)
        return
    try:
        ref = fn(V)
    except ValueError as exc:  # e.g. kernels beyond their norm range, targets overflowing
        assert "X" in str(exc)
        return
    assert np.isfinite(ref).all()
    assert fn(A).tobytes() == ref.tobytes()
    if name != "target":
        with pytest.raises(ValueError, match="X"):  # wrong number of features
            fn(np.ones((2, 4)))


@pytest.mark.parametrize("scale", [2.0**600, 2.0**-600])
@pytest.mark.parametrize("fit", [
    lambda X, y: S.KernelRegressor("ntk").fit(X, y),
    lambda X, y: S.QuadNetRegressor(8, random_state=0, max_iter=5).fit(X, y),
    lambda X, y: S.ridge_path(K.ntk_gram(X), y, [1e-3, 1e-1]),
    lambda X, y: S.learning_curve(K.ntk_gram(X), y, K.ntk_gram(X[:5], X), y[:5] / 2**600,
                                  sizes=[10, 20], ridges=[1e-3, 1e-1]),
])
def test_targets_beyond_squared_range_are_rejected(fit, scale):
    X = T.sample_inputs(20, 4, seed=0)
    with pytest.raises(ValueError, match=r"y has values .* rescale y"):
        fit(X, (X[:, 0] + 0.5) * scale)


@pytest.mark.parametrize("scale", [2.0**400, 2.0**-400])
def test_targets_at_extreme_representable_scales_pick_the_same_ridge(scale):
    X = T.sample_inputs(40, 5, seed=0)
    y = X[:, 0] * X[:, 1] + 0.1 * np.random.default_rng(0).standard_normal(40)
    ref = S.KernelRegressor("ntk").fit(X, y)
    big = S.KernelRegressor("ntk").fit(X, y * scale)
    assert big.ridge_ == ref.ridge_
    np.testing.assert_allclose(big.predict(X) / scale, ref.predict(X), rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q_ref = S.QuadNetRegressor(8, random_state=0, max_iter=20).fit(X, y)
        q_big = S.QuadNetRegressor(8, random_state=0, max_iter=20).fit(X, y * scale)
    assert q_big.y_scale_ / scale == pytest.approx(q_ref.y_scale_, rel=1e-12)
    np.testing.assert_allclose(q_big.predict(X) / scale, q_ref.predict(X), rtol=1e-8)


@pytest.mark.parametrize("ridges", [[1e-3, True], (0.1, np.bool_(False)), np.array([True]),
                                    True])
def test_bool_ridges_rejected(ridges):
    X = T.sample_inputs(12, 3, seed=0)
    with pytest.raises(TypeError, match="ridges .*bool"):
        S.KernelRegressor(ridges=ridges).fit(X, X[:, 0])
    with pytest.raises(TypeError, match="ridges .*bool"):
        S.ridge_path(K.ntk_gram(X), X[:, 0], ridges)


def test_ridge_path_predict_rejects_nonfinite_and_wrong_shapes():
    X = T.sample_inputs(12, 3, seed=0)
    path = S.ridge_path(K.ntk_gram(X), X[:, 0], [1e-2])
    with pytest.raises(ValueError, match="K_test contains NaN"):
        path.predict(np.full((2, 12), np.nan))
    with pytest.raises(ValueError, match=r"K_test must have shape \(n_test, 12\)"):
        path.predict(np.ones((2, 5)))


# -- targets -----------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: T.LowRankPolynomial(5, 10**6), "degree must be <= 100"),
    (lambda: T.LowRankPolynomial(5, [2, 10**9], rank=2), "degree must be <= 100"),
    (lambda: T.gegenbauer(10**9, 5, 0.3), "l must be <= 10000"),
    (lambda: T.harmonic_dimension(5, 10**9), "l must be <= 10000"),
    (lambda: T.harmonic_dimension(10**9, 5), "d must be <= 1000000"),
    (lambda: T.sample_inputs(10**13, 5), r"n=10000000000000 x d=5 .* n \* d must be <="),
    (lambda: T.LowRankPolynomial(5, 2, rank=2, coefficients=[1e200, 1.0]),
     "coefficients up to 1e\\+200 .* rescale coefficients"),
    (lambda: T.LowRankPolynomial(5, 2, rank=2, coefficients=[1e-200, 0.0]),
     "coefficients up to 1e-200 .* rescale coefficients"),
    (lambda: T.LowRankPolynomial(5, 3)(np.full((2, 5), 1e200)), "overflows .* rescale X"),
])
def test_target_guards_name_argument_and_limit(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_large_representable_coefficients_keep_their_variance():
    f = T.LowRankPolynomial(5, 2, rank=2, coefficients=[1e150, 1e150], seed=0)
    g = T.LowRankPolynomial(5, 2, rank=2, coefficients=[1.0, 1.0], seed=0)
    assert f.variance == pytest.approx(1e300 * g.variance, rel=1e-12)
