"""distress: SART, MOB and EPIRB transmissions and status 14 are critical at once; tests are not."""

from __future__ import annotations

import pytest

from anomaly.detectors.distress import DistressDetector
from anomaly.records import AlertType, Severity, Tlp
from tests.detect_builders import Leg, Runner, build, final, hours, minutes, sail, statics
from tests.track_builders import ms


def run(points):
    return Runner(DistressDetector()).feed(points)


def device(mmsi: int, kind: str, status: int | None = 14, drift_h: float = 1.0):
    legs = [Leg(hours(drift_h), 1.0, 135.0, nav_status=status, every_s=60, no_heading=True)]
    return build(sail(mmsi, legs, mmsi_class=kind, flag=None))


@pytest.mark.parametrize(
    ("mmsi", "kind", "words"),
    [
        (970_010_001, "sart", "AIS-SART"),
        (972_010_001, "mob", "man-overboard"),
        (974_010_001, "epirb", "EPIRB-AIS"),
    ],
)
def test_a_distress_device_is_critical_from_its_first_report(mmsi, kind, words) -> None:
    points = device(mmsi, kind)
    alerts = run(points)
    first = alerts[0]
    assert first.type == AlertType.DISTRESS and first.severity == Severity.CRITICAL
    assert first.tlp == Tlp.GREEN and first.score == 1.0
    assert first.detected_at == first.start == points[0].ts
    assert words in first.reasons[0] and str(mmsi) in first.reasons[0]
    assert [a.revision for a in alerts] == list(range(1, len(alerts) + 1))
    assert len({a.id for a in alerts}) == 1


def test_the_alert_follows_the_drift_and_ends_when_the_device_falls_silent() -> None:
    points = device(970_010_002, "sart", drift_h=1.0)
    runner = Runner(DistressDetector())
    runner.feed(points, finish=False)
    assert all(a.end is None for a in runner.alerts)
    assert len(runner.alerts) >= 3  # revised as it drifts
    assert any("Drifting 1.0 kn toward 135°" in r for r in runner.alerts[-1].reasons)
    runner.advance_to(points[-1].ts + ms(minutes(179)) - ms(0))
    assert runner.alerts[-1].end is None  # satellite passes can be an hour or two apart
    runner.advance_to(points[-1].ts + ms(minutes(181)) - ms(0))
    last = runner.alerts[-1]
    assert last.end == points[-1].ts and "No transmission since" in last.reasons[-1]


def test_a_device_in_test_mode_is_not_distress() -> None:
    assert run(device(970_010_003, "sart", status=15)) == []


def test_a_device_without_a_status_is_taken_as_active() -> None:
    assert len(final(run(device(972_010_004, "mob", status=None)))) == 1


def test_a_ship_reporting_status_14_is_in_distress_until_it_reports_another() -> None:
    ship = 405_000_014
    legs = [
        Leg(minutes(30), 8.0, 90.0),
        Leg(minutes(30), 2.0, 90.0, nav_status=14),
        Leg(minutes(30), 8.0, 90.0),
    ]
    points = build(sail(ship, legs), statics(ship, 30, hours(2), name="NUR JAHAN"))
    alerts = run(points)
    assert alerts[0].start == ms(minutes(30))
    assert "NUR JAHAN reports navigational status 14" in alerts[0].reasons[0]
    assert alerts[-1].end is not None and alerts[-1].end < ms(minutes(61))


def test_ordinary_ships_raise_nothing() -> None:
    ship = 405_000_015
    assert run(build(sail(ship, [Leg(hours(2), 10.0, 45.0)]))) == []
