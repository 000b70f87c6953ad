"""What each detection rule is doing, as the detection stage reports it.

A rule whose detector cannot work (its model file is missing or unreadable, its class is not
installed) does not fail the stage: it stays silent. Silence must not look like a quiet sea,
so each stage says, per rule, what it runs:

- `running`: the detector is built and sees every point (with its model's version, if any);
- `silent`: built, but it cannot raise alerts (`reason` says why: no model file ...);
- `disabled`: the rule is switched off in config/rules.yaml;
- `unavailable`: no detector class for the rule in this installation.

A stage reports to a `HealthBoard` when it starts, every `REPORT_EVERY_S` while it polls (data
or not) and when it closes: the row's report time is its heartbeat, the event time the newest
point the stage has seen. `GET /v1/detectors` reads the board (`anomaly.sql_store.SqlHealthBoard`);
`lookout process` writes the same list to summary.json.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from anomaly.detectors.base import Detector, RuleConfig
from anomaly.registry import detector_class, runs_in

__all__ = [
    "DISABLED",
    "NEEDS_ATTENTION",
    "REPORT_EVERY_S",
    "RUNNING",
    "SILENT",
    "STALE_AFTER_S",
    "UNAVAILABLE",
    "DetectorHealth",
    "HealthBoard",
    "HealthReport",
    "MemoryHealthBoard",
    "detector_health",
    "not_running",
]

RUNNING: Final = "running"
SILENT: Final = "silent"
DISABLED: Final = "disabled"
UNAVAILABLE: Final = "unavailable"
REPORT_EVERY_S: Final = 10.0
STALE_AFTER_S: Final = 60.0  # no report this long: the stage is down or cut off
NEEDS_ATTENTION: Final = frozenset({SILENT, UNAVAILABLE})  # enabled, yet raising nothing


@dataclass(frozen=True, slots=True)
class DetectorHealth:
    rule_id: str
    rule_version: int
    state: str  # RUNNING, SILENT, DISABLED or UNAVAILABLE
    reason: str = ""  # why it is not running ("" when it is)
    model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": {"id": self.rule_id, "version": self.rule_version},
            "state": self.state,
            "reason": self.reason,
            "model_version": self.model_version,
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A rule's health as a consumer group last reported it."""

    group: str
    health: DetectorHealth
    event_ts: int | None  # the newest point's event time the stage had seen, epoch ms
    reported_ms: int  # when, epoch ms (wall clock): the heartbeat

    def is_stale(self, now_ms: int) -> bool:
        """Not reported for `STALE_AFTER_S`: the stage is down or cut off from the board."""
        return now_ms - self.reported_ms > STALE_AFTER_S * 1000


class HealthBoard(Protocol):
    def report(self, group: str, health: Sequence[DetectorHealth], event_ts: int | None) -> None:
        """Replace the group's rows with `health` (rules no longer there are dropped)."""

    def read(self) -> list[HealthReport]: ...


def detector_health(
    configs: Iterable[RuleConfig], detectors: Sequence[Detector], keyed_by: str | None
) -> list[DetectorHealth]:
    """The health of every rule a stage keyed by `keyed_by` is responsible for (None: every
    rule; "mmsi": the per-vessel ones and those with no class; "cell": the cross-vessel ones),
    given the detectors it built."""
    built = {d.config.id: d for d in detectors}
    out = []
    for config in configs:
        if not runs_in(detector_class(config.id), keyed_by):
            continue
        detector = built.get(config.id)
        if not config.enabled:
            out.append(DetectorHealth(config.id, config.version, DISABLED))
        elif detector is None:
            reason = "no detector for this rule in this installation"
            out.append(DetectorHealth(config.id, config.version, UNAVAILABLE, reason))
        else:
            out.append(_built(config, detector))
    return out


def not_running(detectors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Of a run's `detectors` (summary.json, `DetectorHealth.to_dict`), the enabled rules whose
    detector could not work: a backtest that loses every alert of a type says why."""
    return [dict(d) for d in detectors if d["state"] in NEEDS_ATTENTION]


def _built(config: RuleConfig, detector: Detector) -> DetectorHealth:
    model = getattr(detector, "model", None)
    version = getattr(model, "version", None)
    silence = getattr(detector, "silence", "")
    state = SILENT if silence else RUNNING
    return DetectorHealth(config.id, config.version, state, silence, version)


class MemoryHealthBoard:
    """`HealthBoard` in a dictionary (tests, one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], HealthReport] = {}

    def report(self, group: str, health: Sequence[DetectorHealth], event_ts: int | None) -> None:
        now = time.time_ns() // 1_000_000
        with self._lock:
            for key in [k for k in self._rows if k[0] == group]:
                del self._rows[key]
            for h in health:
                self._rows[(group, h.rule_id)] = HealthReport(group, h, event_ts, now)

    def read(self) -> list[HealthReport]:
        with self._lock:
            return [self._rows[k] for k in sorted(self._rows)]
