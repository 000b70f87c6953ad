"""The final revision of every alert on the `alerts` topic: `lookout process`'s alerts.jsonl.

`AlertCollector(bus).drain()` reads what arrived (in process: the Alert objects themselves),
keeps the highest revision of each id, as the API's alert store does, and writes them one JSON
object a line (DESIGN.md, Alert), ordered by episode start then id, so two runs over the same
data write the same file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from anomaly.records import Alert
from lookout.bus import topics
from lookout.bus.base import Bus, drain_available, payload

__all__ = ["AlertCollector"]


def _parse_alert(value: bytes) -> Alert:
    return Alert.from_dict(orjson.loads(value))


class AlertCollector:
    def __init__(self, bus: Bus, group: str = "process-alerts") -> None:
        bus.ensure_topics([topics.ALERTS])
        self._consumer = bus.consumer([topics.ALERTS], group)
        self.alerts: dict[str, Alert] = {}
        self.revisions = 0  # alert messages read, every revision and replay included

    def drain(self) -> int:
        count = 0
        for batch in drain_available(self._consumer):
            for message in batch:
                alert = payload(message, _parse_alert)
                kept = self.alerts.get(alert.id)
                if kept is None or alert.revision > kept.revision:
                    self.alerts[alert.id] = alert
            count += len(batch)
        self.revisions += count
        return count

    def final(self) -> list[Alert]:
        return sorted(self.alerts.values(), key=lambda a: (a.start, a.id))

    def by_type(self) -> dict[str, int]:
        counts = Counter(alert.type.value for alert in self.alerts.values())
        return dict(sorted(counts.items()))

    def write_jsonl(self, path: Path) -> int:
        alerts = self.final()
        with path.open("wb") as out:
            for alert in alerts:
                out.write(orjson.dumps(alert.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
        return len(alerts)

    def close(self) -> None:
        self._consumer.close()
