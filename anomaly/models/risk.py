"""The migrant-risk model: indicators an officer would weigh, combined into a calibrated score.

Indicators (each 0 when absent, up to 1; `INDICATORS`):

    departed               left a departure area (Cox's Bazar-Teknaf, Rakhine) in the last 72 h
    small_boat             a fishing boat or a vessel of unknown type, small or of unknown size
    class_b_or_no_static   a class B transponder, or no name and type ever broadcast
    steady_transit         hours of steady, slow passage (3-10 kn, course held) in open water
    toward_foreign_coast   heading for a destination coast of another country than its own
    gaps                   the longest silence of the last day
    stopped_at_sea         hours stopped well offshore in the last day (a meeting at sea?)
    night_idle_near_coast  hours idling near a destination coast at night
    identity               an invalid MMSI, a wrong IMO check digit, identity changes

`VesselRisk` follows one vessel point by point (small, serialisable state) and gives the
indicator vector at any time, with the facts behind it; `RiskModel` turns the vector into a
probability (a `NonNegativeLogisticRegression`, sigmoid-calibrated, kept as its weights) and
says how much each indicator adds (its share of the score, in proportion to its weight in the
log-odds), in words an officer can check ("Left the departure area near Teknaf 14 h ago (+0.21)").

Trained by `train_risk_model` on labelled data: simulated scenarios (`lookout.sim`) and, when
available, officers' outcomes.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray

from anomaly.models.features import circular_mean_deg, circular_spread_deg, local_hour
from tracks.records import IDENTITY_CHANGE, StaticFields, TrackPoint

__all__ = [
    "DEFAULT_MODEL",
    "INDICATORS",
    "RiskGeography",
    "RiskModel",
    "VesselRisk",
    "risk_samples",
    "train_risk_model",
]

DEFAULT_MODEL: Final = Path(__file__).resolve().parent / "data" / "risk.joblib"
INDICATORS: Final = (
    "departed",
    "small_boat",
    "class_b_or_no_static",
    "steady_transit",
    "toward_foreign_coast",
    "gaps",
    "stopped_at_sea",
    "night_idle_near_coast",
    "identity",
)
HOUR: Final = 3_600_000
SAMPLE_MS: Final = 120_000
KEEP_MS: Final = 12 * HOUR
DAY_MS: Final = 24 * HOUR
BUCKET_MS: Final = 15 * 60_000
DEPARTED_WITHIN_MS: Final = 72 * HOUR
DEPARTED_AWAY_NM: Final = 25.0  # the departure indicator is full once this far from the area
TRANSIT_KN: Final = (4.5, 10.0)  # "steady, slow passage": a laden small boat's speeds
STEADY_FULL_H: Final = 8.0
STEADY_OFFSHORE_NM: Final = 40.0
STEADY_SPREAD_DEG: Final = 25.0  # course held within this (circular spread) over 3 h stretches
NM: Final = 1852.0

COUNTRY_NAMES: Final = {
    "BD": "Bangladesh",
    "MM": "Myanmar",
    "IN": "India",
    "TH": "Thailand",
    "MY": "Malaysia",
    "ID": "Indonesia",
    "LK": "Sri Lanka",
}


def is_valid_imo(imo: int) -> bool:
    if not 1_000_000 <= imo <= 9_999_999:
        return False
    digits = f"{imo}"
    total = sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True))
    return total % 10 == int(digits[6])


# -- geography ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Coast:
    id: str
    name: str
    country: str | None
    lat: NDArray[np.float64]  # points along the zone's outline
    lon: NDArray[np.float64]
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # south, west, north, east

    def __post_init__(self) -> None:
        if self.bbox == (0.0, 0.0, 0.0, 0.0) and len(self.lat):
            box = (
                float(self.lat.min()),
                float(self.lon.min()),
                float(self.lat.max()),
                float(self.lon.max()),
            )
            object.__setattr__(self, "bbox", box)

    def near(self, lat: float, lon: float, margin_deg: float) -> bool:
        """Within `margin_deg` of the outline's bounding box."""
        south, west, north, east = self.bbox
        return (
            south - margin_deg <= lat <= north + margin_deg
            and west - margin_deg <= lon <= east + margin_deg
        )


