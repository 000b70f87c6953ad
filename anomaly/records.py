"""The alert: the unit Lookout shares with partner agencies (DESIGN.md, Alert).

An alert's `id` is derived from its type, the vessel(s) and the episode's start, so replaying
the same data, or resuming after a crash, yields the same id; an episode that goes on updates
its alert under the same id with a higher `revision`, never a second alert.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ingest.records import SCHEMA_VERSION, iso_ms, parse_iso_ms


class AlertType(StrEnum):
    AIS_GAP = "ais_gap"
    LOITERING = "loitering"
    ENCOUNTER = "encounter"
    POSITION_JUMP = "position_jump"
    SPEED_ANOMALY = "speed_anomaly"
    IDENTITY_ANOMALY = "identity_anomaly"
    ZONE_ENTRY = "zone_entry"
    COASTAL_APPROACH = "coastal_approach"
    DRIFTING = "drifting"
    DISTRESS = "distress"
    ROUTE_ANOMALY = "route_anomaly"
    MIGRANT_RISK = "migrant_risk"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0, least to most restricted."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"

    @property
    def rank(self) -> int:
        return list(Tlp).index(self)


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class Outcome(StrEnum):
    RESCUED = "rescued"
    INTERDICTED = "interdicted"
    NO_ACTION = "no_action"
    FALSE_ALARM = "false_alarm"


@dataclass(frozen=True, slots=True)
class Vessel:
    name: str | None = None
    callsign: str | None = None
    imo: int | None = None
    ship_type: int | None = None
    flag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "callsign": self.callsign,
            "imo": self.imo,
            "ship_type": self.ship_type,
            "flag": self.flag,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    version: int


def alert_id(alert_type: AlertType | str, mmsis: list[int] | tuple[int, ...], start_ms: int) -> str:
    """Stable id: type + vessel(s) (order-free) + episode start."""
    vessels = ",".join(str(m) for m in sorted(mmsis))
    digest = hashlib.sha256(f"{alert_type}|{vessels}|{start_ms}".encode()).hexdigest()
    return f"{alert_type}-{digest[:20]}"


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    type: AlertType
    severity: Severity
    score: float  # 0..1
    mmsi: int
    mmsis: tuple[int, ...]  # every vessel involved (encounter); (mmsi,) otherwise
    vessel: Vessel
    lat: float
    lon: float
    start: int  # epoch ms, event time
    end: int | None  # None while the episode goes on
    detected_at: int  # event time when first detected
    reasons: tuple[str, ...]
    evidence: dict[str, Any] | None  # GeoJSON LineString of the track around the episode
    rule: Rule
    tlp: Tlp
    areas: tuple[str, ...] = ()
    status: Status = Status.OPEN
    outcome: Outcome | None = None
    revision: int = 1
    model_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # detector-specific figures

    def revised(self, **changes: Any) -> Alert:
        """The same alert, one revision later, with `changes` applied."""
        return replace(self, revision=self.revision + 1, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "kind": "alert",
            "id": self.id,
            "revision": self.revision,
            "type": self.type.value,
            "severity": self.severity.value,
            "score": round(self.score, 4),
            "mmsi": self.mmsi,
            "mmsis": list(self.mmsis),
            "vessel": self.vessel.to_dict(),
            "lat": self.lat,
            "lon": self.lon,
            "start": iso_ms(self.start),
            "end": iso_ms(self.end) if self.end is not None else None,
            "detected_at": iso_ms(self.detected_at),
            "reasons": list(self.reasons),
            "evidence": self.evidence,
            "rule": {"id": self.rule.id, "version": self.rule.version},
            "model_version": self.model_version,
            "tlp": self.tlp.value,
            "areas": list(self.areas),
            "status": self.status.value,
            "outcome": self.outcome.value if self.outcome else None,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        vessel = d.get("vessel") or {}
        return cls(
            id=d["id"],
            type=AlertType(d["type"]),
            severity=Severity(d["severity"]),
            score=float(d["score"]),
            mmsi=int(d["mmsi"]),
            mmsis=tuple(int(m) for m in d.get("mmsis") or [d["mmsi"]]),
            vessel=Vessel(**{k: vessel.get(k) for k in Vessel.__slots__}),
            lat=float(d["lat"]),
            lon=float(d["lon"]),
            start=parse_iso_ms(d["start"]),
            end=parse_iso_ms(d["end"]) if d.get("end") else None,
            detected_at=parse_iso_ms(d["detected_at"]),
            reasons=tuple(d.get("reasons") or ()),
            evidence=d.get("evidence"),
            rule=Rule(d["rule"]["id"], int(d["rule"]["version"])),
            tlp=Tlp(d["tlp"]),
            areas=tuple(d.get("areas") or ()),
            status=Status(d.get("status") or "open"),
            outcome=Outcome(d["outcome"]) if d.get("outcome") else None,
            revision=int(d.get("revision") or 1),
            model_version=d.get("model_version"),
            extra=d.get("extra") or {},
        )
