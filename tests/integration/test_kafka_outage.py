"""A broker outage in the middle of a stream: the producer blocks, then delivers exactly once."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import pytest
from kafka.errors import KafkaError
from kafka.producer.producer_batch import ProducerBatch

import ingest.service as ingest_service
import lookout.bus.kafka as kafka_bus_module
from lookout.bus.base import BusError, Message
from lookout.bus.kafka import KafkaBus, KafkaProducer

pytestmark = pytest.mark.integration


class Freezable(Protocol):
    def freeze(self) -> None: ...

    def thaw(self) -> None: ...


MESSAGES = 20_000
VESSELS = 50
FREEZE_AFTER_S = 1.0  # half way through sending
FREEZE_S = 10.0
# Shorter than the freeze, so requests in flight time out and are retried: the broker must
# de-duplicate them.
REQUEST_TIMEOUT_MS = 3000
# Small, so the producer runs out of buffer during the freeze and `send` has to block.
BUFFER_BYTES = 256 * 1024


def produce_paced(producer: KafkaProducer, topic: str) -> float:
    """Send MESSAGES keyed by MMSI over about two seconds; returns how long sending took."""
    started = time.monotonic()
    for seq in range(MESSAGES):
        producer.send(topic, b"%d" % seq, key=b"%d" % (244000000 + seq % VESSELS))
        if seq % 100 == 99:
            time.sleep(0.01)
    return time.monotonic() - started


def consume_all(bus: KafkaBus, topic: str, group: str) -> list[Message]:
    return consume_all_of(bus, topic, group, MESSAGES)


def consume_all_of(bus: KafkaBus, topic: str, group: str, count: int) -> list[Message]:
    """Everything in the topic: read until `count` arrived, then a quiet second for extras."""
    consumer = bus.consumer([topic], group)
    got: list[Message] = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.poll(timeout_s=0.5, max_records=5000)
    got += consumer.poll(timeout_s=1.0, max_records=5000)
    consumer.close()
    return got


def test_a_frozen_broker_neither_loses_nor_duplicates(
    kafka_broker: Freezable,
    kafka_bus: Callable[..., KafkaBus],
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    bus = kafka_bus(request_timeout_ms=REQUEST_TIMEOUT_MS, buffer_memory=BUFFER_BYTES)
    topic = unique_name("outage")
    bus.ensure_topics([topic])
    producer = bus.producer()
    assert producer.idempotent

    freeze = threading.Timer(FREEZE_AFTER_S, kafka_broker.freeze)
    thaw = threading.Timer(FREEZE_AFTER_S + FREEZE_S, kafka_broker.thaw)
    freeze.start()
    thaw.start()
    try:
        sending = produce_paced(producer, topic)
        producer.flush(timeout_s=30)
    finally:
        freeze.cancel()
        thaw.cancel()
        kafka_broker.thaw()

    assert sending > FREEZE_S - 1, "send should have blocked while the broker was frozen"
    blocked = [
        r for r in caplog.records if r.name == "lookout.bus.kafka" and "blocked" in r.message
    ]
    assert len(blocked) == 1, "one warning per outage"
    retried = [
        r for r in caplog.records if r.name.startswith("kafka.producer") and "retrying" in r.message
    ]
    assert retried, "requests in flight during the freeze should have been retried"

    got = consume_all(bus, topic, unique_name("group"))
    sequences = sorted(int(m.value) for m in got)
    assert sequences == list(range(MESSAGES)), (
        f"{MESSAGES - len(set(sequences))} lost, {len(sequences) - len(set(sequences))} duplicated"
    )
    by_key: dict[bytes | None, list[int]] = defaultdict(list)
    for message in got:
        by_key[message.key].append(int(message.value))
    assert all(seqs == sorted(seqs) for seqs in by_key.values())


def test_the_broker_grants_an_idempotent_producer_id(
    kafka_bus: Callable[..., KafkaBus], unique_name: Callable[[str], str]
) -> None:
    """Measures what the outage test relies on: tansu accepts kafka-python's InitProducerId."""
    producer = kafka_bus().producer()
    producer.send(unique_name("idempotence"), b"x", key=b"k")
    producer.flush(timeout_s=10)

    assert producer.idempotent
    manager = producer._raw._transaction_manager  # kafka-python internals, version pinned
    assert manager.has_producer_id()
    assert not manager.has_fatal_error()


def test_a_broker_refusing_idempotence_gets_one_request_in_flight(
    kafka_bus: Callable[..., KafkaBus],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_bus_module, "_producer_id_granted", lambda raw, timeout_s: False)
    producer = kafka_bus().producer()
    topic = unique_name("fallback")
    for seq in range(100):
        producer.send(topic, b"%d" % seq, key=b"k")
    producer.flush(timeout_s=10)

    assert not producer.idempotent
    assert producer._raw.config["max_in_flight_requests_per_connection"] == 1
    assert producer._raw.config["enable_idempotence"] is False


