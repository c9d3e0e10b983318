"""Whole learning curves: test error against n over a grid of ridges, with ridge selection.

The training points are one sample in a fixed order; a learning curve fits kernel ridge on
the nested prefixes ``0..n_1-1 ⊂ 0..n_2-1 ⊂ ...``. Ridge convention as everywhere in
:mod:`solvers`: ``(K_n + ridge I) alpha = y_n`` (no factor n; scikit-learn's ``alpha``).
Every number in the table is exact (up to rounding); the algorithms differ in cost and in
which (n, ridge) pairs they evaluate (``method=``):

``"eigh"``
    One symmetric eigendecomposition per size serves every ridge
    (:func:`solvers.ridge.ridge_path`). Cost about ``EIGH_OVER_CHOLESKY * sum_k (n_k/n)^3``
    factorisations of the largest n (measured 2026-12-02, n = 4000, 2 threads: the grid of 8
    sizes n/8..n took 24 times scipy's ``cho_factor`` at n).
``"cholesky"``
    One Cholesky factor of ``K + ridge I`` at the largest n per ridge serves every prefix
    (:func:`solvers.prefix.prefix_fits`); LOO and GCV need ``diag((K_m + ridge I)^{-1})``,
    one triangular inverse more (``INVERSE_OVER_CHOLESKY``). Cost ``(1 +
    INVERSE_OVER_CHOLESKY)`` factorisations per ridge.
``"search"``
    For the selection criterion only: the factorisations of ``"cholesky"``, but at the ridges
    a search needs (:mod:`solvers.ridge_search`): the ends and the middle of the grid, then,
    per size, points towards its minimum until the best point's two grid neighbours are
    evaluated. A point is factored at the largest size that needs it, which serves every
    smaller size too. The table holds the evaluated (n, ridge) pairs only (they differ per n),
    with one ``selected`` row per n: a grid-local minimum of the exact criterion, the smallest
    among the evaluated points. With ``selection="validation"`` its ``loo`` and ``gcv`` are
    NaN (they would cost a triangular inverse per evaluated ridge). On 20-ridge grids it
    factors 5-8 times at the largest n (each with the inverse for GCV and LOO).
``"auto"``
    ``"eigh"`` or ``"cholesky"`` by the cost model, or ``"search"`` when a criterion is given
    and the model puts it below 3/4 of both.

Singular systems (e.g. ridge 0 with repeated points) follow :mod:`solvers.ridge`: a
:class:`~scipy.linalg.LinAlgWarning`, then the eigendecomposition pseudo-inverse for those
ridges.

:func:`learning_curve_pcg` (the matrix-free curve, one preconditioned CG solve per (n,
ridge)) is at the end of this module.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning

from .._measured import EIGH_OVER_CHOLESKY
from .._validation import check_choice, check_target_scale
from .linalg import check_memory
from .prefix import prefix_fits, workspace_size
from .ridge import check_gram, check_ridges, ridge_path
from .ridge_search import search

__all__ = ["METHODS", "SELECTIONS", "learning_curve"]

SELECTIONS = ("loo", "gcv", "validation", "none")
METHODS = ("auto", "eigh", "cholesky", "search")
#: Triangular inverse (panels of ``dtrsm``, :func:`solvers.prefix.inverse_column_norms`) in
#: units of one Cholesky factorisation of the same order (:func:`solvers.linalg.cho_factor`):
#: 0.77 / 0.54 of scipy's ``cho_factor`` at n = 4000, 2 threads (2026-12-02, load ~2; LAPACK's
#: ``dtrtri`` took 1.58). Remeasure by timing both on one Gram; ``python -m hierlearn solvers
#: --skip-solve`` prints the factorisations and inverses of each search with its time.
INVERSE_OVER_CHOLESKY = 1.4
#: Factorisations at the largest n that the cost model charges ``method="search"`` (the three
#: initial grid points, then single steps to the largest size's minimum and its neighbours;
#: 5-8 measured on 20-ridge grids, :mod:`solvers.ridge_search`).
SEARCH_FACTORISATIONS = 6.0


def _check_sizes(sizes, n_avail, what):
    arr = np.atleast_1d(np.asarray(sizes))
    if arr.dtype.kind not in "iu":
        raise TypeError(f"sizes must be integers, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"sizes must be a non-empty 1-D grid, got shape {arr.shape}")
    if (np.diff(arr) <= 0).any():
        raise ValueError(f"sizes must be strictly increasing, got {arr.tolist()}")
    if arr[0] < 1 or arr[-1] > n_avail:
        raise ValueError(f"sizes must lie in [1, {n_avail}] ({what}), got {arr.tolist()}")
    return arr.astype(np.int64)


def _test_error_function(K_test, f_test, error, n_max, check_finite):
    """``fn(alpha, n)``: unnormalised mean squared test error of the dual coefficients."""
    if error is not None:
        if not callable(error):
            raise TypeError(f"error must be a callable error(alpha, n) -> float, got "
                            f"{type(error).__name__}")
        if K_test is not None or f_test is not None:
            raise ValueError("pass either error= or K_test and f_test, not both")

        def checked(alpha, n):
            value = error(alpha, n)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise TypeError(f"error(alpha, n) must return a real number, got "
                                f"{type(value).__name__}")
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"error(alpha, n) must return a finite number >= 0, got "
                                 f"{value!r} at n={n}")
            return float(value)
        return checked
    if K_test is None or f_test is None:
        raise TypeError("K_test and f_test are required unless error= is given")
    K_test = np.asarray(K_test)
    if K_test.dtype.kind not in "biuf":
        raise TypeError(f"K_test must hold real numbers, got dtype {K_test.dtype}")
    K_test = K_test.astype(np.float64, copy=False)
    if K_test.ndim != 2 or K_test.shape[1] != n_max:
        raise ValueError(f"K_test must have shape (n_test, {n_max}), got {K_test.shape}")
    f_test = np.asarray(f_test, dtype=np.float64)
    if f_test.shape != (K_test.shape[0],):
        raise ValueError(
            f"f_test must have shape ({K_test.shape[0]},) to match K_test {K_test.shape}, "
            f"got {f_test.shape}")
    if check_finite and not (np.isfinite(K_test).all() and np.isfinite(f_test).all()):
        raise ValueError("K_test and f_test must not contain NaN or infinity")
    check_target_scale(f_test, "f_test")  # the test error squares it
    return lambda alpha, n: float(np.mean((K_test[:, :n] @ alpha - f_test) ** 2))


def _validation_points(selection, validation_fraction, validation_size, n_max):
    """Held-out points for ``selection="validation"``; handles the deprecated spelling."""
    if validation_size is not None:
        warnings.warn("validation_size is deprecated and will be removed in the next release; "
                      "use validation_fraction (a fraction of the training points)",
                      FutureWarning, stacklevel=3)
        if validation_fraction != 0.2:
            raise ValueError("pass validation_fraction or validation_size, not both")
        return _n_validation(selection, validation_size, n_max)
    if isinstance(validation_fraction, (bool, np.bool_)) or not (
            isinstance(validation_fraction, numbers.Real) and 0 < validation_fraction < 1):
        raise ValueError(f"validation_fraction must be a number in (0, 1), got "
                         f"{validation_fraction!r}")
    return _n_validation(selection, float(validation_fraction), n_max,
                         name="validation_fraction")


def _plan(method, selection, sizes, n_ridges):
    """The algorithm ``method="auto"`` picks: the cheapest by the module's cost model."""
    if method != "auto":
        return method
    rel = (sizes.astype(float) / sizes[-1]) ** 3
    full = {"eigh": EIGH_OVER_CHOLESKY * float(rel.sum()),
            "cholesky": n_ridges * (1.0 + INVERSE_OVER_CHOLESKY)}
    best = min(full, key=full.get)
    if selection != "none":
        inverse = INVERSE_OVER_CHOLESKY if selection in ("loo", "gcv") else 0.0
        if SEARCH_FACTORISATIONS * (1.0 + inverse) < 0.75 * full[best]:
            return "search"
    return best


