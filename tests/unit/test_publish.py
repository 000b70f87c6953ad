"""Ingest's bus sinks: what they publish, where, and when."""

from __future__ import annotations

import itertools

from ingest.errors import Reason
from ingest.publish import BufferedBusSink, BusSink
from ingest.records import DeadLetter
from lookout.bus import topics
from lookout.bus.memory import MemoryBus
from tests.track_builders import make_report

_groups = itertools.count()


def _read(bus: MemoryBus, topic: str) -> list[tuple[int, int, object]]:
    """Everything on `topic` now, as a new consumer group reads it."""
    got = bus.consumer([topic], f"reader-{next(_groups)}").poll(0.0, 10_000)
    return sorted((m.partition, m.offset, m.record) for m in got)


def test_the_buffered_sink_publishes_at_flush_what_the_plain_one_publishes_at_once() -> None:
    reports = [make_report(244_000_000 + i % 5, float(i)) for i in range(40)]
    plain_bus, buffered_bus = MemoryBus(4), MemoryBus(4)
    plain, buffered = BusSink(plain_bus.producer()), BufferedBusSink(buffered_bus.producer())
    for report in reports:
        plain.record(report)
        buffered.record(report)

    assert _read(buffered_bus, topics.DECODED) == []  # held until flush
    buffered.flush()
    assert _read(buffered_bus, topics.DECODED) == _read(plain_bus, topics.DECODED)
    assert buffered.published == plain.published == 40


def test_the_buffered_sink_sends_dead_letters_at_once() -> None:
    bus = MemoryBus(2)
    sink = BufferedBusSink(bus.producer())
    letter = DeadLetter(b"!AIVDM,garbage", Reason.CHECKSUM, "feed", 0, "ingest", None)
    sink.deadletter(letter)
    assert [record for _, _, record in _read(bus, topics.DEADLETTER)] == [letter]