def test_a_message_the_producer_cannot_take_raises_bus_error(
    kafka_bus: Callable[..., KafkaBus], unique_name: Callable[[str], str]
) -> None:
    producer = kafka_bus().producer()
    with pytest.raises(BusError, match="MessageSizeTooLarge"):
        producer.send(unique_name("huge"), b"x" * 2_000_000, key=b"k")
    producer.flush(timeout_s=10)


@pytest.mark.parametrize("way", ["send", "send_all"])
def test_a_failed_delivery_is_raised_by_flush_and_every_later_send(
    kafka_bus: Callable[..., KafkaBus],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    way: str,
) -> None:
    """The broker's answer fails the batch (kafka-python's sender completes it
    exceptionally), whether the records went in one by one or as a `send_all`, whose keyed
    records kafka-python never sees one by one."""
    producer = kafka_bus().producer()
    topic = unique_name("rejected")
    producer.send(topic, b"delivered", key=b"k")
    producer.flush(timeout_s=10)

    def rejected(batch: ProducerBatch, base_offset: int, log_append_time: int) -> bool:
        error = KafkaError("the broker said no")
        return bool(batch.complete_exceptionally(error, lambda index: error))

    monkeypatch.setattr(ProducerBatch, "complete", rejected)  # every answer from now on
    if way == "send":
        producer.send(topic, b"lost", key=b"k")
    else:
        producer.send_all(topic, [(b"k", b"lost", None), (b"j", b"lost too", None)])
    lost = 1 if way == "send" else 2
    with pytest.raises(BusError, match=rf"{lost} message\(s\) not delivered.*the broker said no"):
        producer.flush(timeout_s=10)
    with pytest.raises(BusError, match="not delivered"):
        producer.send(topic, b"after", key=b"k")
    with pytest.raises(BusError, match="not delivered"):
        producer.send_all(topic, [(b"k", b"after", None)])


def test_send_all_of_more_than_the_buffer_waits_for_room_midway(
    kafka_bus: Callable[..., KafkaBus],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer_bytes = 16 * 1024
    producer = kafka_bus(buffer_memory=buffer_bytes).producer()
    topic = unique_name("send-all-room")
    peak = 0
    add_all = kafka_bus_module._InFlight.add_all

    def watched(in_flight: kafka_bus_module._InFlight, records: list[tuple[object, int]]) -> None:
        nonlocal peak
        add_all(in_flight, records)
        peak = max(peak, in_flight.bytes)

    monkeypatch.setattr(kafka_bus_module._InFlight, "add_all", watched)  # a spy: it only looks
    messages = [(b"%d" % (seq % 7), b"%06d" % seq + b"." * 100, None) for seq in range(2_000)]
    producer.send_all(topic, messages)  # about 380 KB: 23 times the buffer
    producer.flush(timeout_s=30)

    assert 0 < peak <= buffer_bytes
    got = consume_all_of(bus=kafka_bus(), topic=topic, group=unique_name("group"), count=2_000)
    by_key: dict[bytes | None, list[bytes]] = defaultdict(list)
    for message in sorted(got, key=lambda m: (m.partition, m.offset)):
        by_key[message.key].append(message.value[:6])
    assert sorted(v for values in by_key.values() for v in values) == [
        b"%06d" % seq for seq in range(2_000)
    ]
    assert all(values == sorted(values) for values in by_key.values())


def test_the_last_records_wait_for_the_broker_and_say_what_a_kill_would_lose(
    kafka_broker: Freezable,
    kafka_bus: Callable[..., KafkaBus],
    unique_name: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`lookout ingest` ending (its feed closed, or a stop) while the broker is away."""
    monkeypatch.setattr(ingest_service, "UNDELIVERED_REPORT_EVERY_S", 0.5)
    caplog.set_level(logging.WARNING)
    bus = kafka_bus()
    topic = unique_name("last-records")
    bus.ensure_topics([topic])
    producer = bus.producer()
    producer.send(topic, b"0", key=b"k")
    producer.flush(timeout_s=10)

    kafka_broker.freeze()
    thaw = threading.Timer(2.5, kafka_broker.thaw)
    thaw.start()
    try:
        for seq in range(1, 100):
            producer.send(topic, b"%d" % seq, key=b"k")
        ingest_service.deliver_all(producer)
    finally:
        thaw.cancel()
        kafka_broker.thaw()

    said = [r for r in caplog.records if "killing the process now loses them" in r.getMessage()]
    assert len(said) >= 2  # every half second of the outage
    got = consume_all_of(bus, topic, unique_name("group"), 100)
    assert sorted(int(m.value) for m in got) == list(range(100))
