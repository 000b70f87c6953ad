"""In-process bus: the embedded default and the unit tests.

Same contract as the Kafka bus: keyed messages go to `murmur2(key) % partitions` (Kafka's
default partitioner, so both buses place a vessel in the same partition), consumer groups split
partitions between members and call the rebalance callbacks, offsets are committed per group.
Messages every subscribed group has committed past are released, so a long embedded run holds
only what is still unread.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka.partitioner.default import murmur2

from lookout.bus.base import (
    BusError,
    Message,
    RebalanceCallback,
    Serializable,
    TopicPartition,
)

_new_tuple = tuple.__new__


@dataclass
class _Partition:
    base: int = 0  # offset of messages[0]
    messages: list[Message] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.base + len(self.messages)


@dataclass
class _Group:
    members: list[MemoryConsumer] = field(default_factory=list)
    topics: set[str] = field(default_factory=set)  # ever subscribed: its offsets hold messages
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    generation: int = 0


class MemoryBus:
    def __init__(self, default_partitions: int = 4) -> None:
        self.default_partitions = default_partitions
        self._topics: dict[str, list[_Partition]] = {}
        self._groups: dict[str, _Group] = {}
        self._lock = threading.Condition()
        self._round_robin = itertools.count()
        # per partition count, key -> partition: murmur2 in Python costs ~2 us
        self._partition_of: dict[int, dict[bytes, int]] = {}

    # -- topics -------------------------------------------------------------------------
    def ensure_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        with self._lock:
            for name in names:
                if name not in self._topics:
                    count = partitions or self.default_partitions
                    self._topics[name] = [_Partition() for _ in range(count)]

    def partitions_for(self, topic: str) -> int:
        self.ensure_topics([topic])
        return len(self._topics[topic])

    def _partitions_by_key(self, count: int) -> dict[bytes, int]:
        known = self._partition_of.get(count)
        if known is None or len(known) > 1_000_000:
            known = self._partition_of[count] = {}
        return known

    def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        self.ensure_topics([topic])
        with self._lock:
            return {TopicPartition(topic, i): p.end for i, p in enumerate(self._topics[topic])}

    # -- producing ----------------------------------------------------------------------
    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def _append(self, topic: str, value: bytes, key: bytes | None, record: Any = None) -> None:
        self._append_all(topic, ((key, value, record),))

    def _append_all(self, topic: str, messages: Iterable[tuple[bytes | None, bytes, Any]]) -> None:
        if topic not in self._topics:
            self.ensure_topics([topic])
        with self._lock:
            partitions = self._topics[topic]
            count = len(partitions)
            known = self._partitions_by_key(count)
            now_ms = time.time_ns() // 1_000_000
            for key, value, record in messages:
                if key is None:
                    index = next(self._round_robin) % count
                else:
                    cached = known.get(key)
                    if cached is None:
                        cached = known[key] = (murmur2(key) & 0x7FFFFFFF) % count
                    index = cached
                part = partitions[index]
                offset = part.base + len(part.messages)
                # tuple.__new__: Message._make is a Python-level call per message
                part.messages.append(
                    _new_tuple(Message, (topic, index, offset, key, value, now_ms, record))
                )
            if self._lock._waiters:  # type: ignore[attr-defined]  # skip the wake-up call
                self._lock.notify_all()

    # -- consuming ----------------------------------------------------------------------
    def consumer(
        self,
        topics: Iterable[str],
        group_id: str,
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> MemoryConsumer:
        topic_list = list(topics)
        self.ensure_topics(topic_list)
        consumer = MemoryConsumer(self, topic_list, group_id, on_assign, on_revoke)
        with self._lock:
            group = self._groups.setdefault(group_id, _Group())
            group.members.append(consumer)
            group.topics.update(topic_list)
            group.generation += 1
        return consumer

    def _leave(self, consumer: MemoryConsumer) -> None:
        with self._lock:
            group = self._groups[consumer.group_id]
            if consumer in group.members:
                group.members.remove(consumer)
                group.generation += 1

    def _assignment_for(self, consumer: MemoryConsumer) -> tuple[int, set[TopicPartition]]:
        """Range-style assignment: partitions dealt out to members in join order."""
        with self._lock:
            group = self._groups[consumer.group_id]
            members = group.members
            index = members.index(consumer)
            assigned: set[TopicPartition] = set()
            for topic in consumer.topics:
                for partition in range(len(self._topics[topic])):
                    if partition % len(members) == index:
                        assigned.add(TopicPartition(topic, partition))
            return group.generation, assigned

    def _commit(self, group_id: str, offsets: Mapping[TopicPartition, int]) -> None:
        with self._lock:
            group = self._groups[group_id]
            group.committed.update(offsets)
            for tp in offsets:
                self._release(tp)

    def _committed(self, group_id: str, tp: TopicPartition) -> int | None:
        with self._lock:
            return self._groups[group_id].committed.get(tp)

    def _release(self, tp: TopicPartition) -> None:
        """Drop messages that every group ever subscribed to the topic has committed past."""
        readers = [g for g in self._groups.values() if tp.topic in g.topics]
        if not readers:
            return
        low = min(g.committed.get(tp, 0) for g in readers)
        part = self._topics[tp.topic][tp.partition]
        drop = low - part.base
        if drop > 0:
            del part.messages[:drop]
            part.base = low

    def _fetch(self, tp: TopicPartition, offset: int, limit: int) -> list[Message]:
        part = self._topics[tp.topic][tp.partition]
        if offset < part.base:
            raise BusError(f"{tp} offset {offset} was released (base {part.base})")
        start = offset - part.base
        return part.messages[start : start + limit]

    def wait_until_reachable(self, stop: threading.Event) -> bool:
        return True  # in this process

    def begin_stop(self) -> None:
        """Nothing here waits for a broker."""

    def close(self) -> None:
        return None


class MemoryProducer:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self._bus._append(topic, value, key)

    def send_record(self, topic: str, record: Serializable, key: bytes | None = None) -> None:
        self._bus._append(topic, b"", key, record)

    def send_all(
        self, topic: str, messages: Iterable[tuple[bytes | None, bytes, Serializable | None]]
    ) -> None:
        """(key, value, record) messages in order, as `send` (record None) or `send_record`
        (value b"") would append them one by one; the bus's lock is taken once."""
        self._bus._append_all(topic, messages)

    def flush(self, timeout_s: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None


class MemoryConsumer:
    def __init__(
        self,
        bus: MemoryBus,
        topics: list[str],
        group_id: str,
        on_assign: RebalanceCallback | None,
        on_revoke: RebalanceCallback | None,
    ) -> None:
        self._bus = bus
        self.topics = topics
        self.group_id = group_id
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._generation = -1
        self._assigned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._closed = False

    def _rebalance_if_needed(self) -> None:
        generation, assigned = self._bus._assignment_for(self)
        if generation == self._generation:
            return
        revoked = self._assigned - assigned
        if revoked and self._on_revoke:
            self._on_revoke(revoked)
        for tp in revoked:
            self._positions.pop(tp, None)
        added = assigned - self._assigned
        for tp in added:
            committed = self._bus._committed(self.group_id, tp)
            self._positions[tp] = committed if committed is not None else 0
        self._assigned = assigned
        self._generation = generation
        if added and self._on_assign:
            self._on_assign(added)

    def poll(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        with self._bus._lock:
            while True:
                self._rebalance_if_needed()
                batch: list[Message] = []
                for tp in sorted(self._assigned, key=lambda t: (t.topic, t.partition)):
                    if len(batch) >= max_records:
                        break
                    got = self._bus._fetch(tp, self._positions[tp], max_records - len(batch))
                    if got:
                        self._positions[tp] = got[-1].offset + 1
                        batch.extend(got)
                if batch:
                    return batch
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._bus._lock.wait(remaining)

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._bus._commit(self.group_id, offsets)

    def committed(self, tp: TopicPartition) -> int | None:
        return self._bus._committed(self.group_id, tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._positions[tp] = offset

    def position(self, tp: TopicPartition) -> int:
        return self._positions[tp]

    def assignment(self) -> set[TopicPartition]:
        with self._bus._lock:
            self._rebalance_if_needed()
            return set(self._assigned)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._assigned and self._on_revoke:
                self._on_revoke(set(self._assigned))
            self._bus._leave(self)
