"""Every per-vessel detector: replays give the same alerts, revisions count up, and its state
saved at any moment and restored into a new detector carries on exactly as if nothing happened."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anomaly.blobs import BlobFormatError
from anomaly.detectors.distress import DistressDetector
from anomaly.detectors.drifting import DriftingDetector
from anomaly.detectors.gap import GapDetector
from anomaly.detectors.identity_anomaly import IdentityAnomalyDetector
from anomaly.detectors.loitering import LoiteringDetector
from anomaly.detectors.position_jump import PositionJumpDetector
from anomaly.detectors.speed_anomaly import SpeedAnomalyDetector
from anomaly.detectors.vessel import VesselDetector
from tests.detect_builders import Runner, final, mixed_scenario, signature
from tracks.records import TrackPoint

DETECTORS: list[type[VesselDetector]] = [  # type: ignore[type-arg]
    GapDetector,
    LoiteringDetector,
    DriftingDetector,
    DistressDetector,
    PositionJumpDetector,
    SpeedAnomalyDetector,
    IdentityAnomalyDetector,
]


@cache
def scenario() -> tuple[TrackPoint, ...]:
    return tuple(mixed_scenario())


@cache
def uninterrupted(cls: type[VesselDetector]) -> tuple[tuple[str, int, bytes], ...]:  # type: ignore[type-arg]
    return tuple(signature(Runner(cls()).feed(scenario())))


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_each_detector_finds_its_behaviour_in_the_scenario(cls) -> None:
    alerts = Runner(cls()).feed(scenario())
    assert alerts, f"{cls.__name__} raised nothing"
    by_id: dict[str, list[int]] = {}
    for alert in alerts:
        assert alert.type == cls.alert_type
        assert alert.reasons and all(r.endswith(".") for r in alert.reasons)
        assert alert.rule.id == cls.alert_type.value
        by_id.setdefault(alert.id, []).append(alert.revision)
    for revisions in by_id.values():
        assert revisions == list(range(1, len(revisions) + 1))  # one alert, revised in order


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_replaying_the_same_points_gives_identical_alerts(cls) -> None:
    assert signature(Runner(cls()).feed(scenario())) == list(uninterrupted(cls))


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
@settings(max_examples=12, deadline=None)
@given(share=st.floats(min_value=0.02, max_value=0.98))
def test_state_saved_mid_stream_and_restored_gives_identical_alerts(cls, share: float) -> None:
    points = scenario()
    cut = int(len(points) * share)
    runner = Runner(cls())
    runner.feed(points[:cut], finish=False)
    before = runner.detector
    after = cls()
    for mmsi in {p.mmsi for p in points[:cut]}:
        blob = before.state_of(mmsi)
        if blob is not None:
            after.restore(mmsi, blob)
    runner.detector = after
    runner.feed(points[cut:])
    assert signature(runner.alerts) == list(uninterrupted(cls))


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_forgetting_a_vessel_and_unknown_states(cls) -> None:
    detector = cls()
    Runner(detector).feed(scenario()[:2000])
    mmsi = scenario()[0].mmsi
    assert detector.state_of(999_999_998) is None
    detector.forget(mmsi)
    assert detector.state_of(mmsi) is None
    with pytest.raises(BlobFormatError):
        detector.restore(mmsi, b"\x07garbage")


def test_alert_ids_do_not_depend_on_the_revision_or_the_run() -> None:
    a = final(Runner(GapDetector()).feed(scenario()))
    b = final(Runner(GapDetector()).feed(scenario()))
    assert set(a) == set(b)
