"""Records appended straight into kafka-python's batches, answered a batch at a time
(`lookout.bus.kafka_batches`), on kafka-python's own accumulator: no broker is needed to
finish, fail or split a batch. The delivery itself is tested against a broker in
tests/integration (test_bus_contract, test_kafka_outage)."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError, MessageSizeTooLargeError
from kafka.producer.record_accumulator import RecordAccumulator
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from lookout.bus.kafka_batches import BatchAppender, append_record, follow_splits

TP = TopicPartition("points", 0)
OTHER = TopicPartition("points", 1)


def appender(batch_size: int = 16 * 1024) -> tuple[RecordAccumulator, BatchAppender]:
    accumulator = RecordAccumulator(batch_size=batch_size, compression_attrs=0)
    return accumulator, BatchAppender(accumulator, follow_splits(accumulator), {})


def values_in(batch: Any) -> list[bytes]:
    batch.records.close()
    return [r.value for b in MemoryRecords(batch.records.buffer()) for r in b]


def test_records_go_to_the_open_batch_of_their_partition_in_order() -> None:
    accumulator, batches = appender()
    for n in range(10):
        batches.append(TP if n % 2 else OTHER, b"k", b"%d" % n, 50)
    assert batches.new_batches  # the producer wakes its sender for them

    answers = batches.take()

    assert sorted(size for _, size in answers) == [250, 250]
    assert [a.records for a, _ in answers] == [5, 5]
    assert values_in(accumulator._batches[TP][0]) == [b"1", b"3", b"5", b"7", b"9"]
    assert values_in(accumulator._batches[OTHER][0]) == [b"0", b"2", b"4", b"6", b"8"]
    assert batches.take() == []
    assert not batches.new_batches  # take() hands the news over


def test_a_full_or_drained_batch_gives_way_to_a_new_one() -> None:
    accumulator, batches = appender(batch_size=1024)
    for n in range(40):
        batches.append(TP, b"k", b"%03d" % n + b"." * 60, 80)
    full = list(accumulator._batches[TP])
    full[-1].records.close()  # as the sender does when it drains a batch
    batches.append(TP, b"k", b"after", 10)

    queue = accumulator._batches[TP]
    assert len(full) > 1 and len(queue) == len(full) + 1
    assert values_in(queue[-1]) == [b"after"]
    assert sum(len(values_in(b)) for b in full) == 40
    assert len(batches.take()) == len(queue)  # an answer for each batch appended to
    assert all(b in accumulator._incomplete.all() for b in queue)  # flush() waits for them


def test_an_answer_is_done_when_its_batch_is_and_failed_with_the_brokers_error() -> None:
    accumulator, batches = appender()
    batches.append(TP, b"k", b"a", 10)
    batches.append(OTHER, b"k", b"b", 10)
    (first, _), (second, _) = batches.take()
    assert not first.is_done

    accumulator._batches[TP][0].complete(0, -1)
    error = KafkaError("the broker said no")
    accumulator._batches[OTHER][0].complete_exceptionally(error, lambda index: error)

    assert first.is_done and not first.failed() and first.exception is None
    assert second.is_done and second.failed() and second.exception is error


def test_a_split_batch_is_answered_by_the_batches_that_took_its_records() -> None:
    """kafka-python splits a batch the broker refused as too large, and the new batches
    carry its records: the answer waits for all of them, and fails if one fails."""
    accumulator, batches = appender()
    for n in range(8):
        batches.append(TP, b"k", b"%d" % n, 10)
    ((answer, _),) = batches.take()
    refused = accumulator._batches[TP].popleft()  # drained and sent...
    refused.records.close()

    assert accumulator.split_and_reenqueue(refused) == 2  # ... and refused (sender.py)
    accumulator.deallocate(refused)
    halves = list(accumulator._batches[TP])
    assert [values_in(h) for h in halves] == [[b"0", b"1", b"2", b"3"], [b"4", b"5", b"6", b"7"]]
    assert not answer.is_done

    halves[0].complete(0, -1)
    assert not answer.is_done
    error = MessageSizeTooLargeError("still too large")
    halves[1].complete_exceptionally(error, lambda index: error)
    assert answer.is_done and answer.exception is error


@pytest.mark.parametrize("failing", [0, 1])
def test_splits_are_followed_however_deep(failing: int) -> None:
    accumulator, batches = appender()
    for n in range(4):
        batches.append(TP, b"k", b"%d" % n, 10)
    ((answer, _),) = batches.take()
    refused = accumulator._batches[TP].popleft()
    refused.records.close()
    accumulator.split_and_reenqueue(refused)
    half = accumulator._batches[TP].popleft()
    half.records.close()
    accumulator.split_and_reenqueue(half)  # a half still too large
    quarters = [accumulator._batches[TP][i] for i in range(3)]  # two quarters, one half

    error = KafkaError("no")
    for n, batch in enumerate(quarters):
        if n == failing:
            batch.complete_exceptionally(error, lambda index: error)
        else:
            batch.complete(0, -1)

    assert answer.is_done and answer.exception is error


def test_a_record_is_written_as_kafka_python_writes_it() -> None:
    """Byte for byte, including lengths and deltas past the small-number table, a clock that
    went back, and a batch that fills up."""
    theirs = MemoryRecordsBuilder(2, 0, 256 * 1024)
    mine = MemoryRecordsBuilder(2, 0, 256 * 1024)
    start = 1_714_521_600_000
    stamps = [start, start + 3, start + 5_000, start - 20, start + 70_000] * 40
    accepted = []
    for n, stamp in enumerate(stamps):
        key = b"%d" % (200_000_000 + n)
        value = b"v" * (n * 37 % 5_000)
        expected = theirs.append(stamp, key, value, None) is not None
        assert append_record(mine, key, value, stamp) == expected, n
        if expected:
            accepted.append(len(value))
    theirs.close()
    mine.close()

    assert mine.buffer() == theirs.buffer()
    assert max(accepted) > 4096 and len(accepted) < len(stamps)  # long values; it filled up


def test_a_closed_batch_takes_no_record() -> None:
    records = MemoryRecordsBuilder(2, 0, 8 * 1024)
    assert append_record(records, b"k", b"first")
    records.close()
    assert not append_record(records, b"k", b"after")
