"""Two `lookout tracks` processes share the input topic; one is killed with SIGKILL mid-stream
and restarted. The points and vessel states must equal those of one uninterrupted run: nothing
lost, and what was emitted twice (after the last save) is the same point with the same id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.pipeline import Ingestor
from ingest.records import PositionReport, StaticReport
from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from lookout.bus.memory import MemoryBus
from lookout.db import make_engine
from lookout.simulate import simulate
from tests.builders import CollectingSink
from tests.conftest import Broker
from tests.waiting import wait_for
from tracks.memory_store import MemoryTrackStore
from tracks.service import ServiceSettings, TrackStage
from tracks.sql_store import SqlTrackStore
from tracks.state import VesselState

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _records() -> list[PositionReport | StaticReport]:
    sink = CollectingSink()
    ingestor = Ingestor(sink)
    for line in simulate(vessels=120, hours=1.0, seed=9):
        ingestor.push(line.encode(), "sim", 0)
    ingestor.flush()
    return [r for r in sink.records if isinstance(r, PositionReport | StaticReport)]


def _reference(records: list[PositionReport | StaticReport]) -> tuple[dict[str, Any], Any]:
    """One uninterrupted run of the same stage code over the in-process bus."""
    bus = MemoryBus(default_partitions=PARTITIONS)
    producer = bus.producer()
    for record in records:
        producer.send_record(topics.DECODED, record, str(record.mmsi).encode())
    store = MemoryTrackStore()
    stage = TrackStage(bus, store, settings=ServiceSettings(keep_history=False))
    stage.drain()
    points = bus.consumer([topics.POINTS], "reference")
    by_id: dict[str, Any] = {}
    while batch := points.poll(0.0, 10_000):
        for message in batch:
            point = message.record.to_dict()
            by_id[point["id"]] = point
    return by_id, store


def _tracks_process(broker: Broker, db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LOOKOUT_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "LOOKOUT_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "LOOKOUT_KAFKA__PARTITIONS": str(PARTITIONS),
    }
    command = [sys.executable, "-m", "lookout.cli", "tracks", "--kafka", broker.bootstrap]
    command += ["--db", db_url]
    return subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _collect_points(broker: Broker, stop: threading.Event) -> Iterator[list[dict[str, Any]]]:
    bus = KafkaBus(broker.bootstrap, session_timeout_ms=2000, heartbeat_interval_ms=500)
    consumer = bus.consumer([topics.POINTS], "verify")
    try:
        while not stop.is_set():
            yield [orjson.loads(m.value) for m in consumer.poll(0.5, 5000)]
    finally:
        bus.close()


def test_a_killed_tracks_member_resumes_without_loss_or_new_points(
    own_broker: Broker, pg_database: Callable[[], str], tmp_path: Path
) -> None:
    records = _records()
    expected, reference_store = _reference(records)
    db_url = pg_database()
    log = tmp_path / "tracks.log"

    bus = KafkaBus(own_broker.bootstrap, partitions=PARTITIONS)
    bus.ensure_topics([topics.DECODED, topics.POINTS, topics.DEADLETTER])
    producer = bus.producer()

    received: list[dict[str, Any]] = []
    stop = threading.Event()

    def collect() -> None:
        for batch in _collect_points(own_broker, stop):
            received.extend(batch)

    collector = threading.Thread(target=collect)
    collector.start()
    first, second = (
        _tracks_process(own_broker, db_url, log),
        _tracks_process(own_broker, db_url, log),
    )
    try:
        time.sleep(3)  # let both join the group
        cut = len(records) // 3
        for record in records[:cut]:
            producer.send_record(topics.DECODED, record, str(record.mmsi).encode())
        producer.flush()
        wait_for(lambda: len(received) > 1000, 60, every_s=0.2, what="the first points")
        first.send_signal(signal.SIGKILL)  # mid-stream: no goodbye, no final save
        first.wait()
        for record in records[cut:]:
            producer.send_record(topics.DECODED, record, str(record.mmsi).encode())
        producer.flush()
        time.sleep(2)
        first = _tracks_process(own_broker, db_url, log)  # the restart
        distinct = lambda: len({p["id"] for p in received})  # noqa: E731
        wait_for(lambda: distinct() >= len(expected), 120, every_s=0.2, what="every point")
        time.sleep(3)  # anything further would be a new, unexpected point
    finally:
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
        for process in (first, second):
            process.wait(timeout=60)
        stop.set()
        collector.join()
        bus.close()

    by_id: dict[str, dict[str, Any]] = {}
    for point in received:
        known = by_id.setdefault(point["id"], point)
        assert known == point, "a point emitted twice must be the same point"
    assert by_id.keys() == expected.keys(), log.read_text()[-3000:]
    assert by_id == expected

    store = SqlTrackStore(make_engine(db_url))
    stored = store.load_active(topics.DECODED, range(PARTITIONS))
    reference = reference_store.load_active(topics.DECODED, range(PARTITIONS))
    states = {s.mmsi: VesselState.from_bytes(s.blob) for s in stored}
    assert states == {s.mmsi: VesselState.from_bytes(s.blob) for s in reference}
    store.close()
