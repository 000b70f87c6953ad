"""Keyed records appended straight into kafka-python's batches, and the broker's answer for
them watched a batch at a time. Internals of the pinned kafka-python (3.0.12).

Why: for each record kafka-python's `send` makes a `FutureRecordMetadata`, which registers two
callbacks on its batch, and completes each on the sender thread when the batch is answered:
about 5 of the 9 us a keyed record costs on the producing side, most of the tracks stage's
producing. Records of one `send_all` share few batches, so `BatchAppender` appends each to the
open batch of its partition (as the accumulator would, under the same lock) and hands out one
`BatchAnswer` per batch it appended to.

A batch the broker refuses as too large is split by kafka-python into new batches, which take
over its records (`follow_splits`); the answer is then theirs.

Each record is written into the open v2 batch in one join (`append_record`), as kafka-python's
`DefaultRecordBatchBuilder.append` writes it byte for byte, without its type checks and its
varints written a byte at a time: half its cost.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from kafka.producer.producer_batch import FinalState, ProducerBatch
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.record.util import encode_varint

from lookout.bus.base import BusError

Splits = weakref.WeakKeyDictionary[ProducerBatch, list[ProducerBatch]]


def follow_splits(accumulator: Any) -> Splits:
    """Record, for each batch kafka-python splits, the batches that replace it.

    `split_and_reenqueue` runs on the sender thread, which alone drains batches, and puts the
    new batches at the front of the partition's queue: they are still there when it returns."""
    splits: Splits = weakref.WeakKeyDictionary()
    split = accumulator.split_and_reenqueue

    def split_and_follow(batch: ProducerBatch, now: float | None = None) -> int:
        count: int = split(batch, now)
        tp = batch.topic_partition
        with accumulator._tp_lock(tp):
            queue = accumulator._batches[tp]
            splits[batch] = [queue[i] for i in range(min(count, len(queue)))]
        return count

    accumulator.split_and_reenqueue = split_and_follow
    return splits


class BatchAnswer:
    """The broker's answer for the records one `send_all` appended to one batch: shaped as
    the kafka-python future `_InFlight` watches (`is_done`, `failed()`, `exception`)."""

    __slots__ = ("_batch", "_splits", "records")

    def __init__(self, batch: ProducerBatch, records: int, splits: Splits) -> None:
        self._batch = batch
        self._splits = splits
        self.records = records

    def _parts(self) -> list[ProducerBatch]:
        """The batch, or the batches its records went to after splits."""
        parts: list[ProducerBatch] = []
        todo = [self._batch]
        while todo:
            batch = todo.pop()
            replaced = self._splits.get(batch)
            if replaced is None:
                parts.append(batch)
            else:
                todo.extend(replaced)
        return parts

    @property
    def is_done(self) -> bool:
        if self._batch.is_done:  # the usual case: answered, never split
            return True
        return all(part.is_done for part in self._parts())

    def failed(self) -> bool:
        return self.exception is not None

    @property
    def exception(self) -> BaseException | None:
        for part in self._parts():
            if part.final_state not in (None, FinalState.SUCCEEDED):
                _offset, _ts, record_error = part.produce_future.value
                error: BaseException | None = record_error(0) if record_error else None
                return error or BusError(f"kafka: batch for {part.topic_partition} failed")
        return None


class BatchAppender:
    """Appends records to the open batch of their partition; `take()` answers for them.

    One per `send_all` call, so that concurrent calls keep their own books. `locks` caches
    kafka-python's per-partition locks, and may be shared."""

    def __init__(self, accumulator: Any, splits: Splits, locks: dict[Any, threading.Lock]) -> None:
        self._accumulator = accumulator
        self._splits = splits
        self._locks = locks
        self._appended: dict[ProducerBatch, list[int]] = {}  # batch -> [bytes, records]
        self.new_batches = False  # a batch was started: the sender should be woken

    def append(self, tp: Any, key: bytes, value: bytes, size: int) -> None:
        accumulator = self._accumulator
        lock = self._locks.get(tp)
        if lock is None:
            lock = self._locks[tp] = accumulator._tp_lock(tp)
        with lock:
            queue = accumulator._batches[tp]
            batch = queue[-1] if queue else None
            # None: the batch is full, or closed (drained by the sender, or retrying)
            if batch is None or not append_record(batch.records, key, value):
                batch = self._new_batch(tp, queue)
                batch.records.append(None, key, value, None)  # an empty batch takes any record
        counts = self._appended.get(batch)
        if counts is None:
            self._appended[batch] = [size, 1]
        else:
            counts[0] += size
            counts[1] += 1

    def _new_batch(self, tp: Any, queue: Any) -> ProducerBatch:
        accumulator = self._accumulator
        if accumulator._closed:
            raise BusError("kafka: the producer is closed")
        config = accumulator.config
        records = MemoryRecordsBuilder(
            config["message_version"], config["compression_attrs"], config["batch_size"]
        )
        batch = ProducerBatch(tp, records)
        queue.append(batch)
        accumulator._incomplete.add(batch)
        self.new_batches = True
        return batch

    def take(self) -> list[tuple[BatchAnswer, int]]:
        """The answers for what was appended since the last call, with their bytes (and
        `new_batches` is reset: read it before)."""
        splits = self._splits
        answers = [(BatchAnswer(b, n, splits), size) for b, (size, n) in self._appended.items()]
        self._appended = {}
        self.new_batches = False
        return answers


def _varint(value: int) -> bytes:
    """Kafka's zigzag varint of `value` (record lengths and deltas)."""
    out = bytearray()
    encode_varint(value, out.append)
    return bytes(out)


_SMALL_VARINTS = [_varint(n) for n in range(4096)]  # lengths, offset and time deltas: usually
_HEADERLESS = b"\x00"  # a record's header count, 0 (and its attributes byte, unused: 0)


def append_record(
    records: MemoryRecordsBuilder, key: bytes, value: bytes, timestamp: int | None = None
) -> bool:
    """`records.append(timestamp, key, value, None)` (no headers; stamped now by default) for
    an open v2 batch that holds a record already; False where kafka-python's would return None
    (closed, or full). Anything else goes to kafka-python's own `append`."""
    if records._closed:
        return False
    builder = records._builder
    first_ts = getattr(builder, "_first_timestamp", None)  # None: v0/v1, or no record yet
    if first_ts is None:
        return records.append(timestamp, key, value, None) is not None
    if timestamp is None:
        timestamp = int(time.time() * 1000)
    offset = records._next_offset
    small = _SMALL_VARINTS
    delta = timestamp - first_ts
    key_length, value_length = len(key), len(value)
    body = b"".join((
        _HEADERLESS,
        small[delta] if 0 <= delta < 4096 else _varint(delta),
        small[offset] if offset < 4096 else _varint(offset),
        small[key_length] if key_length < 4096 else _varint(key_length),
        key,
        small[value_length] if value_length < 4096 else _varint(value_length),
        value,
        _HEADERLESS,
    ))  # fmt: skip
    length = len(body)
    prefix = small[length] if length < 4096 else _varint(length)
    buffer = builder._buffer
    if len(prefix) + length + len(buffer) > builder._batch_size:
        return False
    buffer += prefix
    buffer += body
    if builder._max_timestamp < timestamp:
        builder._max_timestamp = timestamp
    builder._num_records += 1
    builder._last_offset = offset
    records._next_offset = offset + 1
    return True