class _ZonesLike(Protocol):
    def zones_at(self, lat: float, lon: float) -> list[Any]: ...

    def __iter__(self) -> Any: ...


@dataclass
class RiskGeography:
    """What the indicators need to know about the world (plain callables and outlines)."""

    departure_at: Callable[[float, float], tuple[str, str, str | None] | None]
    distance_to_shore_nm: Callable[[float, float], float]
    coasts: tuple[Coast, ...] = ()

    @classmethod
    def none(cls) -> RiskGeography:
        return cls(lambda lat, lon: None, lambda lat, lon: 999.0, ())

    @classmethod
    def from_geography(cls, geo: Any) -> RiskGeography:
        """From an `anomaly.geo.Geography`: its departure areas and destination coasts."""
        zones = geo.zones
        areas = [z for z in zones if z.kind == "departure_area"]
        if areas:
            west = min(z.geometry.bounds[0] for z in areas)
            south = min(z.geometry.bounds[1] for z in areas)
            east = max(z.geometry.bounds[2] for z in areas)
            north = max(z.geometry.bounds[3] for z in areas)
        else:
            west = south = east = north = float("nan")

        def departure_at(lat: float, lon: float) -> tuple[str, str, str | None] | None:
            if not (south <= lat <= north and west <= lon <= east):
                return None  # far from every departure area (the usual case): no lookup
            for zone in zones.zones_at(lat, lon):
                if zone.kind == "departure_area":
                    return zone.id, _short(zone.name), zone.country
            return None

        coasts = []
        for zone in zones:
            if zone.kind != "destination_coast":
                continue
            coords = _outline(zone.geometry)
            coasts.append(
                Coast(zone.id, _short(zone.name), zone.country, coords[:, 1], coords[:, 0])
            )
        return cls(departure_at, geo.distance_to_shore_nm, tuple(coasts))

    def toward(
        self, lat: float, lon: float, course: float, exclude: set[str | None]
    ) -> tuple[float, Coast | None, float]:
        """How squarely `course` points at a coast of another country: (1 within 10 degrees,
        falling to 0 at 40), the coast, and the distance to it in nm."""
        best, best_coast, best_nm = 0.0, None, 0.0
        for coast in self.coasts:
            if coast.country in exclude:
                continue
            dist = _haversine_nm(lat, lon, coast.lat, coast.lon)
            near = float(dist.min())
            if near > 1500.0:
                continue
            bearings = _bearings(lat, lon, coast.lat, coast.lon)
            off = np.abs((bearings - course + 540.0) % 360.0 - 180.0)
            value = float(np.clip(1.0 - (off.min() - 10.0) / 30.0, 0.0, 1.0))
            if value > best or (value == best and value > 0 and near < best_nm):
                best, best_coast, best_nm = value, coast, near
        return best, best_coast, best_nm

    def near_coast_nm(self, lat: float, lon: float) -> tuple[float, Coast | None]:
        """The nearest destination coast and the nm to it; (inf, None) beyond a degree."""
        best, which = math.inf, None
        for coast in self.coasts:
            if not coast.near(lat, lon, 1.0):
                continue
            d = float(_haversine_nm(lat, lon, coast.lat, coast.lon).min())
            if d < best:
                best, which = d, coast
        return best, which


def _short(name: str) -> str:
    """'Cox's Bazar - Teknaf coast ... (departure area)' -> without the parenthesis."""
    return name.split(" (")[0].strip()


def _outline(geometry: Any, every_km: float = 10.0) -> NDArray[np.float64]:
    import shapely

    boundary = geometry.boundary
    length_deg = boundary.length
    n = max(8, min(600, int(length_deg * 111.0 / every_km)))
    points = shapely.line_interpolate_point(boundary, np.linspace(0, 1, n), normalized=True)
    return np.asarray(shapely.get_coordinates(points), dtype=np.float64)  # lon, lat


