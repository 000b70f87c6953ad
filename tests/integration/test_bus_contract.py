"""The bus contract (lookout.bus.base), run against the memory bus and a real Kafka broker."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from kafka.partitioner.default import murmur2

from lookout.bus.base import Bus, Consumer, Message, TopicPartition, message_bytes, payload
from lookout.bus.kafka import KafkaBus
from lookout.bus.memory import MemoryBus

PARTITIONS = 4
SETTLE_TIMEOUT_S = 30.0


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def bus(request: pytest.FixtureRequest) -> Bus:
    if request.param == "memory":
        memory: MemoryBus = request.getfixturevalue("memory_bus")
        return memory
    make_kafka: Callable[[], KafkaBus] = request.getfixturevalue("kafka_bus")
    return make_kafka()


def kafka_partition(key: bytes, partitions: int = PARTITIONS) -> int:
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def publish(bus: Bus, topic: str, items: Iterable[tuple[bytes, bytes]]) -> None:
    producer = bus.producer()
    for key, value in items:
        producer.send(topic, value, key=key)
    producer.flush(timeout_s=30)


def read(consumer: Consumer, count: int, timeout_s: float = SETTLE_TIMEOUT_S) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.poll(timeout_s=0.2)
    assert len(got) == count, f"read {len(got)} of {count} messages"
    return got


def vessel_messages(count: int, vessels: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    """Messages keyed by MMSI whose values are their sequence numbers."""
    return [(b"%d" % (244000000 + i % vessels), b"%d" % i) for i in range(start, start + count)]


def values(messages: Iterable[Message]) -> list[int]:
    return sorted(int(m.value) for m in messages)


@dataclass
class Member:
    """A group member that, like a stage, commits what it has read when partitions leave."""

    bus: Bus
    topic: str
    group: str
    owned: set[TopicPartition] = field(default_factory=set)
    assigned: set[TopicPartition] = field(default_factory=set)
    revoked: set[TopicPartition] = field(default_factory=set)
    caller_threads: set[int] = field(default_factory=set)
    callback_threads: set[int] = field(default_factory=set)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    got: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.consumer = self.bus.consumer(
            [self.topic], self.group, on_assign=self.on_assign, on_revoke=self.on_revoke
        )

    def on_assign(self, partitions: set[TopicPartition]) -> None:
        self.callback_threads.add(threading.get_ident())
        self.assigned |= partitions

    def on_revoke(self, partitions: set[TopicPartition]) -> None:
        self.callback_threads.add(threading.get_ident())
        self.revoked |= partitions
        read = {tp: self.next_offsets[tp] for tp in partitions if tp in self.next_offsets}
        self.consumer.commit(read)

    def poll(self) -> None:
        self.caller_threads.add(threading.get_ident())
        for message in self.consumer.poll(timeout_s=0.05):
            self.next_offsets[message.tp] = message.offset + 1
            self.got.append(message)
        self.owned = self.consumer.assignment()

    def close(self) -> None:
        self.caller_threads.add(threading.get_ident())
        self.consumer.close()


def settle(members: list[Member], done: Callable[[], bool]) -> None:
    """Poll each member from its own thread, as separate stage processes would, until done."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(member: Member) -> None:
        try:
            while not stop.is_set():
                member.poll()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,), daemon=True) for m in members]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    try:
        while not done() and not errors:
            assert time.monotonic() < deadline, "the group did not settle"
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def read_new(members: list[Member], count: int) -> list[Message]:
    """Poll until `count` new messages arrived, then a little longer to catch any extra."""
    before = [len(m.got) for m in members]
    settle(members, lambda: sum(len(m.got) for m in members) >= sum(before) + count)
    quiet_until = time.monotonic() + 0.5
    settle(members, lambda: time.monotonic() > quiet_until)
    return [message for m, seen in zip(members, before, strict=True) for message in m.got[seen:]]


def all_partitions(topic: str) -> set[TopicPartition]:
    return {TopicPartition(topic, p) for p in range(PARTITIONS)}


