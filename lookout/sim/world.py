"""What the fleet builders and behaviours share: the region, its geography, the clock, the
random streams, the identities handed out, and the truth being written."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lookout.sim.motion import path_length_m
from lookout.sim.names import IdentityFactory
from lookout.sim.radio import Outage
from lookout.sim.region import Region
from lookout.sim.truth import TruthRecord
from lookout.sim.vessel import SimVessel
from tracks.hygiene import distance_m

if TYPE_CHECKING:
    from anomaly.geo import Geography

__all__ = ["World"]

LatLon = tuple[float, float]
HOUR = 3_600_000


class NoRoomError(RuntimeError):
    """No place satisfying a behaviour's constraints was found."""


@dataclass
class World:
    region: Region
    geo: Geography
    seed: int
    start_ms: int
    end_ms: int
    ids: IdentityFactory
    vessels: list[SimVessel] = field(default_factory=list)
    truth: list[TruthRecord] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    finalizers: list[Callable[[], None]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    _streams: dict[str, int] = field(default_factory=dict)

    @property
    def hours(self) -> float:
        return (self.end_ms - self.start_ms) / HOUR

    def rng(self, name: str) -> random.Random:
        """An independent, reproducible random stream per name (and per use of the name)."""
        count = self._streams.get(name, 0)
        self._streams[name] = count + 1
        return random.Random(f"{self.seed}:{name}:{count}")

    def add(self, vessel: SimVessel) -> SimVessel:
        self.vessels.append(vessel)
        return vessel

    def label(
        self,
        type_: str,
        mmsis: Sequence[int],
        start: int,
        end: int | None,
        at: LatLon | None = None,
        *,
        optional: bool = False,
        details: dict[str, Any] | None = None,
        **more: Any,
    ) -> TruthRecord:
        """Add a truth record (`details` and keyword arguments make its details)."""
        merged = {**(details or {}), **more}
        record = TruthRecord(
            id="",
            type=type_,
            mmsis=tuple(mmsis),
            start=start,
            end=end,
            lat=at[0] if at else None,
            lon=at[1] if at else None,
            optional=optional,
            details={k: v for k, v in merged.items() if v is not None},
        )
        self.truth.append(record)
        return record

    def negative(
        self,
        label: str,
        mmsis: Sequence[int],
        start: int,
        end: int | None,
        not_types: Sequence[str],
        at: LatLon | None = None,
        **details: Any,
    ) -> TruthRecord:
        """A hard negative: alerts of `not_types` on these vessels then are false alarms."""
        return self.label(
            "hard_negative",
            mmsis,
            start,
            end,
            at,
            details={"label": label, "not": list(not_types), **details},
        )

    # -- geography --------------------------------------------------------------------
    def offshore_nm(self, lat: float, lon: float) -> float:
        return self.geo.distance_to_shore_nm(lat, lon)

    def is_sea_path(self, points: Sequence[LatLon], step_km: float = 2.0) -> bool:
        for a, b in itertools.pairwise(points):
            n = max(1, int(distance_m(a[0], a[1], b[0], b[1]) / 1000 / step_km))
            for i in range(n + 1):
                f = i / n
                if self.geo.is_on_land(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f):
                    return False
        return True

    def in_harbour(self, lat: float, lon: float, margin_km: float = 12.0) -> bool:
        """In or within `margin_km` of an anchorage or port zone."""
        if self.geo.in_anchorage(lat, lon):
            return True
        found = self.geo.zones.subset(("anchorage", "port")).nearest(lat, lon)
        return found is not None and found[1] < margin_km * 1000

    def in_outage(
        self, lat: float, lon: float, start: int, end: int, margin_km: float = 60.0
    ) -> bool:
        for outage in self.outages:
            if outage.end_ms < start or outage.start_ms > end:
                continue
            if outage.station is not None:
                rx = next(r for r in self.region.receivers if r.id == outage.station)
                centre, radius = rx.at, rx.range_nm * 1.852
            else:
                centre, radius = (outage.lat, outage.lon), outage.radius_km
            if distance_m(lat, lon, centre[0], centre[1]) / 1000 < radius + margin_km:
                return True
        return False

    def sea_point(
        self,
        rng: random.Random,
        *,
        min_nm: float = 20.0,
        max_nm: float = 400.0,
        boxes: Sequence[tuple[float, float, float, float]] | None = None,
        check: Callable[[float, float], bool] | None = None,
        tries: int = 400,
    ) -> LatLon:
        """A random point at sea between `min_nm` and `max_nm` from shore, away from harbours."""
        choices = list(boxes or self.region.open_sea)
        for _ in range(tries):
            west, south, east, north = rng.choice(choices)
            lat, lon = rng.uniform(south, north), rng.uniform(west, east)
            off = self.offshore_nm(lat, lon)
            if not min_nm <= off <= max_nm or self.in_harbour(lat, lon):
                continue
            if check is not None and not check(lat, lon):
                continue
            return lat, lon
        raise NoRoomError("no point at sea satisfies the constraints")

    def straight_run(
        self,
        rng: random.Random,
        end: LatLon,
        metres: float,
        *,
        course: float | None = None,
        min_nm: float = 3.0,
        tries: int = 48,
    ) -> tuple[LatLon, float]:
        """A start point `metres` away from `end` such that the straight run to `end` stays at
        sea (and starts `min_nm` from shore); with the course of the run. Without a `course`,
        every direction is tried, in random order."""
        from lookout.sim.motion import destination

        if course is not None:
            courses = [(course + rng.gauss(0.0, 20.0 * min(i, 4))) % 360 for i in range(tries)]
        else:
            base = rng.uniform(0.0, 15.0)
            courses = [(base + 15.0 * i) % 360 for i in range(24)]
            rng.shuffle(courses)
        for c in courses:
            start = destination(end[0], end[1], (c + 180.0) % 360.0, metres)
            if self.offshore_nm(*start) < min_nm:
                continue
            if self.is_sea_path([start, end], step_km=3.0):
                return start, c
        raise NoRoomError("no straight run at sea to the point")

    def in_coverage(self, lat: float, lon: float, share: float = 0.7) -> bool:
        """Within `share` of a coastal station's range: heard reliably from the shore."""
        for rx in self.region.receivers:
            if distance_m(lat, lon, *rx.at) < rx.range_nm * 1852.0 * share:
                return True
        return False

    def watch_areas_at(self, lat: float, lon: float) -> tuple[str, ...]:
        return tuple(z.id for z in self.geo.zones.zones_at(lat, lon) if z.kind == "watch_area")

    def count(self, per_300_per_day: float, name: str = "", floor: int = 1) -> int:
        """How many of a behaviour for this fleet and span."""
        scale = float(self.settings.get("behaviour_rate", 1.0))
        scale *= float(self.settings.get("extra_rates", {}).get(name, 1.0))
        vessels = float(self.settings.get("vessels", 300))
        n = per_300_per_day * scale * vessels / 300 * self.hours / 24
        return max(floor if scale > 0 else 0, round(n))


def polyline_km(points: Sequence[LatLon]) -> float:
    return path_length_m(points) / 1000.0


def bearing_spread(rng: random.Random, course: float, spread: float) -> float:
    return (course + rng.uniform(-spread, spread)) % 360.0


def hours_ms(hours: float) -> int:
    return round(hours * HOUR)


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def unit(x: float) -> float:
    return math.copysign(1.0, x)
