"""A broker that goes away while a service runs and comes back with its data (a broker host
rebooting, a network partition): the service rides the outage out, without a supervisor, and
loses and duplicates nothing."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from anomaly.records import Alert
from anomaly.sql_store import SqlDetectStore
from api.sharing import Role
from api.sink import consume_alerts
from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from lookout.db import migrate
from tests.api_fixtures import OPERATOR, make_alert, make_api  # noqa: F401  (fixtures)
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


def test_the_api_sink_takes_the_alerts_published_after_a_broker_outage(
    relayed_broker: tuple[Broker, LateRelay],
    make_api: Any,  # noqa: F811
) -> None:
    broker, relay = relayed_broker
    server = make_api()
    officer = server.client(server.key(OPERATOR, [Role.OFFICER]))
    bus = KafkaBus(broker.bootstrap, session_timeout_ms=2000, heartbeat_interval_ms=500)
    stop = threading.Event()
    sink = threading.Thread(
        target=consume_alerts, args=(server.context.store, bus, stop), kwargs={"retry_after_s": 1}
    )
    sink.start()
    try:
        before, after = make_alert(1), make_alert(2)
        publish(broker, before)
        wait_for(lambda: shown(officer, before.id), 60, every_s=0.2, what="the first alert")
        relay.cut()
        time.sleep(OUTAGE_S)
        assert officer.get("/v1/alerts").status_code == 200  # serving meanwhile
        relay.start()
        publish(broker, after)
        wait_for(lambda: shown(officer, after.id), 60, every_s=0.2, what="the alert after")
    finally:
        stop.set()
        sink.join(timeout=30)
        bus.close()
    assert not sink.is_alive()


def publish(broker: Broker, alert: Alert) -> None:
    bus = KafkaBus(broker.bootstrap)
    producer = bus.producer()
    producer.send(topics.ALERTS, orjson.dumps(alert.to_dict()), alert.id.encode())
    producer.flush(timeout_s=30)
    bus.close()


def shown(officer: Any, alert_id: str) -> bool:
    return bool(officer.get(f"/v1/alerts/{alert_id}").status_code == 200)