def test_keyed_messages_keep_their_order_in_the_kafka_partition(
    bus: Bus, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("order")
    bus.ensure_topics([topic], partitions=PARTITIONS)
    sent = vessel_messages(400, vessels=16)
    publish(bus, topic, sent)

    got = read(bus.consumer([topic], unique_name("group")), len(sent))

    by_key: dict[bytes, list[Message]] = defaultdict(list)
    for message in got:
        assert message.key is not None
        by_key[message.key].append(message)
    for key, messages in by_key.items():
        assert {m.partition for m in messages} == {kafka_partition(key)}
        sequence = [int(m.value) for m in messages]
        assert sequence == sorted(sequence)
    assert values(got) == list(range(len(sent)))


@dataclass(frozen=True)
class Fix:
    mmsi: int
    lat: float

    def to_dict(self) -> dict[str, Any]:
        return {"mmsi": self.mmsi, "lat": self.lat}

    @classmethod
    def parse(cls, raw: bytes) -> Fix:
        return cls(**orjson.loads(raw))


def test_a_record_arrives_as_the_same_record(bus: Bus, unique_name: Callable[[str], str]) -> None:
    topic = unique_name("records")
    bus.ensure_topics([topic], partitions=PARTITIONS)
    sent = [Fix(244000000 + i, 36.0 + i / 100) for i in range(5)]
    producer = bus.producer()
    for fix in sent:
        producer.send_record(topic, fix, key=b"%d" % fix.mmsi)
    producer.flush(timeout_s=30)

    got = read(bus.consumer([topic], unique_name("group")), len(sent))

    assert sorted((payload(m, Fix.parse) for m in got), key=lambda f: f.mmsi) == sent
    assert {message_bytes(m) for m in got} == {orjson.dumps(f.to_dict()) for f in sent}
    assert {m.partition for m in got} == {kafka_partition(b"%d" % f.mmsi) for f in sent}


def test_send_all_delivers_what_sends_one_by_one_would(
    bus: Bus, unique_name: Callable[[str], str]
) -> None:
    """Records and raw values mixed, several per key: each in its key's partition, in order,
    as the bytes `send_record` would have sent."""
    topic = unique_name("send-all")
    bus.ensure_topics([topic], partitions=PARTITIONS)
    sent = [Fix(244000000 + i % 6, 36.0 + i / 100) for i in range(60)]
    messages = [
        (b"%d" % fix.mmsi, orjson.dumps(fix.to_dict()), None)
        if i % 3 == 0
        else (b"%d" % fix.mmsi, b"", fix)
        for i, fix in enumerate(sent)
    ]
    producer = bus.producer()
    producer.send_all(topic, messages)
    producer.flush(timeout_s=30)

    got = read(bus.consumer([topic], unique_name("group")), len(sent))

    for key in {key for key, _, _ in messages}:
        mine = sorted((m for m in got if m.key == key), key=lambda m: m.offset)
        assert {m.partition for m in mine} == {kafka_partition(key)}
        expected = [orjson.dumps(f.to_dict()) for f in sent if b"%d" % f.mmsi == key]
        assert [message_bytes(m) for m in mine] == expected


@pytest.mark.integration
def test_both_buses_put_a_key_in_the_same_partition(
    memory_bus: MemoryBus,
    kafka_bus: Callable[[], KafkaBus],
    unique_name: Callable[[str], str],
) -> None:
    keys = [b"244660000", b"211331640", b"970012345", b"", b"\xff\x00vessel", b"sart-1"]
    placements = []
    for bus in (memory_bus, kafka_bus()):
        topic = unique_name("placement")
        bus.ensure_topics([topic], partitions=PARTITIONS)
        publish(bus, topic, [(key, b"x") for key in keys])
        got = read(bus.consumer([topic], unique_name("group")), len(keys))
        placements.append({m.key: m.partition for m in got})

    memory, kafka = placements
    assert memory == kafka
    assert memory == {key: kafka_partition(key) for key in keys}


def test_a_new_member_resumes_at_the_committed_offset(
    bus: Bus, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("resume"), unique_name("group")
    bus.ensure_topics([topic], partitions=1)
    publish(bus, topic, [(b"k", b"%d" % i) for i in range(10)])
    tp = TopicPartition(topic, 0)

    first = bus.consumer([topic], group)
    assert [m.offset for m in read(first, 10)] == list(range(10))
    first.commit({tp: 6})
    assert first.committed(tp) == 6
    first.close()

    second = bus.consumer([topic], group)
    assert [(m.offset, m.value) for m in read(second, 4)] == [(i, b"%d" % i) for i in range(6, 10)]
    assert second.committed(tp) == 6
    assert second.poll(timeout_s=0.5) == []


def test_on_assign_may_seek_to_offsets_stored_elsewhere(
    bus: Bus, unique_name: Callable[[str], str]
) -> None:
    """How a stage that keeps its offsets with its state resumes."""
    topic = unique_name("seek")
    bus.ensure_topics([topic], partitions=1)
    publish(bus, topic, [(b"k", b"%d" % i) for i in range(10)])
    stored = {TopicPartition(topic, 0): 7}

    def resume(partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            consumer.seek(tp, stored[tp])

    consumer = bus.consumer([topic], unique_name("group"), on_assign=resume)
    assert [m.offset for m in read(consumer, 3)] == [7, 8, 9]
    assert consumer.committed(TopicPartition(topic, 0)) is None


def two_members_sharing(bus: Bus, topic: str, group: str) -> tuple[Member, Member]:
    """Member one reads 100 messages, then member two joins and takes some partitions."""
    bus.ensure_topics([topic], partitions=PARTITIONS)
    publish(bus, topic, vessel_messages(100, vessels=20))
    one = Member(bus, topic, group)
    settle([one], lambda: one.owned == all_partitions(topic) and len(one.got) == 100)

    two = Member(bus, topic, group)

    def split() -> bool:
        mine, theirs = one.owned, two.owned
        return (
            bool(mine and theirs) and not mine & theirs and mine | theirs == all_partitions(topic)
        )

    settle([one, two], split)
    return one, two


def test_two_members_split_the_partitions_and_hear_about_it(
    bus: Bus, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("split")
    one, two = two_members_sharing(bus, topic, unique_name("group"))

    assert one.assigned == all_partitions(topic)
    assert one.revoked == two.assigned == two.owned
    assert one.owned == one.assigned - one.revoked
    for member in (one, two):
        assert member.callback_threads <= member.caller_threads
    # Member one committed what it had read as it let go: member two reads only what is new.
    publish(bus, topic, vessel_messages(40, vessels=20, start=100))
    assert values(read_new([one, two], 40)) == list(range(100, 140))
    assert {m.tp for m in two.got} <= two.owned


def test_a_leaving_member_hands_its_partitions_over(
    bus: Bus, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("handover")
    one, two = two_members_sharing(bus, topic, unique_name("group"))
    theirs = two.owned
    publish(bus, topic, vessel_messages(40, vessels=20, start=100))
    read_new([one, two], 40)
    one.assigned.clear()

    two.close()
    assert two.revoked == theirs
    settle([one], lambda: one.owned == all_partitions(topic))

    assert one.assigned == theirs
    for member in (one, two):
        assert member.callback_threads <= member.caller_threads
    # Member two committed on its way out: member one carries on where it stopped.
    publish(bus, topic, vessel_messages(20, vessels=20, start=140))
    assert values(read_new([one], 20)) == list(range(140, 160))


def test_an_exception_in_a_callback_comes_out_of_poll(
    bus: Bus, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("failing")
    bus.ensure_topics([topic], partitions=PARTITIONS)

    def no_state(partitions: set[TopicPartition]) -> None:
        raise LookupError(f"no stored state for {sorted(p.partition for p in partitions)}")

    consumer = bus.consumer([topic], unique_name("group"), on_assign=no_state)
    with pytest.raises(LookupError, match=r"no stored state for \[0, 1, 2, 3\]"):
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            consumer.poll(timeout_s=0.2)
