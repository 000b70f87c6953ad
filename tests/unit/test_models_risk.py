"""The migrant-risk indicators, model and detector on hand-built tracks and a toy geography."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV  # type: ignore[import-untyped]

from anomaly.detectors.base import RuleConfig
from anomaly.detectors.migrant_risk import MigrantRiskDetector
from anomaly.models.estimators import NonNegativeLogisticRegression
from anomaly.models.risk import (
    INDICATORS,
    Coast,
    RiskGeography,
    RiskModel,
    VesselRisk,
    choose_threshold,
    risk_samples,
    train_risk_model,
)
from anomaly.models.route import load_model, save_model
from anomaly.records import AlertType
from tracks.records import NEW_SEGMENT, StaticFields, TrackPoint

T0 = 1_714_521_600_000
MIN = 60_000
H = 3_600_000

# A toy sea: a departure area south of 21 N between 91.5 and 92.5 E, a destination coast of
# Indonesia along 5 N, every point 60 nm from shore.
COAST = Coast("dest-id", "Aceh", "ID", np.full(50, 5.0), np.linspace(94.0, 98.0, 50))


def departure_at(lat: float, lon: float) -> tuple[str, str, str | None] | None:
    if 20.5 <= lat <= 21.0 and 91.5 <= lon <= 92.5:
        return "dep", "Teknaf coast", "BD"
    return None


GEO = RiskGeography(departure_at, lambda lat, lon: 60.0, (COAST,))
BOAT = StaticFields()  # no static data at all
TRAWLER = StaticFields(name="FV SAGOR", ship_type=30, to_bow=30, to_stern=12)


def point(
    mmsi: int,
    ts: int,
    lat: float,
    lon: float,
    sog: float,
    cog: float,
    *,
    ais_class: str = "B",
    static: StaticFields = BOAT,
    mmsi_class: str = "ship",
    first: bool = False,
) -> TrackPoint:
    return TrackPoint(
        mmsi,
        ts,
        lat,
        lon,
        sog,
        cog,
        None,
        None,
        None,
        False,
        18 if ais_class == "B" else 1,
        ais_class,
        mmsi_class,
        "BD",
        "test",
        ts,
        1,
        None,
        None,
        None,
        None,
        (NEW_SEGMENT,) if first else (),
        static,
    )


def voyage(
    mmsi: int = 405_000_001, hours: float = 14.0, speed: float = 6.0, course: float = 170.0
) -> list[TrackPoint]:
    """Loading near the beach inside the departure area, then a steady run south-south-east."""
    out, lat, lon, ts = [], 20.8, 92.0, T0
    for i in range(6):  # 30 min stopped at the beach
        out.append(point(mmsi, ts, lat, lon, 0.2, 0.0, first=i == 0))
        ts += 5 * MIN
    step_h = 2 / 60
    for _ in range(int(hours / step_h)):
        lat -= speed * step_h / 60 * math.cos(math.radians(course))
        lon += speed * step_h / 60 * math.sin(math.radians(course)) / math.cos(math.radians(lat))
        out.append(point(mmsi, ts, lat, lon, speed, course))
        ts += int(step_h * H)
    return out


def trawling(mmsi: int = 405_000_002, hours: float = 14.0) -> list[TrackPoint]:
    """Tows back and forth at 3 kn inside the departure area (type 30, class A, static)."""
    out, lat, lon, ts = [], 20.7, 92.2, T0
    course = 160.0
    for i in range(int(hours * 30)):
        if i % 60 == 0:
            course = (course + 180) % 360
        lat -= 3.0 * (2 / 60) / 60 * math.cos(math.radians(course))
        out.append(
            point(mmsi, ts, lat, lon, 3.0, course, ais_class="A", static=TRAWLER, first=i == 0)
        )
        ts += 2 * MIN
    return out


def indicators_after(points: list[TrackPoint]) -> tuple[np.ndarray, dict[str, object]]:
    st = VesselRisk(points[0].mmsi)
    for p in points:
        st.update(p, GEO)
    return st.indicators(GEO)


def test_indicators_of_a_crossing_and_of_a_trawler() -> None:
    x, facts = indicators_after(voyage())
    values = dict(zip(INDICATORS, x, strict=True))
    assert values["departed"] == 1.0 and values["small_boat"] == 1.0
    assert values["class_b_or_no_static"] == 1.0
    assert values["steady_transit"] == pytest.approx(1.0)
    assert values["toward_foreign_coast"] == pytest.approx(1.0)
    assert facts["coast_country"] == "Indonesia" and facts["departure"] == "Teknaf coast"
    assert 5.5 < facts["speed"] < 6.5  # type: ignore[operator]
    x, _ = indicators_after(trawling())
    values = dict(zip(INDICATORS, x, strict=True))
    assert values["departed"] == 0.0 and values["steady_transit"] == 0.0
    assert values["class_b_or_no_static"] == 0.0 and values["small_boat"] == 1.0


def test_frequent_reports_are_sampled_every_two_minutes(model: RiskModel) -> None:
    """A class A set reporting every 10 s: the detector keeps a sample every 2 min all along
    (the fast path for the reports in between must not starve it)."""
    points = []
    for p in voyage(405_000_777, hours=6):
        points.extend(p._replace(ts=p.ts + k * 10_000) for k in range(12) if k == 0 or p.sog > 1)
    detector = MigrantRiskDetector(rule(), model=model)
    detector.geo = GEO
    for p in points:
        detector.update(p)
    risk = detector._vessels[405_000_777].risk
    spans = np.diff(np.frombuffer(risk.samples, dtype=np.float64).reshape(-1, 5)[:, 0])
    assert len(spans) > 100 and spans[6:].max() <= 3 * 60_000  # after 30 min at the beach


def test_state_round_trip() -> None:
    points = voyage()
    st = VesselRisk(points[0].mmsi)
    for p in points[:200]:
        st.update(p, GEO)
    copy = VesselRisk.from_json(st.to_json())
    for p in points[200:]:
        st.update(p, GEO)
        copy.update(p, GEO)
    assert np.array_equal(st.indicators(GEO)[0], copy.indicators(GEO)[0])


Samples = tuple[np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def samples() -> Samples:
    tracks = [(405_000_100 + i, voyage(405_000_100 + i, course=165 + 3 * i)) for i in range(6)]
    tracks += [(405_000_200 + i, trawling(405_000_200 + i)) for i in range(12)]
    risky = {m for m, _ in tracks[:6]}
    return risk_samples(tracks, GEO, lambda mmsi, ts: mmsi in risky)


@pytest.fixture(scope="module")
def model(samples: Samples) -> RiskModel:
    X, y, groups = samples
    return train_risk_model(X, y, groups, calibration="none", trained_at="2024-06-01T00:00:00Z")


def test_model_scores_explains_and_round_trips(
    model: RiskModel, samples: Samples, tmp_path: Path
) -> None:
    x, facts = indicators_after(voyage())
    p = model.proba(x)
    assert p > 0.9
    X, y, _ = samples
    fitted = NonNegativeLogisticRegression(C=1.0, class_weight="balanced").fit(X, y)
    assert p == pytest.approx(fitted.predict_proba(x.reshape(1, -1))[0, 1])
    contributions = dict(model.contributions(x))
    assert all(delta >= 0 for delta in contributions.values())  # indicators only raise risk
    base = model.proba(np.zeros(len(INDICATORS)))
    assert sum(contributions.values()) == pytest.approx(p - base)  # the shares add up
    reasons = model.reasons(x, facts)
    assert reasons and all("(+0." in r or "(+1." in r for r in reasons)
    assert model.version.startswith("risk-20240601T000000Z-")
    path = save_model(model, tmp_path / "risk.joblib")
    again = load_model(path, "migrant_risk")
    assert again.proba(x) == pytest.approx(p)
    with pytest.raises(ValueError):
        load_model(path, "route_anomaly")


def test_the_calibrated_model_is_scikit_learns_in_closed_form(samples: Samples) -> None:
    """The folds a model keeps give the probabilities of the sigmoid-calibrated estimator it
    was fitted as; other calibrations, which have no such form, are refused."""
    X, y, _ = samples
    model = train_risk_model(X, y, threshold=0.5, trained_at="2024-06-01T00:00:00Z")
    assert len(model.folds) == 3
    base = NonNegativeLogisticRegression(C=1.0, class_weight="balanced")
    calibrated = CalibratedClassifierCV(base, method="sigmoid", cv=3).fit(X, y)
    rng = np.random.default_rng(8)
    for x in np.vstack([X[::7], rng.uniform(0, 1, (20, len(INDICATORS)))]):
        assert model.proba(x) == pytest.approx(
            calibrated.predict_proba(x.reshape(1, -1))[0, 1], abs=1e-12
        )
    with pytest.raises(ValueError, match="calibration"):
        train_risk_model(X, y, calibration="isotonic")


def test_threshold_choice_keeps_false_vessels_rare() -> None:
    p = np.array([0.9, 0.95, 0.2, 0.3, 0.85, 0.9, 0.1, 0.1])
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    groups = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    level, quality = choose_threshold(p, y, groups, persist=2, max_false_share=0.0)
    assert level == 0.9 and quality["vessel_recall"] == 1.0


def rule(**params: object) -> RuleConfig:
    return RuleConfig(id="migrant_risk", version=1, params=params)


def test_detector_alerts_on_the_crossing_only(model: RiskModel) -> None:
    detector = MigrantRiskDetector(rule(eval_every_min=15), geo=None, model=model)
    detector.geo = GEO
    alerts = [a for p in voyage(405_000_900) for a in detector.update(p)]
    quiet = [a for p in trawling(405_000_901) for a in detector.update(p)]
    assert alerts and not quiet
    first = alerts[0]
    assert first.type is AlertType.MIGRANT_RISK and first.model_version == model.version
    assert first.reasons[0].startswith("Migrant-risk score")
    assert any("Left the departure area (Teknaf coast)" in r for a in alerts for r in a.reasons)
    assert len({a.id for a in alerts}) == 1  # one episode, revised
    assert [a.revision for a in alerts] == list(range(1, len(alerts) + 1))


def test_an_hour_that_looks_like_a_crossing_is_not_enough() -> None:
    """A boat that runs steadily out to sea and then stops (a fishing trip) is not alerted on
    the default persistence; one that keeps going is. The model scores steady passage only:
    over the threshold after an hour of it."""
    from anomaly.models.risk import STEADY_FULL_H

    weights = [0.0] * len(INDICATORS)
    weights[INDICATORS.index("steady_transit")] = 40.0
    steady_only = RiskModel(
        "steady-only",
        "2024-06-01T00:00:00Z",
        [(tuple(weights), -40.0 / STEADY_FULL_H, -1.0, 0.0)],
        threshold=0.5,
    )

    def alerts(out_h: float, **params: object) -> list[object]:
        points = voyage(405_000_990, hours=out_h)
        last = points[-1]
        points += [
            point(last.mmsi, last.ts + i * 2 * MIN, last.lat or 0, last.lon or 0, 0.3, 0.0)
            for i in range(1, 120)
        ]
        detector = MigrantRiskDetector(rule(**params), model=steady_only)
        detector.geo = GEO
        return [a for p in points for a in detector.update(p)]

    assert alerts(2.5, persist=2)  # an hour and a half over the threshold
    assert not alerts(2.5)
    assert alerts(6.0)


def test_detector_state_survives_a_restart(model: RiskModel) -> None:
    points = voyage(405_000_950)

    def fresh() -> MigrantRiskDetector:
        d = MigrantRiskDetector(rule(), model=model)
        d.geo = GEO
        return d

    whole = fresh()
    expected = [a.to_dict() for p in points for a in whole.update(p)]
    first, second = fresh(), fresh()
    got = [a.to_dict() for p in points[:150] for a in first.update(p)]
    blob = first.state_of(points[0].mmsi)
    assert blob is not None
    second.restore(points[0].mmsi, blob)
    got += [a.to_dict() for p in points[150:] for a in second.update(p)]
    for a, b in zip(got, expected, strict=True):
        a.pop("evidence"), b.pop("evidence")  # the evidence trail restarts with the stage
    assert [a["id"] for a in got] == [b["id"] for b in expected]
    assert got == expected


def test_without_a_model_file_the_detector_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        detector = MigrantRiskDetector(rule(model="/nonexistent/risk.joblib"))
    assert detector.model is None
    assert "stays silent" in caplog.text
    assert not [a for p in voyage() for a in detector.update(p)]
    assert MigrantRiskDetector(rule(model="")).model is None
