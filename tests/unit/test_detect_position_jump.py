"""position_jump: one MMSI in two places, and spoofed jumps; single bad fixes are not alerted."""

from __future__ import annotations

from anomaly.detectors.position_jump import PositionJumpDetector
from anomaly.records import AlertType, Severity
from ingest.records import PositionReport
from tests.detect_builders import BAY, Leg, Runner, build, final, hours, minutes, sail
from tests.track_builders import T0_MS, toward

SHIP = 405_000_200


def run(points):
    return Runner(PositionJumpDetector()).feed(points)


def shifted(
    reports: list[PositionReport], from_s: float, to_s: float, metres: float, bearing: float = 0
) -> list[PositionReport]:
    lo, hi = T0_MS + from_s * 1000, T0_MS + to_s * 1000
    out = []
    for r in reports:
        if lo <= r.ts < hi and r.lat is not None and r.lon is not None:
            lat, lon = toward(r.lat, r.lon, bearing, metres)
            r = r._replace(lat=lat, lon=lon)
        out.append(r)
    return out


def test_one_mmsi_in_two_places_is_a_cloned_mmsi() -> None:
    here = sail(SHIP, [Leg(hours(2), 10.0, 90.0)])
    elsewhere = sail(
        SHIP, [Leg(hours(2), 8.0, 200.0, every_s=60)], start=toward(*BAY, 0, 60_000), seed=7
    )
    alerts = run(build(here, elsewhere))
    assert alerts and all(a.type == AlertType.POSITION_JUMP for a in alerts)
    assert len({a.id for a in alerts}) == 1
    first = alerts[0]
    assert first.extra["kind"] == "two_places" and first.severity == Severity.HIGH
    assert "two places at once" in first.reasons[0] and "cloned or shared MMSI" in first.reasons[0]
    assert 50 < first.extra["distance_km"] < 70
    assert first.detected_at < T0_MS + minutes(5) * 1000
    assert [a.revision for a in alerts] == list(range(1, len(alerts) + 1))
    assert len(alerts) <= 6  # revised every 30 min at most


def test_a_track_that_jumps_far_and_stays_is_spoofing() -> None:
    reports = shifted(sail(SHIP, [Leg(hours(4), 10.0, 90.0)]), hours(1), hours(1.5), 100_000)
    alerts = run(build(reports))
    (alert,) = final(alerts).values()
    assert alerts[0].extra["kind"] == "jump" and "kept reporting from there" in alerts[0].reasons[0]
    assert 95 < alerts[0].extra["distance_km"] < 105
    assert alert.end is not None  # quiet again: ended


def test_a_single_bad_fix_is_not_alerted() -> None:
    reports = sail(SHIP, [Leg(hours(2), 10.0, 90.0)])
    reports[300] = reports[300]._replace(lat=0.0, lon=0.0)
    reports[500] = reports[500]._replace(lat=reports[500].lat + 1.0)  # type: ignore[operator]
    assert run(build(reports)) == []


def test_gps_scatter_is_not_a_jump() -> None:
    reports = sail(SHIP, [Leg(hours(2), 10.0, 90.0)])
    for i in range(100, 700, 37):  # 800 m off in 10 s: "impossible", but only scatter
        r = reports[i]
        lat, lon = toward(r.lat, r.lon, 0.0, 800)  # type: ignore[arg-type]
        reports[i] = r._replace(lat=lat, lon=lon)
    assert run(build(reports)) == []


def test_erratic_positions_are_alerted_as_such() -> None:
    reports = sail(SHIP, [Leg(hours(2), 10.0, 90.0)])
    for n, i in enumerate((200, 260, 330, 420)):
        r = reports[i]
        lat, lon = toward(r.lat, r.lon, n * 90.0, 40_000 + n * 25_000)  # type: ignore[arg-type]
        reports[i] = r._replace(lat=lat, lon=lon)
    (alert,) = final(run(build(reports))).values()
    assert alert.extra["kind"] == "erratic" and alert.severity == Severity.MEDIUM
    assert "impossible jumps" in alert.reasons[0]
