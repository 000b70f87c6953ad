"""Stops (tracks.stops): where a vessel stayed within a small area for long enough."""

from __future__ import annotations

from tests.track_builders import LAT0, LON0, MMSI, ms, toward
from tracks.stops import Stop, StopDetector

OTHER = MMSI + 1


def _feed(detector: StopDetector, mmsi: int, fixes: list[tuple[float, float, float]]) -> list[Stop]:
    found = [detector.update(mmsi, ms(t), lat, lon) for t, lat, lon in fixes]
    return [stop for stop in found if stop is not None]


def _anchored(start_s: float, minutes: int, lat: float = LAT0, lon: float = LON0) -> list:
    """A fix a minute swinging within 60 m of the anchor."""
    return [
        (start_s + 60 * i, *toward(lat, lon, (i * 97) % 360, 30.0 + (i % 3) * 10))
        for i in range(minutes)
    ]


def _underway(start_s: float, count: int, lat: float, lon: float) -> list:
    """A fix every 10 s at 10 knots (51 m apart), heading east."""
    fixes = []
    for i in range(count):
        lat, lon = toward(lat, lon, 90.0, 51.4)
        fixes.append((start_s + 10 * i, lat, lon))
    return fixes


def test_a_vessel_at_anchor_then_underway_has_one_stop_where_it_lay() -> None:
    detector = StopDetector(max_diameter_m=300.0, min_duration_s=1800.0)
    anchored = _anchored(0.0, 45)
    heard_again = toward(LAT0, LON0, 90.0, 1000.0)  # next heard 1 km away, underway
    stops = _feed(detector, MMSI, anchored + _underway(45 * 60.0, 30, *heard_again))

    assert len(stops) == 1 and detector.finish() == []
    stop = stops[0]
    assert (stop.mmsi, stop.start, stop.end, stop.points) == (MMSI, ms(0), ms(44 * 60), 45)
    assert abs(stop.lat - LAT0) < 0.001 and abs(stop.lon - LON0) < 0.001


def test_a_vessel_underway_never_stops_and_a_short_halt_is_not_a_stop() -> None:
    detector = StopDetector(max_diameter_m=300.0, min_duration_s=1800.0)
    fixes = _underway(0.0, 200, LAT0, LON0)
    fixes += _anchored(2000.0, 20, *fixes[-1][1:])  # 20 minutes: too short
    fixes += _underway(2000.0 + 20 * 60, 30, *fixes[-1][1:])
    assert _feed(detector, MMSI, fixes) == [] and detector.finish() == []


def test_a_stop_still_open_at_the_end_comes_out_of_finish_and_vessels_are_apart() -> None:
    detector = StopDetector(max_diameter_m=300.0, min_duration_s=1800.0)
    assert _feed(detector, MMSI, _underway(0.0, 50, LAT0, LON0) + _anchored(500.0, 40)) == []
    assert _feed(detector, OTHER, _underway(0.0, 50, LAT0, LON0)) == []

    (stop,) = detector.finish()
    assert (stop.mmsi, stop.start, stop.end, stop.points) == (MMSI, ms(500), ms(500 + 39 * 60), 40)
    assert detector.finish() == []
