"""Kernel objects: parameters, the functional API's defaults, diag, profiles and eigenvalues,
the smooth-unit representation against Monte Carlo, scale safety, invariants (hypothesis)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.base import clone

from hierlearn.kernels import (NTK, QuadKernel, RandomFeatures, RepresentationKernel,
                               RepresentationLayer, as_kernel, get_activation, ntk_gram, quad_gram,
                               representation_gram)
from hierlearn.targets import harmonic_dimension, sample_inputs
from hierlearn.targets.harmonics import gegenbauer_table
from hierlearn.kernels.hermite import gaussian_expectation_2d

KERNELS = [NTK(), NTK("relu", trained="both", bias=0.5), NTK("relu3", representation="relu"),
           QuadKernel(), QuadKernel("relu2", representation="step"),
           NTK("shifted_sigmoid", trained="both", representation="softplus"),
           RepresentationKernel("softplus"), RepresentationKernel("relu", bias=0.3)]


def test_parameters_round_trip_and_clone():
    k = NTK("relu2", trained="both", bias=0.25, representation="softplus")
    assert k.get_params(deep=False) == {"activation": "relu2", "bias": 0.25,
                                        "representation": RepresentationLayer("softplus"),
                                        "trained": "both"}
    assert k.get_params()["representation__activation"] == "softplus"
    assert clone(k) == k and clone(k) is not k
    k2 = clone(k).set_params(representation__bias=0.5, trained="first")
    assert k2.representation.bias == 0.5 and k2 != k
    assert repr(k).startswith("NTK(activation='relu2'")
    with pytest.raises(ValueError, match="invalid parameter 'width'"):
        NTK().set_params(width=3)
    with pytest.raises(ValueError, match="unknown trained 'second'"):
        NTK().set_params(trained="second")


@pytest.mark.parametrize("fn, cls", [(ntk_gram, NTK), (quad_gram, QuadKernel),
                                     (representation_gram, RepresentationKernel)])
def test_functional_defaults_are_the_classes(fn, cls):
    """One source of defaults: the flat functions may not disagree with the objects."""
    f = inspect.signature(fn).parameters
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name in f:
            assert f[name].default == p.default, (fn.__name__, name)


def test_as_kernel():
    assert as_kernel("quad", activation="relu3") == QuadKernel("relu3")
    k = NTK()
    assert as_kernel(k) is k
    with pytest.raises(TypeError, match="not both"):
        as_kernel(k, activation="relu")
    with pytest.raises(ValueError, match="did you mean 'ntk'"):
        as_kernel("ntkk")


@pytest.mark.parametrize("kern", KERNELS, ids=repr)
def test_diag_matches_gram_and_matvec_matches_dense(kern):
    X = sample_inputs(70, 5, seed=1) * np.random.default_rng(0).uniform(0.5, 1.2, (70, 1))
    K = kern(X)
    np.testing.assert_allclose(kern.diag(X), np.diag(K), rtol=1e-13, atol=1e-15)
    v = np.random.default_rng(2).standard_normal(70)
    np.testing.assert_allclose(kern.matvec(X, v), K @ v, rtol=1e-11,
                               atol=1e-12 * np.abs(K).sum(1).max())


@pytest.mark.parametrize("kern", [k for k in KERNELS if k.is_dot_product], ids=repr)
def test_eigenvalues_reconstruct_the_profile(kern):
    """Mercer on the sphere: kappa(t) = sum_l N(d, l) mu_l P_l(t), mu_l >= 0 (Funk-Hecke)."""
    d, L = 5, 40
    mu = kern.eigenvalues(d, L)
    assert np.all(mu >= -1e-12 * mu.max())
    N = np.array([harmonic_dimension(d, l) for l in range(L + 1)], dtype=float)
    t = np.linspace(-0.9, 0.9, 7)
    recon = (N * mu) @ gegenbauer_table(L, d, t)
    np.testing.assert_allclose(recon, kern.profile(t), rtol=0, atol=2e-3 * kern.profile(1.0))


def test_profile_is_the_gram_on_the_sphere():
    X = sample_inputs(20, 6, seed=4)
    for kern in (NTK("relu", trained="both"), QuadKernel(representation="softplus")):
        np.testing.assert_allclose(kern.profile(X @ X[0]), kern(X[:1], X)[0], rtol=1e-12,
                                   atol=1e-15)
    with pytest.raises(TypeError, match="not a dot-product kernel"):
        RandomFeatures(NTK(), 10).profile(0.5)


def test_smooth_representation_matches_monte_carlo():
    """G(x, y) = E[softplus(v.x + b) softplus(v.y + b)] within 5 standard errors."""
    X = sample_inputs(3, 4, seed=5)
    G = RepresentationKernel("softplus", bias=0.7)(X)
    rng = np.random.default_rng(6)
    F = get_activation("softplus").fn(X @ rng.standard_normal((4, 400_000))
                                      + 0.7 * rng.standard_normal(400_000))
    for i in range(3):
        for j in range(3):
            s = F[i] * F[j]
            assert abs(G[i, j] - s.mean()) < 5 * s.std() / np.sqrt(s.size)


@pytest.mark.parametrize("activation", ["softplus", "shifted_sigmoid"])
def test_smooth_representation_matches_quadrature(activation):
    """The Hermite (Mehler) series of G(x, y) against a 2-d Gauss-Hermite rule: v.x + b and
    v.y + b are jointly normal (variances |x|^2 + b^2, |y|^2 + b^2, covariance x.y + b^2), so
    G is a 2-d Gaussian integral the tensor rule computes to near machine precision."""
    X = sample_inputs(3, 4, seed=5) * np.array([[0.5], [1.0], [2.0]])  # three norms
    bias = 0.7
    G = RepresentationKernel(activation, bias=bias)(X)
    f = get_activation(activation).fn
    for i in range(3):
        for j in range(3):
            a = np.sqrt(X[i] @ X[i] + bias**2)
            b = np.sqrt(X[j] @ X[j] + bias**2)
            rho = (X[i] @ X[j] + bias**2) / (a * b)
            ref = gaussian_expectation_2d(f, f, a, b, min(rho, 1.0), nodes=120)
            assert abs(G[i, j] - ref) <= 1e-9 * abs(ref), (i, j, G[i, j], ref)


def test_random_features_converge_to_the_smooth_composition():
    """Both layers sampled (m = D): the error falls like 1/sqrt(m), so 16x the width gives
    about 4x less (averaged over seeds; generous slack for sampling)."""
    X = sample_inputs(5, 4, seed=7)
    kern = NTK("relu", trained="both", representation="softplus")
    K = kern(X)

    def err(m):
        return np.mean([np.sqrt(np.mean((RandomFeatures(kern, m, representation_width=m,
                                                        random_state=s)(X) - K) ** 2))
                        for s in range(4)])

    assert 2.0 < err(250) / err(4000) < 8.0


def test_random_features_are_drawn_once():
    X = sample_inputs(10, 3, seed=8)
    rf = RandomFeatures(QuadKernel("relu2"), 50)  # random_state None: drawn at the first call
    K = rf(X)
    np.testing.assert_array_equal(rf(X), K)
    # the same features in every block (BLAS may round a row block's products differently)
    np.testing.assert_allclose(np.vstack([b for *_, b in rf.blocks(X, block_rows=3)]), K,
                               rtol=1e-12, atol=1e-15)
    assert np.array_equal(RandomFeatures(QuadKernel("relu2"), 50, random_state=1)(X),
                          RandomFeatures(QuadKernel("relu2"), 50, random_state=1)(X))
    with pytest.raises(TypeError, match="RandomFeatures samples"):
        RandomFeatures(RandomFeatures(NTK(), 3), 5)
    with pytest.raises(MemoryError, match="random-feature"):  # W alone: 8e12 * 8 bytes
        RandomFeatures(NTK(representation="step"), 4_000_000, random_state=0)(X)


def test_any_finite_scale_is_finite_or_a_clear_error():
    X = sample_inputs(8, 4, seed=9)
    tiny = NTK("relu", trained="both")(X * 1e-200)
    assert np.all(np.isfinite(tiny))
    # 1e150-norm rows: the relu NTK (~|x||y|) is 1e300, still a float; angles stay exact
    big = NTK("relu", trained="both")(X * 1e150)
    np.testing.assert_allclose(big / 1e300, NTK("relu", trained="both")(X), rtol=1e-12)
    with pytest.raises(ValueError, match="overflows float64; rescale X"):
        NTK("relu")(X * 1e200)
    with pytest.raises(ValueError, match="rescale X"):
        QuadKernel()(X * 10)  # smooth closed forms need norms of order 1


@settings(max_examples=12, deadline=None)
@given(idx=st.integers(0, len(KERNELS) - 1), seed=st.integers(0, 10_000),
       n=st.integers(2, 30), d=st.integers(2, 7))
def test_symmetric_psd_rotation_invariant(idx, seed, n, d):
    kern = KERNELS[idx]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.2, 1.0, (n, 1)) / np.sqrt(d)
    K = kern(X)
    assert np.array_equal(K, K.T)
    lam = np.linalg.eigvalsh(K)
    assert lam[0] >= -1e-10 * max(lam[-1], 1e-300)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    np.testing.assert_allclose(kern(X @ Q), K, rtol=1e-10, atol=1e-13 * np.abs(K).max())
