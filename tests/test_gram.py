"""Numba Gram builders against a naive numpy reference; blocks, matvec, validation."""

from dataclasses import dataclass
from math import factorial

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hierlearn._measured import BLAS_COSINE_MIN_DIM
from hierlearn.kernels import (NTK, QuadKernel, RepresentationKernel, RepresentationLayer, gram,
                               gram_blocks, gram_matvec)
from hierlearn.kernels.activations import get_activation
from hierlearn.kernels.arccos import arccos_J
from hierlearn.kernels.hermite import hermite_coefficients


@dataclass(frozen=True)
class Case:
    """A kernel by its parts (the naive reference reads them; ``kernel()`` builds the object)."""
    kind: str = "ntk"
    activation: str = "relu"
    trained: str = "first"
    bias: float = 0.0
    representation: str | None = None
    representation_bias: float = 1.0

    def kernel(self):
        if self.kind == "representation":
            return RepresentationKernel(self.representation, bias=self.representation_bias)
        layer = (None if self.representation is None
                 else RepresentationLayer(self.representation, self.representation_bias))
        if self.kind == "quad":
            return QuadKernel(self.activation, bias=self.bias, representation=layer)
        return NTK(self.activation, trained=self.trained, bias=self.bias, representation=layer)


def unit_MP(A, B):
    ua = A / np.linalg.norm(A, axis=1, keepdims=True)
    ub = B / np.linalg.norm(B, axis=1, keepdims=True)
    M = ((ua[:, None, :] - ub[None]) ** 2).sum(-1)
    P = ((ua[:, None, :] + ub[None]) ** 2).sum(-1)
    return M, P


def naive(spec, X, Y):
    """Straightforward numpy evaluation of docs/math.md, sections 3-4 (dense,
    broadcasting)."""
    s2 = spec.bias**2
    if spec.representation is None:
        Xa = np.hstack([X, np.full((len(X), 1), spec.bias)])
        Ya = np.hstack([Y, np.full((len(Y), 1), spec.bias)])
        dot, na, nb = Xa @ Ya.T, np.linalg.norm(Xa, axis=1), np.linalg.norm(Ya, axis=1)
        M, P = unit_MP(Xa, Ya)
    else:
        r = spec.representation_bias
        Xr = np.hstack([X, np.full((len(X), 1), r)])
        Yr = np.hstack([Y, np.full((len(Y), 1), r)])
        m = {"step": 0, "relu": 1}.get(spec.representation)

        def G(A, B):
            Mr, Pr = unit_MP(A, B)
            nA, nB = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
            if m is None:  # smooth units: Mehler's formula over the Hermite coefficients
                fn = get_activation(spec.representation).fn
                ca, cb = hermite_coefficients(fn, nA), hermite_coefficients(fn, nB)
                c = (Pr - Mr) / (Pr + Mr)
                return sum(ca[:, k][:, None] * cb[:, k][None] * c**k
                           for k in range(min(ca.shape[1], cb.shape[1])))
            return (nA[:, None] * nB[None]) ** m * arccos_J(m, Mr, Pr) / (2 * np.pi)
        Gxy = G(Xr, Yr)
        gx = np.diag(G(Xr, Xr)).copy()
        gy = np.diag(G(Yr, Yr)).copy()
        if spec.kind == "representation":
            return Gxy
        dot = Gxy + s2
        na, nb = np.sqrt(gx + s2), np.sqrt(gy + s2)
        D = gx[:, None] + gy[None] - 2 * Gxy
        S = gx[:, None] + gy[None] + 2 * Gxy + 4 * s2
        dn2 = (na[:, None] - nb[None]) ** 2
        ab = na[:, None] * nb[None]
        M, P = np.maximum(D - dn2, 0) / ab, np.maximum(S - dn2, 0) / ab
    ab = na[:, None] * nb[None]
    act = get_activation(spec.activation)
    c = (P - M) / (P + M)

    def E(p):
        if act.smooth:
            f = act.derivative(p)
            ca, cb = hermite_coefficients(f, na), hermite_coefficients(f, nb)
            K = min(ca.shape[1], cb.shape[1])
            return sum(ca[:, k][:, None] * cb[:, k][None] * c**k for k in range(K))
        mm = act.relu_order - p
        if mm < 0:
            return np.zeros_like(c)
        return ab**mm * arccos_J(mm, M, P) / (2 * np.pi * factorial(mm) ** 2)

    if spec.kind == "quad":
        return 0.25 * dot**2 * E(2)
    K = dot * E(1)
    if spec.trained == "both":
        K = K + E(0)
    return K


