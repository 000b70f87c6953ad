"""Fetched records unpacked straight into `Message`s. Internals of the pinned kafka-python
(3.0.12): `KafkaConsumer` installs `MessagePartitionRecords` on its fetcher.

Why: kafka-python unpacks each record into a `DefaultRecord`, then into a 13-field
`ConsumerRecord` (with header sizes and a checksum), which the consumer then turned into a
`Message`: about 5 us a record, an eighth of the tracks stage's time. Here the records of a
v2 batch (every Kafka since 0.11) are read into `Message`s in one loop (about 2.5 us).

Kept as kafka-python does it: the batch CRC check, control batches skipped, the fetch
position after each record and after the last batch, corrupt records raised as
`CorruptRecordError`. Not handled here, so left to kafka-python's own path: transactional
reads (read_committed) and deserializers, neither of which Lookout uses; message-format v0/v1
batches are read a record at a time as kafka-python reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.util import decode_varint

from lookout.bus.base import Message

_new = tuple.__new__


class MessagePartitionRecords(Fetcher.PartitionRecords):  # type: ignore[misc]
    """kafka-python's records of one fetched partition, as `Message`s."""

    def _unpack_records(
        self, tp: Any, records: Any, key_deserializer: Any, value_deserializer: Any
    ) -> Iterator[Message]:
        if (
            self.isolation_level != IsolationLevel.READ_UNCOMMITTED
            or key_deserializer is not None
            or value_deserializer is not None
        ):
            for r in super()._unpack_records(tp, records, key_deserializer, value_deserializer):
                fields = (r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, None)
                yield _new(Message, fields)
            return
        try:
            last_batch = None
            while (batch := records.next_batch()) is not None:
                last_batch = batch
                if self.check_crcs and not batch.validate_crc():
                    raise CorruptRecordError(
                        f"Record batch for partition {tp} at offset {batch.base_offset} "
                        "failed crc check"
                    )
                if batch.magic < 2:
                    yield from self._legacy(tp, batch)
                    continue
                self.leader_epoch = batch.leader_epoch
                if batch.is_control_batch:  # transaction markers: no records for the consumer
                    self.next_fetch_offset = batch.next_offset
                    continue
                yield from self._messages(tp, batch)
            # Format v2 keeps a batch's last offset even when compaction removed its record:
            # fetch from after it, or the same batch comes again.
            if last_batch is not None and last_batch.magic == 2:
                self.next_fetch_offset = last_batch.next_offset
            self.drain()
        except StopIteration as exc:  # as kafka-python: a generator would swallow it
            raise RuntimeError("StopIteration raised unpacking messageset") from exc

    def _messages(self, tp: Any, batch: DefaultRecordBatch) -> Iterator[Message]:
        """The records of a v2 batch. Record => Length Attributes TimestampDelta OffsetDelta
        Key Value Headers, all lengths and deltas zigzag varints; headers are skipped."""
        batch._maybe_uncompress()
        buffer = batch._buffer
        pos = batch._pos
        base_offset = batch.base_offset
        log_append = batch.timestamp_type == DefaultRecordBatch.LOG_APPEND_TIME
        base_ts = batch.max_timestamp if log_append else batch.first_timestamp
        topic, partition = tp.topic, tp.partition
        self.records_read += batch._num_records
        self.bytes_read += len(buffer) - pos
        try:
            for _ in range(batch._num_records):
                length, pos = decode_varint(buffer, pos)
                end = pos + length
                ts_delta, pos = decode_varint(buffer, pos + 1)  # after the attributes byte
                offset_delta, pos = decode_varint(buffer, pos)
                key_length, pos = decode_varint(buffer, pos)
                key = None
                if key_length >= 0:
                    key = bytes(buffer[pos : pos + key_length])
                    pos += key_length
                value_length, pos = decode_varint(buffer, pos)
                value = None
                if value_length >= 0:
                    value = bytes(buffer[pos : pos + value_length])
                    pos += value_length
                if pos >= end or end > len(buffer):  # the header count is at least a byte
                    raise ValueError(f"a record of {length} bytes ends after {pos}")
                offset = base_offset + offset_delta
                timestamp = base_ts if log_append else base_ts + ts_delta
                self.next_fetch_offset = offset + 1
                yield _new(Message, (topic, partition, offset, key, value, timestamp, None))
                pos = end
        except (ValueError, IndexError) as exc:
            raise CorruptRecordError(f"Found invalid record structure: {exc!r}") from exc
        if pos != len(buffer):
            raise CorruptRecordError(f"{len(buffer) - pos} unconsumed bytes after all records")

    def _legacy(self, tp: Any, batch: Any) -> Iterator[Message]:
        """A message-format v0/v1 batch, read as kafka-python reads it."""
        for record in batch:
            if self.check_crcs and not record.validate_crc():
                raise CorruptRecordError(
                    f"Record for partition {tp} at offset {record.offset} failed crc check"
                )
            self.records_read += 1
            self.bytes_read += record.size_in_bytes
            self.next_fetch_offset = record.offset + 1
            yield _new(
                Message,
                (tp.topic, tp.partition, record.offset, record.key, record.value,
                 record.timestamp, None),
            )  # fmt: skip
