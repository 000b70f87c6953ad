"""Sinks that take what the ingest loop produces and publish it on the bus."""

from __future__ import annotations

from ingest.records import DeadLetter, PositionReport, StaticReport
from lookout.bus import topics
from lookout.bus.base import Producer


class BusSink:
    """Records to `ais.decoded` keyed by MMSI (so per-vessel order holds), dead letters to
    `ais.deadletter` keyed by source."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.published = 0

    def record(self, report: PositionReport | StaticReport) -> None:
        self.producer.send_record(topics.DECODED, report, str(report.mmsi).encode())
        self.published += 1

    def deadletter(self, letter: DeadLetter) -> None:
        self.producer.send_record(topics.DEADLETTER, letter, letter.source.encode())


class BufferedBusSink(BusSink):
    """A `BusSink` that keeps records until `flush()` and then sends them in one `send_all`,
    in the same order: for batch runs, which flush before every downstream drain. Dead letters
    go out at once (another topic: their order relative to records does not matter)."""

    def __init__(self, producer: Producer) -> None:
        super().__init__(producer)
        self._held: list[tuple[bytes, bytes, PositionReport | StaticReport]] = []

    def record(self, report: PositionReport | StaticReport) -> None:
        self._held.append((str(report.mmsi).encode(), b"", report))

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, []
            self.producer.send_all(topics.DECODED, held)
            self.published += len(held)
