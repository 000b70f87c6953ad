"""Builders for detection tests: vessels doing things, through the real track builder.

    reports = sail(MMSI, [Leg(hours(2), knots=10, course=90), Leg(hours(5), knots=0.8, ...)])
    points = build(reports, statics(MMSI, ship_type=70, until_s=hours(7)), other_vessel...)
    alerts = Runner(LoiteringDetector()).feed(points)

`sail` turns legs (a duration, a speed, a course, optionally a heading different from the course,
a navigational status, a reporting interval, noise) into class A or B position reports; `build`
runs each vessel's reports (and static reports) through `tracks.builder.TrackBuilder`, as the
tracks stage would, and merges the vessels' points in event-time order. `Runner` feeds points to
a detector and calls `advance` as event time passes, like the detection stage; it can be split
(`feed` part, save the states, restore them into a new detector, `feed` the rest).

Times are seconds after `tests.track_builders.T0_MS`; positions start in the Bay of Bengal.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from anomaly.detectors.base import Detector
from anomaly.records import Alert
from ingest.records import PositionReport, StaticReport
from tests.track_builders import T0_MS, make_report, make_static, toward
from tracks.builder import TrackBuilder
from tracks.hygiene import METRES_PER_NM
from tracks.records import TrackPoint
from tracks.state import VesselState

BAY = (15.0, 89.0)  # open water, Bay of Bengal
HOUR = 3600.0


def hours(h: float) -> float:
    return h * HOUR


def minutes(m: float) -> float:
    return m * 60.0


@dataclass(frozen=True)
class Leg:
    seconds: float
    knots: float
    course: float = 90.0
    heading: float | None = None  # None: the course (a vessel going where it points)
    nav_status: int | None = 0
    every_s: float = 10.0
    reported_sog: float | None = None  # what it says, when that is not the truth
    no_heading: bool = False  # a transponder without a heading sensor
    course_noise: float = 0.0  # degrees (standard deviation), on the reported course
    wander: float = 0.0  # degrees of random walk of the true course per report


def sail(
    mmsi: int,
    legs: Sequence[Leg],
    start: tuple[float, float] = BAY,
    t0_s: float = 0.0,
    seed: int = 1,
    ais_class: str = "A",
    scatter_m: float = 3.0,
    **fields: Any,
) -> list[PositionReport]:
    """Position reports along `legs` (GPS scatter of `scatter_m`, reported speeds to 0.1 kn)."""
    rng = random.Random(seed * 1_000_003 + mmsi)
    lat, lon = start
    ts = t0_s
    out: list[PositionReport] = []
    for leg in legs:
        course = leg.course
        end = ts + leg.seconds
        while ts < end:
            if leg.wander:
                course = (course + rng.gauss(0.0, leg.wander)) % 360
            shown_lat, shown_lon = lat, lon
            if scatter_m:
                shown_lat, shown_lon = toward(
                    lat, lon, rng.uniform(0, 360), rng.gauss(0, scatter_m)
                )
            sog = leg.reported_sog if leg.reported_sog is not None else leg.knots
            sog = max(0.0, round(sog + rng.gauss(0.0, 0.1 if sog > 0.3 else 0.03), 1))
            cog = round((course + rng.gauss(0.0, leg.course_noise)) % 360, 1)
            heading = None
            if not leg.no_heading:
                heading = round(leg.heading if leg.heading is not None else course) % 360
            out.append(
                make_report(
                    mmsi=mmsi,
                    ts=ts,
                    lat=round(shown_lat, 6),
                    lon=round(shown_lon, 6),
                    sog=sog,
                    cog=cog,
                    heading=heading,
                    nav_status=leg.nav_status,
                    ais_class=ais_class,
                    msg_type=1 if ais_class == "A" else 18,
                    **fields,
                )
            )
            step = leg.every_s
            lat, lon = toward(lat, lon, course, leg.knots * METRES_PER_NM / 3600.0 * step)
            ts += step
    return out


def end_of(reports: Sequence[PositionReport]) -> tuple[float, float, float]:
    """(ts_s, lat, lon) of the last report, to start the next stretch there."""
    last = reports[-1]
    assert last.lat is not None and last.lon is not None
    return (last.ts - T0_MS) / 1000, last.lat, last.lon


def silence(reports: Iterable[PositionReport], from_s: float, to_s: float) -> list[PositionReport]:
    """The reports without those in [from_s, to_s): the transponder off, or out of reception."""
    lo, hi = T0_MS + from_s * 1000, T0_MS + to_s * 1000
    return [r for r in reports if not lo <= r.ts < hi]


def statics(
    mmsi: int,
    ship_type: int | None = 70,
    until_s: float = hours(24),
    every_s: float = 360.0,
    t0_s: float = 0.0,
    **fields: Any,
) -> list[StaticReport]:
    """Static reports every `every_s` (name, callsign and IMO given or made up)."""
    fields.setdefault("name", f"VESSEL {mmsi % 10_000}")
    fields.setdefault("callsign", f"C{mmsi % 100_000:05d}")
    fields.setdefault("imo", None)
    out = []
    ts = t0_s
    while ts < until_s:
        out.append(make_static(mmsi=mmsi, ts=ts, ship_type=ship_type, **fields))
        ts += every_s
    return out


def build(*streams: Iterable[PositionReport | StaticReport]) -> list[TrackPoint]:
    """Every vessel's reports through a track builder; all points in event-time order."""
    by_vessel: dict[int, list[PositionReport | StaticReport]] = {}
    for stream in streams:
        for report in stream:
            by_vessel.setdefault(report.mmsi, []).append(report)
    points: list[TrackPoint] = []
    builder = TrackBuilder()
    for reports in by_vessel.values():
        reports.sort(key=lambda r: (r.ts, isinstance(r, PositionReport)))
        state: VesselState | None = None
        for report in reports:
            state, out = builder.advance(state, report)
            points.extend(out)
        assert state is not None
        points.extend(builder.flush(state))
    points.sort(key=lambda p: (p.ts, p.mmsi))
    return points


