"""coastal_approach: a vessel from the open sea heading for a coast outside any port.

A vessel is looked at once every `eval_every_s` (its other points cost a dictionary look-up).
When it is moving (speed at least `min_sog_kn`) within `horizon_nm` of the shore, a ray is cast
along its course over ground (`Shore.landfall`, sphere tracing on the distance to shore). The
vessel is approaching the coast when the ray meets land within the horizon, the time to landfall
at its speed is at most `max_time_to_landfall_h`, and it came from the open sea: it was at least
`min_offshore_nm` from shore in the last `offshore_lookback_h`. Coastal traffic that never leaves
the shore's lee does not qualify.

What a careful analyst would not call an approach to the coast:
- making for a port or anchorage: the vessel is in or near one (`port_clearance_km`), the
  landfall is near one, or one lies ahead on its course (its centre within `port_cone_deg`,
  widened by the zone's own size, at most `port_ahead_nm` beyond the landfall): a port up a
  river or behind a headland is reached by heading for the coast next to it;
- merchant, passenger and high-speed traffic and special craft (`ignore_ship_types`): ferries,
  cargo ships and tankers keep to lanes and ports;
- a fishing vessel (`fishing_ship_types`) below `fishing_min_sog_kn`: trawling or hauling, not
  running for the shore.

The condition must hold for `persist_s` before an alert opens (a course wobble, a lane's turn or
a short hop between moorings is not an approach). The alert is revised as the time to landfall
falls (at most every `revise_every_s`, when it changed by 5 min or more), and ends when the
vessel turns away or slows (no approach for `clear_s`), enters a port or anchorage, or reaches
the coast (within `arrive_nm`). Severity is high when the landfall is on a destination coast
(a `destination_coast` zone), medium elsewhere.
"""

from __future__ import annotations

from math import asin, atan2, cos, degrees, hypot, radians
from typing import Any, ClassVar

import orjson

from anomaly.detectors.base import RuleConfig
from anomaly.geo import Geography, Landfall, ZoneIndex, geography_for
from anomaly.geo.evidence import (
    SEVERITY_SCORE,
    Trail,
    describe,
    hhmm,
    linestring,
    params,
    ship_types,
    vessel_of,
)
from anomaly.geo.geodesy import METRES_PER_NM, destination
from anomaly.geo.zones import DESTINATION_COAST, HARBOUR_KINDS
from anomaly.records import Alert, AlertType, Severity, alert_id
from tracks.records import TrackPoint

DEFAULTS: dict[str, Any] = {
    "horizon_nm": 24.0,
    "max_time_to_landfall_h": 3.0,
    "min_sog_kn": 2.0,
    "min_offshore_nm": 12.0,
    "offshore_lookback_h": 24.0,
    "persist_s": 2400.0,
    "clear_s": 900.0,
    "eval_every_s": 60.0,
    "revise_every_s": 1800.0,
    "port_clearance_km": 9.0,
    "port_ahead_nm": 15.0,
    "port_cone_deg": 8.0,
    "arrive_nm": 0.5,
    "fishing_ship_types": [30],
    "fishing_min_sog_kn": 4.5,
    "ignore_ship_types": ["40-49", "50-59", "60-69", "70-89"],
    "ignore_mmsi_classes": ["aton", "coast_station", "sar_aircraft", "sart", "mob", "epirb"],
    "countries": [],  # coast countries to watch (ISO alpha-2); empty: every coast
}


class _VesselState:
    __slots__ = ("alert", "approach_since", "clear_since", "last_eval", "offshore_at", "trail")

    def __init__(self) -> None:
        self.offshore_at: int | None = None  # last time at least min_offshore_nm from shore
        self.last_eval = 0
        self.approach_since: int | None = None  # the condition has held since
        self.clear_since: int | None = None  # an open episode has not held since
        self.alert: Alert | None = None
        self.trail = Trail(window_s=3 * 3600.0, every_s=120.0)

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "offshore_at": self.offshore_at,
                "last_eval": self.last_eval,
                "approach_since": self.approach_since,
                "clear_since": self.clear_since,
                "alert": self.alert.to_dict() if self.alert else None,
                "trail": self.trail.to_list(),
            }
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> _VesselState:
        data = orjson.loads(blob)
        state = cls()
        state.offshore_at = data["offshore_at"]
        state.last_eval = int(data["last_eval"])
        state.approach_since = data["approach_since"]
        state.clear_since = data["clear_since"]
        state.alert = Alert.from_dict(data["alert"]) if data["alert"] else None
        state.trail.load(data["trail"])
        return state


