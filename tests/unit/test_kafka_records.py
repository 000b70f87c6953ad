"""Fetched records unpacked straight into Messages (`lookout.bus.kafka_records`), against
kafka-python's own unpacking of the same bytes: the same records, the same fetch position
after each, the same errors. Batches are built by kafka-python's builders; no broker is
needed to read them. Consuming from a broker: tests/integration (test_bus_contract)."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from lookout.bus.base import Message
from lookout.bus.kafka_records import MessagePartitionRecords

TP = TopicPartition("ais.decoded", 3)
LZ4, NONE = 3, 0


def batch_bytes(
    base: int, count: int, codec: int = LZ4, log_append: bool = False, headers: bool = False
) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, False, -1, -1, -1, 1 << 30)
    for n in range(count):
        key = None if n % 7 == 3 else b"%d" % (200_000_000 + n % 5)
        value = None if n % 11 == 5 else b'{"n": %d}' % (base + n) + b"." * (n % 300)
        header = [("source", b"rx-%d" % n)] if headers else []
        builder.append(n, 1_714_521_600_000 + 997 * n, key, value, header)
    data = builder.build()
    if log_append:  # as a broker with message.timestamp.type=LogAppendTime writes it
        data[22] |= 0x08  # attributes (int16 at 21..22): timestampType is bit 3
        data[17:21] = (0).to_bytes(4, "big")  # CRC no longer matches: not checked below
    data[0:8] = base.to_bytes(8, "big")
    return bytes(data)


def records_of(*batches: bytes) -> MemoryRecords:
    return MemoryRecords(b"".join(batches))


def ours(data: bytes, fetch_offset: int = 0, check_crcs: bool = True) -> Any:
    return MessagePartitionRecords(fetch_offset, TP, MemoryRecords(data), check_crcs=check_crcs)


def theirs(data: bytes, fetch_offset: int = 0, check_crcs: bool = True) -> Any:
    return Fetcher.PartitionRecords(fetch_offset, TP, MemoryRecords(data), check_crcs=check_crcs)


def take_all(records: Any) -> list[Any]:
    """Take until drained, as the fetcher does: an error met after some records comes with
    the next take (kafka-python's `take`)."""
    taken: list[Any] = []
    while records:
        taken += records.take(None)
    return taken


def as_messages(records: list[Any]) -> list[Message]:
    return [Message(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in records]


@pytest.mark.parametrize("codec", [LZ4, NONE])
@pytest.mark.parametrize("headers", [False, True])
def test_the_same_records_and_positions_as_kafka_python(codec: int, headers: bool) -> None:
    data = batch_bytes(0, 400, codec, headers=headers) + batch_bytes(400, 250, codec)
    mine, reference = ours(data), theirs(data)

    for n in (1, 99, 300, 1000):  # takes as the consumer makes them, across the two batches
        got = mine.take(n)
        assert got == as_messages(reference.take(n))
        assert all(type(m) is Message for m in got)
        assert mine.next_fetch_offset == reference.next_fetch_offset
    assert not mine and not reference  # drained
    assert mine.records_read == reference.records_read == 650


def test_a_fetch_from_inside_a_batch_starts_at_its_offset() -> None:
    data = batch_bytes(100, 50)
    got = ours(data, fetch_offset=120).take(None)

    assert [m.offset for m in got] == list(range(120, 150))
    assert got == as_messages(theirs(data, fetch_offset=120).take(None))


def test_log_append_time_gives_every_record_the_batch_time() -> None:
    data = batch_bytes(0, 20, log_append=True)
    got = ours(data, check_crcs=False).take(None)

    assert got == as_messages(theirs(data, check_crcs=False).take(None))
    assert len({m.timestamp_ms for m in got}) == 1


def test_a_control_batch_is_skipped_and_moves_the_position() -> None:
    control = bytearray(batch_bytes(10, 1, NONE))
    control[22] |= 0x20  # isControlBatch (a transaction marker)
    data = batch_bytes(0, 10, NONE) + bytes(control) + batch_bytes(11, 5, NONE)
    mine, reference = ours(data, check_crcs=False), theirs(data, check_crcs=False)

    got = mine.take(None)
    assert [m.offset for m in got] == [*range(10), *range(11, 16)]
    assert got == as_messages(reference.take(None))
    assert mine.next_fetch_offset == reference.next_fetch_offset == 16


def test_a_broken_crc_raises_as_kafka_python_does() -> None:
    data = bytearray(batch_bytes(0, 10))
    data[-1] ^= 0xFF
    with pytest.raises(CorruptRecordError, match="crc"):
        ours(bytes(data)).take(None)
    with pytest.raises(CorruptRecordError, match="crc"):
        theirs(bytes(data)).take(None)


@pytest.mark.parametrize("cut", [1, 7, 40])
def test_a_record_cut_short_is_corrupt_not_a_crash(cut: int) -> None:
    """A batch whose records do not add up (CRC not checked, so the bytes reach the loop)."""
    data = bytearray(batch_bytes(0, 3, NONE))
    data[61] = (data[61] + 2 * cut) % 256  # the first record's length varint, lengthened
    for records in (ours(bytes(data), check_crcs=False), theirs(bytes(data), check_crcs=False)):
        with pytest.raises(CorruptRecordError):
            take_all(records)


def test_message_format_v1_batches_are_read_as_kafka_python_reads_them() -> None:
    builder = LegacyRecordBatchBuilder(1, 0, 1 << 20)
    for n in range(5):
        builder.append(n, 1_714_521_600_000 + n, b"k%d" % n, b"v%d" % n)
    data = bytes(builder.build())

    got = ours(data).take(None)
    assert got == as_messages(theirs(data).take(None))
    assert [m.value for m in got] == [b"v0", b"v1", b"v2", b"v3", b"v4"]


def test_read_committed_goes_through_kafka_python() -> None:
    data = batch_bytes(0, 30)
    mine = MessagePartitionRecords(
        0, TP, MemoryRecords(data), isolation_level=IsolationLevel.READ_COMMITTED
    )
    reference = Fetcher.PartitionRecords(
        0, TP, MemoryRecords(data), isolation_level=IsolationLevel.READ_COMMITTED
    )

    assert mine.take(None) == as_messages(reference.take(None))


def test_every_take_size_agrees() -> None:
    data = batch_bytes(0, 60) + batch_bytes(60, 60, NONE)
    for size in (1, 2, 5, 17, 59, 60, 61):
        mine, reference = ours(data), theirs(data)
        while reference:
            assert mine.take(size) == as_messages(reference.take(size))
            assert mine.next_fetch_offset == reference.next_fetch_offset
        assert not mine