def _haversine_nm(
    lat: float, lon: float, lats: NDArray[np.float64], lons: NDArray[np.float64]
) -> NDArray[np.float64]:
    p1, p2 = math.radians(lat), np.radians(lats)
    dp = p2 - p1
    dl = np.radians(lons - lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    result: NDArray[np.float64] = 2 * 6_371_008.8 * np.arcsin(np.minimum(1.0, np.sqrt(a))) / NM
    return result


def _bearings(
    lat: float, lon: float, lats: NDArray[np.float64], lons: NDArray[np.float64]
) -> NDArray[np.float64]:
    p1, p2 = math.radians(lat), np.radians(lats)
    dl = np.radians(lons - lon)
    y = np.sin(dl) * np.cos(p2)
    x = math.cos(p1) * np.sin(p2) - math.sin(p1) * np.cos(p2) * np.cos(dl)
    result: NDArray[np.float64] = np.degrees(np.arctan2(y, x)) % 360.0
    return result


# -- per-vessel state ---------------------------------------------------------------------
_S: Final = 5  # ts, lat, lon, sog, cog


class VesselRisk:
    """One vessel's indicators, kept up to date point by point."""

    __slots__ = (
        "ais_class",
        "changes",
        "dep_country",
        "dep_last",
        "dep_lat",
        "dep_lon",
        "dep_name",
        "first_ts",
        "flag",
        "gaps",
        "in_dep",
        "last_dep_check",
        "last_ts",
        "mmsi",
        "mmsi_class",
        "night",
        "samples",
        "static",
        "stopped",
    )

    def __init__(self, mmsi: int) -> None:
        self.mmsi = mmsi
        self.first_ts = 0
        self.last_ts = 0
        self.static = StaticFields()
        self.ais_class: str | None = None
        self.mmsi_class = "ship"
        self.flag: str | None = None
        self.changes = 0
        self.in_dep = False
        self.dep_last = 0  # last time seen inside a departure area
        self.dep_lat = 0.0  # ... and where
        self.dep_lon = 0.0
        self.dep_name = ""
        self.dep_country: str | None = None
        self.last_dep_check = 0
        self.samples: array[float] = array("d")
        self.gaps: list[tuple[int, float]] = []  # (end ts, hours)
        self.stopped: dict[int, float] = {}  # 15 min bucket -> seconds stopped at sea
        self.night: dict[int, float] = {}  # 15 min bucket -> seconds idle near a coast, night

    # -- state ------------------------------------------------------------------------
    def to_json(self) -> list[Any]:
        return [
            self.mmsi,
            self.first_ts,
            self.last_ts,
            list(self.static),
            self.ais_class,
            self.mmsi_class,
            self.flag,
            self.changes,
            self.in_dep,
            self.dep_last,
            self.dep_name,
            self.dep_country,
            self.last_dep_check,
            self.dep_lat,
            self.dep_lon,
            list(self.samples),
            [list(g) for g in self.gaps],
            list(self.stopped.items()),
            list(self.night.items()),
        ]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> VesselRisk:
        st = cls(int(data[0]))
        st.first_ts, st.last_ts = int(data[1]), int(data[2])
        st.static = StaticFields(*data[3])
        st.ais_class, st.mmsi_class, st.flag = data[4], data[5], data[6]
        st.changes, st.in_dep, st.dep_last = int(data[7]), bool(data[8]), int(data[9])
        st.dep_name, st.dep_country, st.last_dep_check = data[10], data[11], int(data[12])
        st.dep_lat, st.dep_lon = float(data[13]), float(data[14])
        st.samples = array("d", data[15])
        st.gaps = [(int(t), float(h)) for t, h in data[16]]
        st.stopped = {int(k): float(v) for k, v in data[17]}
        st.night = {int(k): float(v) for k, v in data[18]}
        return st

    # -- points -----------------------------------------------------------------------
    def update(self, point: TrackPoint, geo: RiskGeography) -> None:
        """Take a point. Cheap for most points: the state moves on at most once a
        `SAMPLE_MS` (a sample), where the geography is looked up and the time since the
        previous sample is booked (stopped at sea, idle near a coast at night)."""
        if point.flags and IDENTITY_CHANGE in point.flags:
            self.changes += 1
        if not point.segment_id or point.lat is None or point.lon is None:
            return
        ts = point.ts
        last = self.last_ts
        if ts <= last:
            return
        if last and ts - last >= HOUR:
            self.gaps.append((ts, (ts - last) / HOUR))
        self.last_ts = ts
        rows = self.samples
        if rows and ts - rows[-_S] < SAMPLE_MS:
            return
        self._sample(point, geo, ts - int(rows[-_S]) if rows else 0)

    def _sample(self, point: TrackPoint, geo: RiskGeography, since_ms: int) -> None:
        ts, lat, lon = point.ts, point.lat, point.lon
        assert lat is not None and lon is not None
        self.static = point.static
        if point.ais_class:
            self.ais_class = point.ais_class
        self.mmsi_class = point.mmsi_class
        self.flag = point.flag
        if not self.first_ts:
            self.first_ts = ts
        sog = point.sog if point.sog is not None else (point.implied_sog or 0.0)
        where = geo.departure_at(lat, lon)
        self.last_dep_check = ts
        if where is not None:
            self.in_dep = True
            self.dep_last = ts
            self.dep_lat, self.dep_lon = lat, lon
            self.dep_name = where[1]
            self.dep_country = where[2]
        else:
            self.in_dep = False
        counted = min(since_ms, 10 * 60_000) / 1000.0
        if counted and sog < 2.0:
            bucket = ts // BUCKET_MS
            if sog < 1.0 and geo.distance_to_shore_nm(lat, lon) >= 12.0:
                self.stopped[bucket] = self.stopped.get(bucket, 0.0) + counted
            hour = local_hour(ts, lon)
            if (hour >= 18.0 or hour < 6.0) and geo.coasts:
                near, _ = geo.near_coast_nm(lat, lon)
                if near <= 40.0:
                    self.night[bucket] = self.night.get(bucket, 0.0) + counted
        rows = self.samples
        rows.extend((float(ts), lat, lon, sog, -1.0 if point.cog is None else point.cog))
        if rows[0] < ts - KEEP_MS:
            drop = 0
            while drop < len(rows) - _S and rows[drop] < ts - KEEP_MS:
                drop += _S
            del rows[:drop]
        if self.gaps and self.gaps[0][0] < ts - DAY_MS:
            self.gaps = [g for g in self.gaps if g[0] >= ts - DAY_MS]
        if ts // HOUR != (ts - since_ms) // HOUR:  # once an hour: forget buckets over a day old
            oldest = (ts - DAY_MS) // BUCKET_MS
            for buckets in (self.stopped, self.night):
                for key in [k for k in buckets if k < oldest]:
                    del buckets[key]

    def small_craft_signs(self) -> tuple[float, float]:
        """(small_boat, class_b_or_no_static): the two cheap indicators, without the rest."""
        x, _ = self._identity_signs()
        return x

    def _identity_signs(self) -> tuple[tuple[float, float], dict[str, Any]]:
        st = self.static
        ship_type = st.ship_type
        length = (st.to_bow or 0) + (st.to_stern or 0)
        small = 0.0
        if ship_type is None or ship_type == 0:
            small = 1.0
        elif ship_type == 30:
            small = 1.0 if length == 0 or length < 45 else 0.3
        elif ship_type == 37 or 90 <= ship_type <= 99:
            small = 0.5
        elif 20 <= ship_type <= 49 and not 31 <= ship_type <= 32:
            small = 0.3
        no_static = st.name is None and st.ship_type is None
        class_b = 1.0 if self.ais_class == "B" or no_static else 0.0
        facts = {
            "ship_type": ship_type,
            "length": length,
            "class_b": self.ais_class == "B",
            "no_static": no_static,
        }
        return (small, class_b), facts

    @property
    def last_sample_ts(self) -> int:
        return int(self.samples[-_S]) if self.samples else 0

    @property
    def observed_h(self) -> float:
        return (self.last_ts - self.first_ts) / HOUR if self.first_ts else 0.0

    def position(self) -> tuple[float, float] | None:
        if not self.samples:
            return None
        return self.samples[-_S + 1], self.samples[-_S + 2]

    # -- indicators -------------------------------------------------------------------
    def indicators(self, geo: RiskGeography) -> tuple[NDArray[np.float64], dict[str, Any]]:
        """The indicator vector now (at the last point) and the facts behind it."""
        now = self.last_ts
        facts: dict[str, Any] = {}
        x = np.zeros(len(INDICATORS), dtype=np.float64)
        # departed: out of the area and well on its way (not a boat fishing along its edge)
        if self.dep_last and not self.in_dep and now - self.dep_last <= DEPARTED_WITHIN_MS:
            here = self.position()
            away = 0.0
            if here is not None:
                away = float(
                    _haversine_nm(
                        self.dep_lat, self.dep_lon, np.array([here[0]]), np.array([here[1]])
                    )[0]
                )
            x[0] = min(1.0, away / DEPARTED_AWAY_NM)
            if x[0] > 0:
                facts["departed_h"] = (now - self.dep_last) / HOUR
                facts["departed_nm"] = away
                facts["departure"] = self.dep_name
        (x[1], x[2]), signs = self._identity_signs()
        facts.update(signs)
        st = self.static
        # steady transit across open sea: the last 12 h of samples, held course and speed,
        # full after STEADY_FULL_H hours STEADY_OFFSHORE_NM or more from shore
        m = np.frombuffer(self.samples, dtype=np.float64).reshape(-1, _S)
        recent = m
        if len(recent) >= 4:
            sog, cog = recent[:, 3], recent[:, 4]
            moving = (sog >= TRANSIT_KN[0]) & (sog <= TRANSIT_KN[1]) & (cog >= 0)
            steady_h = _steady_hours(recent, moving)
            mid = recent[-1]
            offshore = geo.distance_to_shore_nm(float(mid[1]), float(mid[2]))
            x[3] = min(1.0, steady_h / STEADY_FULL_H) * min(1.0, offshore / STEADY_OFFSHORE_NM)
            if moving.sum() >= 2:
                tail = moving & (recent[:, 0] >= now - 3 * HOUR)
                facts["speed"] = (
                    float(sog[tail].mean()) if tail.any() else float(sog[moving].mean())
                )
                facts["course"] = circular_mean_deg(cog[tail] if tail.sum() >= 2 else cog[moving])
                facts["steady_h"] = steady_h
                facts["offshore_nm"] = offshore
            # toward a foreign coast: the course of the last 2 h
            last2 = recent[recent[:, 0] >= now - 2 * HOUR]
            mov2 = (last2[:, 3] >= TRANSIT_KN[0]) & (last2[:, 4] >= 0)
            if mov2.sum() >= 2 and geo.coasts:
                course = circular_mean_deg(last2[mov2, 4])
                lat, lon = float(last2[-1, 1]), float(last2[-1, 2])
                own = {self.flag, self.dep_country} - {None}
                value, coast, dist = geo.toward(lat, lon, course, own or {None})
                if coast is not None and value > 0:
                    x[4] = value
                    facts["coast"] = coast.name
                    facts["coast_country"] = COUNTRY_NAMES.get(coast.country or "", coast.country)
                    facts["coast_nm"] = dist
        # gaps
        gaps = [h for t, h in self.gaps if t >= now - DAY_MS]
        if gaps:
            longest = max(gaps)
            x[5] = min(1.0, longest / 12.0)
            facts["gap_h"] = longest
        # stopped at sea, idle near a coast at night
        since = (now - DAY_MS) // BUCKET_MS
        stopped_h = sum(v for k, v in self.stopped.items() if k >= since) / 3600.0
        if stopped_h >= 0.25:
            x[6] = min(1.0, stopped_h / 3.0)
            facts["stopped_h"] = stopped_h
        night_h = sum(v for k, v in self.night.items() if k >= since) / 3600.0
        if night_h >= 0.25:
            x[7] = min(1.0, night_h / 3.0)
            facts["night_h"] = night_h
        # identity
        problems = []
        if self.mmsi_class == "invalid":
            problems.append(f"MMSI {self.mmsi} is not a valid ship identity")
        if st.imo and not is_valid_imo(st.imo):
            problems.append(f"IMO number {st.imo} fails its check digit")
        if self.changes >= 2:
            problems.append(f"its name or call sign changed {self.changes} times")
        if problems:
            x[8] = 1.0
            facts["identity"] = "; ".join(problems)
        return x, facts


def _steady_hours(rows: NDArray[np.float64], moving: NDArray[np.bool_]) -> float:
    """Hours, counted back from the latest sample, of passage at transit speed with the course
    held (each 3 h stretch within `STEADY_SPREAD_DEG`); a stop or a turn ends the count."""
    if not moving[-1]:
        return 0.0
    end = len(rows) - 1
    start = end
    while start > 0 and moving[start - 1] and rows[start, 0] - rows[start - 1, 0] <= 2 * HOUR:
        start -= 1
    run = rows[start : end + 1]
    first = float(run[0, 0])
    # walk back in 3 h stretches from the end while the course holds
    stretch_end = float(run[-1, 0])
    held_from = stretch_end
    while stretch_end > first:
        piece = run[(run[:, 0] > stretch_end - 3 * HOUR) & (run[:, 0] <= stretch_end)]
        if len(piece) >= 2 and circular_spread_deg(piece[:, 4]) > STEADY_SPREAD_DEG:
            break
        held_from = max(first, stretch_end - 3 * HOUR)
        stretch_end -= 3 * HOUR
    return (float(run[-1, 0]) - held_from) / HOUR


def describe(indicator: str, facts: Mapping[str, Any]) -> str:
    """An indicator in an officer's words, with its figures."""
    if indicator == "departed":
        return (
            f"Left the departure area ({facts.get('departure', '?')}) "
            f"{facts.get('departed_h', 0):.0f} h ago, now {facts.get('departed_nm', 0):.0f} nm "
            f"away"
        )
    if indicator == "small_boat":
        ship_type, length = facts.get("ship_type"), facts.get("length") or 0
        size = f", {length} m" if length else ", size not given"
        if ship_type in (None, 0):
            return f"Vessel type not given{size}"
        if ship_type == 30:
            return f"Small fishing vessel{size}"
        return f"Small craft (AIS type {ship_type}){size}"
    if indicator == "class_b_or_no_static":
        if facts.get("no_static"):
            return "No name, call sign or type ever broadcast"
        return "Class B transponder (small-craft AIS)"
    if indicator == "steady_transit":
        return (
            f"Steady {facts.get('speed', 0):.1f} kn on course {facts.get('course', 0):03.0f}° "
            f"for {facts.get('steady_h', 0):.1f} h, {facts.get('offshore_nm', 0):.0f} nm "
            f"offshore"
        )
    if indicator == "toward_foreign_coast":
        return (
            f"Heading for the coast of {facts.get('coast_country')} "
            f"({facts.get('coast')}), {facts.get('coast_nm', 0):,.0f} nm away"
        )
    if indicator == "gaps":
        return f"Silent for {facts.get('gap_h', 0):.1f} h in the last day"
    if indicator == "stopped_at_sea":
        return f"Stopped at sea for {facts.get('stopped_h', 0):.1f} h (a meeting with other craft?)"
    if indicator == "night_idle_near_coast":
        return f"Idling off a destination coast at night for {facts.get('night_h', 0):.1f} h"
    if indicator == "identity":
        return f"Identity: {facts.get('identity')}"
    return indicator


# -- the model ----------------------------------------------------------------------------
Fold = tuple[tuple[float, ...], float, float, float]  # weights, intercept, sigmoid a and b


@dataclass
class RiskModel:
    """The fitted model in closed form: per calibrated fold, the indicator weights, intercept
    and sigmoid calibration (a, b); p = mean over folds of 1 / (1 + exp(a (w.x + c) + b)).
    Plain numbers: scoring needs neither scikit-learn nor its millisecond a call."""

    version: str
    trained_at: str
    folds: list[Fold]
    indicators: tuple[str, ...] = INDICATORS
    threshold: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)
    kind: str = "migrant_risk"

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Upgrade a model of file formats 1 and 2, which also held the scikit-learn estimator
        the folds came from."""
        estimator = state.pop("estimator", None)
        if not state.get("folds"):
            state["folds"] = _closed_form(estimator)
        if not state["folds"]:
            raise ValueError("a risk model without a closed form: retrain it with `lookout train`")
        self.__dict__.update(state)

    def proba(self, x: NDArray[np.float64] | Sequence[float]) -> float:
        values = [float(v) for v in x]
        total = 0.0
        for weights, intercept, a, b in self.folds:
            f = intercept + sum(w * v for w, v in zip(weights, values, strict=True))
            z = a * f + b
            total += 1.0 / (1.0 + math.exp(z)) if z < 700 else 0.0
        return total / len(self.folds)

    def contributions(self, x: NDArray[np.float64]) -> list[tuple[str, float]]:
        """(indicator, its share of the score) for each indicator present, largest first.

        The score above that of a vessel with no sign at all (p - p0) is shared among the
        indicators in proportion to what each adds to the model's log-odds (weight times
        value, non-negative by construction, averaged over the calibrated folds): the shares
        add up to p - p0, and none is negative."""
        values = [float(v) for v in x]
        present = [i for i, v in enumerate(values) if v > 0]
        if not present:
            return []
        log_odds = [0.0] * len(values)
        for weights, _, a, _ in self.folds:
            for i in present:
                log_odds[i] += -a * weights[i] * values[i] / len(self.folds)
        total = sum(log_odds[i] for i in present)
        if total <= 0:
            return []
        rise = self.proba(x) - self.proba(np.zeros(len(values)))
        out = [(self.indicators[i], rise * log_odds[i] / total) for i in present]
        return sorted(out, key=lambda item: -item[1])

    def reasons(
        self, x: NDArray[np.float64], facts: Mapping[str, Any], min_share: float = 0.005
    ) -> list[str]:
        out = []
        for name, delta in self.contributions(x):
            if abs(delta) < min_share:
                continue
            out.append(f"{describe(name, facts)} ({delta:+.2f})")
        return out


def risk_samples(
    tracks: Iterable[tuple[int, Sequence[TrackPoint]]],
    geo: RiskGeography,
    positive: Callable[[int, int], bool],
    *,
    every_min: float = 30.0,
    min_observed_h: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Indicator vectors every `every_min` of each vessel's track, labelled by `positive(mmsi,
    ts)`; with the vessel of each row (for grouped cross-validation)."""
    rows: list[NDArray[np.float64]] = []
    labels: list[int] = []
    groups: list[int] = []
    step = int(every_min * 60_000)
    for mmsi, points in tracks:
        st = VesselRisk(mmsi)
        next_eval = 0
        for point in points:
            st.update(point, geo)
            if st.last_ts >= next_eval and st.observed_h >= min_observed_h:
                next_eval = st.last_ts + step
                x, _ = st.indicators(geo)
                rows.append(x)
                labels.append(1 if positive(mmsi, st.last_ts) else 0)
                groups.append(mmsi)
    if not rows:
        return (
            np.zeros((0, len(INDICATORS))),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
        )
    return np.vstack(rows), np.asarray(labels, dtype=np.int64), np.asarray(groups, dtype=np.int64)