def learning_curve(K, y, K_test=None, f_test=None, *, sizes, ridges, selection="gcv",
                   normalizer=None, seed=None, method="auto", validation_fraction=0.2,
                   error=None, check_finite=True, validation_size=None):
    """Test error of kernel ridge for nested training prefixes over a grid of ridges.

    Parameters
    ----------
    K : (n_max, n_max) array_like
        Gram matrix of the training points, in sample order. Never modified.
    y : (n_max,) array_like
        Training labels (possibly noisy).
    K_test : (n_test, n_max) array_like, optional
        Cross Gram between test and training points. Required unless ``error`` is given.
    f_test : (n_test,) array_like, optional
        Noise-free target values at the test points. Required unless ``error`` is given.
    sizes : array_like of int
        Strictly increasing prefix sizes ``n_1 < ... < n_k <= n_max``.
    ridges : array_like of float
        Ridge grid (``>= 0``; 0 interpolates, exactly: no ridge is added),
        convention ``(K_n + ridge I) alpha = y_n``.
    selection : {"gcv", "loo", "validation", "none"}, default="gcv"
        How the ridge is chosen per n (column ``selected``). ``"validation"`` holds out the
        last ``validation_fraction`` of the training points (shared by every n; sizes must
        then be ``<= n_max - n_val``) and picks the ridge with the smallest validation error.
        ``"none"``: nothing is selected, unless a single ridge is given (then it is).
    normalizer : float, optional
        Divides every error column. Default ``np.var(f_test)``; required with ``error``.
    seed : int, optional
        Recorded in the ``seed`` column (the data's seed; nothing here is random).
    method : {"auto", "eigh", "cholesky", "search"}, default="auto"
        Algorithm (module docstring). ``"search"`` evaluates only the ridges its search
        needs, which differ per n, and needs a selection criterion.
    validation_fraction : float, default=0.2
        Fraction of ``n_max`` (in (0, 1), rounded to a count) held out for
        ``selection="validation"``.
    error : callable, optional
        ``error(alpha, n) -> float``: the (unnormalised) mean squared test error of the
        predictor whose dual coefficients on the first ``n`` training points are ``alpha``.
        Replaces ``K_test`` and ``f_test`` (pass None for both), e.g. to measure the error
        exactly in closed form; ``normalizer`` is then required. Called once per table row.
    check_finite : bool, default=True
        Reject NaN/inf in the arrays.
    validation_size : float or int, optional
        Deprecated spelling of ``validation_fraction`` (FutureWarning; removed in the next
        release). A float in (0, 1) is a fraction of ``n_max``, an int a count.

    Returns
    -------
    pandas.DataFrame
        One row per evaluated (n, ridge), sorted by n then ridge order, with columns ``n``,
        ``ridge``, ``test_error`` (mean squared error against ``f_test``, or ``error``),
        ``train_error``, ``loo``, ``gcv``, ``validation`` (NaN unless
        ``selection="validation"``), all divided by the normalizer, ``selected`` (bool, one
        per n unless ``selection="none"``), ``seed`` and ``method`` (the algorithm used).
        For ``"cholesky"`` and ``"search"``, ``attrs`` holds ``cholesky_factorisations`` and
        ``triangular_inverses``: the work done, in units of one at the largest n.
        Every (n, ridge) pair is evaluated except with ``method="search"``, whose rows are
        the pairs its search evaluated and whose ``loo``/``gcv`` columns are NaN with
        ``selection="validation"``.

    Warns
    -----
    scipy.linalg.LinAlgWarning
        When ``K_n + ridge I`` is numerically singular for some ridges (their rows then come
        from the eigendecomposition pseudo-inverse).
    FutureWarning
        When ``validation_size`` is used.
    """
    K, y = check_gram(K, y, check_finite=check_finite)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    check_target_scale(y, "y")  # GCV, LOO and validation errors square it
    n_max = K.shape[0]
    test_error = _test_error_function(K_test, f_test, error, n_max, check_finite)
    ridges = check_ridges(ridges)
    selection = check_choice(selection, "selection", SELECTIONS)
    method = check_choice(method, "method", METHODS)
    n_val = _validation_points(selection, validation_fraction, validation_size, n_max)
    sizes = _check_sizes(sizes, n_max - n_val,
                         "n_max minus the validation points" if n_val else "n_max")
    if error is not None and normalizer is None:
        raise ValueError("normalizer is required with error= (its default is np.var(f_test))")
    normalizer = _check_normalizer(normalizer, None if error is not None else f_test)
    method = _plan(method, selection, sizes, len(ridges))
    if method == "search" and selection == "none":
        raise ValueError("method='search' searches for the selection criterion's minimum; "
                         "give selection='gcv', 'loo' or 'validation', or another method")
    curve = _Curve(K, y, sizes, ridges, test_error, n_val)
    if method == "eigh":
        _run_eigh(curve, np.arange(len(ridges)))
    elif method == "cholesky":
        _run_cholesky(curve, np.arange(len(ridges)))
    else:
        _run_search(curve, selection)
    table = _frame(sizes, ridges, selection, normalizer, seed, method,
                   evaluated=curve.evaluated, **curve.arrays)
    if method != "eigh":
        table.attrs.update(curve.work)
    return table