class Runner:
    """Feeds points to a detector, advancing event time every `advance_every_s` as it goes."""

    def __init__(self, detector: Detector, advance_every_s: float = 60.0) -> None:
        self.detector = detector
        self.every_ms = round(advance_every_s * 1000)
        self.next_tick: int | None = None
        self.alerts: list[Alert] = []

    def feed(self, points: Iterable[TrackPoint], finish: bool = True) -> list[Alert]:
        last = None
        for point in points:
            self._tick(point.ts)
            self.alerts.extend(self.detector.update(point))
            last = point.ts
        if finish and last is not None:
            self.alerts.extend(self.detector.advance(last))
        return self.alerts

    def _tick(self, ts: int) -> None:
        if self.next_tick is None:
            self.next_tick = ts - ts % self.every_ms + self.every_ms
        while ts >= self.next_tick:
            self.alerts.extend(self.detector.advance(self.next_tick))
            self.next_tick += self.every_ms

    def advance_to(self, ts: int) -> list[Alert]:
        self._tick(ts)
        self.alerts.extend(self.detector.advance(ts))
        return self.alerts


def final(alerts: Iterable[Alert]) -> dict[str, Alert]:
    """The highest revision of each alert id."""
    out: dict[str, Alert] = {}
    for alert in alerts:
        if alert.id not in out or alert.revision > out[alert.id].revision:
            out[alert.id] = alert
    return out


def of_type(alerts: Iterable[Alert], alert_type: str) -> list[Alert]:
    return [a for a in final(alerts).values() if a.type == alert_type]


def signature(alerts: Iterable[Alert]) -> list[tuple[str, int, bytes]]:
    """Alerts as comparable (id, revision, JSON) triples, sorted."""
    import orjson

    return sorted((a.id, a.revision, orjson.dumps(a.to_dict())) for a in alerts)


def mixed_scenario(seed: int = 1) -> list[TrackPoint]:
    """Twelve hours of a small sea area with one vessel per behaviour and some ordinary traffic:
    a vessel going dark among others still heard, a loiterer, a drifter, an AIS-SART, one MMSI
    in two places, a speed liar, a placeholder MMSI, a trawler and a ship at anchor."""
    from tests.track_builders import toward as _toward

    def around(i: int, metres: float = 15_000.0) -> tuple[float, float]:
        return _toward(*BAY, i * 37.0 % 360, metres)

    streams: list[Iterable[PositionReport | StaticReport]] = []
    for i in range(8):  # ordinary traffic, heard all along
        mmsi = 419_000_100 + i
        streams.append(
            sail(
                mmsi,
                [Leg(hours(12), 3.0 + i, (i * 45 + 150) % 360, every_s=60)],
                start=around(i),
                seed=seed,
            )
        )
        streams.append(statics(mmsi, 70, hours(12)))
    dark = 405_000_001
    streams.append(
        silence(sail(dark, [Leg(hours(12), 4.0, 45.0)], seed=seed), hours(2), hours(9.2))
    )
    streams.append(statics(dark, 30, hours(12)))
    loiter = 533_000_001
    legs = [
        Leg(hours(1), 10.0, 90.0),
        Leg(hours(6), 0.8, 200.0, wander=6.0),
        Leg(hours(1), 11.0, 120.0),
    ]
    streams.append(sail(loiter, legs, start=around(9), seed=seed))
    drifter = 506_000_001
    legs = [
        Leg(hours(3), 8.0, 100.0),
        Leg(hours(3), 1.2, 200.0, heading=290.0, course_noise=8.0),
        Leg(hours(1), 8.0, 100.0),
    ]
    streams.append(sail(drifter, legs, start=around(10), seed=seed))
    sart = 970_010_001
    legs = [Leg(hours(1), 1.0, 135.0, nav_status=14, every_s=60, no_heading=True)]
    streams.append(sail(sart, legs, start=around(11), t0_s=hours(5), mmsi_class="sart", flag=None))
    clone = 405_000_200
    streams.append(sail(clone, [Leg(hours(2), 10.0, 90.0)], start=around(12), seed=seed))
    streams.append(
        sail(
            clone, [Leg(hours(2), 8.0, 200.0, every_s=60)], start=around(12, 70_000), seed=seed + 7
        )
    )
    liar = 405_000_300
    legs = [Leg(hours(1), 10.0, 90.0), Leg(hours(1), 10.0, 90.0, reported_sog=20.0)]
    streams.append(sail(liar, legs, start=around(13), t0_s=hours(3), seed=seed))
    streams.append(statics(liar, 70, hours(6), t0_s=hours(3)))
    placeholder = 123_456_789
    streams.append(
        sail(
            placeholder,
            [Leg(hours(2), 6.0, 10.0, every_s=30)],
            start=around(14),
            t0_s=hours(6),
            mmsi_class="invalid",
            flag=None,
        )
    )
    trawler = 405_000_030
    legs = []
    course = 30.0
    for _ in range(24):
        legs += [Leg(minutes(15), 1.8, course), Leg(minutes(5), 0.4, course)]
        course = (course + 150.0) % 360
    streams.append(sail(trawler, legs, start=around(15), seed=seed))
    streams.append(statics(trawler, 30, hours(12)))
    anchored = 405_000_099
    legs = [Leg(hours(12), 0.1, 0.0, nav_status=1, every_s=180, wander=30.0)]
    streams.append(sail(anchored, legs, start=around(16), seed=seed))
    return build(*streams)
