"""The bus interface every stage is handed: in-process (embedded) or Kafka (distributed).

Stages never construct a bus; `lookout.cli` does and passes it in. Both implementations keep
the same guarantees: messages with the same key land in the same partition in send order;
`send` may block when the outgoing buffer is full but never drops; a consumer's committed
offset is the next offset it will read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

import orjson

log = logging.getLogger(__name__)


class BusError(Exception):
    """An infrastructure fault (broker gone, delivery failed): the stage stops and recovers."""


class BusTimeout(BusError):
    """The broker did not answer in time, typically once a stop has begun (`Bus.begin_stop`):
    what was waiting may or may not have reached it."""


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int


class Message(NamedTuple):
    """One message as a consumer sees it (a NamedTuple: built in C on the hot path)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes  # b"" when the in-process bus carried `record` itself: see `payload()`
    timestamp_ms: int | None = None
    record: Any = None

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


RebalanceCallback = Callable[[set[TopicPartition]], None]

R = TypeVar("R")


class Serializable(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def payload(message: Message, parse: Callable[[bytes], R]) -> R:
    """The message's record: the object itself on the in-process bus, else parsed bytes."""
    record = message.record
    return record if record is not None else parse(message.value)


def message_bytes(message: Message) -> bytes:
    """The message as it would travel on Kafka."""
    if message.record is not None and not message.value:
        return orjson.dumps(message.record.to_dict())
    return message.value


class Producer(Protocol):
    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Queue one message; blocks while the buffer is full, never drops."""

    def send_record(self, topic: str, record: Serializable, key: bytes | None = None) -> None:
        """Send a record: serialised to JSON on Kafka; the frozen object itself in process,
        where serialising and parsing again would cost more than the stage's own work."""

    def send_all(
        self, topic: str, messages: Iterable[tuple[bytes | None, bytes, Serializable | None]]
    ) -> None:
        """(key, value, record) messages in order, each as `send` (record None) or
        `send_record` (value b"") would queue it; cheaper per message than one call each."""

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued message is acknowledged; raises BusError otherwise."""

    def close(self) -> None: ...


class Consumer(Protocol):
    def poll(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]: ...

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Store, per partition, the offset of the next message to read."""

    def committed(self, tp: TopicPartition) -> int | None: ...

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    def close(self) -> None: ...


def drain_available(consumer: Consumer, max_records: int = 10_000) -> Iterator[list[Message]]:
    """Every batch available now, without waiting; each is committed once the caller has
    taken it (batch runs on the in-process bus, which then lets the messages go)."""
    while batch := consumer.poll(0.0, max_records):
        yield batch
        consumer.commit(next_offsets(batch))


@contextmanager
def timeouts_end_the_stop(stop: threading.Event) -> Iterator[None]:
    """Around a service's loop: once `stop` is set, a BusTimeout (the broker did not answer
    within the stop timeout) ends the loop instead of the process; the service's close then
    says what that leaves undone. Before the stop it propagates, as any BusError."""
    try:
        yield
    except BusTimeout:
        if not stop.is_set():
            raise


def close_stage(
    final: Callable[[], None], consumer: Consumer, producer: Producer, skipped: str
) -> None:
    """A stage's close: `final` (its last save or commit), then leave the group and close the
    producer. If the broker does not answer within the stop timeout (`Bus.begin_stop`), `final`
    is given up with a warning (`skipped`: what the restart redoes) and the stage leaves anyway:
    the restart resumes from the save before, as after a crash."""
    try:
        final()
    except BusTimeout as exc:
        log.warning("%s (%s)", skipped, exc)
    try:
        consumer.close()
    finally:
        producer.close()


def commit_advisory(consumer: Consumer, offsets: Mapping[TopicPartition, int]) -> None:
    """Commit offsets that only monitoring reads (consumer lag): a stage whose true offsets
    are saved in its own store logs a failed commit and goes on, rather than stop for it."""
    try:
        consumer.commit(offsets)
    except BusError as exc:
        log.warning("offsets not committed to the bus (the store holds them): %s", exc)


def next_offsets(batch: Iterable[Message]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the last message of `batch` (a partition's messages
    come in offset order); one `TopicPartition` per partition, not per message."""
    ends = {(m.topic, m.partition): m.offset for m in batch}
    return {TopicPartition(topic, p): offset + 1 for (topic, p), offset in ends.items()}


class Bus(Protocol):
    def ensure_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        """Create missing topics with the configured partition count."""

    def producer(self) -> Producer: ...

    def consumer(
        self,
        topics: Iterable[str],
        group_id: str,
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer: ...

    def wait_until_reachable(self, stop: threading.Event) -> bool:
        """Block until the broker can be reached (True) or `stop` is set (False)."""

    def begin_stop(self) -> None:
        """The process is stopping: from now on no call on this bus's clients waits for the
        broker beyond the bus's stop timeout; one that would raises BusTimeout. Safe to call
        from a signal handler."""

    def close(self) -> None: ...