def choose_threshold(
    p: NDArray[np.float64],
    y: NDArray[np.int64],
    groups: NDArray[np.int64],
    *,
    persist: int = 4,  # as the migrant_risk rule's default
    max_false_share: float = 0.005,
) -> tuple[float, dict[str, float]]:
    """The alert level that alerts the most risky vessels (`persist` evaluations in a row at or
    above it) while alerting at most `max_false_share` of the ordinary ones; rows are each
    vessel's evaluations in time order."""
    risky = set(groups[y == 1].tolist())
    vessels = sorted(set(groups.tolist()))
    ordinary = [v for v in vessels if v not in risky]
    best = (0.95, -1.0, 0.0)
    for level in np.arange(0.20, 0.96, 0.05):
        alerted = set()
        run: dict[int, int] = {}
        for value, vessel in zip(p, groups, strict=True):
            run[vessel] = run.get(vessel, 0) + 1 if value >= level else 0
            if run[vessel] >= persist:
                alerted.add(vessel)
        recall = len(alerted & risky) / len(risky) if risky else 0.0
        false_share = len(alerted - risky) / len(ordinary) if ordinary else 0.0
        if false_share <= max_false_share and recall > best[1]:
            best = (float(round(level, 2)), recall, false_share)
    return best[0], {"vessel_recall": round(best[1], 4), "false_vessel_share": round(best[2], 5)}


