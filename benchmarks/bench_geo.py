"""Cost of the geography lookups and of the geographic detectors, per point.

    python -m benchmarks.bench_geo [--vessels 300] [--hours 6]

Traffic: vessels scattered over the Bay of Bengal and the Andaman Sea (a third near the coasts,
some in pairs keeping station), steady runs with a report every 30 s, through the real track
builder. Prints one JSON object: microseconds per point for each lookup and detector, cold
(first pass, caches filling) and warm (the same points again, fresh detectors).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

from anomaly.detectors.coastal_approach import CoastalApproachDetector
from anomaly.detectors.encounter import EncounterDetector
from anomaly.detectors.zone_entry import ZoneEntryDetector
from anomaly.geo import Geography, load_geography
from anomaly.geo.geodesy import destination
from ingest.records import PositionReport, StaticReport
from tracks.builder import TrackBuilder
from tracks.records import TrackPoint

T0_MS = 1_700_000_000_000


def traffic(vessels: int, hours: float, seed: int = 1) -> list[TrackPoint]:
    rng = random.Random(seed)
    geo = load_geography()
    builder = TrackBuilder()
    points: list[TrackPoint] = []
    every_s = 30
    n = int(hours * 3600 / every_s)
    mmsi = 470_000_000
    made = 0
    while made < vessels:
        lat, lon = rng.uniform(6.0, 21.5), rng.uniform(86.0, 98.5)
        if geo.is_on_land(lat, lon):
            continue
        near_coast = geo.distance_to_shore_nm(lat, lon) < 30
        if made % 3 == 0 and not near_coast:
            continue
        sog = rng.choice([0.3, 1.0, 5.0, 8.0, 12.0, 15.0])
        cog = rng.uniform(0, 360)
        pair = made % 10 == 0
        for k in range(2 if pair else 1):
            mmsi += 1
            made += 1
            state = None
            ship_type = rng.choice([30, 30, 70, 80, 60, 37, None])
            blank: dict[str, Any] = dict.fromkeys(StaticReport._fields)
            blank.update(mmsi=mmsi, ts=T0_MS, name=f"V{mmsi}", ship_type=ship_type)
            static = StaticReport(**{**blank, "msg_type": 5, "source": "bench"})
            state, _ = builder.advance(state, static)
            here_lat, here_lon = (lat, lon) if k == 0 else destination(lat, lon, 90.0, 200.0)
            for i in range(n):
                ts = T0_MS + i * every_s * 1000 + k * 7000
                report = PositionReport(
                    mmsi, ts, here_lat, here_lon, sog, cog, None, 0, None, False, 1, "A", "ship",
                    "BD", "bench", ts,
                )  # fmt: skip
                state, out = builder.advance(state, report)
                points.extend(out)
                step_m = sog * 1852 / 3600 * every_s
                here_lat, here_lon = destination(here_lat, here_lon, cog, step_m)
    points.sort(key=lambda p: (p.ts, p.mmsi))
    return [p for p in points if p.lat is not None]


def timed(points: list[TrackPoint], fn: Callable[[TrackPoint], Any]) -> float:
    started = time.perf_counter()
    for point in points:
        fn(point)
    return (time.perf_counter() - started) / len(points) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vessels", type=int, default=300)
    parser.add_argument("--hours", type=float, default=6.0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    geo: Geography = load_geography()
    load_s = time.perf_counter() - started
    points = traffic(args.vessels, args.hours)
    result: dict[str, Any] = {"points": len(points), "vessels": args.vessels, "load_s": load_s}
    coords = [(p.lat, p.lon) for p in points if p.lat is not None and p.lon is not None]
    lookups: dict[str, Callable[[float, float], Any]] = {
        "distance_to_shore_nm": geo.distance_to_shore_nm,
        "is_on_land": geo.is_on_land,
        "zones_at": geo.zones.zones_at,
        "in_watch_area": geo.in_watch_area,
        "in_anchorage": geo.in_anchorage,
    }
    for name, lookup in lookups.items():
        for label in ("cold", "warm"):
            started = time.perf_counter()
            for lat, lon in coords:
                lookup(lat, lon)
            cost = (time.perf_counter() - started) / len(coords) * 1e6
            result[f"{name}_us_{label}"] = round(cost, 2)
    for name, make in (
        ("zone_entry", lambda: ZoneEntryDetector(geo=geo)),
        ("coastal_approach", lambda: CoastalApproachDetector(geo=geo)),
        ("encounter", lambda: EncounterDetector(geo=geo)),
    ):
        alerts: list[Any] = []
        detector = make()
        cost = timed(points, lambda p, d=detector, out=alerts: out.extend(d.update(p)))  # type: ignore[misc]
        result[f"{name}_us"] = round(cost, 2)
        result[f"{name}_alerts"] = len({a.id for a in alerts})
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
