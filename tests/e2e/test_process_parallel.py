"""`lookout process` with detection in a process of its own gives the alerts of one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomaly.batch_worker import DetectionFailed, DetectionProcess
from anomaly.geo.zones import ZoneError
from anomaly.rules import load_rules
from ingest.pipeline import IngestSettings
from lookout.batch import process
from lookout.bus import topics
from lookout.bus.memory import MemoryBus
from lookout.sim.scenario import ScenarioSettings
from lookout.simulate import write_scenario
from tests.detect_builders import Leg, build, hours, sail


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parallel")
    path = folder / "day.nmea.gz"
    write_scenario(
        path, folder / "day.truth.jsonl", ScenarioSettings(vessels=20, hours=4.0, seed=31)
    )
    return path


def test_detection_in_a_child_process_writes_the_same_alerts(
    recording: Path, tmp_path: Path
) -> None:
    alone = process([str(recording)], tmp_path / "alone", IngestSettings(), parallel=False)
    beside = process([str(recording)], tmp_path / "beside", IngestSettings(), parallel=True)
    assert len(alone["alerts"]) >= 4, alone["alerts"]  # the scenario raises several kinds
    assert beside["alerts"] == alone["alerts"]
    written = (tmp_path / "beside" / "alerts.jsonl").read_bytes()
    assert written == (tmp_path / "alone" / "alerts.jsonl").read_bytes()
    assert beside["points"] == alone["points"]


def test_a_failure_in_the_child_is_raised_in_the_parent(tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "broken.geojson").write_text("not json")
    bus = MemoryBus()
    bus.ensure_topics(topics.ALL)
    detection = DetectionProcess(bus, load_rules(), tmp_path, partitions=4)
    _publish_a_voyage(bus)
    with pytest.raises(ZoneError, match=r"broken\.geojson"):
        detection.drain()
        detection.finish()


def test_a_child_that_dies_is_noticed(tmp_path: Path) -> None:
    bus = MemoryBus()
    bus.ensure_topics(topics.ALL)
    detection = DetectionProcess(bus, load_rules(), partitions=4)
    detection._child.kill()
    detection._child.wait()
    _publish_a_voyage(bus)
    with pytest.raises(DetectionFailed, match="died"):
        detection.drain()
        detection.finish()


def _publish_a_voyage(bus: MemoryBus) -> None:
    producer = bus.producer()
    for point in build(sail(244_000_001, [Leg(hours(1), 10.0)])):
        producer.send_record(topics.POINTS, point, str(point.mmsi).encode())