ERROR_COLUMNS = ("test_error", "train_error", "loo", "gcv", "validation")


@dataclass
class _Curve:
    """Inputs shared by the algorithms, and the (sizes x ridges) arrays they fill."""

    K: np.ndarray
    y: np.ndarray
    sizes: np.ndarray
    ridges: np.ndarray
    test_error: object
    n_val: int
    arrays: dict = field(init=False)
    evaluated: np.ndarray = field(init=False)
    work: dict = field(init=False)

    def __post_init__(self):
        # Cholesky factorisations and triangular inverses in units of one at the largest n.
        self.work = {"cholesky_factorisations": 0.0, "triangular_inverses": 0.0}
        shape = (len(self.sizes), len(self.ridges))
        self.arrays = {name: np.full(shape, np.nan) for name in ERROR_COLUMNS}
        self.evaluated = np.zeros(shape, dtype=bool)
        start = self.K.shape[0] - self.n_val
        self.K_val, self.y_val = self.K[start:], self.y[start:]
        self._factor_buffer = None

    def factor_buffer(self, diag):
        """One buffer for every factorisation of the curve (:func:`prefix.workspace_size`
        at its largest size)."""
        size = workspace_size(int(self.sizes[-1]), diag)
        if self._factor_buffer is None or self._factor_buffer.size < size:
            self._factor_buffer = np.empty(size)
        return self._factor_buffer

    def record(self, i, j, alpha, gdiag=None, *, loo=np.nan, gcv=np.nan, train=None):
        """Errors of prefix ``sizes[i]`` at ``ridges[j]`` from its dual coefficients."""
        m = int(self.sizes[i])
        a = self.arrays
        a["test_error"][i, j] = self.test_error(alpha, m)
        if train is None:
            train = np.mean((self.y[:m] - self.K[:m, :m] @ alpha) ** 2)
        a["train_error"][i, j] = train
        if gdiag is not None:
            # LOO residual alpha_i / G_ii and GCV mean(alpha^2) / (tr(G)/m)^2 (ridge.py)
            loo = np.mean((alpha / gdiag) ** 2)
            gcv = np.mean(alpha ** 2) / np.mean(gdiag) ** 2
        a["loo"][i, j] = loo
        a["gcv"][i, j] = gcv
        if self.n_val:
            a["validation"][i, j] = np.mean((self.K_val[:, :m] @ alpha - self.y_val) ** 2)
        self.evaluated[i, j] = True


