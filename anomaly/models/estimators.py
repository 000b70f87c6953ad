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

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize  # type: ignore[import-untyped]
from scipy.special import expit  # type: ignore[import-untyped]
from sklearn.base import BaseEstimator, ClassifierMixin, OutlierMixin  # type: ignore[import-untyped]
from sklearn.utils.multiclass import check_classification_targets  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted, validate_data  # type: ignore[import-untyped]

from anomaly.models.density import DensityTable

__all__ = ["CellDensity", "NonNegativeLogisticRegression"]


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

    Attributes
    ----------
    table_ : DensityTable
        What was learned: the bins and counts, and the scoring (without scikit-learn).
    offset_ : float
        The score below which the decision function calls a sample an outlier.
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

    def fit(self, X: ArrayLike, y: Any = None) -> CellDensity:
        data: NDArray[np.float64] = validate_data(self, X, dtype=np.float64)
        if not 0.0 < self.contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {self.contamination}")
        if self.alpha <= 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if self.neighbourhood < 0 or self.state_prior < 0:
            raise ValueError("neighbourhood and state_prior cannot be negative")
        n_features = data.shape[1]
        widths = self._widths(data)
        periods = self._periods(n_features)
        spatial_dims = max(1, min(int(self.spatial_dims), n_features))
        state_bins = 1
        for j in range(spatial_dims, n_features):
            period = periods[j]
            if period:
                state_bins *= max(1, int(np.ceil(period / widths[j])))
            else:
                state_bins *= 16  # a nominal number of states for an open-ended feature
        self.table_ = DensityTable(
            bin_widths=widths,
            periods=periods,
            spatial_dims=spatial_dims,
            alpha=float(self.alpha),
            neighbourhood=int(self.neighbourhood),
            state_prior=float(self.state_prior),
            n_state_bins=state_bins,
        ).count(data)
        self.offset_ = float(np.percentile(self.table_.score(data), 100.0 * self.contamination))
        return self

    def _widths(self, data: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.bin_widths is None:
            span = data.max(axis=0) - data.min(axis=0)
            return np.where(span > 0, span / 10.0, 1.0)
        widths = np.asarray(self.bin_widths, dtype=np.float64)
        if widths.shape != (data.shape[1],) or np.any(widths <= 0):
            raise ValueError(f"bin_widths must be {data.shape[1]} positive numbers")
        return widths

    def _periods(self, n_features: int) -> list[float | None]:
        if self.periods is None:
            return [None] * n_features
        if len(self.periods) != n_features:
            raise ValueError(f"periods must have {n_features} entries")
        return [float(p) if p else None for p in self.periods]

    def score_array(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """`score_samples` without scikit-learn's input checks, for a float64 array of the
        fitted width (`DensityTable.score_array`)."""
        return self.table_.score_array(X)

    def score_samples(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log-probability of each sample's cell and state: higher is more usual."""
        check_is_fitted(self)
        data: NDArray[np.float64] = validate_data(self, X, dtype=np.float64, reset=False)
        return self.table_.score(data)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Negative for outliers (rarer than the `contamination` share of the training data)."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: ArrayLike) -> NDArray[np.int64]:
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)


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
