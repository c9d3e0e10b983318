"""The kernel object: what every kernel of hierlearn is, in the manner of scikit-learn's and
GPyTorch's kernels.

A :class:`Kernel` owns its parameters (``get_params``/``set_params``, validated when set) and
its computations: ``K(X, Y)`` (the Gram), :meth:`Kernel.diag`, :meth:`Kernel.matvec` (K @ V
without storing K), :meth:`Kernel.blocks` (row blocks within a memory budget), and, for
dot-product kernels on the sphere, :meth:`Kernel.profile` and :meth:`Kernel.eigenvalues`.
Inputs are validated once, on entry; subclasses implement ``_gram`` (and may override
``_matvec``, ``_diag``, ``_fill_rows`` with fused versions).
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from .._memory import check_budget, check_memory
from .._validation import check_int, check_pair, check_vector
from ..targets.harmonics import funk_hecke_eigenvalues

__all__ = ["CallableKernel", "Kernel", "row_norms"]

_F64 = 8


class Kernel:
    """Base class of hierlearn's kernels (parameters, Gram, diag, matvec, blocks, profile).

    Subclasses list their parameters as keyword arguments of ``__init__`` (stored under the
    same names, as in scikit-learn) and implement ``_gram(X, Y)`` for validated float64
    arrays (``Y=None`` meaning the symmetric K(X, X)) and ``_validate()``.
    """

    #: Bytes one Gram entry costs while it is computed, in units of 8 bytes (the output and
    #: the kernel's temporaries); sizes blocks and tiles within a memory budget.
    workspace_factor = 1.5

    # -- parameters --------------------------------------------------------------------
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """Parameters as a dict (scikit-learn's convention; ``deep`` adds those of nested
        kernels and layers as ``name__param``)."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update({f"{name}__{k}": v for k, v in value.get_params().items()})
        return out

    def set_params(self, **params):
        """Set parameters (validated); returns self."""
        valid = self._param_names()
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {valid}")
            if sub:
                getattr(self, name).set_params(**{sub: value})
            else:
                setattr(self, name, value)
        self._validate()
        return self

    def _validate(self):
        """Check and normalise the parameters (raise ValueError/TypeError naming them)."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(other) is type(self) and self.get_params(False) == other.get_params(False)

    def __hash__(self):
        return hash((type(self).__name__, repr(self)))

    # -- computations ----------------------------------------------------------------
    def __call__(self, X, Y=None, *, out=None):
        """The Gram matrix K(X, Y) (``Y=None``: the symmetric K(X, X)).

        Parameters
        ----------
        X : array_like of shape (n_X, d)
        Y : array_like of shape (n_Y, d), optional
        out : ndarray of shape (n_X, n_Y), C-contiguous float64, optional
            Written in place and returned.

        Returns
        -------
        K : ndarray of shape (n_X, n_Y)
        """
        X, Y = check_pair(X, Y)
        shape = (X.shape[0], (X if Y is None else Y).shape[0])
        if out is None:
            check_memory(*shape, name="dense Gram matrix")
            out = np.empty(shape)
        else:
            _check_out(out, shape)
        self._check_finite_scale(X, Y)
        return self._gram_into(X, Y, out)

    def _gram_into(self, X, Y, out):
        out[...] = self._gram(X, Y)
        return out

    def _gram(self, X, Y):
        raise NotImplementedError

    def diag(self, X):
        """K(x_i, x_i) for each row of X, shape (n,)."""
        X, _ = check_pair(X)
        return self._diag(X)

    def _diag(self, X, block=256):
        out = np.empty(X.shape[0])
        for s in range(0, X.shape[0], block):
            out[s:s + block] = np.diagonal(self._gram(X[s:s + block], None))
        return out

    def _check_finite_scale(self, X, Y):
        """A clear error when the inputs' scale overflows the kernel: |K(x, y)| <=
        sqrt(K(x, x) K(y, y)) for a positive semi-definite kernel, so the diagonal at the
        largest rows bounds every entry."""
        for A, name in ((X, "X"), (Y, "Y")):
            if A is None:
                continue
            norms = row_norms(A)
            big = int(np.argmax(norms))
            if not np.all(np.isfinite(self._diag(A[big:big + 1]))):
                raise ValueError(f"{name} has rows of norm up to {norms[big]:.3g}, at which "
                                 f"{type(self).__name__} overflows float64; rescale {name}")

    def matvec(self, X, v, *, Y=None, memory_budget=None):
        """K(X, Y) @ v without storing K (``Y=None``: the symmetric K(X, X)).

        Parameters
        ----------
        X : array_like of shape (n_X, d)
        v : array_like of shape (n_Y,) or (n_Y, r)
        Y : array_like of shape (n_Y, d), optional
        memory_budget : int, optional
            Bytes of kernel blocks held at once (kernels without a fused loop).

        Returns
        -------
        ndarray of shape (n_X,) or (n_X, r)
        """
        X, Y = check_pair(X, Y)
        n_y = (X if Y is None else Y).shape[0]
        V = check_vector(v, "v", n_y, allow_2d=True)
        self._check_finite_scale(X, Y)
        out = self._matvec(X, Y, V.reshape(n_y, -1), check_budget(memory_budget))
        return out[:, 0] if V.ndim == 1 else out

    def _matvec(self, X, Y, V, budget):
        """K V from blocks of K within ``budget`` bytes (kernels with a fused loop override
        this). Symmetric: square tiles of one triangle, each off-diagonal tile used twice
        (about n^2 / 2 evaluations); rectangular: row blocks."""
        if Y is not None:
            out = np.empty((X.shape[0], V.shape[1]))
            # at least one row, as the symmetric path takes at least one tile
            rows = max(1, self._rows_fit(budget, Y.shape[0]))
            for a, b, blk in self._blocks(X, Y, rows):
                out[a:b] = blk @ V
            return out
        n = X.shape[0]
        t = int(max(1, min(n, math.isqrt(int(budget // (_F64 * self.workspace_factor))))))
        out = np.zeros((n, V.shape[1]))
        for i in range(0, n, t):
            for j in range(i, n, t):
                K_ij = self._gram(X[i:i + t], X[j:j + t])
                out[i:i + t] += K_ij @ V[j:j + t]
                if j != i:
                    out[j:j + t] += K_ij.T @ V[i:i + t]
        return out

    def blocks(self, X, Y=None, *, block_rows=None, memory_budget=None):
        """Row blocks of K(X, Y) within a memory budget.

        Yields
        ------
        start, stop : int
            Row range of the block in K.
        block : ndarray of shape (stop - start, n_Y)
            A fresh array per block (safe to keep).
        """
        X, Y = check_pair(X, Y)
        n_y = (X if Y is None else Y).shape[0]
        if block_rows is not None and memory_budget is not None:
            raise TypeError("pass block_rows or memory_budget, not both")
        if block_rows is None:
            rows = self._rows_for(check_budget(memory_budget or 256 * 2**20), n_y)
        else:
            rows = check_int(block_rows, "block_rows", minimum=1)
        self._check_finite_scale(X, Y)
        return self._blocks(X, Y, rows)

    def _rows_fit(self, budget, n_cols):
        """Rows of ``n_cols`` kernel entries (with the kernel's workspace) in ``budget``."""
        return int(budget // (_F64 * self.workspace_factor * max(n_cols, 1)))

    def _rows_for(self, budget, n_cols):
        rows = self._rows_fit(budget, n_cols)
        if rows < 1:
            raise ValueError(f"memory_budget={budget} bytes cannot hold one row of {n_cols} "
                             f"kernel entries ({int(_F64 * self.workspace_factor * n_cols)} "
                             "bytes with the kernel's workspace)")
        return rows

    def _blocks(self, X, Y, rows):
        Yv = X if Y is None else Y
        for start in range(0, X.shape[0], rows):
            stop = min(start + rows, X.shape[0])
            yield start, stop, self._gram(X[start:stop], Yv)

    # -- dot-product kernels on the sphere --------------------------------------------
    #: True when K(x, y) depends on x.y, ``|x|``, ``|y|`` only (rotation invariant).
    is_dot_product = False

    def profile(self, t):
        """kappa(t) = K(u, v) for unit vectors with u.v = t (dot-product kernels only)."""
        if not self.is_dot_product:
            raise TypeError(f"{type(self).__name__} is not a dot-product kernel: it has no "
                            "profile")
        t = np.clip(np.asarray(t, dtype=float), -1.0, 1.0)
        Y = np.stack([t.ravel(), np.sqrt(1.0 - t.ravel() ** 2)], axis=1)
        return self._gram(np.array([[1.0, 0.0]]), Y)[0].reshape(t.shape)

    def eigenvalues(self, d, l_max, *, n_nodes=400):
        """Eigenvalues mu_0 .. mu_{l_max} of the kernel on S^(d-1) (docs/math.md, section 6):
        mu_l = E_t[kappa(t) P_l(t)], each with multiplicity N(d, l), by validated quadrature
        (:func:`hierlearn.targets.harmonics.funk_hecke_eigenvalues`)."""
        return funk_hecke_eigenvalues(self.profile, d, l_max, n_nodes=n_nodes)


def row_norms(A):
    """Euclidean norms of the rows of A without overflow or underflow at any finite scale
    (each row is scaled by its largest entry before squaring)."""
    m = np.max(np.abs(A), axis=1)
    safe = np.where(m > 0, m, 1.0)
    return m * np.sqrt(np.einsum("ij,ij->i", A / safe[:, None], A / safe[:, None]))


def _check_out(out, shape):
    if not isinstance(out, np.ndarray) or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise TypeError("out must be a C-contiguous float64 ndarray")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")


class CallableKernel(Kernel):
    """Any Gram function ``fn(A, B, **params) -> (len(A), len(B))`` as a kernel object.

    Parameters
    ----------
    fn : callable
        Must pickle (a module-level function or functools.partial) to run on Dask workers.
    params : dict, optional
        Extra keyword arguments of ``fn``.
    workspace_factor : float, default=6
        Bytes per output entry while ``fn`` runs, in units of 8 (a numpy formula with a few
        elementwise temporaries needs 4-6).
    """

    def __init__(self, fn, params=None, *, workspace_factor=6.0):
        self.fn = fn
        self.params = params
        self.workspace_factor = workspace_factor
        self._validate()

    def _validate(self):
        if not callable(self.fn):
            raise TypeError(f"kernel must be callable, got {type(self.fn).__name__}")
        if not (isinstance(self.workspace_factor, (int, float))
                and math.isfinite(self.workspace_factor) and self.workspace_factor > 0):
            raise ValueError(f"workspace_factor must be a positive number, got "
                             f"{self.workspace_factor!r}")

    def _gram(self, X, Y):
        Yv = X if Y is None else Y
        K = np.asarray(self.fn(X, Yv, **(self.params or {})), dtype=np.float64)
        if K.shape != (X.shape[0], Yv.shape[0]):
            raise ValueError(f"kernel returned shape {K.shape} for blocks of shapes {X.shape} "
                             f"and {Yv.shape}; expected {(X.shape[0], Yv.shape[0])}")
        return K

    def _check_finite_scale(self, X, Y):
        """A user function's scale is its own business (checked on its output instead)."""

    def __repr__(self):
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"CallableKernel({name}, {self.params or {}})"
