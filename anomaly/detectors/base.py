"""What every detector is: a rule's parameters applied to a stream of track points.

A detector sees the cleaned points of `tracks.points` (in event-time order per vessel) and
returns the alerts each point opens, updates or closes. Time-driven rules (a vessel that fell
silent) also get `advance(now_ms)` as the stream's event time moves on. Alerts carry stable ids
(`anomaly.records.alert_id`): replaying the same points yields the same ids and revisions.

Detectors keep per-vessel state small and serialisable (`state_of` / `restore`), so the detection
stage can save it with its consumer offsets, like the tracks stage, and resume after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from anomaly.records import Alert, AlertType, Rule, Severity, Tlp
from tracks.records import TrackPoint


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One `config/rules.yaml` entry: what an analyst edits, round-tripped unchanged."""

    id: str
    version: int
    params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    tlp: Tlp = Tlp.AMBER
    severity: Severity | None = None  # overrides the detector's own judgement when set

    @property
    def rule(self) -> Rule:
        return Rule(self.id, self.version)


class Detector(Protocol):
    alert_type: ClassVar[AlertType]
    config: RuleConfig

    def update(self, point: TrackPoint) -> list[Alert]:
        """The alerts this point opens, revises or closes (usually none)."""

    def advance(self, now_ms: int) -> list[Alert]:
        """Event time reached `now_ms`: alerts due to time alone (e.g. a gap opening)."""

    def state_of(self, mmsi: int) -> bytes | None:
        """This vessel's detector state, to be saved with the stage's offsets."""

    def restore(self, mmsi: int, blob: bytes) -> None: ...

    def forget(self, mmsi: int) -> None:
        """The vessel left this stage (partition revoked, evicted)."""
