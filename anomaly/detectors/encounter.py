"""encounter: two vessels meeting at sea (Global Fishing Watch's definition by default).

Two vessels within `max_distance_m` (500 m) of each other for at least `min_duration_h` (2 h),
with a median speed below `max_median_sog_kn` (2 kn) over both vessels' reports, at least
`min_port_distance_km` (10 km) from any port or anchorage zone and `min_shore_nm` from the shore.

Cross-vessel. Each point is compared with the latest position of every vessel near it (a grid
of 0.01 degree cells over the latest positions; the other vessel's position dead-reckoned to the
point's time, if it is fresher than `max_staleness_s`). A pair's episode starts at its first
close observation; it goes on while observations stay close, holds while they are between
`max_distance_m` and `part_distance_m`, and ends when one is farther than `part_distance_m`
(parted) or none has been close for `max_gap_s` (lost). A silence is not a parting, though: a
small boat heard only in satellite passes, every half hour to hour and a half, beside a ship
heard all the time. So while one of the two keeps reporting (at least every `max_staleness_s`)
below `max_median_sog_kn`, it cannot have gone far from the meeting, and the pair waits for the
silent one up to `max_silent_gap_s`: if it is heard close again, the episode goes on (as
Global Fishing Watch's tracks, interpolated across the silence, would show them together).
Two vessels both silent (ferries switched off for the night on the same berth) are lost after
`max_gap_s`: nobody saw them together. A dead-reckoned position can overshoot (a boat that
stopped after coming alongside at 7 kn): a pair parts only when both the dead-reckoned and
the last reported position of the other are `part_distance_m` away.

One alert per pair and episode, id from the sorted pair and the episode start, opened when the
episode qualifies, revised every `revise_every_s` as the meeting goes on, and revised with `end`
when they part.

Thinned per vessel in event time: a vessel's point less than `min_interval_s` (30 s) after the
last of its points used is skipped, as `anomaly.cell_router` does before the distributed
consumers (`CellRouterSettings.every_s`), so batch and distributed modes compare the same points
(a vessel reporting every few seconds then costs one comparison round every `min_interval_s`).
Nothing is lost that matters at the scale of an encounter: the skipped point's checks (a pair
parted or lost) are made at the vessel's next point used, at most `min_interval_s` later, or at
the partner's, or by `advance`; an episode's start and end move by less than `min_interval_s`.
The thinning is relative to the vessel's last fix used, which its saved state holds, so a replay
or a restore gives the same points, alerts and ids. Set it at or below the router's `every_s`
(a point the router forwards is then never skipped here): 0 uses every point.

Hard negatives by construction: vessels at the same anchorage or alongside in port (the port
distance), vessels passing each other at speed (the duration and the median speed), tugs,
pilots and port tenders (`ignore_ship_types`).

Distributed mode: points arrive re-keyed by spatial cell (`anomaly.cells.cells_for` with
`replicate_radius_m`, so both vessels of any close pair reach a common cell). Every consumer
follows every pair it sees, so two consumers seeing the same points compute the same episode, id
and revisions; a detector handed `owns_cell` publishes only for pairs whose lower-MMSI vessel is
in a cell it owns, so a pair near a cell border is alerted once. (A pair that starts deep inside
one consumer's cells and drifts more than `replicate_radius_m` into another's is seen by the
second only from then on: its alert there starts a second episode. Cells of 0.25 degree make
that rare for vessels below 2 kn.)
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil, cos, floor, radians, sin, sqrt
from typing import Any, ClassVar

import orjson

from anomaly.cells import cell_of
from anomaly.detectors.base import RuleConfig
from anomaly.geo import Geography, ZoneIndex, geography_for
from anomaly.geo.evidence import (
    SEVERITY_SCORE,
    hhmm,
    params,
    ship_type_name,
    ship_types,
    vessel_of,
)
from anomaly.geo.geodesy import METRES_PER_DEG_LAT
from anomaly.geo.zones import DEPARTURE_AREA, DESTINATION_COAST, HARBOUR_KINDS, WATCH_AREA
from anomaly.records import Alert, AlertType, Severity, alert_id
from tracks.hygiene import MS_PER_KNOT
from tracks.records import StaticFields, TrackPoint

DEFAULTS: dict[str, Any] = {
    "max_distance_m": 500.0,
    "part_distance_m": 1000.0,
    "min_duration_h": 2.0,
    "max_median_sog_kn": 2.0,
    "min_port_distance_km": 10.0,
    "min_shore_nm": 1.0,
    "max_gap_s": 1800.0,
    "max_silent_gap_s": 5400.0,  # one keeps reporting beside the other's last position
    "max_staleness_s": 600.0,
    "revise_every_s": 1800.0,
    "ignore_ship_types": [50, 52, 53],
    "ignore_mmsi_classes": ["aton", "coast_station", "sar_aircraft", "sart", "mob", "epirb"],
    "replicate_radius_m": 1500.0,
    "min_interval_s": 30.0,  # per vessel, as anomaly.cell_router's every_s
}
GRID_DEG = 0.01  # the neighbour grid over latest positions
SOG_BIN = 0.25  # knots, for the reported median
SOG_BINS = 41
TRACK_EVERY_MS = 120_000
TRACK_MAX = 400
ALERT_KINDS = (WATCH_AREA, DEPARTURE_AREA, DESTINATION_COAST)


class _Fix:
    __slots__ = ("cog", "flag", "key", "lat", "lon", "sog", "static", "ts")

    def __init__(
        self,
        ts: int,
        lat: float,
        lon: float,
        sog: float | None,
        cog: float | None,
        static: StaticFields,
        flag: str | None,
    ) -> None:
        self.ts = ts
        self.lat = lat
        self.lon = lon
        self.sog = sog
        self.cog = cog
        self.static = static
        self.flag = flag
        self.key = _grid_key(lat, lon)

    def at(self, ts: int) -> tuple[float, float]:
        """Position dead-reckoned to `ts` (short horizons: a flat earth is enough)."""
        age_s = (ts - self.ts) / 1000.0
        if age_s <= 5.0 or not self.sog or self.cog is None:
            return self.lat, self.lon
        metres = self.sog * MS_PER_KNOT * age_s
        c = radians(self.cog)
        dlat = metres * cos(c) / METRES_PER_DEG_LAT
        dlon = metres * sin(c) / (METRES_PER_DEG_LAT * max(cos(radians(self.lat)), 1e-6))
        return self.lat + dlat, self.lon + dlon

    def to_list(self) -> list[Any]:
        return [self.ts, self.lat, self.lon, self.sog, self.cog, list(self.static), self.flag]

    @classmethod
    def from_list(cls, row: list[Any]) -> _Fix:
        return cls(row[0], row[1], row[2], row[3], row[4], StaticFields(*row[5]), row[6])


class _Pair:
    __slots__ = (
        "a",
        "alert",
        "b",
        "d_min",
        "d_sum",
        "held",
        "hist",
        "last",
        "lat_sum",
        "lon_sum",
        "n",
        "n_slow",
        "revised_at",
        "start",
        "track",
    )

    def __init__(self, a: int, b: int, start: int) -> None:
        self.a, self.b = a, b
        self.start = self.last = start
        self.n = self.n_slow = 0
        self.hist = [0] * SOG_BINS
        self.lat_sum = self.lon_sum = self.d_sum = 0.0
        self.d_min = float("inf")
        self.track: list[list[float]] = []  # [ts, lon_a, lat_a, lon_b, lat_b]
        self.alert: Alert | None = None
        self.revised_at = 0
        self.held = 0  # when one vessel last kept watch beside the silent other's position

    @property
    def key(self) -> tuple[int, int]:
        return self.a, self.b

    def median_sog(self) -> float:
        half = self.n / 2.0
        seen = 0
        for i, count in enumerate(self.hist):
            seen += count
            if seen >= half and count:
                return (i + 0.5) * SOG_BIN
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "start": self.start,
            "last": self.last,
            "n": self.n,
            "n_slow": self.n_slow,
            "hist": self.hist,
            "lat_sum": self.lat_sum,
            "lon_sum": self.lon_sum,
            "d_sum": self.d_sum,
            "d_min": self.d_min if self.n else None,
            "track": self.track,
            "alert": self.alert.to_dict() if self.alert else None,
            "revised_at": self.revised_at,
            "held": self.held,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Pair:
        pair = cls(int(d["a"]), int(d["b"]), int(d["start"]))
        pair.last = int(d["last"])
        pair.n, pair.n_slow = int(d["n"]), int(d["n_slow"])
        pair.hist = [int(c) for c in d["hist"]]
        pair.lat_sum, pair.lon_sum, pair.d_sum = d["lat_sum"], d["lon_sum"], d["d_sum"]
        pair.d_min = float("inf") if d["d_min"] is None else float(d["d_min"])
        pair.track = [list(r) for r in d["track"]]
        pair.alert = Alert.from_dict(d["alert"]) if d["alert"] else None
        pair.revised_at = int(d["revised_at"])
        pair.held = int(d.get("held", 0))
        return pair


def _grid_key(lat: float, lon: float) -> int:
    return floor((lat + 90.0) / GRID_DEG) * 100_000 + floor((lon + 180.0) / GRID_DEG)


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Short distances: equirectangular, within a metre at a few kilometres."""
    k = cos(radians((lat1 + lat2) / 2.0))
    dy = (lat2 - lat1) * METRES_PER_DEG_LAT
    dx = (lon2 - lon1) * METRES_PER_DEG_LAT * k
    return sqrt(dx * dx + dy * dy)


