"""speed_anomaly: impossible or contradicted speeds; manoeuvring and scatter are not."""

from __future__ import annotations

from anomaly.detectors.speed_anomaly import SpeedAnomalyDetector
from anomaly.records import AlertType, Severity
from tests.detect_builders import Leg, Runner, build, final, hours, minutes, sail, statics

SHIP = 405_000_300


def run(points):
    return Runner(SpeedAnomalyDetector()).feed(points)


def ship(legs, ship_type: int | None = 70, **kw):
    return build(sail(SHIP, legs, **kw), statics(SHIP, ship_type, hours(6)))


def test_a_speed_impossible_for_a_cargo_ship_is_alerted_at_once() -> None:
    alerts = run(ship([Leg(hours(1), 12.0, 90.0, reported_sog=45.0)]))
    first = alerts[0]
    assert first.type == AlertType.SPEED_ANOMALY and first.extra["kind"] == "impossible"
    assert "impossible for a cargo ship" in first.reasons[0] and "above 30.0 kn" in first.reasons[0]
    assert first.detected_at - first.start <= 11 * 60_000  # one window


def test_a_high_speed_craft_or_a_fast_fishing_boat_is_not_impossible() -> None:
    assert run(ship([Leg(hours(1), 35.0, 90.0)], ship_type=40)) == []
    assert run(ship([Leg(hours(1), 12.0, 90.0)], ship_type=30)) == []


def test_reporting_faster_than_it_moves_is_inconsistent_and_ends_when_it_stops() -> None:
    legs = [Leg(hours(1), 10.0, 90.0), Leg(hours(1), 10.0, 90.0, reported_sog=20.0)]
    legs.append(Leg(hours(1), 10.0, 90.0))
    alerts = run(ship(legs))
    assert alerts[0].extra["kind"] == "over"
    assert "Reports 20.0 kn but its positions show 10." in alerts[0].reasons[0]
    assert alerts[0].start >= alerts[0].detected_at - 21 * 60_000  # after two windows
    last = final(alerts)[alerts[0].id]
    assert last.end is not None and last.revision >= 2


def test_reporting_stopped_while_moving_is_inconsistent() -> None:
    alerts = run(ship([Leg(hours(1), 9.0, 90.0, reported_sog=0.0)]))
    assert alerts and alerts[0].extra["kind"] == "under"
    assert "Reports 0.0 kn but its positions moved" in alerts[0].reasons[0]
    assert alerts[0].severity == Severity.MEDIUM


def test_a_vessel_turning_in_a_harbour_is_not_a_speed_anomaly() -> None:
    legs = []
    course = 0.0
    for _ in range(60):  # a full turn every 6 minutes at 5 kn: a 150 m circle
        legs.append(Leg(minutes(1), 5.0, course, every_s=5))
        course = (course + 60.0) % 360
    assert run(ship(legs, ship_type=52, scatter_m=5.0)) == []


def test_scatter_around_a_berth_is_not_a_speed_anomaly() -> None:
    legs = [Leg(hours(2), 0.0, 0.0, nav_status=5, every_s=10)]
    assert run(ship(legs, scatter_m=8.0)) == []


def test_a_single_glitch_is_not_a_speed_anomaly() -> None:
    reports = sail(SHIP, [Leg(hours(1), 12.0, 90.0)])
    reports[100] = reports[100]._replace(sog=80.0)
    assert run(build(reports, statics(SHIP, 70, hours(2)))) == []
