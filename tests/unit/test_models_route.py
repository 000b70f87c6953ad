"""The model of normal traffic (route anomalies): training on hand-built history, scoring,
the compact forest, the detector, and the bundled default models."""

from __future__ import annotations

import logging
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Final

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

from anomaly.detectors.base import RuleConfig
from anomaly.detectors.route_anomaly import RouteAnomalyDetector
from anomaly.models.density import DensityTable
from anomaly.models.features import FEATURE_NAMES, TrackWindow, window_features
from anomaly.models.risk import DEFAULT_MODEL as RISK_DEFAULT
from anomaly.models.route import (
    DEFAULT_MODEL as ROUTE_DEFAULT,
)
from anomaly.models.route import (
    CompactForest,
    RouteModel,
    load_model,
    save_model,
    train_route_model,
)
from anomaly.records import AlertType
from tracks.records import NEW_SEGMENT, StaticFields, TrackPoint

T0 = 1_714_521_600_000
MIN = 60_000
CARGO = StaticFields(name="OCEAN STAR", ship_type=70, to_bow=150, to_stern=30)
FISHING = StaticFields(name="FV NOOR", ship_type=30, to_bow=15, to_stern=5)


def track(
    mmsi: int,
    lat: float,
    lon: float,
    speed: float,
    course: float,
    hours: float,
    static: StaticFields,
    ais_class: str = "A",
    wobble: float = 1.0,
    seed: int = 0,
    turn_every: int = 0,
) -> list[TrackPoint]:
    rng = random.Random(seed)
    out = []
    for i in range(int(hours * 60)):
        if turn_every and i and i % turn_every == 0:
            course = (course + 180) % 360
        c = course + rng.gauss(0, wobble)
        lat += speed / 60 / 60 * math.cos(math.radians(c))
        lon += speed / 60 / 60 * math.sin(math.radians(c)) / math.cos(math.radians(lat))
        ts = T0 + i * MIN
        out.append(
            TrackPoint(
                mmsi,
                ts,
                lat,
                lon,
                max(0.0, speed + rng.gauss(0, 0.2)),
                c % 360,
                round(c) % 360,
                0,
                None,
                False,
                1,
                ais_class,
                "ship",
                "PA",
                "t",
                ts,
                1,
                60.0,
                None,
                None,
                None,
                (NEW_SEGMENT,) if i == 0 else (),
                static,
            )
        )
    return out


def history() -> list[list[TrackPoint]]:
    tracks = []
    for i in range(40):  # a lane, both ways, 11-14 kn
        course = 160.0 if i % 2 else 340.0
        start = (15.0, 90.0) if i % 2 else (12.0, 91.1)
        tracks.append(
            track(
                300_000_000 + i,
                start[0] + random.Random(i).uniform(-0.05, 0.05),
                start[1],
                11 + (i % 4),
                course,
                8,
                CARGO,
                seed=i,
            )
        )
    for i in range(20):  # trawlers on a ground
        tracks.append(
            track(
                405_000_000 + i,
                13.5 + 0.01 * i,
                89.0,
                3.2,
                90.0,
                8,
                FISHING,
                wobble=6.0,
                seed=100 + i,
                turn_every=120,
            )
        )
    return tracks


def shore(lat: float, lon: float) -> float:
    return 80.0


@pytest.fixture(scope="module")
def model() -> RouteModel:
    return train_route_model(
        history(),
        distance_to_shore_nm=shore,
        window_h=2.0,
        step_min=20,
        n_estimators=40,
        seed=1,
        trained_at="2024-06-01T00:00:00Z",
    )


def window_of(points: list[TrackPoint], hours: float = 2.0) -> TrackWindow:
    w = TrackWindow(hours * 3600, 60)
    for p in points:
        w.add(p)
    return w


def test_window_features_read_a_track() -> None:
    w = window_of(track(1, 13.0, 90.0, 12.0, 90.0, 2, CARGO))
    f = dict(zip(FEATURE_NAMES, window_features(w, shore), strict=True))
    assert f["speed_mean"] == pytest.approx(12.0, abs=0.2)
    assert f["straightness"] > 0.99 and f["slow_share"] == 0.0
    assert f["cargo_tanker"] == 1.0 and f["class_b"] == 0.0 and f["length_m"] == 180
    assert f["reports_per_h"] == pytest.approx(60, abs=1)


