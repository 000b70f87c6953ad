"""Services started before their database or broker wait for them, say so, and then work; the
API serves meanwhile. (Deployments rarely start their parts in order.)"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.engine import make_url

from api.sharing import Role
from api.sink import consume_alerts
from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from tests.api_fixtures import OPERATOR, make_alert, make_api  # noqa: F401  (fixtures)
from tests.conftest import Broker, free_port, start_broker, stop_broker
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

WAITING = "waiting for the kafka broker"
WAITING_DB = "waiting for the database"


@pytest.fixture
def later_broker(tmp_path: Path) -> Iterator[Callable[[], Broker]]:
    """A loopback address with no broker yet (`.bootstrap`), and `start()` to start it."""
    port = free_port()
    started: list[Broker] = []

    def start() -> Broker:
        started.append(start_broker(tmp_path, port))
        return started[0]

    start.bootstrap = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield start
    for broker in started:
        stop_broker(broker.process)


def test_lookout_tracks_started_before_its_database_and_broker_waits_and_then_works(
    later_broker: Any, pg_database: Callable[[], str], tmp_path: Path
) -> None:
    """The real PostgreSQL server, behind a relay that listens only once the test says."""
    url = make_url(pg_database())
    database = LateRelay((url.host or "127.0.0.1", url.port or 5432))
    reports = simulated_reports(vessels=20, hours=0.5)
    expected, _ = reference_run(reports)
    log = tmp_path / "tracks.log"
    db_url = url.set(port=database.port).render_as_string(hide_password=False)
    tracks = tracks_process(later_broker.bootstrap, db_url, log)
    try:
        wait_for(lambda: WAITING_DB in log.read_text(), 30, every_s=0.2, what="the db warning")
        assert tracks.poll() is None, log.read_text()[-3000:]
        database.start()
        wait_for(lambda: WAITING in log.read_text(), 30, every_s=0.2, what="the warning")
        assert tracks.poll() is None, log.read_text()[-3000:]
        broker = later_broker()
        bus = KafkaBus(broker.bootstrap, partitions=PARTITIONS)
        bus.ensure_topics([topics.DECODED, topics.POINTS, topics.DEADLETTER])
        with PointCollector(broker) as points:
            send_reports(bus.producer(), reports)
            wait_for(lambda: points.distinct() >= len(expected), 120, every_s=0.2, what="points")
        bus.close()
    finally:
        tracks.send_signal(signal.SIGTERM)
        tracks.wait(timeout=60)
        database.close()

    assert tracks.returncode == 0, log.read_text()[-3000:]
    assert points.by_id() == expected
    text = log.read_text()
    assert f"the database at {db_url} reachable after" in text
    assert f"the kafka broker at {later_broker.bootstrap} reachable after" in text


def test_lookout_detect_stopped_while_waiting_for_its_broker_exits_cleanly(
    later_broker: Any, sqlite_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "detect.log"
    detect = service_process("detect", later_broker.bootstrap, sqlite_url, log)
    try:
        wait_for(lambda: WAITING in log.read_text(), 30, every_s=0.2, what="the warning")
        detect.send_signal(signal.SIGTERM)
        detect.wait(timeout=10)
    finally:
        detect.kill()

    assert detect.returncode == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()


def test_the_api_sink_waits_for_the_broker_while_the_api_serves(
    later_broker: Any,
    make_api: Any,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = make_api()
    officer = server.client(server.key(OPERATOR, [Role.OFFICER]))
    alert = make_alert(1)
    bus = KafkaBus(later_broker.bootstrap, session_timeout_ms=2000, heartbeat_interval_ms=500)
    stop = threading.Event()
    sink = threading.Thread(target=consume_alerts, args=(server.context.store, bus, stop))
    sink.start()
    try:
        wait_for(lambda: WAITING in caplog.text, 30, every_s=0.1, what="the warning")
        assert officer.get("/v1/alerts").status_code == 200  # serving meanwhile
        broker = later_broker()
        publisher = KafkaBus(broker.bootstrap)
        producer = publisher.producer()
        producer.send(topics.ALERTS, orjson.dumps(alert.to_dict()), alert.id.encode())
        producer.flush(timeout_s=30)
        publisher.close()
        arrived = lambda: officer.get(f"/v1/alerts/{alert.id}").status_code == 200  # noqa: E731
        wait_for(arrived, 60, every_s=0.2, what="the alert in the API")
    finally:
        stop.set()
        sink.join(timeout=30)
        bus.close()
    assert not sink.is_alive()
