"""The custom estimators keep scikit-learn's whole estimator contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator

from anomaly.models.density import DensityTable
from anomaly.models.estimators import CellDensity, NonNegativeLogisticRegression

ESTIMATORS = [
    CellDensity(),
    CellDensity(bin_widths=None, periods=None, spatial_dims=1, contamination=0.1),
    CellDensity(neighbourhood=1, state_prior=5.0),
    NonNegativeLogisticRegression(),
    NonNegativeLogisticRegression(C=0.5, class_weight="balanced"),
]


def _name(check: Any) -> str:
    return str(getattr(check, "func", check).__name__)


# The whole estimator contract of scikit-learn, but for the array-API check: it needs array
# libraries Lookout does not use, and skips itself without them.
CONTRACT = [
    pytest.param(estimator, check, id=f"{estimator!r}-{_name(check)}")
    for template in ESTIMATORS
    for estimator, check in estimator_checks_generator(template, legacy=True)
    if _name(check) != "check_array_api_input"
]


@pytest.mark.parametrize(("estimator", "check"), CONTRACT)
def test_sklearn_contract(estimator: object, check: Any) -> None:
    check(estimator)


def test_cell_density_prefers_common_states() -> None:
    rng = np.random.default_rng(0)
    lanes = np.column_stack(
        [
            rng.uniform(10, 11, 2000),
            rng.uniform(90, 91, 2000),
            rng.normal(90, 5, 2000) % 360,
            rng.normal(12, 1, 2000),
        ]
    )
    model = CellDensity(bin_widths=(0.25, 0.25, 30.0, 3.0), periods=(None, None, 360.0, None))
    model.fit(lanes)
    usual = model.score_samples([[10.5, 90.5, 92.0, 12.0]])[0]
    wrong_way = model.score_samples([[10.5, 90.5, 270.0, 12.0]])[0]
    slow = model.score_samples([[10.5, 90.5, 92.0, 5.0]])[0]
    nowhere = model.score_samples([[15.0, 95.0, 92.0, 12.0]])[0]
    assert usual > slow and usual > wrong_way and usual > nowhere
    assert model.predict([[10.5, 90.5, 270.0, 12.0]])[0] == -1
    # course wraps round: 359 and 1 degrees share a bin edge-free neighbourhood in time
    assert model.score_samples([[10.5, 90.5, 361.0, 12.0]])[0] == pytest.approx(
        model.score_samples([[10.5, 90.5, 1.0, 12.0]])[0]
    )


def test_cell_density_counts_states_per_cell_not_per_longitude() -> None:
    """Two lanes on one meridian, 2 degrees apart: northbound in the south, southbound in the
    north. A course usual in one cell is not usual in the other."""
    rng = np.random.default_rng(3)

    def lane(lat: float, course: float) -> np.ndarray:
        return np.column_stack(
            [
                rng.uniform(lat, lat + 0.2, 2000),
                rng.uniform(90.0, 90.2, 2000),
                rng.normal(course, 5, 2000) % 360,
                rng.normal(12, 1, 2000),
            ]
        )

    model = CellDensity(bin_widths=(0.25, 0.25, 30.0, 3.0), periods=(None, None, 360.0, None))
    model.fit(np.vstack([lane(10.0, 0.0), lane(14.0, 180.0)]))
    southbound_in_north = [[14.1, 90.1, 180.0, 12.0]]
    northbound_in_north = [[14.1, 90.1, 0.0, 12.0]]
    usual, wrong_way = model.score_samples(southbound_in_north + northbound_in_north)
    assert usual > wrong_way + 5.0  # log-probabilities: over 100 times rarer (e**5)
    assert model.predict(northbound_in_north)[0] == -1
    assert model.score_array(np.asarray(northbound_in_north)) == pytest.approx(wrong_way)


def test_cell_density_keys_of_many_dimensions_keep_every_bin() -> None:
    """Beyond three dimensions the packed key is a hash: rows that differ in any one bin
    (here only in the first, by multiples of 16) still get different keys."""
    rows = np.array([[lat, 360, 3, 2] for lat in range(0, 16 * 50, 16)], dtype=np.int64)
    keys = DensityTable.pack(rows)
    assert len(set(keys.tolist())) == len(rows)


def test_cell_density_smoothing_falls_back_on_neighbours_and_usual_states() -> None:
    rng = np.random.default_rng(2)
    fixes = np.column_stack(
        [
            rng.uniform(10, 10.5, 3000),
            rng.uniform(90, 90.5, 3000),
            rng.normal(90, 5, 3000) % 360,
            rng.normal(12, 1, 3000),
        ]
    )
    widths = (0.25, 0.25, 30.0, 3.0)
    periods = (None, None, 360.0, None)
    plain = CellDensity(bin_widths=widths, periods=periods).fit(fixes)
    smooth = CellDensity(bin_widths=widths, periods=periods, neighbourhood=1, state_prior=20.0).fit(
        fixes
    )
    next_door = [[10.6, 90.3, 92.0, 12.0]]  # a cell next to the traffic, never visited
    far_away = [[14.0, 95.0, 92.0, 12.0]]
    assert smooth.score_samples(next_door)[0] > plain.score_samples(next_door)[0]
    assert smooth.score_samples(next_door)[0] > smooth.score_samples(far_away)[0]
    assert smooth.score_array(np.asarray(next_door)) == pytest.approx(
        smooth.score_samples(next_door)
    )


def test_non_negative_logistic_regression_never_learns_a_negative_weight() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (600, 3))
    # feature 2 lowers the odds in truth: the model may only ignore it
    y = (2.5 * X[:, 0] + 1.0 * X[:, 1] - 2.0 * X[:, 2] + rng.normal(0, 0.3, 600) > 0.8).astype(int)
    model = NonNegativeLogisticRegression(C=10.0).fit(X, y)
    assert np.all(model.coef_ >= 0)
    assert model.coef_[0, 0] > model.coef_[0, 1] > 0
    assert model.coef_[0, 2] == pytest.approx(0.0, abs=1e-6)
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "params",
    [
        {
            "bin_widths": (0.25, 0.25, 30.0, 4.0),
            "periods": (None, None, 360.0, None),
            "neighbourhood": 1,
            "state_prior": 20.0,
            "alpha": 0.5,
        },
        {"bin_widths": (0.25, 0.25, 30.0, 4.0), "periods": (None, None, 360.0, None)},
        {"bin_widths": (0.5, 0.5, 30.0, 4.0), "neighbourhood": 2, "spatial_dims": 1},
        {"bin_widths": (0.25, 0.25, 30.0, 4.0), "spatial_dims": 4, "neighbourhood": 1},
        {"bin_widths": (0.25, 0.25, 30.0, 4.0, 1.0), "state_prior": 5.0},  # a hashed key
    ],
)
def test_score_array_is_score_samples(params: dict[str, Any]) -> None:
    """The per-vessel path (counts looked up row by row, remembered) gives the numbers of the
    vectorised one, for cells and states seen in training or not, before and after a refit."""
    rng = np.random.default_rng(6)
    width = len(params["bin_widths"])

    def fixes(n: int, spread: float) -> np.ndarray:
        X = np.column_stack(
            [
                rng.normal(12, spread, n),
                rng.normal(90, spread, n),
                rng.uniform(-30, 400, n),
                rng.gamma(2.0, 4.0, n),
                rng.uniform(0, 9, n),
            ]
        )[:, :width]
        X[: n // 5, :2] = np.round(X[: n // 5, :2] * 4) / 4  # on the bin edges
        return X

    model = CellDensity(**params).fit(fixes(5000, 1.0))
    for refit in (False, True):
        if refit:
            model.fit(fixes(3000, 0.5))
        for size in [1, 2, 7, 23, 60, 600]:
            for _ in range(5):
                X = fixes(size, 2.0)
                np.testing.assert_allclose(
                    model.score_array(X), model.score_samples(X), rtol=1e-9, atol=0
                )
    assert "_fast" in vars(model.table_) and "_fast" not in model.table_.__getstate__()