def _run_eigh(curve, cols, top=None):
    """Ridges ``cols`` for sizes ``0..top``: one eigendecomposition per size."""
    sizes = curve.sizes if top is None else curve.sizes[:top + 1]
    check_memory(int(sizes[-1]), copies=3, name="eigendecomposition workspace")
    sub = curve.ridges[cols]
    for i, m in enumerate(sizes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)  # summarised below
            path = ridge_path(curve.K[:m, :m], curve.y[:m], sub, check_finite=False)
        for jj, j in enumerate(cols):
            curve.record(i, j, path.dual_coef[jj], loo=path.loo[jj], gcv=path.gcv[jj],
                         train=path.train_error[jj])
        if (path.rank < m).any():
            warnings.warn(
                f"n={m}: K + ridge*I numerically singular for ridges "
                f"{sub[path.rank < m].tolist()}; pseudo-inverse used", LinAlgWarning,
                stacklevel=4)


def _run_cholesky(curve, cols, *, diag=True, top=None):
    """Ridges ``cols`` for sizes ``0..top``: one factorisation of size ``top`` per ridge."""
    top = len(curve.sizes) - 1 if top is None else top
    failed = []
    for j in cols:
        fits = prefix_fits(curve.K, curve.y, curve.sizes[:top + 1], curve.ridges[j],
                           diag=diag, work=curve.factor_buffer(diag))
        share = float(curve.sizes[top] / curve.sizes[-1]) ** 3
        curve.work["cholesky_factorisations"] += share
        curve.work["triangular_inverses"] += share if (diag and fits is not None) else 0.0
        if fits is None:
            failed.append(j)
            continue
        for i, (alpha, gdiag) in enumerate(fits):
            curve.record(i, j, alpha, gdiag)
    if failed:
        warnings.warn(
            f"K + ridge*I is singular or ill-conditioned for ridges "
            f"{curve.ridges[failed].tolist()}; using the eigendecomposition pseudo-inverse "
            "for those", LinAlgWarning, stacklevel=4)
        _run_eigh(curve, failed, top=top)