def train_risk_model(
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    groups: NDArray[np.int64] | None = None,
    *,
    C: float = 1.0,
    calibration: str = "sigmoid",
    threshold: float | None = None,
    sources: Sequence[str] = (),
    trained_at: str | None = None,
) -> RiskModel:
    """Fit the indicator weights (non-negative), calibrate the probabilities (`calibration`:
    "sigmoid" or "none") and, given the vessel of each row (`groups`) and no `threshold`,
    choose the alert level."""
    from sklearn.calibration import CalibratedClassifierCV  # type: ignore[import-untyped]

    from anomaly.models.estimators import NonNegativeLogisticRegression

    if len(set(y.tolist())) < 2:
        raise ValueError("training data needs both risky and ordinary vessels")
    if calibration not in ("sigmoid", "none"):
        raise ValueError(f"calibration must be 'sigmoid' or 'none', got {calibration!r}")
    base = NonNegativeLogisticRegression(C=C, class_weight="balanced")
    positives = int(y.sum())
    if calibration == "none" or positives < 6:
        estimator: Any = base.fit(X, y)
    else:
        estimator = CalibratedClassifierCV(base, method=calibration, cv=3).fit(X, y)
    when = trained_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = {
        "samples": len(y),
        "positives": positives,
        "C": C,
        "calibration": calibration,
        "sources": list(sources),
        "digest": hashlib.sha256(np.round(X, 4).tobytes() + y.tobytes()).hexdigest()[:16],
    }
    level = 0.5 if threshold is None else threshold
    if threshold is None and groups is not None:
        scored = RiskModel("", "", _closed_form(estimator))
        p = np.array([scored.proba(row) for row in X])
        level, quality = choose_threshold(p, y, groups)
        summary["threshold"] = {"level": level, **quality}
    weights = _weights(estimator)
    if weights is not None:
        summary["weights"] = {
            name: round(float(w), 4) for name, w in zip(INDICATORS, weights, strict=True)
        }
    digest = hashlib.sha256(repr(sorted(summary.items())).encode()).hexdigest()[:10]
    version = f"risk-{when.replace('-', '').replace(':', '')}-{digest}"
    return RiskModel(version, when, _closed_form(estimator), INDICATORS, level, summary)


