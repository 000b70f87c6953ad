"""A broker that goes away while a service runs and comes back with its data (a broker host
rebooting, a network partition): the service rides the outage out, without a supervisor, and
loses and duplicates nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from tests.conftest import Broker, free_port, start_broker, stop_broker
from tests.relay import LateRelay
from tests.track_runs import (
    PARTITIONS,
    PointCollector,
    reference_run,
    send_reports,
    simulated_reports,
    tracks_process,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

# Longer than a heartbeat's session timeout (2 s in these tests), so the group loses the member
# meanwhile, and than kafka-python's reconnect backoff grows to in that time.
OUTAGE_S = 12.0


@pytest.fixture
def relayed_broker(tmp_path: Path) -> Iterator[tuple[Broker, LateRelay]]:
    """A broker that every client reaches through a relay (it advertises the relay's port),
    so that `relay.cut()` takes it off the network and `relay.start()` brings it back."""
    broker_port = free_port()
    relay = LateRelay(("127.0.0.1", broker_port))
    broker = start_broker(tmp_path, broker_port, advertised_port=relay.port)
    relay.start()
    yield broker, relay
    relay.close()
    stop_broker(broker.process)


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
