"""Small builders for track tests: reports, tracks at a known speed, a builder run.

Times are seconds after `T0_MS` so a test reads `make_track([(0, 43.0, 7.0), (60, ...)])`;
`toward(lat, lon, bearing, metres)` places the next fix at a chosen distance, hence speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import asin, atan2, cos, degrees, radians, sin
from typing import Any

from ingest.records import PositionReport, StaticReport
from tracks.builder import TrackBuilder
from tracks.hygiene import EARTH_RADIUS_M, METRES_PER_NM, TrackSettings
from tracks.records import TrackPoint
from tracks.state import VesselState

T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
MMSI = 247_123_456
LAT0 = 43.70
LON0 = 7.40


def ms(ts_s: float) -> int:
    return T0_MS + round(ts_s * 1000)


def make_report(
    mmsi: int = MMSI,
    ts: float = 0.0,
    lat: float | None = LAT0,
    lon: float | None = LON0,
    sog: float | None = 10.0,
    cog: float | None = 90.0,
    **kw: Any,
) -> PositionReport:
    """A class A position report from a ship, `ts` seconds after T0; any field by keyword."""
    fields: dict[str, Any] = {
        "heading": None,
        "nav_status": 0,
        "rot": None,
        "accuracy": False,
        "msg_type": 1,
        "ais_class": "A",
        "mmsi_class": "ship",
        "flag": "IT",
        "source": "test",
        "rx_ts": ms(ts),
    }
    fields.update(kw)
    return PositionReport(mmsi=mmsi, ts=ms(ts), lat=lat, lon=lon, sog=sog, cog=cog, **fields)


def make_static(mmsi: int = MMSI, ts: float = 0.0, **kw: Any) -> StaticReport:
    """A static report with every field None except those given."""
    fields: dict[str, Any] = dict.fromkeys(StaticReport._fields)
    fields.update(mmsi=mmsi, ts=ms(ts), msg_type=5, source="test")
    fields.update(kw)
    return StaticReport(**fields)


def make_track(
    points: Iterable[tuple[float, float | None, float | None]],
    mmsi: int = MMSI,
    **kw: Any,
) -> list[PositionReport]:
    """Reports from `(ts_s, lat, lon)` triples, in the order given."""
    return [make_report(mmsi=mmsi, ts=ts, lat=lat, lon=lon, **kw) for ts, lat, lon in points]


def toward(lat: float, lon: float, bearing: float, metres: float) -> tuple[float, float]:
    """The point `metres` from (lat, lon) along the great circle of initial `bearing`."""
    delta = metres / EARTH_RADIUS_M
    phi1 = radians(lat)
    theta = radians(bearing)
    phi2 = asin(sin(phi1) * cos(delta) + cos(phi1) * sin(delta) * cos(theta))
    lam = atan2(sin(theta) * sin(delta) * cos(phi1), cos(delta) - sin(phi1) * sin(phi2))
    return degrees(phi2), (degrees(radians(lon) + lam) + 540.0) % 360.0 - 180.0


def steady_track(
    n: int,
    knots: float,
    every_s: float = 10.0,
    bearing: float = 90.0,
    start: tuple[float, float] = (LAT0, LON0),
    t0_s: float = 0.0,
) -> list[tuple[float, float, float]]:
    """`n` fixes `every_s` seconds apart on a straight course at `knots`."""
    lat, lon = start
    step = knots * METRES_PER_NM / 3600.0 * every_s
    fixes = []
    for i in range(n):
        fixes.append((t0_s + i * every_s, lat, lon))
        lat, lon = toward(lat, lon, bearing, step)
    return fixes


def run(
    reports: Iterable[PositionReport | StaticReport],
    settings: TrackSettings | None = None,
    flush: bool = True,
) -> tuple[VesselState, list[TrackPoint]]:
    """Feed one vessel's reports through a fresh builder; its state and every point emitted."""
    builder = TrackBuilder(settings) if settings else TrackBuilder()
    state: VesselState | None = None
    points: list[TrackPoint] = []
    for report in reports:
        state, out = builder.advance(state, report)
        points.extend(out)
    assert state is not None, "no reports"
    if flush:
        points.extend(builder.flush(state))
    return state, points


def on_track(points: Iterable[TrackPoint]) -> list[TrackPoint]:
    return [p for p in points if p.segment_id > 0]
