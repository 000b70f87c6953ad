"""A service told to stop while its broker is gone (frozen) stops within the bus's stop timeout,
saves only what the broker acknowledged, and its restart loses and duplicates nothing."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from anomaly.sql_store import SqlDetectStore
from lookout.bus import topics
from lookout.bus.base import BusTimeout, TopicPartition
from lookout.bus.kafka import KafkaBus
from lookout.db import make_engine, migrate
from tests.conftest import Broker
from tests.track_runs import (
    PARTITIONS,
    PointCollector,
    reference_run,
    send_reports,
    service_process,
    simulated_reports,
    tracks_process,
)
from tests.waiting import wait_for
from tracks.service import ServiceSettings, TrackStage
from tracks.sql_store import SqlTrackStore
from tracks.state import VesselState

pytestmark = pytest.mark.integration

STOP_TIMEOUT_S = 1.0
# What a stop may take beyond the stop timeout: a flush notices the deadline within one slice
# (0.5 s), a service's loop within one poll (0.5 s); the rest is slack for a loaded machine.
# Without a deadline these calls never end (a flush) or take kafka-python's request timeout,
# 30 s, one call after another.
SLACK_S = 5.0


def fast_bus(broker: Broker, **settings: float) -> KafkaBus:
    return KafkaBus(
        broker.bootstrap,
        partitions=PARTITIONS,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        **{"stop_timeout_s": STOP_TIMEOUT_S, **settings},  # type: ignore[arg-type]
    )


def timed(call: Callable[[], object]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_a_flush_waiting_for_a_frozen_broker_ends_at_the_stop_timeout(
    kafka_broker: Broker,
    kafka_bus: Callable[..., KafkaBus],
    unique_name: Callable[[str], str],
) -> None:
    bus = kafka_bus(stop_timeout_s=STOP_TIMEOUT_S)
    topic = unique_name("stop")
    bus.ensure_topics([topic])
    producer = bus.producer()
    producer.send(topic, b"before", key=b"k")
    producer.flush(timeout_s=10)

    kafka_broker.freeze()
    producer.send(topic, b"during", key=b"k")
    stopper = threading.Timer(0.5, bus.begin_stop)  # the flush is waiting when the stop begins
    stopper.start()
    started = time.monotonic()
    with pytest.raises(BusTimeout, match="unacknowledged"):
        producer.flush()
    waited = time.monotonic() - started
    closing = timed(producer.close)

    assert 0.5 + STOP_TIMEOUT_S - 0.1 < waited < 0.5 + STOP_TIMEOUT_S + SLACK_S
    assert closing < SLACK_S


def test_a_commit_and_a_goodbye_to_a_frozen_broker_end_at_the_stop_timeout(
    kafka_broker: Broker,
    kafka_bus: Callable[..., KafkaBus],
    unique_name: Callable[[str], str],
) -> None:
    bus = kafka_bus(stop_timeout_s=STOP_TIMEOUT_S)
    topic = unique_name("stop-commit")
    bus.ensure_topics([topic], partitions=1)
    producer = bus.producer()
    producer.send(topic, b"x", key=b"k")
    producer.flush(timeout_s=10)
    consumer = bus.consumer([topic], unique_name("group"))
    got = []
    wait_for(lambda: bool(got.extend(consumer.poll(0.5, 10)) or got), 30, what="the message")

    kafka_broker.freeze()
    bus.begin_stop()
    started = time.monotonic()
    with pytest.raises(BusTimeout):
        consumer.commit({TopicPartition(topic, 0): 1})
    committing = time.monotonic() - started
    closing = timed(consumer.close)

    assert committing < STOP_TIMEOUT_S + SLACK_S
    assert closing < SLACK_S  # the stop timeout is spent by now: the goodbye is not waited for


def test_a_tracks_stage_stopped_with_points_unacknowledged_saves_nothing_and_resumes(
    own_broker: Broker, sqlite_url: str
) -> None:
    reports = simulated_reports(vessels=60, hours=0.5)  # more than one poll of 5,000
    expected, reference_store = reference_run(reports)
    migrate(sqlite_url)
    store = SqlTrackStore(make_engine(sqlite_url))
    rarely = ServiceSettings(keep_history=False, save_interval_s=3600, save_every_messages=10**9)
    bus = fast_bus(own_broker)
    bus.ensure_topics([topics.DECODED, topics.POINTS, topics.DEADLETTER])
    send_reports(bus.producer(), reports)

    with PointCollector(own_broker) as points:
        stage = TrackStage(bus, store, settings=rarely)
        wait_for(lambda: stage.step(0.5) > 0, 30, every_s=0, what="the first batch")
        stage.save()
        saved = store.offsets("tracks", topics.DECODED, range(PARTITIONS))

        own_broker.freeze()
        try:
            emitted = stage.counters.points
            for _ in range(5):  # batches kafka-python fetched ahead: points the broker never acks
                stage.step(0.0)
            assert stage.counters.points > emitted, "no point was produced while frozen"
            bus.begin_stop()
            closing = timed(stage.close)
        finally:
            own_broker.thaw()
        bus.close()
        assert closing < STOP_TIMEOUT_S + SLACK_S
        assert store.offsets("tracks", topics.DECODED, range(PARTITIONS)) == saved

        restarted = fast_bus(own_broker)
        stage = TrackStage(restarted, store, settings=rarely)
        left = len(reports) - sum(saved.values())
        wait_for(lambda: stage.step(0.5) >= 0 and stage.counters.messages >= left, 60, every_s=0)
        stage.close()
        restarted.close()
        wait_for(lambda: points.distinct() >= len(expected), 30, what="every point")

    assert points.by_id() == expected
    stored = store.load_active(topics.DECODED, range(PARTITIONS))
    reference = reference_store.load_active(topics.DECODED, range(PARTITIONS))
    states = {s.mmsi: VesselState.from_bytes(s.blob) for s in stored}
    assert states == {s.mmsi: VesselState.from_bytes(s.blob) for s in reference}
    store.close()


def test_lookout_tracks_stopped_while_the_broker_is_frozen_exits_cleanly_and_resumes(
    own_broker: Broker, sqlite_url: str, tmp_path: Path
) -> None:
    reports = simulated_reports(vessels=60, hours=0.5)
    expected, _ = reference_run(reports)
    log = tmp_path / "tracks.log"
    stop_timeout = {"LOOKOUT_KAFKA__STOP_TIMEOUT_S": str(STOP_TIMEOUT_S)}
    bus = fast_bus(own_broker)
    bus.ensure_topics([topics.DECODED, topics.POINTS, topics.DEADLETTER])
    send_reports(bus.producer(), reports[: len(reports) // 2])

    with PointCollector(own_broker) as points:
        tracks = tracks_process(own_broker.bootstrap, sqlite_url, log, **stop_timeout)
        try:
            wait_for(lambda: len(points.received) > 500, 60, every_s=0.2, what="the first points")
            own_broker.freeze()
            try:
                tracks.send_signal(signal.SIGTERM)
                stopping = timed(lambda: tracks.wait(timeout=60))
            finally:
                own_broker.thaw()
            assert tracks.returncode == 0, log.read_text()[-3000:]
            assert stopping < STOP_TIMEOUT_S + SLACK_S

            send_reports(bus.producer(), reports[len(reports) // 2 :])
            tracks = tracks_process(own_broker.bootstrap, sqlite_url, log, **stop_timeout)
            wait_for(
                lambda: points.distinct() >= len(expected), 120, every_s=0.2, what="every point"
            )
        finally:
            tracks.send_signal(signal.SIGTERM)
            tracks.wait(timeout=60)
            bus.close()

    assert tracks.returncode == 0
    assert points.by_id() == expected
    assert "Traceback" not in log.read_text()


def test_lookout_detect_stopped_while_the_broker_is_frozen_exits_cleanly(
    own_broker: Broker, sqlite_url: str, tmp_path: Path
) -> None:
    """All three roles (vessels, router, cells) close within the stop timeout."""
    expected, _ = reference_run(simulated_reports(vessels=40))
    log = tmp_path / "detect.log"
    bus = fast_bus(own_broker)
    bus.ensure_topics(topics.ALL)
    producer = bus.producer()
    for point in expected.values():
        producer.send(topics.POINTS, orjson.dumps(point), str(point["mmsi"]).encode())
    producer.flush()
    bus.close()
    migrate(sqlite_url)
    stop_timeout = {"LOOKOUT_KAFKA__STOP_TIMEOUT_S": str(STOP_TIMEOUT_S)}
    detect = service_process("detect", own_broker.bootstrap, sqlite_url, log, **stop_timeout)
    store = SqlDetectStore.from_url(sqlite_url)
    try:
        saved = lambda group, topic: store.marks(group, topic, range(PARTITIONS))  # noqa: E731
        wait_for(lambda: bool(saved("detect", topics.POINTS)), 60, every_s=0.2, what="a save")
        own_broker.freeze()
        try:
            detect.send_signal(signal.SIGTERM)
            stopping = timed(lambda: detect.wait(timeout=60))
        finally:
            own_broker.thaw()
    finally:
        detect.kill()
        store.close()

    assert detect.returncode == 0, log.read_text()[-3000:]
    assert stopping < STOP_TIMEOUT_S + SLACK_S, log.read_text()[-6000:]
    assert "Traceback" not in log.read_text()


def test_a_stage_stopped_after_its_broker_died_does_not_wait_for_it(
    own_broker: Broker, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker that refuses connections cannot answer: the stop timeout (30 s here) is not
    waited out, and the points not acknowledged are not saved, as with a frozen broker. (In
    process, so that no poll of a running loop meets the dead broker first: a service whose
    broker dies while it runs fails, and its supervisor restarts it.)"""
    reports = simulated_reports(vessels=60, hours=0.5)
    migrate(sqlite_url)
    store = SqlTrackStore(make_engine(sqlite_url))
    rarely = ServiceSettings(keep_history=False, save_interval_s=3600, save_every_messages=10**9)
    bus = fast_bus(own_broker, stop_timeout_s=30)
    bus.ensure_topics([topics.DECODED, topics.POINTS, topics.DEADLETTER])
    send_reports(bus.producer(), reports)
    stage = TrackStage(bus, store, settings=rarely)
    wait_for(lambda: stage.step(0.5) > 0, 30, every_s=0, what="the first batch")
    stage.save()
    saved = store.offsets("tracks", topics.DECODED, range(PARTITIONS))
    stage.step(0.0)  # points the dead broker will never acknowledge

    own_broker.process.kill()
    own_broker.process.wait()
    bus.begin_stop()
    closing = timed(stage.close)
    bus.close()

    assert closing < SLACK_S
    assert "stopping without waiting for the broker" in caplog.text
    assert store.offsets("tracks", topics.DECODED, range(PARTITIONS)) == saved
    store.close()