class CoastalApproachDetector:
    alert_type: ClassVar[AlertType] = AlertType.COASTAL_APPROACH

    def __init__(
        self,
        config: RuleConfig | None = None,
        context: object | None = None,
        *,
        geo: Geography | None = None,
    ) -> None:
        self.config = config or RuleConfig("coastal_approach", 1)
        self.params = p = params(DEFAULTS, self.config.params)
        self.geo = geography_for(context, geo)
        harbours = self.geo.zones.subset(HARBOUR_KINDS)
        self._harbours: ZoneIndex = harbours.resized(float(p["port_clearance_km"]) * 1000.0)
        self._harbour_centres = _centres(harbours)
        self._destinations = self.geo.zones.subset(DESTINATION_COAST)
        self._port_ahead = float(p["port_ahead_nm"])
        self._port_cone = float(p["port_cone_deg"])
        self._fishing_types = ship_types(p["fishing_ship_types"])
        self._fishing_min_sog = float(p["fishing_min_sog_kn"])
        self._ignore_types = ship_types(p["ignore_ship_types"])
        self._ignore_classes = frozenset(p["ignore_mmsi_classes"])
        self._countries = frozenset(p["countries"])
        self._horizon = float(p["horizon_nm"])
        self._min_sog = float(p["min_sog_kn"])
        self._offshore = float(p["min_offshore_nm"])
        self._lookback_ms = int(float(p["offshore_lookback_h"]) * 3_600_000)
        self._eval_ms = int(float(p["eval_every_s"]) * 1000)
        self._persist_ms = int(float(p["persist_s"]) * 1000)
        self._clear_ms = int(float(p["clear_s"]) * 1000)
        self._revise_ms = int(float(p["revise_every_s"]) * 1000)
        self._max_ttl_h = float(p["max_time_to_landfall_h"])
        self._vessels: dict[int, _VesselState] = {}

    def update(self, point: TrackPoint) -> list[Alert]:
        if point.lat is None or point.lon is None or point.segment_id <= 0:
            return []
        if point.mmsi_class in self._ignore_classes or point.static.ship_type in self._ignore_types:
            return []
        state = self._vessels.get(point.mmsi)
        if state is None:
            state = self._vessels[point.mmsi] = _VesselState()
        lat, lon, ts = point.lat, point.lon, point.ts
        state.trail.add(ts, lon, lat)
        if ts - state.last_eval < self._eval_ms:
            return []  # once a minute per vessel is enough for hours-long approaches
        state.last_eval = ts
        shore_nm = self.geo.shore.distance_to_shore_nm(lat, lon)
        if shore_nm >= self._offshore:
            state.offshore_at = ts
        elif state.alert is None and shore_nm <= float(self.params["arrive_nm"]):
            state.approach_since = None
            return []  # at the coast (or ashore): nothing left to approach
        if state.alert is None and (shore_nm > self._horizon or not self._came_offshore(state, ts)):
            state.approach_since = None
            return []
        landfall = self._approach(point, shore_nm)
        if state.alert is not None:
            return self._follow(state, point, shore_nm, landfall)
        if landfall is None:
            state.approach_since = None
            return []
        if state.approach_since is None:
            state.approach_since = ts
        if ts - state.approach_since < self._persist_ms:
            return []
        alert = self._open(state, point, shore_nm, landfall)
        state.alert = alert
        state.clear_since = None
        return [alert]

    def advance(self, now_ms: int) -> list[Alert]:
        return []

    def state_of(self, mmsi: int) -> bytes | None:
        state = self._vessels.get(mmsi)
        return state.to_bytes() if state is not None else None

    def restore(self, mmsi: int, blob: bytes) -> None:
        self._vessels[mmsi] = _VesselState.from_bytes(blob)

    def forget(self, mmsi: int) -> None:
        self._vessels.pop(mmsi, None)

    # -- the condition -----------------------------------------------------------------------
    def _came_offshore(self, state: _VesselState, ts: int) -> bool:
        return state.offshore_at is not None and ts - state.offshore_at <= self._lookback_ms

    def _approach(self, point: TrackPoint, shore_nm: float) -> _Approach | None:
        """The landfall ahead, if this point is approaching a coast outside any port."""
        assert point.lat is not None and point.lon is not None
        sog = point.sog if point.sog is not None else point.implied_sog
        course = point.cog if point.cog is not None else point.heading
        if sog is None or course is None or sog < self._min_sog or shore_nm > self._horizon:
            return None
        if sog < self._fishing_min_sog and point.static.ship_type in self._fishing_types:
            return None  # a fishing vessel at trawling or hauling speed
        if self._harbours.in_kind(point.lat, point.lon, HARBOUR_KINDS):
            return None
        landfall = self.geo.shore.landfall(point.lat, point.lon, float(course), self._horizon)
        if landfall is None:
            return None
        hours = landfall.distance_nm / sog
        if hours > self._max_ttl_h:
            return None
        if self._harbours.in_kind(landfall.lat, landfall.lon, HARBOUR_KINDS):
            return None
        if self._port_on_course(point.lat, point.lon, float(course), landfall.distance_nm):
            return None
        # the sea just before the coast: which destination coast, which country
        back = max(landfall.distance_nm - 0.5, 0.0) * METRES_PER_NM
        sea_lat, sea_lon = destination(point.lat, point.lon, float(course), back)
        country = self.geo.shore.country_near(landfall.lat, landfall.lon, within_nm=5.0)
        code = country.code if country else None
        if self._countries and code not in self._countries:
            return None
        coasts = [z.id for z in self._destinations.zones_at(sea_lat, sea_lon)]
        return _Approach(
            landfall, hours, sog, float(course), code, country.name if country else None, coasts
        )

    def _port_on_course(self, lat: float, lon: float, course: float, landfall_nm: float) -> bool:
        """A port or anchorage ahead, at most `port_ahead_nm` beyond the landfall (up a river,
        behind a headland; beyond 5 nm ahead when the coast is nearer): its circle within
        `port_cone_deg` of the course."""
        coslat = cos(radians(lat))
        reach = max(landfall_nm, 5.0) + self._port_ahead
        for zlat, zlon, radius_nm in self._harbour_centres:
            north = (zlat - lat) * 60.0
            if abs(north) > reach + radius_nm:
                continue  # the cheap test first: most harbours are far north or south
            east = (zlon - lon) * 60.0 * coslat
            nm = hypot(north, east)
            if nm > reach + radius_nm:
                continue
            if nm <= radius_nm:
                return True
            off = abs((degrees(atan2(east, north)) - course + 180.0) % 360.0 - 180.0)
            if off <= self._port_cone + degrees(asin(radius_nm / nm)):
                return True
        return False

    # -- alerts --------------------------------------------------------------------------------
    def _severity(self, approach: _Approach) -> Severity:
        if self.config.severity is not None:
            return self.config.severity
        return Severity.HIGH if approach.coasts else Severity.MEDIUM

    def _reasons(self, point: TrackPoint, shore_nm: float, a: _Approach) -> tuple[str, ...]:
        coast = a.country_name or "an unnamed coast"
        where = f" ({', '.join(a.coasts)})" if a.coasts else ""
        return (
            f"{describe(point)} heading {a.course:.0f}° at {a.sog:.1f} kn toward the coast of "
            f"{coast}{where}, not toward a port or anchorage.",
            f"Landfall in {a.hours * 60:.0f} min, {a.landfall.distance_nm:.1f} nm ahead at "
            f"{a.landfall.lat:.4f}, {a.landfall.lon:.4f}; now {shore_nm:.1f} nm from shore.",
            f"Came from the open sea: at least {self._offshore:.0f} nm offshore within the "
            f"last {self._lookback_ms / 3_600_000:.0f} h.",
        )

    def _extra(self, shore_nm: float, a: _Approach) -> dict[str, Any]:
        return {
            "time_to_landfall_min": round(a.hours * 60, 1),
            "landfall_distance_nm": round(a.landfall.distance_nm, 2),
            "landfall": [round(a.landfall.lon, 5), round(a.landfall.lat, 5)],
            "coast_country": a.country,
            "destination_coasts": a.coasts,
            "distance_to_shore_nm": round(shore_nm, 2),
            "sog": round(a.sog, 2),
            "cog": round(a.course, 1),
        }

    def _open(self, state: _VesselState, point: TrackPoint, shore_nm: float, a: _Approach) -> Alert:
        assert point.lat is not None and point.lon is not None and state.approach_since
        severity = self._severity(a)
        start = state.approach_since
        areas = self.geo.areas_at(point.lat, point.lon)
        areas = (*areas, *(c for c in a.coasts if c not in areas))
        return Alert(
            id=alert_id(self.alert_type, (point.mmsi,), start),
            type=self.alert_type,
            severity=severity,
            score=min(1.0, SEVERITY_SCORE[severity] + 0.2 * (1 - a.hours / self._max_ttl_h)),
            mmsi=point.mmsi,
            mmsis=(point.mmsi,),
            vessel=vessel_of(point.static, point.flag),
            lat=point.lat,
            lon=point.lon,
            start=start,
            end=None,
            detected_at=point.ts,
            reasons=self._reasons(point, shore_nm, a),
            evidence=linestring(state.trail.fixes, [(a.landfall.lon, a.landfall.lat)]),
            rule=self.config.rule,
            tlp=self.config.tlp,
            areas=areas,
            extra=self._extra(shore_nm, a),
        )

    def _follow(
        self, state: _VesselState, point: TrackPoint, shore_nm: float, a: _Approach | None
    ) -> list[Alert]:
        alert = state.alert
        assert alert is not None and point.lat is not None and point.lon is not None
        ts = point.ts
        in_harbour = self.geo.in_anchorage(point.lat, point.lon)
        arrived = shore_nm <= float(self.params["arrive_nm"])
        if a is None and not arrived and not in_harbour:
            if state.clear_since is None:
                state.clear_since = ts
            if ts - state.clear_since < self._clear_ms:
                return []
        ending = None
        if arrived:
            ending = f"Reached the coast at {hhmm(ts)} ({shore_nm:.1f} nm from shore)."
        elif in_harbour:
            ending = f"Entered a port or anchorage at {hhmm(ts)}."
        elif a is None:
            ending = f"No longer heading for the coast since {hhmm(state.clear_since or ts)}."
        if ending is not None:
            end = ts if arrived or in_harbour else (state.clear_since or ts)
            closed = alert.revised(
                end=end,
                lat=point.lat,
                lon=point.lon,
                reasons=(*alert.reasons[:3], ending),
                evidence=linestring(state.trail.since(alert.start - 3_600_000)),
            )
            state.alert = None
            state.approach_since = None
            state.clear_since = None
            if arrived or in_harbour:
                state.offshore_at = None  # the next approach must come from the open sea again
            return [closed]
        assert a is not None
        state.clear_since = None
        previous = float(alert.extra.get("time_to_landfall_min", 0.0))
        if ts - int(alert.extra.get("revised_at", alert.detected_at)) < self._revise_ms:
            return []
        if abs(previous - a.hours * 60) < 5 and alert.extra.get("coast_country") == a.country:
            return []
        severity = self._severity(a)
        if severity.rank < alert.severity.rank:
            severity = alert.severity
        revised = alert.revised(
            severity=severity,
            score=max(
                alert.score,
                min(1.0, SEVERITY_SCORE[severity] + 0.2 * (1 - a.hours / self._max_ttl_h)),
            ),
            lat=point.lat,
            lon=point.lon,
            reasons=self._reasons(point, shore_nm, a),
            evidence=linestring(
                state.trail.since(alert.start - 3_600_000), [(a.landfall.lon, a.landfall.lat)]
            ),
            extra={**self._extra(shore_nm, a), "revised_at": ts},
        )
        state.alert = revised
        return [revised]


class _Approach:
    __slots__ = ("coasts", "country", "country_name", "course", "hours", "landfall", "sog")

    def __init__(
        self,
        landfall: Landfall,
        hours: float,
        sog: float,
        course: float,
        country: str | None,
        country_name: str | None,
        coasts: list[str],
    ) -> None:
        self.landfall = landfall
        self.hours = hours
        self.sog = sog
        self.course = course
        self.country = country
        self.country_name = country_name
        self.coasts = coasts


def _centres(harbours: ZoneIndex) -> tuple[tuple[float, float, float], ...]:
    """(lat, lon, radius in nm) of each harbour zone: its circle, or its bounding circle."""
    out = []
    for zone in harbours:
        west, south, east, north = zone.geometry.bounds
        lat, lon = (south + north) / 2, (west + east) / 2
        radius_nm = max(north - south, (east - west) * cos(radians(lat))) * 30.0
        out.append((lat, lon, radius_nm))
    return tuple(out)
