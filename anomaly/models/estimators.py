"""Custom scikit-learn estimators for the detection models.

Both follow the estimator contract (checked by `sklearn.utils.estimator_checks` in
`tests/unit/test_models_estimators.py`): `__init__` only stores its parameters, `fit` validates
its input, learns attributes ending in `_` and returns `self`, and `get_params()` round-trips.

- `CellDensity`: how common a state is in history. Each sample is binned (the first
  `spatial_dims` features make the cell, e.g. latitude and longitude; the others, e.g. course
  and speed, the state within it; a feature with a period, such as course, wraps round) and
  scored by its smoothed log-probability, p(cell) * p(state | cell). An outlier detector in
  scikit-learn's sense: `score_samples` (higher is more normal), `decision_function` (negative
  for outliers, `contamination` of the training data), `predict` (+1 / -1).
- `NonNegativeLogisticRegression`: logistic regression whose coefficients cannot be negative,
  for indicators that can only raise a risk (each is 0 when absent): the fitted model then
  never says that a sign of risk makes a vessel safer, and every contribution it reports reads
  the right way round. L2-penalised, fitted by L-BFGS-B with bounds; several classes are fitted
  one against the rest.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize  # type: ignore[import-untyped]
from scipy.special import expit  # type: ignore[import-untyped]
from sklearn.base import BaseEstimator, ClassifierMixin, OutlierMixin  # type: ignore[import-untyped]
from sklearn.utils.multiclass import check_classification_targets  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted, validate_data  # type: ignore[import-untyped]

__all__ = ["CellDensity", "NonNegativeLogisticRegression"]

_KEY_BASE = np.int64(1 << 20)  # bins per dimension in the packed key (signed, offset)
_BASE = 1 << 20  # the same, as a Python int
_EXACT_DIMS = 3  # packed exactly up to this many dimensions, hashed beyond
_HASH_PRIME = np.int64(0x100000001B3)  # FNV-1a's 64-bit prime
_MASK = (1 << 64) - 1
_FAST_ROWS = 512  # up to this many rows, `CellDensity.score_array` looks counts up row by row
_CACHED = 1 << 16  # cells' and rows' counts remembered (then forgotten all at once)


class _Keys(NamedTuple):
    spatial: NDArray[np.int64]  # the spatial bins of each sample
    cells: NDArray[np.int64]  # packed cell key
    joint: NDArray[np.int64]  # packed cell and state key
    pure: NDArray[np.int64]  # packed state key, whatever the cell
    off_centre: NDArray[np.float64]


class CellDensity(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """Smoothed histogram density over binned features (see the module docstring).

    Parameters
    ----------
    bin_widths : sequence of float, or None
        One width per feature; None: a tenth of each feature's range in the training data.
    periods : sequence of (float or None), or None
        A period per feature for features that wrap round (360 for a course); None: none do.
    spatial_dims : int
        How many leading features make the cell (the rest make the state within the cell).
    alpha : float
        Additive smoothing.
    contamination : float
        The share of the training data the decision function calls outliers, in (0, 0.5].
    neighbourhood : int
        Spatial smoothing: a cell's count is the mean over the cells within this many bins of
        it in every spatial dimension (0: the cell alone). History never covers every cell a
        vessel may sail through; its neighbours say more than its own few fixes.
    state_prior : float
        Weight, in samples, of the state's frequency over all cells in p(state | cell) (0: an
        additive `alpha` only): a cell with few fixes falls back on what is usual anywhere.
    """

    def __init__(
        self,
        bin_widths: Any = None,
        periods: Any = None,
        spatial_dims: int = 2,
        alpha: float = 1.0,
        contamination: float = 0.01,
        neighbourhood: int = 0,
        state_prior: float = 0.0,
    ) -> None:
        self.bin_widths = bin_widths
        self.periods = periods
        self.spatial_dims = spatial_dims
        self.alpha = alpha
        self.contamination = contamination
        self.neighbourhood = neighbourhood
        self.state_prior = state_prior

    def _bins(self, X: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each sample's bins, and how far it sits from the centres of its bins (0 to 1)."""
        periodic = [(j, p) for j, p in enumerate(self.periods_) if p]
        if periodic:
            X = X.copy()
            for j, period in periodic:
                X[:, j] = np.mod(X[:, j], period)
        scaled = X / self.bin_widths_
        floor = np.floor(scaled)
        out = floor.astype(np.int64)
        far = np.abs(scaled - floor - 0.5)
        off_centre = np.zeros(X.shape[0], dtype=np.float64)
        for j in range(X.shape[1]):  # column by column: the same sums as ever
            off_centre += far[:, j]
        return out, off_centre / max(1, X.shape[1])

    @staticmethod
    def _pack(bins: NDArray[np.int64]) -> NDArray[np.int64]:
        """One int64 per row. Exact for up to three dimensions of bins below 2**20; beyond
        that an FNV-style hash of every bin (rare collisions only make two states share a
        count), as shifting a fourth bin in would push the first out of the 64 bits."""
        key = np.zeros(bins.shape[0], dtype=np.int64)
        exact = bins.shape[1] <= _EXACT_DIMS
        for j in range(bins.shape[1]):
            if exact:
                key = key * _KEY_BASE + (bins[:, j] % _KEY_BASE)
            else:  # int64 arithmetic wraps round, as the hash wants
                key = (key ^ bins[:, j]) * _HASH_PRIME
        return key

    def _keys(self, X: NDArray[np.float64]) -> _Keys:
        bins, off_centre = self._bins(X)
        spatial = bins[:, : self.spatial_dims_]
        cells = self._pack(spatial)
        if self.spatial_dims_ < bins.shape[1]:
            pure = self._pack(bins[:, self.spatial_dims_ :])
            joint = self._pack(bins)  # every bin: the same state in two cells counts apart
        else:
            pure = joint = cells
        return _Keys(spatial, cells, joint, pure, off_centre)

    def _cell_counts(self, keys: _Keys) -> NDArray[np.float64]:
        """Each sample's cell count, averaged over its neighbourhood."""
        k = int(self.neighbourhood_)
        if k <= 0:
            return self._lookup(self.cell_keys_, self.cell_counts_, keys.cells)
        total = np.zeros(len(keys.cells), dtype=np.float64)
        span = range(-k, k + 1)
        offsets = np.array(np.meshgrid(*[span] * keys.spatial.shape[1])).reshape(
            keys.spatial.shape[1], -1
        )
        for offset in offsets.T:
            total += self._lookup(
                self.cell_keys_, self.cell_counts_, self._pack(keys.spatial + offset)
            )
        result: NDArray[np.float64] = total / offsets.shape[1]
        return result

    def fit(self, X: ArrayLike, y: Any = None) -> CellDensity:
        data: NDArray[np.float64] = validate_data(self, X, dtype=np.float64)
        if not 0.0 < self.contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {self.contamination}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        n_features = data.shape[1]
        if self.bin_widths is None:
            span = data.max(axis=0) - data.min(axis=0)
            widths = np.where(span > 0, span / 10.0, 1.0)
        else:
            widths = np.asarray(self.bin_widths, dtype=np.float64)
            if widths.shape != (n_features,) or np.any(widths <= 0):
                raise ValueError(f"bin_widths must be {n_features} positive numbers")
        self.bin_widths_ = widths
        if self.periods is None:
            self.periods_: list[float | None] = [None] * n_features
        else:
            if len(self.periods) != n_features:
                raise ValueError(f"periods must have {n_features} entries")
            self.periods_ = [float(p) if p else None for p in self.periods]
        self.spatial_dims_ = max(1, min(int(self.spatial_dims), n_features))
        state_bins = 1
        for j in range(self.spatial_dims_, n_features):
            period = self.periods_[j]
            if period:
                state_bins *= max(1, int(np.ceil(period / widths[j])))
            else:
                state_bins *= 16  # a nominal number of states for an open-ended feature
        self.n_state_bins_ = state_bins
        if self.neighbourhood < 0 or self.state_prior < 0:
            raise ValueError("neighbourhood and state_prior cannot be negative")
        self.neighbourhood_ = int(self.neighbourhood)
        self.__dict__.pop("_fast", None)  # the counts of a previous fit
        keys = self._keys(data)
        self.cell_keys_, self.cell_counts_ = np.unique(keys.cells, return_counts=True)
        self.state_keys_, self.state_counts_ = np.unique(keys.joint, return_counts=True)
        self.global_keys_, self.global_counts_ = np.unique(keys.pure, return_counts=True)
        self.n_samples_fit_ = data.shape[0]
        scores = self._score(keys)
        self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))
        return self

    @staticmethod
    def _lookup(
        keys: NDArray[np.int64], counts: NDArray[np.int64], query: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        idx = np.searchsorted(keys, query)
        idx = np.clip(idx, 0, len(keys) - 1)
        found = keys[idx] == query
        return np.where(found, counts[idx], 0).astype(np.float64)

    def _score(self, keys: _Keys) -> NDArray[np.float64]:
        """log p(cell) + log p(state | cell), smoothed (see `_score_counts`)."""
        if self.spatial_dims_ == self.n_features_in_:
            cell_n = joint_n = anywhere = None
        else:
            cell_n = self._lookup(self.cell_keys_, self.cell_counts_, keys.cells)
            joint_n = self._lookup(self.state_keys_, self.state_counts_, keys.joint)
            anywhere = (
                self._lookup(self.global_keys_, self.global_counts_, keys.pure)
                if self.state_prior > 0
                else None
            )
        return self._score_counts(
            self._cell_counts(keys), cell_n, joint_n, anywhere, keys.off_centre
        )

    def _score_counts(
        self,
        around_n: NDArray[np.float64],
        cell_n: NDArray[np.float64] | None,
        joint_n: NDArray[np.float64] | None,
        anywhere: NDArray[np.float64] | None,
        off_centre: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """log p(cell) + log p(state | cell), smoothed, from each sample's counts: of its cell
        over the neighbourhood, of its cell, of its cell and state, and of its state anywhere;
        less a hair for samples far from the centres of their bins, which breaks the ties of a
        histogram (and so lets the decision function call exactly the `contamination` share of
        the training data outliers)."""
        a = self.alpha
        n = self.n_samples_fit_
        tie_break = 1e-6 * off_centre
        n_cells = len(self.cell_keys_) + 1
        log_cell = np.log(around_n + a) - np.log(n + a * n_cells)
        if cell_n is None or joint_n is None:
            only_cell: NDArray[np.float64] = log_cell - tie_break
            return only_cell
        if self.state_prior > 0 and anywhere is not None:
            usual = (anywhere + a) / (n + a * self.n_state_bins_)
            prior = self.state_prior
            log_state = np.log(joint_n + prior * usual) - np.log(cell_n + prior)
        else:
            log_state = np.log(joint_n + a) - np.log(cell_n + a * self.n_state_bins_)
        both: NDArray[np.float64] = log_cell + log_state - tie_break
        return both

    def score_array(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """`score_samples` without scikit-learn's input checks, for a float64 array of the
        fitted width (the per-vessel hot path: a few tens of rows at a time).

        The same numbers as `score_samples`: the same bins, and the same arithmetic on the
        same counts, but the counts of a small array are looked up row by row in dictionaries
        (built on first use) and each cell's neighbourhood count is remembered, where the
        vectorised path packs and searches once per neighbour, which for a few rows costs
        far more than the work itself."""
        if X.shape[0] > _FAST_ROWS:
            return self._score(self._keys(X))
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self._fast = _FastCounts(self)
        bins, off_centre = self._bins(X)
        around_n, cell_n, joint_n, anywhere = fast.counts(bins)
        if self.spatial_dims_ == self.n_features_in_:
            return self._score_counts(around_n, None, None, None, off_centre)
        return self._score_counts(
            around_n, cell_n, joint_n, anywhere if self.state_prior > 0 else None, off_centre
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_fast", None)  # a cache, rebuilt on first use
        return state

    def score_samples(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log-probability of each sample's cell and state: higher is more usual."""
        check_is_fitted(self)
        data: NDArray[np.float64] = validate_data(self, X, dtype=np.float64, reset=False)
        return self._score(self._keys(data))

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Negative for outliers (rarer than the `contamination` share of the training data)."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)


def _pack_key(values: list[int]) -> int:
    """`CellDensity._pack` of one row, in Python ints: the same int64."""
    key = 0
    if len(values) <= _EXACT_DIMS:
        for v in values:
            key = key * _BASE + v % _BASE
        return key
    prime = int(_HASH_PRIME)
    for v in values:
        key = ((key ^ (v & _MASK)) * prime) & _MASK
    return key - (1 << 64) if key >= 1 << 63 else key


class _FastCounts:
    """A fitted `CellDensity`'s counts as dictionaries, for scoring a few rows at a time, and
    the counts of the rows of bins seen (a vessel's fixes fall in few cells and states)."""

    __slots__ = ("around", "cells", "joint", "offsets", "pure", "rows", "spatial_dims")

    def __init__(self, density: CellDensity) -> None:
        self.spatial_dims = int(density.spatial_dims_)
        self.cells = dict(
            zip(density.cell_keys_.tolist(), density.cell_counts_.tolist(), strict=True)
        )
        self.joint = dict(
            zip(density.state_keys_.tolist(), density.state_counts_.tolist(), strict=True)
        )
        self.pure = dict(
            zip(density.global_keys_.tolist(), density.global_counts_.tolist(), strict=True)
        )
        k = int(density.neighbourhood_)
        if k > 0:
            span = range(-k, k + 1)
            grid = np.array(np.meshgrid(*[span] * self.spatial_dims))
            self.offsets = grid.reshape(self.spatial_dims, -1).T.tolist()  # as `_cell_counts`
        else:
            self.offsets = []
        self.around: dict[tuple[int, ...], tuple[float, int]] = {}
        self.rows: dict[tuple[int, ...], tuple[float, int, int, int]] = {}

    def _cell(self, spatial: tuple[int, ...]) -> tuple[float, int]:
        """A cell's count averaged over its neighbourhood, and its own count."""
        own = self.cells.get(_pack_key(list(spatial)), 0)
        if not self.offsets:
            return float(own), own
        total = 0
        for offset in self.offsets:
            total += self.cells.get(
                _pack_key([b + o for b, o in zip(spatial, offset, strict=True)]), 0
            )
        return float(total) / len(self.offsets), own

    def _row(self, row: tuple[int, ...]) -> tuple[float, int, int, int]:
        """A row of bins' neighbourhood, cell, cell-and-state and state counts."""
        sd = self.spatial_dims
        spatial = row[:sd]
        cell = self.around.get(spatial)
        if cell is None:
            if len(self.around) >= _CACHED:
                self.around.clear()
            cell = self.around[spatial] = self._cell(spatial)
        state = list(row[sd:])
        if not state:
            return cell[0], cell[1], 0, 0
        joint = self.joint.get(_pack_key(list(row)), 0)
        return cell[0], cell[1], joint, self.pure.get(_pack_key(state), 0)

    def counts(self, bins: NDArray[np.int64]) -> NDArray[np.float64]:
        """Per row of bins, a column each: the neighbourhood, cell, cell-and-state and state
        counts (contiguous columns, as the vectorised lookups give)."""
        rows = self.rows
        if len(rows) >= _CACHED:
            rows.clear()
        get = rows.get
        found = []
        for key in map(tuple, bins.tolist()):
            got = get(key)
            if got is None:
                got = rows[key] = self._row(key)
            found.append(got)
        return np.array(found, dtype=np.float64).reshape(-1, 4).T.copy()


class NonNegativeLogisticRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """L2-penalised logistic regression with coefficients >= 0 (see the module docstring).

    Parameters
    ----------
    C : float
        Inverse strength of the L2 penalty on the coefficients (not on the intercept).
    class_weight : "balanced", dict or None
        Weights of the classes in the loss.
    max_iter : int
        L-BFGS-B iterations.
    tol : float
        Tolerance of the optimiser.
    """

    def __init__(
        self,
        C: float = 1.0,
        class_weight: Any = None,
        max_iter: int = 500,
        tol: float = 1e-6,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # the coefficients are held non-negative on purpose: on arbitrary data (the generic
        # checks' blobs) the model may not reach the accuracy of an unconstrained one
        tags.classifier_tags.poor_score = True
        return tags

    def _sample_weights(self, y: NDArray[Any]) -> NDArray[np.float64]:
        weights = np.ones(len(y), dtype=np.float64)
        if self.class_weight is None:
            return weights
        if self.class_weight == "balanced":
            classes, counts = np.unique(y, return_counts=True)
            per_class = {
                c: len(y) / (len(classes) * n) for c, n in zip(classes, counts, strict=True)
            }
        elif isinstance(self.class_weight, dict):
            per_class = dict(self.class_weight)
        else:
            raise ValueError("class_weight must be None, 'balanced' or a dict")
        for c, w in per_class.items():
            weights[y == c] = float(w)
        return weights

    def _fit_binary(
        self, X: NDArray[np.float64], target: NDArray[np.float64], weights: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], float]:
        n_features = X.shape[1]
        total = weights.sum()
        lam = 1.0 / (self.C * total) if total > 0 else 0.0

        def loss(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            w, b = params[:n_features], params[n_features]
            z = X @ w + b
            # log(1 + exp(z)) - t z, stably
            value = float(np.sum(weights * (np.logaddexp(0.0, z) - target * z)) / total)
            value += 0.5 * lam * float(w @ w) * total / total
            residual = weights * (expit(z) - target) / total
            grad = np.empty(n_features + 1)
            grad[:n_features] = X.T @ residual + lam * w
            grad[n_features] = residual.sum()
            return value, grad

        start = np.zeros(n_features + 1)
        bounds = [(0.0, None)] * n_features + [(None, None)]
        result = minimize(
            loss,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": self.max_iter, "gtol": self.tol},
        )
        self.n_iter_ = max(getattr(self, "n_iter_", 0), int(result.nit))
        return result.x[:n_features].copy(), float(result.x[n_features])

    def fit(self, X: ArrayLike, y: ArrayLike) -> NonNegativeLogisticRegression:
        data: NDArray[np.float64]
        target: NDArray[Any]
        data, target = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(target)
        if self.C <= 0:
            raise ValueError(f"C must be positive, got {self.C}")
        self.classes_ = np.unique(target)
        if len(self.classes_) < 2:
            raise ValueError(
                "needs samples of at least 2 classes; the data contains only one class: "
                f"{self.classes_[0]!r}"
            )
        weights = self._sample_weights(target)
        self.n_iter_ = 0
        if len(self.classes_) == 2:
            target = (target == self.classes_[1]).astype(np.float64)
            coef, intercept = self._fit_binary(data, target, weights)
            self.coef_ = coef.reshape(1, -1)
            self.intercept_ = np.array([intercept])
        else:
            coefs, intercepts = [], []
            for c in self.classes_:
                coef, intercept = self._fit_binary(data, (target == c).astype(np.float64), weights)
                coefs.append(coef)
                intercepts.append(intercept)
            self.coef_ = np.vstack(coefs)
            self.intercept_ = np.array(intercepts)
        return self

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self)
        data: NDArray[np.float64] = validate_data(self, X, dtype=np.float64, reset=False)
        scores: NDArray[np.float64] = data @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p: NDArray[np.float64] = expit(scores)
            return np.column_stack([1.0 - p, p])
        p = expit(scores)
        total = p.sum(axis=1, keepdims=True)
        total[total == 0] = 1.0
        out: NDArray[np.float64] = p / total
        return out

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        proba = self.predict_proba(X)
        labels: NDArray[Any] = self.classes_[np.argmax(proba, axis=1)]
        return labels
