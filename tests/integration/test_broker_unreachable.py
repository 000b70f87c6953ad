"""A broker that goes away while a service runs and comes back with its data (a broker host
rebooting, a network partition): the service rides the outage out, without a supervisor, and
loses and duplicates nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import orjson
import pytest

from anomaly.sql_store import SqlDetectStore
from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from lookout.db import migrate
from tests.conftest import Broker
from tests.relay import LateRelay
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

pytestmark = pytest.mark.integration

# Longer than a heartbeat's session timeout (2 s in these tests), so the group loses the member
# meanwhile, and than kafka-python's reconnect backoff grows to in that time.
OUTAGE_S = 12.0


def test_lookout_tracks_rides_out_a_broker_outage_and_goes_on(
    relayed_broker: tuple[Broker, LateRelay], sqlite_url: str, tmp_path: Path
) -> None:
    broker, relay = relayed_broker
    reports = simulated_reports(vessels=60, hours=0.5)
    expected, _ = reference_run(reports)
    log = tmp_path / "tracks.log"
    bus = KafkaBus(broker.bootstrap, partitions=PARTITIONS)
    bus.ensure_topics([topics.DECODED, topics.POINTS, topics.DEADLETTER])
    send_reports(bus.producer(), reports[: len(reports) // 2])
    bus.close()

    tracks = tracks_process(broker.bootstrap, sqlite_url, log)
    try:
        with PointCollector(broker) as points:
            wait_for(lambda: len(points.received) > 500, 60, every_s=0.2, what="the first points")
        relay.cut()
        time.sleep(OUTAGE_S)
        assert tracks.poll() is None, log.read_text()[-3000:]
        relay.start()

        bus = KafkaBus(broker.bootstrap, partitions=PARTITIONS)
        send_reports(bus.producer(), reports[len(reports) // 2 :])
        bus.close()
        with PointCollector(broker) as points:  # a new group: everything from the start
            wait_for(
                lambda: points.distinct() >= len(expected), 120, every_s=0.2, what="every point"
            )
    finally:
        tracks.send_signal(signal.SIGTERM)
        tracks.wait(timeout=60)

    assert tracks.returncode == 0, log.read_text()[-3000:]
    assert points.by_id() == expected


def test_lookout_detect_rides_out_a_broker_outage_and_goes_on(
    relayed_broker: tuple[Broker, LateRelay], sqlite_url: str, tmp_path: Path
) -> None:
    """All three roles (vessels, router, cells): every point read and saved after the outage,
    every alert revision published once."""
    broker, relay = relayed_broker
    points = list(reference_run(simulated_reports(vessels=40))[0].values())
    half = len(points) // 2
    log = tmp_path / "detect.log"
    bus = KafkaBus(broker.bootstrap, partitions=PARTITIONS)
    bus.ensure_topics(topics.ALL)
    send_points(bus, points[:half])
    migrate(sqlite_url)
    detect = service_process("detect", broker.bootstrap, sqlite_url, log)
    store = SqlDetectStore.from_url(sqlite_url)
    try:
        wait_for(lambda: read(store) == half, 60, every_s=0.2, what="the first half saved")
        relay.cut()
        time.sleep(OUTAGE_S)
        assert detect.poll() is None, log.read_text()[-3000:]
        relay.start()
        bus = KafkaBus(broker.bootstrap, partitions=PARTITIONS)
        send_points(bus, points[half:])
        wait_for(lambda: read(store) == len(points), 120, every_s=0.2, what="every point saved")
    finally:
        detect.send_signal(signal.SIGTERM)
        detect.wait(timeout=60)
        store.close()

    assert detect.returncode == 0, log.read_text()[-3000:]
    revisions = [(a["id"], a["revision"]) for a in published_alerts(broker)]
    assert revisions, "the simulated traffic raises alerts"
    assert len(revisions) == len(set(revisions))


def send_points(bus: KafkaBus, points: list[dict[str, object]]) -> None:
    producer = bus.producer()
    for point in points:
        producer.send(topics.POINTS, orjson.dumps(point), str(point["mmsi"]).encode())
    producer.flush()
    bus.close()


def read(store: SqlDetectStore) -> int:
    """How many points the vessels role has read and saved (its next offsets, summed)."""
    marks = store.marks("detect", topics.POINTS, range(PARTITIONS))
    return sum(mark.next_offset for mark in marks.values())


def published_alerts(broker: Broker) -> list[dict[str, object]]:
    bus = KafkaBus(broker.bootstrap, session_timeout_ms=2000, heartbeat_interval_ms=500)
    consumer = bus.consumer([topics.ALERTS], "verify-alerts")
    alerts: list[dict[str, object]] = []
    try:
        while batch := consumer.poll(3.0, 5000):
            alerts += [orjson.loads(m.value) for m in batch]
    finally:
        bus.close()
    return alerts