SPECS = [Case(k, a, t, b, r)
         for k, a, t in [("ntk", "relu", "first"), ("ntk", "relu", "both"), ("ntk", "relu3", "first"),
                         ("ntk", "relu4", "both"), ("quad", "relu2", "first"), ("quad", "relu4", "first"),
                         ("ntk", "shifted_sigmoid", "both"), ("quad", "softplus", "first"),
                         ("ntk", "step", "both")]
         for b in (0.0, 0.5) for r in (None, "step", "relu", "softplus")]
SPECS += [Case("representation", "relu", "first", 0.0, r, 1.0)
          for r in ("step", "relu", "softplus", "shifted_sigmoid")]


def close(A, R):
    assert A.shape == R.shape
    np.testing.assert_allclose(A, R, rtol=1e-12, atol=1e-13 * np.max(np.abs(R)))


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_numba_equals_naive(spec):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5)) * rng.uniform(0.1, 0.35, (150, 1))
    Y = rng.standard_normal((37, 5)) * 0.3
    close(gram(X, Y, spec.kernel()), naive(spec, X, Y))          # rectangular, several tiles
    K = gram(X, None, spec.kernel())
    assert np.array_equal(K, K.T)                       # one triangle, mirrored
    close(K, naive(spec, X, X))


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 300), m=st.integers(1, 40), rows=st.integers(1, 200),
       idx=st.integers(0, len(SPECS) - 1), seed=st.integers(0, 1000))
def test_blocks_and_matvec(n, m, rows, idx, seed):
    spec = SPECS[idx]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)) * 0.5
    Y = rng.standard_normal((m, 4)) * 0.5
    K = gram(X, Y, spec.kernel())
    got = np.empty_like(K)
    last = 0
    for a, b, blk in gram_blocks(X, Y, spec.kernel(), block_rows=rows):
        assert a == last and b - a <= rows
        got[a:b] = blk
        last = b
    assert last == n
    assert np.array_equal(got, K)
    v = rng.standard_normal(m)
    V = rng.standard_normal((m, 3))
    np.testing.assert_allclose(gram_matvec(X, v, spec.kernel(), Y=Y), K @ v, rtol=1e-11,
                               atol=1e-12 * np.abs(K).sum(1).max())
    np.testing.assert_allclose(gram_matvec(X, V, spec.kernel(), Y=Y), K @ V, rtol=1e-11,
                               atol=1e-12 * np.abs(K).sum(1).max())
    Ks = gram(X, None, spec.kernel())
    u = rng.standard_normal(n)
    np.testing.assert_allclose(gram_matvec(X, u, spec.kernel()), Ks @ u, rtol=1e-11,
                               atol=1e-12 * np.abs(Ks).sum(1).max())


@pytest.mark.parametrize("spec", [Case("ntk", "relu", "first"), Case("ntk", "relu", "both", 0.5),
                                  Case("quad", "relu2", "first"),
                                  Case("ntk", "shifted_sigmoid", "both", 0.5, "relu")], ids=str)
