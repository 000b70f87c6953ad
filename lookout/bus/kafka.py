"""Kafka bus: the distributed deployment's implementation of the `lookout.bus.base` interface.

Same contract as `MemoryBus`, which is the reference for what a stage may rely on:

- keyed messages go to `murmur2(key) % partitions` (kafka-python's default partitioner, which
  the memory bus copies), in send order;
- `send` blocks while too much is unacknowledged and never drops (see `KafkaProducer`);
- consumer groups use the cooperative-sticky assignor, so a rebalance revokes only the
  partitions that move and the others keep their position: `on_revoke` / `on_assign` receive
  exactly the partitions lost / gained, as on the memory bus;
- rebalance callbacks run on the thread that called `poll()` or `close()`, and may call the
  consumer's blocking methods (`commit`, `committed`, `seek`), as on the memory bus (see
  `KafkaConsumer`).

The implementation leans on a few kafka-python 3.0.12 internals (`KafkaConsumer._net`, the
producer's accumulator and sender, the fetcher's record reader); the version is pinned in
pyproject.toml.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import kafka.errors as kerrors
import orjson
from kafka import KafkaAdminClient
from kafka import KafkaConsumer as _RawConsumer
from kafka import KafkaProducer as _RawProducer
from kafka import TopicPartition as _RawTopicPartition
from kafka.admin import OffsetSpec
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.future import Future as _KafkaFuture
from kafka.partitioner.default import murmur2
from kafka.structs import OffsetAndMetadata

from lookout.bus.base import (
    BusError,
    BusTimeout,
    Message,
    RebalanceCallback,
    Serializable,
    TopicPartition,
)
from lookout.bus.kafka_batches import BatchAnswer, BatchAppender, follow_splits
from lookout.bus.kafka_records import MessagePartitionRecords
from lookout.runtime import tcp_unreachable, wait_until_ready

log = logging.getLogger(__name__)

T = TypeVar("T")
_C = TypeVar("_C", "KafkaProducer", "KafkaConsumer")

# A batch never expires in the producer: an outage ends in delivery, not in a failed future.
_DELIVERY_TIMEOUT_MS = 2**31 - 1
# kafka-python backs off reconnects up to 30 s by default: after an outage that is 30 s of
# lost throughput for nothing.
_RECONNECT_BACKOFF_MAX_MS = 2000
# What a record costs in the producer beyond its key and value (headers, varints, future).
_RECORD_OVERHEAD = 80
_RETRY_SEND_S = 0.05
_TOPIC_READY_TIMEOUT_MS = 30000
_CLOSE_TIMEOUT_S = 30.0
_CLOSE_SENDER_S = 2.0
# A flush waits in slices of this, so that a stop begun meanwhile bounds it.
_FLUSH_SLICE_S = 0.5
_JOIN_POLL_MS = 200
_TOPIC_ALREADY_EXISTS = kerrors.TopicAlreadyExistsError.errno


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn kafka-python's errors into the BusError a stage knows how to handle."""
    try:
        yield
    except kerrors.KafkaError as exc:
        raise _bus_error(action, exc) from exc


def _bus_error(action: str, exc: kerrors.KafkaError) -> BusError:
    if isinstance(exc, kerrors.KafkaTimeoutError):
        detail = "; ".join(str(arg) for arg in exc.args if arg)  # often none at all
        return BusTimeout(f"kafka: {action} timed out" + (f" ({detail})" if detail else ""))
    return BusError(f"kafka: {action} failed: {exc}")


def _raw_tp(tp: TopicPartition) -> Any:
    return _RawTopicPartition(tp.topic, tp.partition)


def _lookout_tps(raw: Iterable[Any]) -> set[TopicPartition]:
    return {TopicPartition(tp.topic, tp.partition) for tp in raw}