def test_unusual_tracks_score_higher(model: RouteModel) -> None:
    lane = window_of(track(9, 14.0, 90.35, 12.0, 160.0, 2, CARGO, seed=5))
    across = window_of(track(8, 13.0, 89.6, 5.5, 75.0, 2, StaticFields(), ais_class="B", seed=6))
    normal = model.score(model.vector(lane, shore))
    odd = model.score(model.vector(across, shore))
    assert normal < model.threshold < odd
    reasons = model.explain(model.vector(across, shore))
    assert reasons and any("rarely" in r or "speed" in r.lower() for r in reasons)


def test_compact_forest_is_the_pipeline() -> None:
    """The forest a route model keeps scores as the scikit-learn pipeline it was made from."""
    rng = np.random.default_rng(3)
    X = rng.normal(0, 1, (600, 6)) * [1, 5, 0.1, 20, 1, 3] + [0, 10, 0, 100, 5, 0]
    pipeline = make_pipeline(
        StandardScaler(), IsolationForest(n_estimators=40, max_samples=128, random_state=1)
    ).fit(X)
    compact = CompactForest.from_pipeline(pipeline)
    for x in np.vstack([X[:20], rng.normal(0, 30, (20, 6))]):
        assert compact.anomaly_score(x) == pytest.approx(
            -pipeline.score_samples(x.reshape(1, -1))[0], abs=1e-12
        )


def test_save_load_and_version(model: RouteModel, tmp_path: Path) -> None:
    assert model.version.startswith("route-20240601T000000Z-")
    again = load_model(save_model(model, tmp_path / "route.joblib"), "route_anomaly")
    w = window_of(track(9, 14.0, 90.35, 12.0, 160.0, 2, CARGO, seed=5))
    assert again.score(again.vector(w, shore)) == pytest.approx(model.score(model.vector(w, shore)))
    assert (tmp_path / "route.joblib").stat().st_size < 400_000


def test_a_route_model_of_format_1_must_be_retrained(model: RouteModel, tmp_path: Path) -> None:
    """Format 1 counted a state per longitude strip, not per cell: its counts cannot be read
    with today's keys. A format-1 risk model, which did not change, still loads."""
    old = tmp_path / "old.joblib"
    joblib.dump({"format": 1, "kind": "route_anomaly", "model": model}, old)
    with pytest.raises(ValueError, match=r"format 1.*retrain"):
        load_model(old, "route_anomaly")
    risk = load_model(RISK_DEFAULT, "migrant_risk")
    joblib.dump({"format": 1, "kind": "migrant_risk", "model": risk}, old)
    assert load_model(old, "migrant_risk").version == risk.version


ROOT: Final = Path(__file__).resolve().parents[2]
FORMAT_2: Final = ROOT / "tests" / "data" / "models"


def test_models_of_format_2_are_upgraded_as_they_load() -> None:
    """The bundled models as they were in format 2 (scikit-learn objects inside): they load,
    and score as the bundled format-3 files, which the same training command wrote (on
    another machine: levels learned may differ in the last digit)."""
    route = load_model(FORMAT_2 / "route-format2.joblib", "route_anomaly")
    bundled = load_model(ROUTE_DEFAULT, "route_anomaly")
    assert route.version == bundled.version, "the bundled model was retrained: refresh the file"
    assert isinstance(route.density, DensityTable) and isinstance(route.forest, CompactForest)
    assert not hasattr(route, "compact")
    for w in random_windows(40, seed=2):
        vector = route.vector(w, shore)
        np.testing.assert_allclose(vector, bundled.vector(w, shore), rtol=1e-12, atol=0)
        assert route.score(vector) == pytest.approx(bundled.score(vector), rel=1e-12, abs=1e-12)
    risk = load_model(FORMAT_2 / "risk-format2.joblib", "migrant_risk")
    bundled_risk = load_model(RISK_DEFAULT, "migrant_risk")
    assert risk.version == bundled_risk.version
    assert not hasattr(risk, "estimator") and len(risk.folds) == len(bundled_risk.folds) == 3
    rng = np.random.default_rng(4)
    for x in rng.uniform(0, 1, (20, len(risk.indicators))):
        assert risk.proba(x) == pytest.approx(bundled_risk.proba(x), rel=1e-12)


