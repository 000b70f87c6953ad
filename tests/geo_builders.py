"""Shared geography for tests: known places of the Bay of Bengal and the Andaman Sea, and point
streams of vessels there, built through the real track builder.

Places are (lat, lon). Distances to shore were read from the vendored Natural Earth 1:10m land
and checked against charts to the nearest few miles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from anomaly.detectors.base import Detector
from anomaly.geo import Geography, load_geography
from anomaly.records import Alert
from tests.track_builders import make_report, make_static, run, steady_track, toward
from tracks.records import TrackPoint

OPEN_BAY = (15.0, 88.0)  # the middle of the Bay of Bengal: about 300 nm from any coast
BAY_EAST = (17.5, 90.5)  # open Bay, west of Rakhine: about 190 nm from shore
CHITTAGONG_PORT = (22.300, 91.805)  # in the Karnaphuli river, at the port
CHITTAGONG_ANCHORAGE = (22.120, 91.720)  # outer anchorage, off the river mouth
WEST_OF_ANDAMANS = (12.0, 91.5)  # about 50 nm west of North Andaman
SOUTH_ANDAMAN = (11.75, 92.65)  # inland on South Andaman, west of Port Blair
MALACCA_STRAIT = (4.0, 99.5)  # mid-strait between Sumatra and Perak: about 30 nm from both
DHAKA = (23.81, 90.41)  # land
BANGKOK = (13.75, 100.50)  # land
OFF_KHAO_LAK = (8.6, 97.6)  # 38 nm west of the Thai Andaman coast, no port ahead due east
SABANG_NORTH = (6.25, 95.32)  # north of Weh island; due south is Sabang port
COXS_BAZAR_OFFSHORE = (21.2, 91.8)  # inside the Cox's Bazar - Teknaf departure area
WEST_OF_CORRIDOR = (21.3, 90.0)  # outside the crossing corridor, to its west
CORRIDOR = (19.0, 92.0)  # inside the Bay of Bengal crossing corridor (a watch area)


def geography() -> Geography:
    return load_geography()


def vessel_points(
    mmsi: int,
    fixes: Iterable[tuple[float, float, float]],
    sog: float | None,
    cog: float | None,
    ship_type: int | None = 30,
    name: str | None = None,
    **kw: Any,
) -> list[TrackPoint]:
    """One vessel's track points through the real builder: a static report, then position
    reports at `(ts_s, lat, lon)` with the given speed and course."""
    reports: list[Any] = []
    if ship_type is not None or name is not None:
        reports.append(make_static(mmsi=mmsi, ts=0, name=name or f"V{mmsi}", ship_type=ship_type))
    reports += [
        make_report(mmsi=mmsi, ts=t, lat=lat, lon=lon, sog=sog, cog=cog, **kw)
        for t, lat, lon in fixes
    ]
    return [p for p in run(reports)[1] if p.lat is not None]


def line(
    start: tuple[float, float],
    knots: float,
    bearing: float,
    hours: float,
    every_s: float = 60.0,
    t0_s: float = 0.0,
) -> list[tuple[float, float, float]]:
    """Fixes of a straight, steady run."""
    return steady_track(int(hours * 3600 / every_s) + 1, knots, every_s, bearing, start, t0_s)


def beside(
    fixes: Sequence[tuple[float, float, float]], bearing: float, metres: float
) -> list[tuple[float, float, float]]:
    """The same fixes shifted `metres` toward `bearing`: a vessel keeping station."""
    return [(t, *toward(lat, lon, bearing, metres)) for t, lat, lon in fixes]


def merge(*streams: Sequence[TrackPoint]) -> list[TrackPoint]:
    """Several vessels' points in event-time order (ties by MMSI), as the stage sees them."""
    return sorted((p for s in streams for p in s), key=lambda p: (p.ts, p.mmsi))


def feed(
    detector: Detector, points: Iterable[TrackPoint], then_ms: int | None = None
) -> list[Alert]:
    """Every alert the points give, then `advance(then_ms)` if given."""
    out: list[Alert] = []
    for point in points:
        out.extend(detector.update(point))
    if then_ms is not None:
        out.extend(detector.advance(then_ms))
    return out


def final(alerts: Iterable[Alert]) -> dict[str, Alert]:
    """The last revision of each alert id."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        if alert.id not in latest or alert.revision >= latest[alert.id].revision:
            latest[alert.id] = alert
    return latest
