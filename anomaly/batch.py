"""Detection inside `lookout process`: the stage and the final-alert collector on the batch bus.

    detection = BatchDetection(bus, config_dir)      # after the tracks stage is built
    detection.drain()                                # after each slice, with the other stages
    detection.finish()                               # at the end, after tracks has flushed
    detection.write(out_dir)                         # -> out_dir/alerts.jsonl
    summary["alerts"] = detection.by_type()
    summary["detectors"] = detection.health()        # per rule: running, silent (why) ...

Batch runs one consumer over every partition, so it runs every enabled detector, the
cross-vessel ones included, over a memory store (nothing to resume: a batch starts afresh).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from anomaly.context import DetectContext, default_context
from anomaly.health import detector_health
from anomaly.outputs import AlertCollector
from anomaly.rules import RuleSet, load_rules
from anomaly.stage import DetectSettings, DetectStage
from anomaly.store import MemoryDetectStore
from lookout.bus.base import Bus

__all__ = ["ALERTS_FILE", "BATCH_DETECT", "BatchDetection"]

ALERTS_FILE: Final = "alerts.jsonl"
BATCH_DETECT: Final = DetectSettings(
    save_interval_s=3600.0,
    save_every_messages=50_000,  # commits, so the in-process bus can let points go
    poll_records=10_000,
    keyed_by=None,
    persist=False,  # nothing to resume: states are kept only for vessels evicted and back
)


class BatchDetection:
    def __init__(
        self,
        bus: Bus,
        config_dir: Path | None = None,
        *,
        rules: RuleSet | None = None,
        context: DetectContext | None = None,
        settings: DetectSettings = BATCH_DETECT,
    ) -> None:
        rules = rules if rules is not None else load_rules(config_dir)
        self._rules = rules
        # With every rule disabled there is nothing to run: no stage reads the points, and
        # the geography is not loaded. alerts.jsonl is still written, empty.
        self.stage: DetectStage | None = None
        if any(rule.enabled for rule in rules.rules):
            context = context if context is not None else default_context(config_dir)
            self.stage = DetectStage(bus, MemoryDetectStore(), rules, context, settings)
        self.collector = AlertCollector(bus)

    def drain(self) -> None:
        if self.stage is not None:
            self.stage.drain()
        self.collector.drain()

    def finish(self) -> None:
        if self.stage is not None:
            self.stage.finish()
        self.collector.drain()

    def write(self, out_dir: Path) -> int:
        """Write the final revision of every alert; returns how many."""
        return self.collector.write_jsonl(out_dir / ALERTS_FILE)

    def by_type(self) -> dict[str, int]:
        return self.collector.by_type()

    def health(self) -> list[dict[str, Any]]:
        """What each rule did in this run (`anomaly.health`): running, silent and why, ..."""
        if self.stage is not None:
            return [h.to_dict() for h in self.stage.health]
        return [h.to_dict() for h in detector_health(self._rules.configs(), [], None)]

    def close(self) -> None:
        if self.stage is not None:
            self.stage.close()
        self.collector.close()

    def abort(self) -> None:
        """The run failed: nothing to stop (as `DetectionProcess.abort` stops its child)."""