def test_the_bundled_models_load_without_scikit_learn() -> None:
    """Scoring needs no scikit-learn: a detection process that loads both bundled models does
    not import it (about a second of start-up)."""
    code = (
        "import sys\n"
        "from anomaly.models.route import load_model, DEFAULT_MODEL\n"
        "from anomaly.models.risk import DEFAULT_MODEL as RISK\n"
        "route = load_model(DEFAULT_MODEL, 'route_anomaly')\n"
        "risk = load_model(RISK, 'migrant_risk')\n"
        "print(risk.proba([1.0] * len(risk.indicators)), route.forest.anomaly_score(\n"
        "    [0.0] * len(route.forest.mean)))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    scores, imported = done.stdout.splitlines()
    assert 0.0 < float(scores.split()[0]) <= 1.0 and 0.0 < float(scores.split()[1]) <= 1.0
    assert imported == "[]"


def test_detector_flags_the_odd_track_only(model: RouteModel) -> None:
    config = RuleConfig(
        id="route_anomaly", version=1, params={"min_fixes": 20, "min_window_h": 1.0}
    )
    detector = RouteAnomalyDetector(config, model=model)
    detector._shore = shore
    odd = track(8, 13.0, 89.6, 5.5, 75.0, 4, StaticFields(), ais_class="B", seed=6)
    lane = track(9, 14.0, 90.35, 12.0, 160.0, 4, CARGO, seed=5)
    alerts = [a for p in odd for a in detector.update(p)]
    quiet = [a for p in lane for a in detector.update(p)]
    assert alerts and not quiet
    assert alerts[0].type is AlertType.ROUTE_ANOMALY and alerts[0].model_version == model.version
    assert "unlike usual traffic" in alerts[0].reasons[0]


def test_without_a_model_the_detector_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    config = RuleConfig(id="route_anomaly", version=1, params={"model": "/nope/route.joblib"})
    with caplog.at_level(logging.WARNING):
        detector = RouteAnomalyDetector(config)
    assert detector.model is None and "stays silent" in caplog.text
    assert not [
        a for p in track(8, 13.0, 89.6, 5.5, 75.0, 3, StaticFields()) for a in detector.update(p)
    ]


def test_bundled_default_models_load() -> None:
    route = load_model(ROUTE_DEFAULT, "route_anomaly")
    risk = load_model(RISK_DEFAULT, "migrant_risk")
    assert route.version.startswith("route-") and risk.version.startswith("risk-")
    assert 0 < risk.threshold < 1 and route.threshold == 0.0
    assert ROUTE_DEFAULT.stat().st_size + RISK_DEFAULT.stat().st_size < 500_000


# -- the evaluation's fast paths give the numbers of the plain numpy code they replaced --------


def _reference_features(window: TrackWindow, distance_to_shore_nm: object) -> np.ndarray:
    """`window_features` as first written: one numpy call per number."""
    from anomaly.models.features import (
        _haversine_m,
        circular_spread_deg,
        local_hour,
        ship_group,
    )

    m = window.array()
    n = m.shape[0]
    ts, lat, lon, sog, cog = m[:, 0], m[:, 1], m[:, 2], m[:, 3], m[:, 4]
    speeds = sog[~np.isnan(sog)]
    if speeds.size == 0:
        speeds = np.zeros(1)
    hours = max((ts[-1] - ts[0]) / 3_600_000.0, 1.0 / 60.0)
    moving = (~np.isnan(cog)) & (np.nan_to_num(sog) >= 1.0)
    courses = cog[moving]
    turn = 0.0
    if courses.size >= 2:
        turn = float(np.abs((np.diff(courses) + 540.0) % 360.0 - 180.0).sum()) / hours
    straight, gap = 0.0, 0.0
    if n >= 2:
        path = float(_haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())
        net = float(_haversine_m(lat[:1], lon[:1], lat[-1:], lon[-1:])[0])
        straight = net / path if path > 50.0 else 0.0
        gap = float(np.diff(ts).max()) / 3_600_000.0
    shore_nm = 0.0
    if callable(distance_to_shore_nm):
        picks = np.linspace(0, n - 1, min(n, 3)).astype(int)
        shore_nm = float(
            np.mean([distance_to_shore_nm(float(lat[i]), float(lon[i])) for i in picks])
        )
    hour = local_hour(int(ts[-1]), float(lon[-1]))
    static = window.static
    group = ship_group(static.ship_type)
    return np.array(
        [
            float(speeds.mean()),
            float(speeds.std()),
            float(np.percentile(speeds, 90)),
            float((speeds < 2.0).mean()),
            turn,
            circular_spread_deg(courses),
            straight,
            gap,
            n / hours,
            math.log1p(min(shore_nm, 999.0)),
            math.sin(2 * math.pi * hour / 24.0),
            math.cos(2 * math.pi * hour / 24.0),
            1.0 if window.ais_class == "B" else 0.0,
            1.0 if static.name is not None or static.ship_type is not None else 0.0,
            1.0 if group == "fishing" else 0.0,
            1.0 if group == "cargo_tanker" else 0.0,
            1.0 if group == "passenger" else 0.0,
            1.0 if group in ("unknown", "other") else 0.0,
            float((static.to_bow or 0) + (static.to_stern or 0)),
        ]
    )


def _reference_density_rows(window_array: np.ndarray) -> np.ndarray:
    lat, lon, sog, cog = (window_array[:, i] for i in (1, 2, 3, 4))
    speed = np.nan_to_num(sog, nan=0.0)
    course = np.where(np.isnan(cog) | (speed < 1.0), 0.0, cog)
    return np.column_stack([lat, lon, course, speed])


def random_windows(count: int, seed: int = 0) -> list[TrackWindow]:
    """Windows of every kind: short and long, in the Bay and anywhere, on bin edges, stopped,
    with speeds and courses missing, odd kinds of vessel."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.choice([2, 3, 5, 10, 20, 21, 60, 179, 180, int(rng.integers(2, 200))]))
        every = 60_000 * (1 + 30 * (rng.random() < 0.2))
        ts = T0 + np.cumsum(rng.integers(60_000, every + 1, n)).astype(np.float64)
        if rng.random() < 0.5:
            lat0, lon0 = rng.uniform(5, 23), rng.uniform(80, 95)
        else:
            lat0, lon0 = rng.uniform(-80, 80), rng.uniform(-180, 180)
        step = rng.uniform(0, 0.02)
        lat = lat0 + np.cumsum(rng.normal(0, step, n))
        lon = lon0 + np.cumsum(rng.normal(0, step, n))
        if rng.random() < 0.2:
            lat, lon = np.round(lat * 4) / 4, np.round(lon * 4) / 4
        sog = [rng.uniform(0, 25, n), rng.uniform(0, 2, n), np.round(rng.uniform(0, 20, n))][
            int(rng.integers(0, 3))
        ]
        cog = [rng.uniform(0, 360, n), np.round(rng.uniform(0, 12, n)) * 30.0, np.full(n, 360.0)][
            int(rng.integers(0, 3))
        ]
        for column in (sog, cog):
            if rng.random() < 0.3:
                column[rng.random(n) < rng.random()] = np.nan
        w = TrackWindow(3 * 3600, 60)
        w.load(np.column_stack([ts, lat, lon, sog, cog, rng.uniform(0, 360, n)]).ravel().tolist())
        w.static = StaticFields(
            name=None if rng.random() < 0.3 else "X",
            ship_type=[None, 0, 30, 70, 60, 52, 99][int(rng.integers(0, 7))],
            to_bow=None if rng.random() < 0.3 else int(rng.integers(0, 200)),
            to_stern=int(rng.integers(0, 50)),
        )
        w.ais_class = ["A", "B", None][int(rng.integers(0, 3))]
        out.append(w)
    return out


def test_window_features_are_those_of_the_plain_code() -> None:
    def coast(lat: float, lon: float) -> float:
        return abs(lat - 20.0) * 60 + abs(lon - 88.0)

    for i, w in enumerate(random_windows(400)):
        for shore_of in (None, coast):
            got = window_features(w, shore_of)
            want = _reference_features(w, shore_of)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=0, err_msg=f"window {i}")


def test_the_bundled_model_scores_windows_as_the_plain_code() -> None:
    """The window's density through `DensityTable.score_array` (counts looked up row by row)
    against `score` (vectorised) on the rows the plain code made; then the vector."""
    from anomaly.models.route import _p10

    route = load_model(ROUTE_DEFAULT, "route_anomaly")
    for i, w in enumerate(random_windows(400, seed=1)):
        rows = _reference_density_rows(w.array()[::3])
        want = route.density.score(rows)
        np.testing.assert_allclose(
            route.density.score_array(rows), want, rtol=1e-9, atol=0, err_msg=f"window {i}"
        )
        vector = route.vector(w, shore)
        reference = np.concatenate([_reference_features(w, shore), [want.mean(), _p10(want)]])
        np.testing.assert_allclose(vector, reference, rtol=1e-9, atol=0, err_msg=f"window {i}")
        assert route.score(vector) == pytest.approx(route.score(reference), rel=1e-9, abs=0)


def test_percentile_is_numpys() -> None:
    from anomaly.models.features import _percentile_linear

    rng = np.random.default_rng(4)
    for n in [*range(1, 40), 179, 180, 181]:
        for values in (rng.uniform(0, 25, n), np.round(rng.uniform(0, 5, n)), np.zeros(n)):
            for q in (10.0, 50.0, 90.0, 100.0):
                assert _percentile_linear(values, q) == float(np.percentile(values, q))
