"""Runs of the tracks stage for integration tests: the input, the reference run over the
in-process bus, `lookout tracks` (and `lookout detect`) processes and what they emit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ingest.pipeline import Ingestor
from ingest.records import PositionReport, StaticReport
from lookout.bus import topics
from lookout.bus.base import Producer
from lookout.bus.kafka import KafkaBus
from lookout.bus.memory import MemoryBus
from lookout.simulate import simulate
from tests.builders import CollectingSink
from tests.conftest import Broker
from tracks.memory_store import MemoryTrackStore
from tracks.service import ServiceSettings, TrackStage

PARTITIONS = 4
Report = PositionReport | StaticReport


def simulated_reports(vessels: int = 120, hours: float = 1.0, seed: int = 9) -> list[Report]:
    sink = CollectingSink()
    ingestor = Ingestor(sink)
    for line in simulate(vessels=vessels, hours=hours, seed=seed):
        ingestor.push(line.encode(), "sim", 0)
    ingestor.flush()
    return [r for r in sink.records if isinstance(r, PositionReport | StaticReport)]


def send_reports(producer: Producer, reports: list[Report]) -> None:
    for report in reports:
        producer.send_record(topics.DECODED, report, str(report.mmsi).encode())
    producer.flush()


def reference_run(reports: list[Report]) -> tuple[dict[str, Any], MemoryTrackStore]:
    """One uninterrupted run of the same stage code over the in-process bus: its points by
    id, and its store."""
    bus = MemoryBus(default_partitions=PARTITIONS)
    send_reports(bus.producer(), reports)
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


def service_process(
    name: str, bootstrap: str, db_url: str, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    """`lookout NAME` (tracks, detect) with fast group joins; `env`: more LOOKOUT_ settings."""
    environment = {
        **os.environ,
        "LOOKOUT_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "LOOKOUT_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "LOOKOUT_KAFKA__PARTITIONS": str(PARTITIONS),
        **env,
    }
    command = [sys.executable, "-m", "lookout.cli", name, "--kafka", bootstrap, "--db", db_url]
    return subprocess.Popen(
        command, env=environment, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def tracks_process(bootstrap: str, db_url: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    return service_process("tracks", bootstrap, db_url, log, **env)


def point_batches(broker: Broker, stop: threading.Event) -> Iterator[list[dict[str, Any]]]:
    """What reaches `tracks.points`, batch by batch, until `stop` is set."""
    bus = KafkaBus(broker.bootstrap, session_timeout_ms=2000, heartbeat_interval_ms=500)
    consumer = bus.consumer([topics.POINTS], "verify")
    try:
        while not stop.is_set():
            yield [orjson.loads(m.value) for m in consumer.poll(0.5, 5000)]
    finally:
        bus.close()


class PointCollector:
    """Collects `tracks.points` on a thread while a test runs: `with PointCollector(b) as c`."""

    def __init__(self, broker: Broker) -> None:
        self.received: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, args=(broker,))

    def _collect(self, broker: Broker) -> None:
        for batch in point_batches(broker, self._stop):
            self.received.extend(batch)

    def distinct(self) -> int:
        return len({p["id"] for p in self.received})

    def by_id(self) -> dict[str, dict[str, Any]]:
        """Each point once; AssertionError if an id came twice with different contents."""
        by_id: dict[str, dict[str, Any]] = {}
        for point in self.received:
            known = by_id.setdefault(point["id"], point)
            assert known == point, "a point emitted twice must be the same point: " + ", ".join(
                f"{k}: {known.get(k)!r} then {point.get(k)!r}"
                for k in sorted(known.keys() | point.keys())
                if known.get(k) != point.get(k)
            )
        return by_id

    def __enter__(self) -> PointCollector:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
