"""Cross-vessel detection scaled out on the real broker: points re-keyed by spatial cell
(`anomaly.cell_router`) and two members of the `detect-cells` group; a meeting that straddles
two cells owned by different members is alerted once."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
import pytest
from kafka.partitioner.default import murmur2

from anomaly.cell_router import CellRouter
from anomaly.cells import cell_of
from anomaly.rules import load_rules
from anomaly.service import cell_settings
from anomaly.stage import DetectSettings, DetectStage
from anomaly.store import MemoryDetectStore
from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from tests.conftest import Broker
from tests.unit.test_detect_encounter import meeting

pytestmark = pytest.mark.integration

PARTITIONS = 2


def _partition(cell: str) -> int:
    return (murmur2(cell.encode()) & 0x7FFFFFFF) % PARTITIONS


def _straddling_border() -> tuple[float, float]:
    """A cell border in the open Bay of Bengal whose two cells hash to different partitions."""
    for i in range(40):
        lat, lon = 15.0 + 0.25 * i, 89.0
        south, north = cell_of(lat - 0.01, lon), cell_of(lat + 0.01, lon)
        if _partition(south) != _partition(north):
            return lat, lon
    raise AssertionError("no border found")  # pragma: no cover


def _step_until(stages: list[DetectStage], done: Callable[[], bool], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        for stage in stages:
            stage.step(timeout_s=0.1)


def test_a_meeting_across_two_members_cells_is_alerted_once(own_broker: Broker) -> None:
    def bus() -> KafkaBus:
        return KafkaBus(own_broker.bootstrap, partitions=PARTITIONS, session_timeout_ms=2000,
                        heartbeat_interval_ms=500)  # fmt: skip

    border = _straddling_border()
    points = meeting(where=(border[0] - 0.0005, border[1]), hours=3, knots=0.3, apart_m=300.0)
    rules = load_rules()
    buses = [bus() for _ in range(4)]
    stages = [
        DetectStage(b, MemoryDetectStore(), rules, settings=cell_settings(DetectSettings()))
        for b in buses[:2]
    ]
    assert [d.config.id for d in stages[0].detectors] == ["encounter"]
    _step_until(stages, lambda: all(s._partitions for s in stages), limit_s=60)
    assert stages[0]._partitions.isdisjoint(stages[1]._partitions)

    producer = buses[2].producer()
    for point in points:
        producer.send_record(topics.POINTS, point, str(point.mmsi).encode())
    producer.flush()
    router = CellRouter(buses[3])
    deadline = time.monotonic() + 60
    while router.counters.messages < len(points):
        assert time.monotonic() < deadline, "router timed out"
        router.step(timeout_s=0.2)
    router.drain()  # the end of the data: release what is held for the slowest partition
    assert router.counters.forwarded == len(points)  # one a minute: nothing thinned away

    def all_routed() -> bool:
        return sum(s.counters.messages for s in stages) >= router.counters.sent

    _step_until(stages, all_routed, limit_s=60)
    for stage in stages:
        assert stage.counters.points > 0  # each member followed the pair in its cells
        stage.finish()

    consumer = buses[2].consumer([topics.ALERTS], "reader")
    alerts: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batch = consumer.poll(0.5, 500)
        alerts += [orjson.loads(m.value) for m in batch]
        if alerts and not batch:
            break
    encounters = {a["id"] for a in alerts if a["type"] == "encounter"}
    assert len(encounters) == 1
    assert all(a["type"] == "encounter" for a in alerts)
    revisions = [(a["id"], a["revision"]) for a in alerts]
    assert len(revisions) == len(set(revisions)) >= 2  # published by one member only
    router.close()
    for stage in stages:
        stage.close()
    for b in buses:
        b.close()
