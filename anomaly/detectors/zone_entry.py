"""zone_entry: a vessel enters a watch area (or another configured kind of zone).

An alert is raised on the transition from outside to inside, never for every point inside. A
vessel on a border does not flap: it enters when it is `margin_m` inside the zone and leaves
when it is `margin_m` outside it (two resized copies of the zones), and coming back within
`rearm_s` of leaving continues the same episode. Entering several zones at one point is one
alert whose `areas` start with the zones entered (`extra.entered`), then every other zone the
point falls in. The alert is revised with `end` when the vessel has left all the zones entered.

A vessel whose first fix is already inside a zone (even within `margin_m` of its border) is not
"entering" it unless `alert_on_first_fix`. Large merchant traffic (ship types 60-89 by default)
and fixed or airborne stations are ignored: their transits of a watch area are routine. A vessel
seen for less than `static_wait_s` that has not yet told its ship type may be such traffic: its
alerts are held until the type arrives (and dropped if it is an ignored one) or the wait is over.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import orjson

from anomaly.detectors.base import RuleConfig
from anomaly.geo import Geography, ZoneIndex, geography_for
from anomaly.geo.evidence import (
    SEVERITY_SCORE,
    Trail,
    hhmm,
    linestring,
    params,
    ship_type_name,
    ship_types,
    vessel_of,
)
from anomaly.records import Alert, AlertType, Severity, alert_id
from tracks.records import TrackPoint

DEFAULTS: dict[str, Any] = {
    "kinds": ["watch_area"],
    "margin_m": 500.0,
    "rearm_s": 3600.0,
    "alert_on_first_fix": False,
    "static_wait_s": 600.0,  # class A and B vessels send their ship type every 6 min
    "ignore_ship_types": ["60-89"],
    "ignore_mmsi_classes": ["aton", "coast_station", "sar_aircraft"],
    "severity_by_kind": {
        "watch_area": "low",
        "departure_area": "low",
        "destination_coast": "medium",
        "territorial_sea": "info",
        "sar_region": "info",
        "anchorage": "info",
        "port": "info",
    },
}


class _VesselState:
    __slots__ = ("alerts", "first_ts", "held", "inside", "left", "seen", "trail")

    def __init__(self) -> None:
        self.seen = False
        self.first_ts = 0
        self.held: list[Alert] = []  # revisions not yet published: the ship type is unknown
        self.inside: dict[str, str] = {}  # zone id -> alert id of the episode
        self.left: dict[str, tuple[int, str]] = {}  # zone id -> (left at, alert id)
        self.alerts: dict[str, Alert] = {}  # open episodes by alert id
        self.trail = Trail(window_s=7200.0, every_s=60.0)

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "seen": self.seen,
                "first_ts": self.first_ts,
                "held": [a.to_dict() for a in self.held],
                "inside": self.inside,
                "left": {k: list(v) for k, v in self.left.items()},
                "alerts": [a.to_dict() for a in self.alerts.values()],
                "trail": self.trail.to_list(),
            }
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> _VesselState:
        data = orjson.loads(blob)
        state = cls()
        state.seen = bool(data["seen"])
        state.first_ts = int(data.get("first_ts", 0))
        state.held = [Alert.from_dict(raw) for raw in data.get("held", ())]
        state.inside = dict(data["inside"])
        state.left = {k: (int(v[0]), str(v[1])) for k, v in data["left"].items()}
        for raw in data["alerts"]:
            alert = Alert.from_dict(raw)
            state.alerts[alert.id] = alert
        state.trail.load(data["trail"])
        return state


class ZoneEntryDetector:
    alert_type: ClassVar[AlertType] = AlertType.ZONE_ENTRY

    def __init__(
        self,
        config: RuleConfig | None = None,
        context: object | None = None,
        *,
        geo: Geography | None = None,
    ) -> None:
        self.config = config or RuleConfig("zone_entry", 1)
        self.params = params(DEFAULTS, self.config.params)
        self.geo = geography_for(context, geo)
        kinds = self.params["kinds"]
        watched = self.geo.zones.subset(kinds)
        margin = float(self.params["margin_m"])
        self._enter: ZoneIndex = watched.resized(-margin) if margin > 0 else watched
        self._stay: ZoneIndex = watched.resized(margin) if margin > 0 else watched
        # a zone too small to shrink is entered at its own border
        for zone in watched:
            if self._enter[zone.id].geometry.is_empty:
                self._enter = ZoneIndex([z for z in self._enter if z.id != zone.id] + [zone])
        self._watched = watched
        self._ignore_types = ship_types(self.params["ignore_ship_types"])
        self._ignore_classes = frozenset(self.params["ignore_mmsi_classes"])
        self._rearm_ms = int(float(self.params["rearm_s"]) * 1000)
        self._static_wait_ms = int(float(self.params["static_wait_s"]) * 1000)
        self._vessels: dict[int, _VesselState] = {}

    # -- protocol ------------------------------------------------------------------------------
    def update(self, point: TrackPoint) -> list[Alert]:
        if point.lat is None or point.lon is None or point.segment_id <= 0:
            return []
        if point.mmsi_class in self._ignore_classes:
            return []
        if point.static.ship_type in self._ignore_types:
            state = self._vessels.get(point.mmsi)
            if state is not None and state.held:
                self._drop_held(state)
            return []
        state = self._vessels.get(point.mmsi)
        if state is None:
            state = self._vessels[point.mmsi] = _VesselState()
        lat, lon = point.lat, point.lon
        state.trail.add(point.ts, lon, lat)
        if not state.seen:
            state.seen = True
            state.first_ts = point.ts
            if not self.params["alert_on_first_fix"]:
                for zone_id in self._watched.ids_at(lat, lon):
                    state.inside[zone_id] = ""  # there from the first fix, maybe near its border
        out: list[Alert] = []
        # leaving: outside the grown zone
        staying = set(self._stay.ids_at(lat, lon)) if state.inside else set()
        for zone_id in [z for z in state.inside if z not in staying]:
            episode = state.inside.pop(zone_id)
            state.left[zone_id] = (point.ts, episode)
            if not any(e == episode for e in state.inside.values()):
                alert = state.alerts.get(episode)
                if alert is not None:
                    out.append(self._close(state, alert, point))
        # entering: inside the shrunk zone
        entered = [z for z in self._enter.ids_at(lat, lon) if z not in state.inside]
        if entered:
            fresh: list[str] = []
            for zone_id in entered:
                left = state.left.pop(zone_id, None)
                if left is not None and point.ts - left[0] <= self._rearm_ms:
                    state.inside[zone_id] = left[1]  # back within rearm_s: same episode
                    alert = state.alerts.get(left[1])
                    if alert is not None and alert.end is not None:
                        out.append(self._reopen(state, alert, point))
                else:
                    fresh.append(zone_id)
            if fresh:
                alert = self._open(point, fresh)
                state.alerts[alert.id] = alert
                for zone_id in fresh:
                    state.inside[zone_id] = alert.id
                out.append(alert)
        self._expire(state, point.ts)
        if state.held or (out and self._type_may_come(state, point)):
            return self._hold(state, point, out)
        return out

    def _type_may_come(self, state: _VesselState, point: TrackPoint) -> bool:
        return point.static.ship_type is None and point.ts - state.first_ts < self._static_wait_ms

    def _hold(self, state: _VesselState, point: TrackPoint, out: list[Alert]) -> list[Alert]:
        """Keep the revisions back while the ship type may still come; then publish them all,
        detected now."""
        state.held.extend(out)
        if self._type_may_come(state, point):
            return []
        released = [replace(a, detected_at=point.ts) for a in state.held]
        state.held = []
        for alert_id_ in {a.id for a in released} & state.alerts.keys():
            state.alerts[alert_id_] = replace(state.alerts[alert_id_], detected_at=point.ts)
        return released

    def _drop_held(self, state: _VesselState) -> None:
        """The type came and is an ignored one: its held episodes never happened."""
        dropped = {a.id for a in state.held}
        state.held = []
        for zone_id, episode in state.inside.items():
            if episode in dropped:
                state.inside[zone_id] = ""
        state.left = {z: v for z, v in state.left.items() if v[1] not in dropped}
        for episode in dropped:
            state.alerts.pop(episode, None)

    def advance(self, now_ms: int) -> list[Alert]:
        return []

    def state_of(self, mmsi: int) -> bytes | None:
        state = self._vessels.get(mmsi)
        return state.to_bytes() if state is not None else None

    def restore(self, mmsi: int, blob: bytes) -> None:
        self._vessels[mmsi] = _VesselState.from_bytes(blob)

    def forget(self, mmsi: int) -> None:
        self._vessels.pop(mmsi, None)

    # -- alerts ----------------------------------------------------------------------------
    def _severity(self, zone_ids: list[str]) -> Severity:
        if self.config.severity is not None:
            return self.config.severity
        by_kind = self.params["severity_by_kind"]
        best = Severity.INFO
        for zone_id in zone_ids:
            zone = self._watched[zone_id]
            value = zone.properties.get("severity") or by_kind.get(zone.kind) or "low"
            severity = Severity(value)
            if severity.rank > best.rank:
                best = severity
        return best

    def _open(self, point: TrackPoint, zone_ids: list[str]) -> Alert:
        assert point.lat is not None and point.lon is not None
        lat, lon = point.lat, point.lon
        severity = self._severity(zone_ids)
        names = "; ".join(
            f"{self._watched[z].kind.replace('_', ' ')} '{self._watched[z].name}' ({z})"
            for z in zone_ids
        )
        reasons = [f"Entered {names} at {hhmm(point.ts)}."]
        motion = []
        if point.sog is not None:
            motion.append(f"at {point.sog:.1f} kn")
        if point.cog is not None:
            motion.append(f"on course {point.cog:.0f}°")
        shore_nm = self.geo.distance_to_shore_nm(lat, lon)
        reasons.append(
            f"Position {lat:.4f}, {lon:.4f}, {shore_nm:.1f} nm from shore"
            + (f", {' '.join(motion)}" if motion else "")
            + "."
        )
        kind = ship_type_name(point.static.ship_type)
        reasons.append(
            f"Ship type: {kind}." if kind else "No ship type reported (static data missing)."
        )
        others = [a for a in self.geo.areas_at(lat, lon) if a not in zone_ids]
        state = self._vessels[point.mmsi]
        return Alert(
            id=alert_id(self.alert_type, (point.mmsi,), point.ts),
            type=self.alert_type,
            severity=severity,
            score=SEVERITY_SCORE[severity],
            mmsi=point.mmsi,
            mmsis=(point.mmsi,),
            vessel=vessel_of(point.static, point.flag),
            lat=lat,
            lon=lon,
            start=point.ts,
            end=None,
            detected_at=point.ts,
            reasons=tuple(reasons),
            evidence=linestring(state.trail.since(point.ts - 3_600_000)),
            rule=self.config.rule,
            tlp=self.config.tlp,
            areas=(*zone_ids, *others),
            extra={
                "entered": list(zone_ids),
                "zone_kinds": [self._watched[z].kind for z in zone_ids],
                "distance_to_shore_nm": round(shore_nm, 2),
                "sog": point.sog,
                "cog": point.cog,
            },
        )

    def _close(self, state: _VesselState, alert: Alert, point: TrackPoint) -> Alert:
        assert point.lat is not None and point.lon is not None
        hours = (point.ts - alert.start) / 3_600_000
        revised = alert.revised(
            end=point.ts,
            lat=point.lat,
            lon=point.lon,
            reasons=(*alert.reasons[:3], f"Left at {hhmm(point.ts)} after {hours:.1f} h."),
            evidence=linestring(state.trail.since(alert.start - 3_600_000)),
            extra={**alert.extra, "hours_inside": round(hours, 2)},
        )
        state.alerts[alert.id] = revised
        return revised

    def _reopen(self, state: _VesselState, alert: Alert, point: TrackPoint) -> Alert:
        assert point.lat is not None and point.lon is not None
        revised = alert.revised(
            end=None,
            lat=point.lat,
            lon=point.lon,
            reasons=(*alert.reasons[:3], f"Back inside at {hhmm(point.ts)}."),
        )
        state.alerts[alert.id] = revised
        return revised

    def _expire(self, state: _VesselState, now: int) -> None:
        """Forget exits older than rearm_s, and their closed episodes."""
        if not state.left and not state.alerts:
            return  # the usual case, at every point: nothing to forget
        stale = [z for z, (ts, _) in state.left.items() if now - ts > self._rearm_ms]
        for zone_id in stale:
            del state.left[zone_id]
        live = set(state.inside.values()) | {e for _, e in state.left.values()}
        for episode in [e for e in state.alerts if e not in live]:
            del state.alerts[episode]