class EncounterDetector:
    alert_type: ClassVar[AlertType] = AlertType.ENCOUNTER
    keyed_by: ClassVar[str] = "cell"  # distributed: fed from tracks.cells (anomaly.cell_router)

    def __init__(
        self,
        config: RuleConfig | None = None,
        context: object | None = None,
        *,
        geo: Geography | None = None,
        owns_cell: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config or RuleConfig("encounter", 1)
        self.params = p = params(DEFAULTS, self.config.params)
        self.geo = geography_for(context, geo)
        self.owns_cell = owns_cell or getattr(context, "owns_cell", None)
        harbours = self.geo.zones.subset(HARBOUR_KINDS)
        self._harbours: ZoneIndex = harbours
        self._near_port: ZoneIndex = harbours.resized(float(p["min_port_distance_km"]) * 1000.0)
        self._close_m = float(p["max_distance_m"])
        self._part_m = float(p["part_distance_m"])
        self._min_ms = int(float(p["min_duration_h"]) * 3_600_000)
        self._slow_kn = float(p["max_median_sog_kn"])
        self._min_shore = float(p["min_shore_nm"])
        self._gap_ms = int(float(p["max_gap_s"]) * 1000)
        self._silent_gap_ms = max(self._gap_ms, int(float(p["max_silent_gap_s"]) * 1000))
        self._stale_ms = int(float(p["max_staleness_s"]) * 1000)
        self._revise_ms = int(float(p["revise_every_s"]) * 1000)
        self._every_ms = round(float(p["min_interval_s"]) * 1000)
        self._ignore_types = ship_types(p["ignore_ship_types"])
        self._ignore_classes = frozenset(p["ignore_mmsi_classes"])
        self._reach_y = ceil(self._part_m / METRES_PER_DEG_LAT / GRID_DEG)
        self._fixes: dict[int, _Fix] = {}
        self._grid: dict[int, set[int]] = {}
        self._pairs: dict[tuple[int, int], _Pair] = {}
        self._pairs_of: dict[int, set[tuple[int, int]]] = {}
        self._evicted_at = 0
        self.thinned = 0  # points skipped, less than min_interval_s after the vessel's last used

    # -- protocol ----------------------------------------------------------------------------
    def update(self, point: TrackPoint) -> list[Alert]:
        previous = self._fixes.get(point.mmsi)
        if previous is not None:  # first, as it is the commonest way out
            age = point.ts - previous.ts
            if age < 0:
                return []  # out of order for this vessel: the track has moved on
            if age < self._every_ms:
                self.thinned += 1  # too soon after the last point used (as the cell router)
                return []
        if point.lat is None or point.lon is None or point.segment_id <= 0:
            return []
        if point.mmsi_class in self._ignore_classes or point.static.ship_type in self._ignore_types:
            return []
        mmsi, ts, lat, lon = point.mmsi, point.ts, point.lat, point.lon
        fix = _Fix(ts, lat, lon, point.sog, point.cog, point.static, point.flag)
        self._place(mmsi, fix, previous)
        sog = point.sog if point.sog is not None else point.implied_sog
        out: list[Alert] = []
        seen: set[int] = set()
        for other in self._neighbours(lat, lon):
            if other == mmsi:
                continue
            other_fix = self._fixes[other]
            if ts - other_fix.ts > self._stale_ms or other_fix.ts - ts > self._stale_ms:
                continue
            seen.add(other)
            olat, olon = other_fix.at(ts)
            metres = _metres(lat, lon, olat, olon)
            parted = self._apart(fix, other_fix, metres)
            out.extend(self._observe(mmsi, fix, other, olat, olon, sog, metres, parted))
        for key in sorted(self._pairs_of.get(mmsi, ())):
            pair = self._pairs.get(key)
            if pair is None:
                continue
            other = pair.b if pair.a == mmsi else pair.a
            if other in seen:
                continue
            partner = self._fixes.get(other)
            if partner is not None and abs(ts - partner.ts) <= self._stale_ms:
                olat, olon = partner.at(ts)
                if self._apart(fix, partner, _metres(lat, lon, olat, olon)):
                    out.extend(self._end(pair, parted=True))
                    continue
            if ts - pair.last > self._gap_ms:
                if self._keeps_watch(pair, previous, fix, partner, sog):
                    pair.held = ts
                else:
                    out.extend(self._end(pair, parted=False))
        return out

    def _apart(self, fix: _Fix, other: _Fix, reckoned_m: float) -> bool:
        """Parted: `reckoned_m` (to the other's dead-reckoned position) and the distance to its
        last reported one both beyond `part_distance_m`."""
        return (
            reckoned_m > self._part_m
            and _metres(fix.lat, fix.lon, other.lat, other.lon) > self._part_m
        )

    def _keeps_watch(
        self,
        pair: _Pair,
        previous: _Fix | None,
        fix: _Fix,
        partner: _Fix | None,
        sog: float | None,
    ) -> bool:
        """Whether the vessel of `fix`, reporting regularly and slowly (so still near the
        meeting), waits for its silent partner: within `max_silent_gap_s` of their last close
        observation."""
        return (
            fix.ts - pair.last <= self._silent_gap_ms
            and sog is not None
            and sog < self._slow_kn
            and previous is not None
            and fix.ts - previous.ts <= self._stale_ms
            and partner is not None
            and fix.ts - partner.ts > self._stale_ms
        )

    def _lost(self, pair: _Pair, now: int) -> bool:
        """No close observation for too long: `max_gap_s`, or `max_silent_gap_s` while one of
        the two kept watch until `max_staleness_s` ago."""
        gap = now - pair.last
        if gap <= self._gap_ms:
            return False
        return gap > self._silent_gap_ms or now - pair.held > self._stale_ms

    def advance(self, now_ms: int) -> list[Alert]:
        out: list[Alert] = []
        for pair in [p for p in self._pairs.values() if self._lost(p, now_ms)]:
            out.extend(self._end(pair, parted=False))
        if now_ms - self._evicted_at > self._gap_ms:
            self._evicted_at = now_ms
            horizon = max(self._silent_gap_ms, self._stale_ms) * 2
            for mmsi in [m for m, f in self._fixes.items() if now_ms - f.ts > horizon]:
                if not self._pairs_of.get(mmsi):
                    self.forget(mmsi)
        return out

    def state_of(self, mmsi: int) -> bytes | None:
        fix = self._fixes.get(mmsi)
        if fix is None:
            return None
        pairs = [self._pairs[k].to_dict() for k in sorted(self._pairs_of.get(mmsi, ()))]
        return orjson.dumps({"fix": fix.to_list(), "pairs": pairs})

    def restore(self, mmsi: int, blob: bytes) -> None:
        data = orjson.loads(blob)
        self._place(mmsi, _Fix.from_list(data["fix"]), self._fixes.get(mmsi))
        for raw in data["pairs"]:
            pair = _Pair.from_dict(raw)
            known = self._pairs.get(pair.key)
            if known is not None and (known.last, known.n) >= (pair.last, pair.n):
                continue  # the partner's copy is newer
            self._pairs[pair.key] = pair
            self._pairs_of.setdefault(pair.a, set()).add(pair.key)
            self._pairs_of.setdefault(pair.b, set()).add(pair.key)

    def forget(self, mmsi: int) -> None:
        fix = self._fixes.pop(mmsi, None)
        if fix is not None:
            bucket = self._grid.get(fix.key)
            if bucket is not None:
                bucket.discard(mmsi)
                if not bucket:
                    del self._grid[fix.key]
        for key in list(self._pairs_of.pop(mmsi, ())):
            pair = self._pairs.pop(key, None)
            if pair is not None:
                other = pair.b if pair.a == mmsi else pair.a
                self._pairs_of.get(other, set()).discard(key)

    # -- neighbours --------------------------------------------------------------------------
    def _place(self, mmsi: int, fix: _Fix, previous: _Fix | None) -> None:
        if previous is not None and previous.key != fix.key:
            bucket = self._grid.get(previous.key)
            if bucket is not None:
                bucket.discard(mmsi)
                if not bucket:
                    del self._grid[previous.key]
        self._grid.setdefault(fix.key, set()).add(mmsi)
        self._fixes[mmsi] = fix

    def _neighbours(self, lat: float, lon: float) -> list[int]:
        reach_y = self._reach_y
        reach_x = ceil(reach_y / max(cos(radians(min(abs(lat) + 0.05, 89.0))), 1e-6))
        row = floor((lat + 90.0) / GRID_DEG)
        col = floor((lon + 180.0) / GRID_DEG)
        grid = self._grid
        found: list[int] = []
        for r in range(row - reach_y, row + reach_y + 1):
            base = r * 100_000
            for c in range(col - reach_x, col + reach_x + 1):
                bucket = grid.get(base + c)
                if bucket:
                    found.extend(bucket)
        return found

    # -- episodes ----------------------------------------------------------------------------
    def _observe(
        self,
        mmsi: int,
        fix: _Fix,
        other: int,
        olat: float,
        olon: float,
        sog: float | None,
        metres: float,
        parted: bool,
    ) -> list[Alert]:
        key = (mmsi, other) if mmsi < other else (other, mmsi)
        pair = self._pairs.get(key)
        if pair is not None and self._lost(pair, fix.ts):
            ended = self._end(pair, parted=False)
            pair = None
        else:
            ended = []
        if metres > self._close_m:
            if pair is not None and parted:
                return [*ended, *self._end(pair, parted=True)]
            return ended
        if pair is None:
            pair = self._pairs[key] = _Pair(key[0], key[1], fix.ts)
            self._pairs_of.setdefault(key[0], set()).add(key)
            self._pairs_of.setdefault(key[1], set()).add(key)
        pair.last = max(pair.last, fix.ts)
        pair.n += 1
        speed = sog if sog is not None else 0.0
        pair.n_slow += speed < self._slow_kn
        pair.hist[min(int(speed / SOG_BIN), SOG_BINS - 1)] += 1
        pair.lat_sum += (fix.lat + olat) / 2.0
        pair.lon_sum += (fix.lon + olon) / 2.0
        pair.d_sum += metres
        pair.d_min = min(pair.d_min, metres)
        if not pair.track or fix.ts - pair.track[-1][0] >= TRACK_EVERY_MS:
            a_pos, b_pos = ((fix.lon, fix.lat), (olon, olat))
            if key[0] != mmsi:
                a_pos, b_pos = b_pos, a_pos
            pair.track.append([fix.ts, *a_pos, *b_pos])
            if len(pair.track) > TRACK_MAX:
                pair.track = pair.track[::2]
        return [*ended, *self._consider(pair, fix.ts)]

    def _consider(self, pair: _Pair, ts: int) -> list[Alert]:
        if pair.last - pair.start < self._min_ms or pair.n_slow * 2 <= pair.n:
            return []
        if pair.alert is not None and ts - pair.revised_at < self._revise_ms:
            return []
        lat, lon = pair.lat_sum / pair.n, pair.lon_sum / pair.n
        if pair.alert is None:
            if self._near_port.in_kind(lat, lon, HARBOUR_KINDS):
                return []
            if self.geo.distance_to_shore_nm(lat, lon) < self._min_shore:
                return []
        alert = self._alert(pair, ts, lat, lon, end=None)
        pair.alert = alert
        pair.revised_at = ts
        return [alert] if self._emits(pair) else []

    def _end(self, pair: _Pair, parted: bool) -> list[Alert]:
        self._pairs.pop(pair.key, None)
        for m in pair.key:
            keys = self._pairs_of.get(m)
            if keys is not None:
                keys.discard(pair.key)
        if pair.alert is None:
            return []
        lat, lon = pair.lat_sum / pair.n, pair.lon_sum / pair.n
        closed = self._alert(pair, pair.last, lat, lon, end=pair.last, parted=parted)
        return [closed] if self._emits(pair) else []

    def _emits(self, pair: _Pair) -> bool:
        """Every consumer that sees a pair follows it (the same points give the same episode,
        id and revisions); only the one owning the lower-MMSI vessel's cell publishes."""
        if self.owns_cell is None:
            return True
        fix = self._fixes.get(pair.a)
        return fix is not None and self.owns_cell(cell_of(fix.lat, fix.lon))

    # -- the alert ---------------------------------------------------------------------------
    def _alert(
        self,
        pair: _Pair,
        ts: int,
        lat: float,
        lon: float,
        end: int | None,
        parted: bool = False,
    ) -> Alert:
        fa, fb = self._fixes.get(pair.a), self._fixes.get(pair.b)
        static_a = fa.static if fa else StaticFields()
        static_b = fb.static if fb else StaticFields()
        hours = (pair.last - pair.start) / 3_600_000
        median = pair.median_sog()
        mean_m = pair.d_sum / pair.n
        shore_nm = self.geo.distance_to_shore_nm(lat, lon)
        nearest = self._harbours.nearest(lat, lon)
        areas = self.geo.areas_at(lat, lon)
        watched = [a for a in areas if (z := self.geo.zones.get(a)) and z.kind in ALERT_KINDS]
        if self.config.severity is not None:
            severity = self.config.severity
        else:
            severity = Severity.HIGH if watched or hours >= 6 else Severity.MEDIUM
        reasons = [
            f"{_name(pair.a, static_a)} and {_name(pair.b, static_b)} within "
            f"{self._close_m:.0f} m of each other for {hours:.1f} h since {hhmm(pair.start)} "
            f"(mean {mean_m:.0f} m, closest {pair.d_min:.0f} m).",
            f"Median speed {median:.1f} kn over {pair.n} reports "
            f"({100.0 * pair.n_slow / pair.n:.0f}% below {self._slow_kn:g} kn).",
            f"At {lat:.4f}, {lon:.4f}, {shore_nm:.1f} nm from shore"
            + (
                f", {nearest[1] / 1000:.0f} km from the nearest port or anchorage "
                f"({nearest[0].name})."
                if nearest
                else "."
            ),
        ]
        if watched:
            reasons.append(f"In {', '.join(watched)}.")
        if end is not None:
            reasons.append(f"{'Parted' if parted else 'Contact lost'} after {hhmm(pair.last)}.")
        track_a = [[r[1], r[2]] for r in pair.track]
        evidence = {
            "type": "LineString",
            "coordinates": track_a if len(track_a) > 1 else track_a * 2,
        }
        extra = {
            "partner": {
                "mmsi": pair.b,
                "name": static_b.name,
                "callsign": static_b.callsign,
                "imo": static_b.imo,
                "ship_type": static_b.ship_type,
                "flag": fb.flag if fb else None,
            },
            "partner_track": {
                "type": "LineString",
                "coordinates": [[r[3], r[4]] for r in pair.track] or evidence["coordinates"],
            },
            "duration_h": round(hours, 2),
            "median_sog_kn": round(median, 2),
            "mean_distance_m": round(mean_m, 1),
            "min_distance_m": round(pair.d_min, 1),
            "distance_to_shore_nm": round(shore_nm, 2),
            "nearest_harbour": nearest[0].id if nearest else None,
            "nearest_harbour_km": round(nearest[1] / 1000, 1) if nearest else None,
            "reports": pair.n,
        }
        score = min(1.0, SEVERITY_SCORE[severity] + 0.05 * min(hours - 2.0, 4.0))
        if pair.alert is None:
            return Alert(
                id=alert_id(self.alert_type, pair.key, pair.start),
                type=self.alert_type,
                severity=severity,
                score=max(0.0, score),
                mmsi=pair.a,
                mmsis=pair.key,
                vessel=vessel_of(static_a, fa.flag if fa else None),
                lat=lat,
                lon=lon,
                start=pair.start,
                end=end,
                detected_at=ts,
                reasons=tuple(reasons),
                evidence=evidence,
                rule=self.config.rule,
                tlp=self.config.tlp,
                areas=areas,
                extra=extra,
            )
        previous = pair.alert
        return previous.revised(
            severity=severity if severity.rank > previous.severity.rank else previous.severity,
            score=max(previous.score, score),
            lat=lat,
            lon=lon,
            end=end,
            reasons=tuple(reasons),
            evidence=evidence,
            areas=tuple(dict.fromkeys((*previous.areas, *areas))),
            extra=extra,
        )


def _name(mmsi: int, static: StaticFields) -> str:
    bits = [b for b in (static.name, ship_type_name(static.ship_type)) if b]
    return f"MMSI {mmsi}" + (f" ({', '.join(bits)})" if bits else "")