class _StopClock:
    """Once a stop has begun, the time by which every wait for the broker must end.

    A service told to stop while the broker is gone must still stop: it saves what the broker
    acknowledged and leaves the rest to its restart, as after a crash, instead of waiting for
    the broker (flush) or for kafka-python's request timeout (commit, close) one call after
    another. If the broker refuses connections when the stop begins (its process is gone), no
    answer can come: the stop does not wait at all. (A broker that accepts connections but does
    not answer, frozen or overloaded, gets the whole stop timeout.)"""

    def __init__(self, timeout_s: float, broker_gone: Callable[[], str | None]) -> None:
        self.timeout_s = timeout_s
        self.deadline: float | None = None  # time.monotonic(); None until the stop begins
        self._broker_gone = broker_gone  # why the broker cannot answer; None if it may
        self._asked = False

    def begin(self) -> None:
        """Start the clock (safe in a signal handler: the broker is asked at the first wait)."""
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout_s

    def _left_s(self) -> float:
        assert self.deadline is not None
        if not self._asked:
            self._asked = True
            why = self._broker_gone()
            if why is not None:
                log.warning("kafka: stopping without waiting for the broker: %s", why)
                self.deadline = time.monotonic()
        return max(0.0, self.deadline - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.deadline is not None and self._left_s() == 0.0

    def bound_s(self, timeout_s: float | None) -> float | None:
        """`timeout_s`, shortened to what is left of the stop timeout once a stop has begun."""
        if self.deadline is None:
            return timeout_s
        left = self._left_s()
        return left if timeout_s is None else min(left, timeout_s)

    def bound_ms(self) -> int | None:
        """What is left of the stop timeout in ms; None before a stop (no bound of its own)."""
        bound = self.bound_s(None)
        return None if bound is None else int(bound * 1000)


class KafkaBus:
    """Connection settings plus the clients made from them; `close()` closes them all."""

    def __init__(
        self,
        bootstrap: str,
        *,
        partitions: int = 4,
        compression: str | None = "lz4",
        session_timeout_ms: int = 10000,
        heartbeat_interval_ms: int = 3000,
        client_id: str = "lookout",
        max_poll_interval_ms: int = 300000,
        buffer_memory: int = 32 * 1024 * 1024,
        request_timeout_ms: int = 30000,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.default_partitions = partitions
        self.compression = compression
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.client_id = client_id
        self.max_poll_interval_ms = max_poll_interval_ms
        self.buffer_memory = buffer_memory
        self.request_timeout_ms = request_timeout_ms
        self.stop_clock = _StopClock(stop_timeout_s, self._unreachable)
        self._known_topics: set[str] = set()
        self._admin: Any = None
        self._lock = threading.Lock()
        self._clients: list[KafkaProducer | KafkaConsumer] = []

    def _common(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "request_timeout_ms": self.request_timeout_ms,
            "reconnect_backoff_max_ms": _RECONNECT_BACKOFF_MAX_MS,
        }

    # -- topics -------------------------------------------------------------------------
    def ensure_topics(self, names: Iterable[str], partitions: int | None = None) -> None:
        missing = [name for name in dict.fromkeys(names) if name not in self._known_topics]
        if not missing:
            return
        count = partitions or self.default_partitions
        spec = {name: {"num_partitions": count} for name in missing}
        with self._lock, _translated(f"creating topics {missing}"):
            admin = self._admin_client()
            result = admin.create_topics(spec, raise_errors=False)
            _check_created(result)
            admin.wait_for_topics(missing, timeout_ms=_TOPIC_READY_TIMEOUT_MS)
        self._known_topics.update(missing)

    def wait_until_reachable(self, stop: threading.Event) -> bool:
        """Wait until one of the bootstrap servers accepts a connection (True) or `stop` is set
        (False), saying every 30 s what it waits for: a service may start before its broker.

        A plain TCP connection: a failed kafka-python client leaves its IO thread behind, one
        per attempt."""
        return wait_until_ready(f"the kafka broker at {self.bootstrap}", self._unreachable, stop)

    def _unreachable(self) -> str | None:
        """Why no bootstrap server accepts a connection; None when one does."""
        servers = []
        for server in self.bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            if not port.isdigit():
                return f"{server.strip()}: not HOST:PORT"
            servers.append((host, int(port)))
        return tcp_unreachable(servers)

    def partitions_for(self, topic: str) -> int:
        self.ensure_topics([topic])
        with self._lock, _translated(f"describing {topic}"):
            (described,) = self._admin_client().describe_topics([topic])
        return len(described["partitions"])

    def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        """The broker's high watermarks, for monitoring only.

        Some brokers answer loosely: tansu reports the base offset of the last batch plus one,
        a lower bound of the true end. Never use this to decide what has been read.
        """
        specs = {_RawTopicPartition(topic, p): OffsetSpec.LATEST for p in self._range(topic)}
        with self._lock, _translated(f"listing offsets of {topic}"):
            answer = self._admin_client().list_partition_offsets(specs)
        return {
            TopicPartition(tp.topic, tp.partition): found.offset for tp, found in answer.items()
        }

    def _range(self, topic: str) -> range:
        return range(self.partitions_for(topic))

    def _admin_client(self) -> Any:
        if self._admin is None:
            self._admin = KafkaAdminClient(client_id=f"{self.client_id}-admin", **self._common())
        return self._admin

    # -- clients ------------------------------------------------------------------------
    def producer(self) -> KafkaProducer:
        config = {
            **self._common(),
            "client_id": f"{self.client_id}-producer",
            "acks": "all",
            "enable_idempotence": True,
            "compression_type": self.compression,
            "linger_ms": 20,
            "batch_size": 128 * 1024,
            "delivery_timeout_ms": _DELIVERY_TIMEOUT_MS,
            "max_block_ms": 2000,
            "allow_auto_create_topics": False,
        }
        return self._track(KafkaProducer(self, config, self.buffer_memory))

    def consumer(
        self,
        topics: Iterable[str],
        group_id: str,
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> KafkaConsumer:
        topic_list = list(topics)
        self.ensure_topics(topic_list)
        config = {
            **self._common(),
            "client_id": f"{self.client_id}-consumer",
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "partition_assignment_strategy": [CooperativeStickyAssignor],
            "allow_auto_create_topics": False,
        }
        consumer = KafkaConsumer(config, topic_list, on_assign, on_revoke, self.stop_clock)
        return self._track(consumer)

    def _track(self, client: _C) -> _C:
        with self._lock:
            self._clients.append(client)
        return client

    def begin_stop(self) -> None:
        """See `Bus.begin_stop`: the stop timeout starts now (only the first call counts)."""
        self.stop_clock.begin()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
            admin, self._admin = self._admin, None
        for client in clients:
            client.close()
        if admin is not None:
            _stop_io_thread(admin)
            admin.close()


def _stop_io_thread(raw: Any) -> None:
    """Stop a kafka-python client's IO thread before closing the client.

    kafka-python 3.0.12's consumer and admin `close()` close their connections from the calling
    thread while the IO thread may be running a task on one of them; the task is then closed
    mid-step ("generator already executing", logged with a traceback), a race a frozen broker
    makes likely. Once the IO thread has stopped, `close()` runs the loop on the calling thread,
    one thread as in kafka-python 2."""
    raw._net.stop()


def _check_created(result: Mapping[str, Any]) -> None:
    for topic in result["topics"]:
        if topic["error_code"] not in (0, _TOPIC_ALREADY_EXISTS):
            raise BusError(f"kafka: cannot create topic {topic['name']}: {topic['error_message']}")


# -- producing --------------------------------------------------------------------------
class _InFlight:
    """Records sent and not yet answered, oldest first: kafka-python 3 has no buffer_memory.

    Answers are collected from the oldest end only, so the byte count errs high: the producer
    may block a little early, never late. Not thread-safe: KafkaProducer holds a lock.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0
        self.failed = 0
        self.first_failure: BaseException | None = None
        self._records: deque[tuple[Any, int]] = deque()

    def add_all(self, records: list[tuple[Any, int]]) -> None:
        self._records.extend(records)
        self.bytes += sum(size for _, size in records)

    def room(self) -> int:
        self.collect()
        return self.limit - self.bytes

    def has_room(self, size: int) -> bool:
        self.collect()
        # An empty producer always takes one record, however large.
        return self.bytes == 0 or self.bytes + size <= self.limit

    def collect(self) -> None:
        records = self._records
        while records and records[0][0].is_done:
            self._settle(*records.popleft())

    def collect_all(self) -> None:
        pending: deque[tuple[Any, int]] = deque()
        for future, size in self._records:
            if future.is_done:
                self._settle(future, size)
            else:
                pending.append((future, size))
        self._records = pending

    def _settle(self, future: Any, size: int) -> None:
        self.bytes -= size
        if future.failed():
            self.failed += future.records if isinstance(future, BatchAnswer) else 1
            if self.first_failure is None:
                self.first_failure = future.exception


class KafkaProducer:
    """Idempotent, acks=all producer that blocks rather than drops.

    Delivery. With idempotence the broker de-duplicates kafka-python's own retries by producer
    id and sequence number, and batches never expire (`delivery_timeout_ms` is effectively
    infinite), so an outage of any length ends with every message written exactly once and in
    order: `send` blocks once `buffer_memory` bytes are unacknowledged, and resumes when the
    broker answers again.

    Failures. A send that still fails is one kafka-python could not retry (record too large,
    authorisation, a fatal producer-id error). Those are not re-sent: a re-send carries a new
    sequence number, so the broker could not de-duplicate it if the first attempt had in fact
    been written, and it would land after later messages of the same key. Instead the failure
    is kept and raised as BusError by `flush()` and every later `send()`: the stage stops and
    replays from its last commit (made only after a successful flush), and the stable ids
    downstream absorb the replay.

    If the broker refuses idempotence, the producer falls back to acks=all with one request
    in flight per connection: order still holds, but a retry may duplicate a message.
    """

    def __init__(self, bus: KafkaBus, config: dict[str, Any], buffer_memory: int) -> None:
        self._bus = bus
        self._stop = bus.stop_clock
        self._raw, self.idempotent = _open_producer(config)
        self._in_flight = _InFlight(buffer_memory)
        self._lock = threading.Lock()
        self._topics: set[str] = set()
        self._stalled_since: float | None = None
        self._max_record = int(config.get("max_request_size", 1_048_576)) // 2
        self._partition_count: dict[str, int] = {}
        self._target: dict[tuple[str, bytes], Any] = {}  # (topic, key) -> raw TopicPartition
        self._new_batches = False  # appended since the sender was last woken
        self._splits = follow_splits(self._raw._accumulator)
        self._partition_locks: dict[Any, threading.Lock] = {}  # shared by the appenders

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.send_all(topic, [(key, value, None)])

    def _know_topic(self, topic: str) -> None:
        if topic not in self._topics:
            self._bus.ensure_topics([topic])
            self._topics.add(topic)

    def _wake_sender(self) -> None:
        """Tell the sender about new batches (a full one it finds within linger_ms anyway)."""
        if self._new_batches:
            self._new_batches = False
            self._raw._sender.wakeup()

    def _target_of(self, topic: str, key: bytes) -> Any:
        """The partition kafka-python's `send` would choose for a keyed record (murmur2 of
        the key), cached per key; None until the topic's metadata is known. kafka-python's
        `send` spends 7 of its 18 us per record re-checking what does not change between
        records (headers, serialisers, metadata, the partitioner)."""
        target = self._target.get((topic, key))
        if target is None:
            count = self._partition_count.get(topic)
            if count is None:
                return None
            if len(self._target) > 1_000_000:
                self._target.clear()
            target = _RawTopicPartition(topic, (murmur2(key) & 0x7FFFFFFF) % count)
            self._target[(topic, key)] = target
        return target

    def _wait_for_room(self, size: int) -> None:
        while True:
            with self._lock:
                self._raise_if_failed()
                if self._in_flight.has_room(size):
                    break
                self._stalled(f"{self._in_flight.bytes} bytes unacknowledged")
                if self._stop.passed:
                    raise BusTimeout(
                        f"kafka: stopping with {self._in_flight.bytes} bytes unacknowledged"
                    )
            time.sleep(_RETRY_SEND_S)
        self._resumed()

    def send_record(self, topic: str, record: Serializable, key: bytes | None = None) -> None:
        self.send(topic, orjson.dumps(record.to_dict()), key)

    def send_all(
        self, topic: str, messages: Iterable[tuple[bytes | None, bytes, Serializable | None]]
    ) -> None:
        """As `send` for each, taking the lock once for as many records as the room found at
        the start allows (the whole batch, usually). Keyed records go straight into the open
        batch of their partition (`BatchAppender`), answered a batch at a time.

        Each value is serialised just before it is appended: the batch copies it, so the
        bytes are freed at once and the next record reuses the memory. Serialising the whole
        batch first kept thousands of fresh allocations alive: about 1 us a point more in the
        tracks stage."""
        self._know_topic(topic)
        dumps = orjson.dumps
        batches = BatchAppender(self._raw._accumulator, self._splits, self._partition_locks)
        sent: list[tuple[Any, int]] = []
        room = self._room()
        appending = self._raw._accumulator._appends_in_progress  # seen by a forced close
        appending.increment()
        try:
            for key, value, record in messages:
                if record is not None:
                    value = dumps(record.to_dict())
                size = _record_size(key, value)
                if size > room:
                    self._register(sent + self._answers(batches))
                    sent = []
                    appending.decrement()  # a forced close does not wait for this wait
                    try:
                        self._wait_for_room(size)
                    finally:
                        appending.increment()
                    room = self._room()
                room -= size
                target = self._target_of(topic, key) if key and size < self._max_record else None
                if key and target is not None:
                    batches.append(target, key, value, size)
                else:  # unkeyed, too large, or the topic's metadata is not known yet
                    sent.append((self._send_until_accepted(topic, value, key), size))
        finally:
            appending.decrement()
            self._register(sent + self._answers(batches))

    def _answers(self, batches: BatchAppender) -> list[tuple[Any, int]]:
        """What `batches` appended since last asked; the sender is to be woken for a new batch."""
        self._new_batches |= batches.new_batches
        return batches.take()

    def _room(self) -> int:
        """Bytes that may still be sent without waiting; raises an earlier failure."""
        with self._lock:
            self._raise_if_failed()
            return self._in_flight.room()

    def _register(self, sent: list[tuple[Any, int]]) -> None:
        """Count appended records as in flight, after waking the sender for them."""
        if sent:
            self._wake_sender()
            with self._lock:
                self._in_flight.add_all(sent)

    def _send_until_accepted(self, topic: str, value: bytes, key: bytes | None) -> Any:
        while True:
            try:
                future = self._raw.send(topic, value=value, key=key)
                if topic not in self._partition_count:
                    known = self._raw._metadata.partitions_for_topic(topic)
                    if known:
                        self._partition_count[topic] = len(known)
                return future
            except kerrors.KafkaTimeoutError:
                self._stalled(f"no metadata for {topic}")
                time.sleep(_RETRY_SEND_S)
            except kerrors.KafkaError as exc:
                raise BusError(f"kafka: send to {topic} failed: {exc}") from exc

    def _stalled(self, why: str) -> None:
        if self._stalled_since is None:
            self._stalled_since = time.monotonic()
            log.warning(
                "kafka producer blocked (%s): waiting for the broker, dropping nothing", why
            )

    def _resumed(self) -> None:
        if self._stalled_since is not None:
            waited = time.monotonic() - self._stalled_since
            self._stalled_since = None
            log.warning("kafka producer resumed after %.1f s", waited)

    def _raise_if_failed(self) -> None:
        failure = self._in_flight.first_failure
        if failure is not None:
            raise BusError(
                f"kafka: {self._in_flight.failed} message(s) not delivered: {failure!r}"
            ) from failure

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for every record sent so far to be acknowledged, for at most `timeout_s` and,
        once a stop has begun, for what is left of the stop timeout; BusTimeout after that."""
        started = time.monotonic()
        try:
            while not self._flushed_within(started, timeout_s):
                pass
        finally:
            with self._lock:
                self._in_flight.collect_all()
        with self._lock:
            self._raise_if_failed()

    def _flushed_within(self, started: float, timeout_s: float | None) -> bool:
        """One slice of a flush: True when done; raises once the time allowed has run out."""
        spent = time.monotonic() - started
        left = self._stop.bound_s(None if timeout_s is None else max(0.0, timeout_s - spent))
        try:
            self._raw.flush(timeout=_FLUSH_SLICE_S if left is None else min(left, _FLUSH_SLICE_S))
        except kerrors.KafkaTimeoutError as exc:
            if left is None or left > _FLUSH_SLICE_S:
                return False
            with self._lock:
                self._in_flight.collect_all()
                unacknowledged = self._in_flight.bytes
            waited = time.monotonic() - started
            raise BusTimeout(
                f"kafka: {unacknowledged} bytes unacknowledged when the time allowed ran out "
                f"(this flush waited {waited:.1f} s)"
            ) from exc
        return True

    def close(self) -> None:
        """Deliver what is queued within the close timeout (less once a stop has begun);
        what is still unacknowledged then is dropped here, and redone by the stage's restart
        from its last save."""
        try:
            self._raw.close(timeout=self._stop.bound_s(_CLOSE_TIMEOUT_S))
        except kerrors.KafkaError as exc:
            log.warning("kafka producer closed with messages unacknowledged: %s", exc)
            self._abandon()

    def _abandon(self) -> None:
        """Fail what is still queued and finish closing: kafka-python's close stops where its
        flush times out, and would try again, noisily, when the object is collected."""
        sender = self._raw._sender
        sender.force_close()
        sender.join(_CLOSE_SENDER_S)
        try:
            self._raw.close(timeout=0)
        except kerrors.KafkaError as exc:
            log.warning("kafka producer not closed: %s", exc)


def _record_size(key: bytes | None, value: bytes) -> int:
    """What a record counts against `buffer_memory`."""
    return len(value) + (len(key) if key else 0) + _RECORD_OVERHEAD


def _open_producer(config: dict[str, Any]) -> tuple[Any, bool]:
    """The raw producer and whether it is idempotent (falls back if the broker refuses)."""
    with _translated("connecting the producer"):
        try:
            raw = _RawProducer(**config)
        except (kerrors.KafkaConfigurationError, kerrors.UnsupportedVersionError) as exc:
            log.warning("kafka broker refuses idempotence (%s): one request in flight", exc)
        else:
            if _producer_id_granted(raw, config["request_timeout_ms"] / 1000):
                return raw, True
            log.warning("kafka broker refused a producer id: one request in flight instead")
            raw.close(timeout=0)
        fallback = {
            **config,
            "enable_idempotence": False,
            "max_in_flight_requests_per_connection": 1,
        }
        return _RawProducer(**fallback), False


def _producer_id_granted(raw: Any, timeout_s: float) -> bool:
    """Wait for InitProducerId's answer; True unless the broker refused it.

    A broker that is merely slow keeps idempotence on: the sender holds records back until the
    producer id arrives.
    """
    manager = raw._transaction_manager
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if manager.has_producer_id():
            return True
        if manager.has_fatal_error():
            return False
        time.sleep(0.01)
    return True


# -- consuming --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Handoff:
    """A rebalance callback waiting to run on the caller's thread; `done` wakes the IO loop."""

    callback: RebalanceCallback
    partitions: set[TopicPartition]
    done: Any


_FINISHED = object()


class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on kafka-python's IO thread: hands each callback over and awaits it there.

    Awaiting (rather than calling) keeps the IO loop free, so heartbeats go on and a callback
    can use the consumer's blocking methods, which the IO loop itself serves.
    Lost partitions (the member was evicted) are reported through `on_revoke`, like kafka's
    default `on_partitions_lost`; another member may own them by then, so a commit fails.
    """

    def __init__(
        self,
        handoffs: queue.SimpleQueue[object],
        on_assign: RebalanceCallback | None,
        on_revoke: RebalanceCallback | None,
    ) -> None:
        self._handoffs = handoffs
        self._on_assign = on_assign
        self._on_revoke = on_revoke

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._hand_off(self._on_revoke, revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._hand_off(self._on_assign, assigned)

    async def _hand_off(self, callback: RebalanceCallback | None, partitions: Any) -> None:
        if callback is None or not partitions:
            return
        done = _KafkaFuture()
        self._handoffs.put(_Handoff(callback, _lookout_tps(partitions), done))
        await done


class KafkaConsumer:
    """A group member; explicit commits only.

    kafka-python 3 runs rebalances on its own IO thread while the caller waits in `poll()` or
    `close()`. Those two calls therefore run on a private driver thread, and the caller's thread
    waits for either their result or a rebalance callback to run. So callbacks run where they
    do on the memory bus, may touch thread-bound resources (sqlite connections) and may commit,
    and they finish before the rebalance goes on: `on_revoke` ends before anyone else gets the
    partitions. An exception raised by a callback propagates out of `poll()` / `close()` as is.
    """

    def __init__(
        self,
        config: dict[str, Any],
        topics: list[str],
        on_assign: RebalanceCallback | None,
        on_revoke: RebalanceCallback | None,
        stop: _StopClock,
    ) -> None:
        self.group_id: str = config["group_id"]
        self._stop = stop
        self._join_grace_s = config["session_timeout_ms"] / 1000
        self._handoffs: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._driver = ThreadPoolExecutor(1, thread_name_prefix=f"lookout-{self.group_id}")
        self._callback_error: BaseException | None = None
        self._closed = False
        with _translated("connecting the consumer"):
            self._raw = _RawConsumer(**config)
        self._raw._fetcher.PartitionRecords = MessagePartitionRecords  # records as Messages
        self._raw.subscribe(topics, listener=_Listener(self._handoffs, on_assign, on_revoke))

    def _drive(self, call: Callable[[], T], action: str) -> T:
        """Run `call` on the driver thread, running rebalance callbacks here meanwhile."""
        pending = self._driver.submit(call)
        pending.add_done_callback(lambda _: self._handoffs.put(_FINISHED))
        while (item := self._handoffs.get()) is not _FINISHED:
            assert isinstance(item, _Handoff)
            self._run(item)
        try:
            result = pending.result()
        except kerrors.KafkaError as exc:
            self._raise_callback_error()
            raise _bus_error(action, exc) from exc
        self._raise_callback_error()
        return result

    def _run(self, handoff: _Handoff) -> None:
        try:
            handoff.callback(handoff.partitions)
        except BaseException as exc:
            self._callback_error = exc
            self._resolve(handoff.done, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self._resolve(handoff.done, None)

    def _resolve(self, done: Any, error: BaseException | None) -> None:
        """Complete a handoff on the IO thread, whose loop owns the future."""

        def resolve() -> None:
            if error is None:
                done.success(None)
            else:
                done.failure(error)

        self._raw._net.call_soon_threadsafe(resolve)

    def _raise_callback_error(self) -> None:
        error, self._callback_error = self._callback_error, None
        if error is not None:
            raise error

    def poll(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        timeout_ms = max(0, int(timeout_s * 1000))
        batches = self._drive(lambda: self._poll_raw(timeout_ms, max_records), "poll")
        if len(batches) == 1:
            return next(iter(batches.values()))
        messages: list[Message] = []
        for tp in sorted(batches, key=lambda t: (t.topic, t.partition)):
            messages += batches[tp]
        return messages

    def _poll_raw(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        """Poll; while a group join is in flight, go on polling until it completes.

        kafka-python 3.0.12 throws away a JoinGroup/SyncGroup answer that arrives while no
        poll() is waiting for it, and joins again. Against a broker that holds JoinGroup for a
        second (tansu, Kafka's initial rebalance delay) a short poll timeout hits that most of
        the time, and a rebalance takes several seconds instead of one. So poll() may overrun its
        timeout while a join is in flight, by session_timeout_ms at most, and not once a stop has
        begun: a member on its way out has no use for the join.
        """
        batches: dict[Any, list[Any]] = self._raw.poll(
            timeout_ms=timeout_ms, max_records=max_records
        )
        # kafka-python fetches nothing while a join is in flight: records end the wait, and a
        # batch never straddles a rebalance.
        deadline = time.monotonic() + self._join_grace_s
        while (
            not batches
            and self._joining()
            and time.monotonic() < deadline
            and self._stop.deadline is None
        ):
            batches = self._raw.poll(timeout_ms=_JOIN_POLL_MS, max_records=max_records)
        return batches

    def _joining(self) -> bool:
        return self._raw._coordinator._join_task is not None

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        raw = {_raw_tp(tp): OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
        with _translated("commit"):
            self._raw.commit(raw, timeout_ms=self._stop.bound_ms())

    def committed(self, tp: TopicPartition) -> int | None:
        with _translated(f"reading the committed offset of {tp}"):
            offset = self._raw.committed(_raw_tp(tp))
        return None if offset is None else int(offset)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        with _translated(f"seek on {tp}"):
            self._raw.seek(_raw_tp(tp), offset)

    def position(self, tp: TopicPartition) -> int:
        with _translated(f"position on {tp}"):
            return int(self._raw.position(_raw_tp(tp)))

    def assignment(self) -> set[TopicPartition]:
        return _lookout_tps(self._raw.assignment())

    def _close_raw(self, timeout_ms: int | None) -> None:
        """Leave the group on the IO thread (its `on_revoke` runs on the caller's thread, and
        may commit), then close the rest with the IO thread stopped (`_stop_io_thread`)."""
        try:
            self._raw._coordinator.close(autocommit=False, timeout_ms=timeout_ms)
        finally:
            _stop_io_thread(self._raw)
            self._raw.close(autocommit=False, timeout_ms=timeout_ms)  # the group part is done

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            timeout_ms = self._stop.bound_ms()
            self._drive(lambda: self._close_raw(timeout_ms), "close")
        finally:
            self._driver.shutdown(wait=False)
