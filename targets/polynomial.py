"""Low-rank polynomial targets f*(x) = sum_s alpha_s g_s(u_s . x) (docs/math.md, section 2).

``basis="monomial"``: g_s(t) = c_s t^(p_s), with c_s chosen so E[g_s(u.x)^2] = 1
(equivalently beta_s = c_s^(1/p_s) u_s and E[(beta_s . x)^(2 p_s)] = 1).
``basis="harmonic"``: g_s is the pure degree-p_s part, scaled to unit variance: the
normalised Gegenbauer polynomial sqrt(N(d, p)) P_p(u.x) on the sphere, the Hermite
polynomial He_p(sqrt(d) u.x) / sqrt(p!) for Gaussian inputs. Its error cannot fall until a
learner captures degree p itself.

Every second-order statistic (mean, variance, share of variance per harmonic degree) is
exact: terms are expanded in the orthogonal basis with rational coefficients
(``targets.harmonics``) and paired through the addition theorem, so cross terms between
directions are included and nothing is sampled.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.polynomial import hermite_e

from .._random import as_generator
from .._validation import check_choice, check_int
from .harmonics import MAX_EXACT_DEGREE, basis_kernel, gegenbauer, monomial_expansion, ridge_moment
from .inputs import DISTRIBUTIONS

__all__ = ["LowRankPolynomial", "BASES"]

BASES = ("monomial", "harmonic")


def _check_X(X, d: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d array of shape (n, {d}), got shape {X.shape}")
    if X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} features but the target was built for d={d}")
    if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
        raise TypeError(f"X must be a real numeric array, got dtype {X.dtype}")
    X = X.astype(float, copy=False)
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity")
    return X


class LowRankPolynomial:
    """A low-rank polynomial target on R^d.

    Parameters
    ----------
    d : int
        Input dimension (>= 1; >= 2 for the sphere).
    degree : int or sequence of int
        The degree p of every term, or one degree p_s per term (length ``rank``).
    rank : int, default=1
        Number of directions r, 1 <= r <= d.
    basis : {"monomial", "harmonic"}, default="monomial"
        Each term is a normalised power (u.x)^p or its pure degree-p harmonic part.
    coefficients : array-like of shape (rank,), optional
        The alpha_s. Default: all equal to 1 / sqrt(rank).
    distribution : {"sphere", "gaussian"}, default="sphere"
        The input distribution the normalisations and statistics refer to.
    seed : None, int, numpy SeedSequence or Generator
        Draws the orthonormal directions (QR of a Gaussian matrix).

    Attributes
    ----------
    directions : ndarray of shape (rank, d)
        Orthonormal rows u_s.
    degrees : tuple of int
        p_s for each term.
    coefficients : ndarray of shape (rank,)
    mean, variance : float
        Exact E[f*] and Var[f*] under ``distribution``.
    """

    def __init__(self, d, degree, rank=1, *, basis="monomial", coefficients=None,
                 distribution="sphere", seed=None):
        self.d = check_int(d, "d", minimum=1)
        self.rank = check_int(rank, "rank", minimum=1)
        if self.rank > self.d:
            raise ValueError(f"rank must be <= d={self.d}, got rank={self.rank}")
        self.basis = check_choice(basis, "basis", BASES)
        self.distribution = check_choice(distribution, "distribution", DISTRIBUTIONS)
        if self.distribution == "sphere" and self.d < 2:
            raise ValueError("d must be >= 2 for distribution='sphere' (S^0 has two points)")
        if isinstance(degree, numbers.Integral) and not isinstance(degree, (bool, np.bool_)):
            degrees = (check_int(degree, "degree", minimum=0, maximum=MAX_EXACT_DEGREE),) \
                * self.rank
        elif isinstance(degree, (list, tuple, np.ndarray)):
            degrees = tuple(check_int(p, "degree", minimum=0, maximum=MAX_EXACT_DEGREE)
                            for p in degree)
            if len(degrees) != self.rank:
                raise ValueError(
                    f"degree has {len(degrees)} entries but rank={self.rank}; give one per term"
                )
        else:
            raise TypeError(
                f"degree must be an int or a sequence of ints, got {type(degree).__name__}"
            )
        self.degrees = degrees
        self.degree = max(degrees)

        if coefficients is None:
            alpha = np.full(self.rank, 1.0 / np.sqrt(self.rank))
        else:
            alpha = np.asarray(coefficients, dtype=float)
            if alpha.shape != (self.rank,):
                raise ValueError(
                    f"coefficients must have shape ({self.rank},), got {alpha.shape}"
                )
            if not np.all(np.isfinite(alpha)):
                raise ValueError("coefficients contain NaN or infinity")
        self.coefficients = alpha

        rng = as_generator(seed)
        q, r = np.linalg.qr(rng.standard_normal((self.d, self.rank)))
        # Fix QR's sign ambiguity so the directions are a function of the seed alone.
        self.directions = (q * np.sign(np.diag(r))).T.copy()

        self._B = self._expansion_table()
        self._level_var = self._level_variances()
        self.mean = float(self.coefficients @ self._B[:, 0])  # Q_0 = 1
        self.variance = float(self._level_var[1:].sum())
        if not np.isfinite(self.variance):
            raise ValueError(f"coefficients up to {np.max(np.abs(alpha)):.3g} in magnitude give "
                             "a variance of f* beyond float64 (max 1.8e308); rescale "
                             "coefficients")

    # -- exact statistics -------------------------------------------------------------
    def _expansion_table(self) -> np.ndarray:
        """B[s, l]: coefficient of the orthogonal basis function Q_l(u_s.x) in term s."""
        B = np.zeros((self.rank, self.degree + 1))
        for s, p in enumerate(self.degrees):
            if self.basis == "harmonic":
                B[s, p] = 1.0 / math.sqrt(float(basis_kernel(p, self.d, self.distribution, 1.0)))
                continue
            A = monomial_expansion(p, self.d, self.distribution)
            # Normalise the term to unit second moment: E[(u.x)^(2p)] on the sphere,
            # E[g^(2p)] = (2p-1)!! for g = sqrt(d) u.x in the Gaussian case.
            dim = self.d if self.distribution == "sphere" else 1
            m2 = ridge_moment(2 * p, dim, self.distribution)
            B[s, : p + 1] = [float(a) for a in A]
            B[s] /= math.sqrt(float(m2))
        return B

    def _level_variances(self) -> np.ndarray:
        """E[(degree-l component of f*)^2] for l = 0..degree (l = 0 is the squared mean)."""
        rho = np.clip(self.directions @ self.directions.T, -1.0, 1.0)
        top = float(np.max(np.abs(self.coefficients)))
        # exact power-of-two scaling: w G w neither overflows nor underflows on the way
        s = 2.0 ** (math.frexp(top)[1] if top > 0 else 0)
        scaled = np.zeros(self.degree + 1)
        for l in range(self.degree + 1):
            w = (self.coefficients / s) * self._B[:, l]
            if np.any(w):
                scaled[l] = float(w @ basis_kernel(l, self.d, self.distribution, rho) @ w)
        with np.errstate(over="ignore", under="ignore"):
            out = (scaled * s) * s
        lost = (scaled > 1e-13 * scaled.sum()) & ~(np.abs(out) >= np.finfo(float).tiny)
        if lost.any():
            raise ValueError(f"coefficients up to {top:.3g} in magnitude give a variance of "
                             f"degree {int(np.argmax(lost))} outside float64's normal range "
                             "(2.2e-308 .. 1.8e308); rescale coefficients")
        out = np.maximum(out, 0.0)
        # Terms can cancel exactly (e.g. (u1.x)^2 + (u2.x)^2 = |x|^2 on the circle):
        # treat levels at rounding level of the second moment as zero.
        total = out.sum()
        if np.isfinite(total):  # an overflow is reported by the caller, never zeroed here
            out[out <= 1e-13 * total] = 0.0
        return out

    def degree_profile(self, max_degree) -> np.ndarray:
        """Share of Var[f*] carried by each harmonic (Hermite) degree 0..max_degree.

        Entry 0 is always 0 (the mean carries no variance). The entries sum to 1 once
        ``max_degree >= self.degree``. A constant target (variance 0) gives all zeros.
        """
        max_degree = check_int(max_degree, "max_degree", minimum=0)
        out = np.zeros(max_degree + 1)
        k = min(max_degree, self.degree)
        if self.variance > 0:
            out[1 : k + 1] = self._level_var[1 : k + 1] / self.variance
        return out

    def zonal_coefficients(self, degree) -> np.ndarray:
        """Weights w_s with (degree-l part of f*)(x) = sum_s w_s Q_l(u_s . x).

        Q_l is the orthogonal basis function of degree l: the Gegenbauer polynomial
        P_l (P_l(1) = 1) on the sphere, He_l(sqrt(d) t) for Gaussian inputs. The weights are
        exact (``coefficients[s]`` times the expansion coefficient of term s); a degree
        above ``self.degree`` gives zeros.

        Parameters
        ----------
        degree : int
            The harmonic (Hermite) degree l >= 0.

        Returns
        -------
        ndarray of shape (rank,)
        """
        l = check_int(degree, "degree", minimum=0)
        if l > self.degree:
            return np.zeros(self.rank)
        return self.coefficients * self._B[:, l]

    def harmonic_component(self, X, degree) -> np.ndarray:
        """The degree-l part of f* evaluated at the rows of ``X``: sum_s w_s Q_l(u_s . x).

        The components of all degrees 0..``self.degree`` sum to f*(X) (a polynomial identity
        in u_s . x, so for any X), and under the target's input distribution components of
        different degrees are orthogonal, with E[component_l^2] the exact level variance
        behind :meth:`degree_profile` (the squared mean for l = 0).

        Parameters
        ----------
        X : array-like of shape (n, d)
        degree : int
            l >= 0; a degree above ``self.degree`` gives zeros.

        Returns
        -------
        ndarray of shape (n,)
        """
        X = _check_X(X, self.d)
        w = self.zonal_coefficients(degree)
        l = int(degree)
        out = np.zeros(X.shape[0])
        if not np.any(w):
            return out
        T = X @ self.directions.T
        for s in np.flatnonzero(w):
            if self.distribution == "sphere":
                q = gegenbauer(l, self.d, T[:, s])
            else:
                c = np.zeros(l + 1)
                c[l] = 1.0
                q = hermite_e.hermeval(np.sqrt(self.d) * T[:, s], c)
            out += w[s] * q
        return out

    # -- evaluation -------------------------------------------------------------------
    def __call__(self, X) -> np.ndarray:
        """Evaluate f* on the rows of ``X`` (shape (n, d)); returns shape (n,).

        Raises ValueError when a value overflows float64 (inputs too large for the degree).
        """
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._evaluate(_check_X(X, self.d))
        if not np.isfinite(out).all():
            raise ValueError(f"f*(X) overflows float64 at row {int(np.argmin(np.isfinite(out)))} "
                             f"(degree {self.degree}); rescale X")
        return out

    def _evaluate(self, X) -> np.ndarray:
        T = X @ self.directions.T
        out = np.zeros(X.shape[0])
        for s, p in enumerate(self.degrees):
            t = T[:, s]
            if self.basis == "monomial":
                out += self.coefficients[s] * t**p / self._monomial_scale(p)
            elif self.distribution == "sphere":
                out += self.coefficients[s] * self._B[s, p] * gegenbauer(p, self.d, t)
            else:
                c = np.zeros(p + 1)
                c[p] = 1.0
                out += self.coefficients[s] * self._B[s, p] * hermite_e.hermeval(
                    np.sqrt(self.d) * t, c
                )
        return out

    def _monomial_scale(self, p: int) -> float:
        return math.sqrt(float(ridge_moment(2 * p, self.d, self.distribution)))

    def __repr__(self) -> str:
        return (
            f"LowRankPolynomial(d={self.d}, degree={self.degree if len(set(self.degrees)) == 1 else list(self.degrees)}, "
            f"rank={self.rank}, basis={self.basis!r}, distribution={self.distribution!r})"
        )