def _run_search(curve, selection):
    """:func:`solvers.ridge_search.search` over the sorted distinct ridges."""
    grid = np.unique(curve.ridges)
    columns = [np.flatnonzero(curve.ridges == value) for value in grid]
    diag = selection in ("loo", "gcv")

    def evaluate(g, top):
        first, *rest = columns[g]
        _run_cholesky(curve, [first], diag=diag, top=top)
        for j in rest:  # repeated ridge values: the same rows
            for arr in (*curve.arrays.values(), curve.evaluated):
                arr[:top + 1, j] = arr[:top + 1, first]
        return curve.arrays[selection][:top + 1, first]

    search(evaluate, len(curve.sizes), len(grid))


def _n_validation(selection, validation_size, n_max, name="validation_size"):
    """Held-out points for ``selection="validation"`` (0 otherwise).

    ``validation_size``: a fraction of ``n_max`` (float in (0, 1)) or a count (int).
    """
    if selection != "validation":
        return 0
    if isinstance(validation_size, numbers.Integral) and not isinstance(validation_size, bool):
        n_val = int(validation_size)
    elif isinstance(validation_size, numbers.Real) and 0 < validation_size < 1:
        n_val = int(round(validation_size * n_max))
    else:
        raise ValueError(f"{name} must be a fraction in (0, 1) or a positive int, "
                         f"got {validation_size!r}")
    if not 1 <= n_val < n_max:
        raise ValueError(f"{name} gives {n_val} held-out points of {n_max}; "
                         "need at least 1 and fewer than n_max")
    return n_val


def _check_normalizer(normalizer, f_test):
    if normalizer is None:
        normalizer = float(np.var(f_test))
        if not normalizer > 0:
            raise ValueError("normalizer: np.var(f_test) is 0; pass normalizer explicitly")
        return normalizer
    normalizer = float(normalizer)
    if not (np.isfinite(normalizer) and normalizer > 0):
        raise ValueError(f"normalizer must be finite and > 0, got {normalizer}")
    return normalizer


def _frame(sizes, ridges, selection, normalizer, seed, method, *, evaluated=None, **errors):
    """The learning-curve table from (sizes x ridges) error arrays (module docstring)."""
    k, R = len(sizes), len(ridges)
    evaluated = np.ones((k, R), dtype=bool) if evaluated is None else evaluated
    selected = np.zeros((k, R), dtype=bool)
    crit = errors.get(selection)  # None for "none"
    if crit is not None:
        for i in range(k):
            row = np.where(evaluated[i], crit[i], np.nan)
            if np.isfinite(row).any():
                selected[i, int(np.nanargmin(row))] = True
    elif R == 1:
        selected[:] = evaluated
    keep = evaluated.ravel()
    rows = int(keep.sum())
    if seed is None or isinstance(seed, numbers.Integral):
        seed_col = pd.array([seed] * rows, dtype="Int64")  # nullable int: None -> <NA>
    else:
        seed_col = [seed] * rows
    table = {"n": np.repeat(sizes, R)[keep], "ridge": np.tile(ridges, k)[keep]}
    for name in ERROR_COLUMNS:
        table[name] = (errors[name] / normalizer).ravel()[keep]
    table.update(selected=selected.ravel()[keep], seed=seed_col, method=method)
    return pd.DataFrame(table)