@pytest.mark.parametrize("d", [BLAS_COSINE_MIN_DIM - 1, 48])
def test_cosine_path_many_coordinates(spec, d):
    """Below BLAS_COSINE_MIN_DIM (cosines from two-row dot products) and d = 48 (one BLAS
    product per tile), far
    pairs exact, against the naive reference with nearly (anti)parallel rows; row blocks of
    odd sizes (rows paired differently) give the same bits as K(X, X); both matvecs against
    K @ V."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((301, d)) * 1.6 / np.sqrt(d)
    X[1:301:50] = 1.3 * X[0:300:50] + 1e-9 * rng.standard_normal((6, d))
    X[2:302:50] = -0.7 * X[0:300:50] + 1e-7 * rng.standard_normal((6, d))
    Y = rng.standard_normal((133, d)) * 1.6 / np.sqrt(d)
    close(gram(X, Y, spec.kernel()), naive(spec, X, Y))
    K = gram(X, None, spec.kernel())
    close(K, naive(spec, X, X))
    cfg, px, _ = spec.kernel()._sides(X, None)
    blas = px[0].shape[1] >= BLAS_COSINE_MIN_DIM  # the unit rows carry the bias coordinate
    assert cfg[0][-1] == blas
    got = np.vstack([b for *_, b in gram_blocks(X, None, spec.kernel(), block_rows=37)])
    whole = gram(X, X.copy(), spec.kernel())
    if not blas:  # the numba dot: the rows of the whole K, bit for bit
        assert np.array_equal(got, whole)
    else:  # BLAS rounds a product differently when the tile's shape differs: a few ulps
        np.testing.assert_allclose(got, whole, rtol=1e-14, atol=1e-15 * np.abs(whole).max())
    V = rng.standard_normal((301, 2))
    tol = dict(rtol=1e-11, atol=1e-12 * np.abs(K).sum(1).max())
    np.testing.assert_allclose(gram_matvec(X, V, spec.kernel()), K @ V, **tol)
    np.testing.assert_allclose(gram_matvec(Y, V, spec.kernel(), Y=X), gram(Y, X, spec.kernel()) @ V, **tol)


def test_asin_abs_within_two_ulps_of_libm():
    from numba import njit

    from hierlearn.kernels._numba.angles import asin_abs

    @njit
    def f(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = asin_abs(x[i])
        return out

    x = np.concatenate([np.linspace(0.0, 1.0, 200_001), [np.nextafter(0.5, 0), 0.5,
                        np.nextafter(0.5, 1), np.nextafter(1.0, 0), 1e-300, 5e-324]])
    ref = np.arcsin(x)
    assert np.all(np.abs(f(x) - ref) <= 2 * np.spacing(ref))


def test_memory_budget_blocks_and_keywords():
    X = np.random.default_rng(1).standard_normal((100, 3))
    blocks = list(gram_blocks(X, kernel="quad", activation="relu3", memory_budget=8 * 100 * 7))
    assert [b - a for a, b, _ in blocks][:1] == [7]
    np.testing.assert_array_equal(np.vstack([b for *_, b in blocks]),
                                  gram(X, kernel="quad", activation="relu3"))


def test_builder_bad_input():
    X = np.ones((4, 3))
    spec = NTK()
    with pytest.raises(ValueError, match="different numbers of features"):
        gram(X, np.ones((2, 4)), spec)
    with pytest.raises(ValueError, match="v must have shape"):
        gram_matvec(X, np.ones(5), spec)
    with pytest.raises(ValueError, match="NaN"):
        gram_matvec(X, np.array([1, np.nan, 1, 1.0]), spec)
    with pytest.raises(ValueError, match="memory_budget"):
        next(gram_blocks(X, None, spec, memory_budget=8))
    with pytest.raises(ValueError, match="block_rows"):
        next(gram_blocks(X, None, spec, block_rows=0))
    with pytest.raises(TypeError, match="kernel must be a Kernel object"):
        gram(X, None, 3)
    with pytest.raises(ValueError, match="out has shape"):
        gram(X, None, spec, out=np.empty((3, 3)))
    with pytest.raises(ValueError, match="2-d"):
        gram(np.ones(3), None, spec)
