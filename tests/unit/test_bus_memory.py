"""The in-process bus: the same contract as the Kafka one (lookout/bus/base.py)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest
from kafka.partitioner.default import murmur2

from lookout.bus.base import BusError, Message, TopicPartition
from lookout.bus.memory import MemoryBus, MemoryConsumer

TOPIC = "ais.decoded"


def drain(consumer: MemoryConsumer, max_records: int = 500) -> list[Message]:
    """Everything the consumer can read now (polls until an empty batch)."""
    got: list[Message] = []
    while batch := consumer.poll(timeout_s=0.01, max_records=max_records):
        got.extend(batch)
    return got


def send_keyed(bus: MemoryBus, count: int, keys: int = 5) -> None:
    producer = bus.producer()
    for i in range(count):
        producer.send(TOPIC, f"{i}".encode(), key=f"vessel-{i % keys}".encode())
    producer.flush()


def next_offsets(messages: list[Message]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for message in messages:
        offsets[message.tp] = max(offsets.get(message.tp, 0), message.offset + 1)
    return offsets


# -- producing ----------------------------------------------------------------------------


def test_same_key_same_partition_in_send_order() -> None:
    bus = MemoryBus(default_partitions=4)
    send_keyed(bus, 50)
    messages = drain(bus.consumer([TOPIC], "g"))
    assert len(messages) == 50
    by_key: dict[bytes, list[Message]] = defaultdict(list)
    for message in messages:
        assert message.key is not None
        by_key[message.key].append(message)
    for key, keyed in by_key.items():
        assert len({m.partition for m in keyed}) == 1
        values = [int(m.value) for m in keyed]
        assert values == sorted(values)  # send order
        assert [m.offset for m in keyed] == sorted(m.offset for m in keyed)
        # Kafka's default partitioner, so both buses place a vessel in the same partition
        assert keyed[0].partition == (murmur2(key) & 0x7FFFFFFF) % 4


def test_offsets_are_consecutive_per_partition() -> None:
    bus = MemoryBus(default_partitions=3)
    send_keyed(bus, 30, keys=7)
    messages = drain(bus.consumer([TOPIC], "g"))
    by_partition: dict[int, list[int]] = defaultdict(list)
    for message in messages:
        by_partition[message.partition].append(message.offset)
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))
    ends = bus.end_offsets(TOPIC)
    assert set(ends) == {TopicPartition(TOPIC, p) for p in range(3)}
    for partition, end in ends.items():
        assert end == len(by_partition.get(partition.partition, []))


def test_send_all_appends_as_sends_one_by_one() -> None:
    messages = [
        (
            f"vessel-{i % 7}".encode(),
            b"" if i % 3 else f"{i}".encode(),
            ("point", i) if i % 3 else None,
        )
        for i in range(60)
    ]
    one_by_one, at_once = MemoryBus(default_partitions=4), MemoryBus(default_partitions=4)
    producer = one_by_one.producer()
    for key, value, record in messages:
        if record is None:
            producer.send(TOPIC, value, key)
        else:
            producer.send_record(TOPIC, record, key)
    at_once.producer().send_all(TOPIC, messages)

    def seen(bus: MemoryBus) -> list[tuple[object, ...]]:
        got = drain(bus.consumer([TOPIC], "g"))
        return sorted((m.partition, m.offset, m.key, m.value, m.record) for m in got)

    appended = seen(at_once)
    assert appended == seen(one_by_one) and len(appended) == 60


def test_unkeyed_messages_spread_over_partitions() -> None:
    bus = MemoryBus(default_partitions=4)
    producer = bus.producer()
    for i in range(8):
        producer.send(TOPIC, str(i).encode())
    assert {m.partition for m in drain(bus.consumer([TOPIC], "g"))} == {0, 1, 2, 3}


def test_ensure_topics_keeps_an_existing_partition_count() -> None:
    bus = MemoryBus(default_partitions=4)
    bus.ensure_topics([TOPIC], partitions=12)
    bus.ensure_topics([TOPIC], partitions=2)
    assert bus.partitions_for(TOPIC) == 12
    assert bus.partitions_for("other") == 4


# -- consuming, committing, resuming ------------------------------------------------------


def test_commit_then_resume_in_a_new_consumer() -> None:
    bus = MemoryBus(default_partitions=1)
    send_keyed(bus, 10)
    tp = TopicPartition(TOPIC, 0)
    first = bus.consumer([TOPIC], "tracks")
    batch = first.poll(timeout_s=0.1, max_records=4)
    assert [m.offset for m in batch] == [0, 1, 2, 3]
    assert first.committed(tp) is None
    first.commit({tp: 4})
    assert first.committed(tp) == 4
    first.poll(timeout_s=0.1, max_records=3)  # read 4..6 but never committed them
    first.close()

    second = bus.consumer([TOPIC], "tracks")
    assert [m.offset for m in drain(second)] == list(range(4, 10))  # at least once


def test_groups_read_independently() -> None:
    bus = MemoryBus(default_partitions=2)
    send_keyed(bus, 10)
    tracks = bus.consumer([TOPIC], "tracks")
    counter = bus.consumer([TOPIC], "counter")
    assert len(drain(tracks)) == 10
    assert len(drain(counter)) == 10


def test_seek_rereads() -> None:
    bus = MemoryBus(default_partitions=1)
    send_keyed(bus, 5)
    consumer = bus.consumer([TOPIC], "g")
    drain(consumer)
    tp = TopicPartition(TOPIC, 0)
    consumer.seek(tp, 2)
    assert [m.offset for m in drain(consumer)] == [2, 3, 4]


def test_poll_waits_for_a_message() -> None:
    bus = MemoryBus(default_partitions=1)
    consumer = bus.consumer([TOPIC], "g")
    started = time.monotonic()
    assert consumer.poll(timeout_s=0.05) == []
    assert time.monotonic() - started >= 0.04

    timer = threading.Timer(0.05, lambda: bus.producer().send(TOPIC, b"late", b"k"))
    timer.start()
    try:
        batch = consumer.poll(timeout_s=5.0)
    finally:
        timer.join()
    assert [m.value for m in batch] == [b"late"]


# -- consumer groups ----------------------------------------------------------------------


def test_two_consumers_in_a_group_split_the_partitions() -> None:
    bus = MemoryBus(default_partitions=4)
    assigned: dict[str, list[set[TopicPartition]]] = defaultdict(list)
    revoked: dict[str, list[set[TopicPartition]]] = defaultdict(list)

    def member(name: str) -> MemoryConsumer:
        return bus.consumer(
            [TOPIC],
            "tracks",
            on_assign=lambda tps: assigned[name].append(tps),
            on_revoke=lambda tps: revoked[name].append(tps),
        )

    a = member("a")
    assert len(a.assignment()) == 4
    b = member("b")
    a_parts, b_parts = a.assignment(), b.assignment()
    assert a_parts and b_parts
    assert a_parts.isdisjoint(b_parts)
    assert a_parts | b_parts == {TopicPartition(TOPIC, p) for p in range(4)}
    assert revoked["a"] == [b_parts]  # a gave up what b took
    assert assigned["b"] == [b_parts]

    send_keyed(bus, 40, keys=13)
    from_a, from_b = drain(a), drain(b)
    assert {m.tp for m in from_a} <= a_parts
    assert {m.tp for m in from_b} <= b_parts
    assert len(from_a) + len(from_b) == 40


def test_leaving_member_hands_its_partitions_back_at_the_committed_offset() -> None:
    bus = MemoryBus(default_partitions=2)
    a = bus.consumer([TOPIC], "tracks")
    b = bus.consumer([TOPIC], "tracks")
    a.assignment()
    b_parts = b.assignment()
    send_keyed(bus, 20, keys=7)
    from_b = drain(b)
    half = from_b[: len(from_b) // 2]
    b.commit(next_offsets(half))
    b.close()

    drain_a = drain(a)
    taken_over = [m for m in drain_a if m.tp in b_parts]
    assert [m.offset for m in taken_over] == [m.offset for m in from_b[len(half) :]]


# -- releasing what every group has read --------------------------------------------------


def test_committed_messages_are_released() -> None:
    bus = MemoryBus(default_partitions=1)
    send_keyed(bus, 10)
    tp = TopicPartition(TOPIC, 0)
    consumer = bus.consumer([TOPIC], "tracks")
    drain(consumer)
    consumer.commit({tp: 6})
    assert bus.end_offsets(TOPIC) == {tp: 10}  # offsets never move back
    consumer.seek(tp, 0)
    with pytest.raises(BusError):
        consumer.poll(timeout_s=0.01)
    consumer.seek(tp, 6)
    assert [m.offset for m in drain(consumer)] == [6, 7, 8, 9]


def test_messages_are_kept_until_every_group_has_committed() -> None:
    bus = MemoryBus(default_partitions=1)
    tp = TopicPartition(TOPIC, 0)
    fast = bus.consumer([TOPIC], "fast")
    slow = bus.consumer([TOPIC], "slow")
    send_keyed(bus, 10)
    drain(fast)
    fast.commit({tp: 10})
    assert [m.offset for m in drain(slow)] == list(range(10))
    slow.commit({tp: 3})
    fast.seek(tp, 3)
    assert [m.offset for m in drain(fast)] == list(range(3, 10))


def test_a_restarting_group_keeps_what_it_has_not_committed() -> None:
    """A stage restarts: its consumer closes and a new one resumes from the committed offset.

    Meanwhile another group commits further. The restarting group's committed offset is
    still its position (Kafka keeps a group's offsets while it has no members), so the bus
    must not release past it: the new consumer reads on from offset 2, not a BusError.
    """
    bus = MemoryBus(default_partitions=1)
    tp = TopicPartition(TOPIC, 0)
    tracks = bus.consumer([TOPIC], "tracks")
    audit = bus.consumer([TOPIC], "audit")
    send_keyed(bus, 10)
    drain(tracks)
    tracks.commit({tp: 2})
    tracks.close()  # restarting
    drain(audit)
    audit.commit({tp: 10})

    restarted = bus.consumer([TOPIC], "tracks")
    assert [m.offset for m in drain(restarted)] == list(range(2, 10))