def _closed_form(estimator: Any) -> list[Fold]:
    """The folds of a sigmoid-calibrated linear model, or of a bare logistic one ([] when the
    estimator is neither)."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated is None:
        if hasattr(estimator, "coef_") and len(getattr(estimator, "classes_", ())) == 2:
            weights = tuple(float(w) for w in estimator.coef_[0])
            return [(weights, float(estimator.intercept_[0]), -1.0, 0.0)]
        return []
    folds = []
    for fold in calibrated:
        base = fold.estimator
        calibrators = getattr(fold, "calibrators", [])
        if not hasattr(base, "coef_") or len(calibrators) != 1:
            return []
        sigmoid = calibrators[0]
        if not hasattr(sigmoid, "a_"):
            return []  # isotonic: no closed form
        weights = tuple(float(w) for w in base.coef_[0])
        folds.append((weights, float(base.intercept_[0]), float(sigmoid.a_), float(sigmoid.b_)))
    return folds


def _weights(estimator: Any) -> NDArray[np.float64] | None:
    if hasattr(estimator, "coef_"):
        return np.asarray(estimator.coef_[0], dtype=np.float64)
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated:
        coefs = [c.estimator.coef_[0] for c in calibrated if hasattr(c.estimator, "coef_")]
        if coefs:
            return np.asarray(np.mean(coefs, axis=0), dtype=np.float64)
    return None
