"""The distributed deployment: `lookout ingest`, `lookout tracks` and `lookout detect` as
separate processes, the real broker between them and PostgreSQL under them. The alerts that
follow from the points alone (distress, identity, encounters) are the ones `lookout process`
finds in the same recording, with the same ids. (Encounters across members are tested in
tests/integration/test_detect_cells.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from anomaly.health import RUNNING
from anomaly.rules import load_rules
from anomaly.sql_store import SqlHealthBoard
from ingest.pipeline import IngestSettings
from lookout.batch import process
from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from lookout.sim.scenario import ScenarioSettings
from lookout.simulate import write_scenario
from tests.conftest import Broker
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PARTITIONS = 4
POINT_DRIVEN = ("distress", "identity_anomaly", "encounter")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("distributed")
    settings = ScenarioSettings(vessels=20, hours=4.0, seed=77, behaviours=POINT_DRIVEN)
    write_scenario(folder / "day.nmea.gz", folder / "day.truth.jsonl", settings)
    return folder / "day.nmea.gz"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "LOOKOUT_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "LOOKOUT_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "LOOKOUT_KAFKA__PARTITIONS": str(PARTITIONS),
    }


def _lookout(*args: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "lookout.cli", *args]
    return subprocess.Popen(command, env=_env(), stdout=log.open("ab"), stderr=subprocess.STDOUT)


@pytest.fixture
def services_db(pg_database: Callable[[], str]) -> str:
    """The database of the services (tracks, detect)."""
    return pg_database()


@pytest.fixture
def services(
    own_broker: Broker, services_db: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    url = services_db
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        extra = ["--db", url] if name in ("tracks", "detect") else []
        proc = _lookout(name, "--kafka", own_broker.bootstrap, *extra, *args,
                        log=tmp_path / f"{name}.log")  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung service
            proc.kill()


def _batch_ids(recording: Path, out: Path) -> set[str]:
    process([str(recording)], out, IngestSettings())
    alerts = [orjson.loads(line) for line in (out / "alerts.jsonl").read_bytes().splitlines()]
    return {a["id"] for a in alerts if a["type"] in POINT_DRIVEN}


def test_the_services_find_what_the_batch_finds(
    recording: Path, services: Callable[..., subprocess.Popen[bytes]], own_broker: Broker,
    services_db: str, tmp_path: Path,
) -> None:  # fmt: skip
    expected = _batch_ids(recording, tmp_path / "batch")
    assert {i.split("-")[0] for i in expected} >= {"distress", "identity_anomaly"}
    services("tracks")
    services("detect")
    ingest = services("ingest", "--source", str(recording))
    assert ingest.wait(timeout=180) == 0

    bus = KafkaBus(own_broker.bootstrap, session_timeout_ms=2000, heartbeat_interval_ms=500)
    consumer = bus.consumer([topics.ALERTS], "verify")
    seen: dict[str, int] = {}
    revisions: list[tuple[str, int]] = []
    deadline = time.monotonic() + 240
    while not expected <= set(seen) and time.monotonic() < deadline:
        for message in consumer.poll(0.5, 1000):
            alert = orjson.loads(message.value)
            seen[alert["id"]] = alert["type"]
            revisions.append((alert["id"], alert["revision"]))
    bus.close()
    assert expected <= set(seen)
    found = {i for i, kind in seen.items() if kind in POINT_DRIVEN}
    assert found == expected  # nothing the batch would not have raised
    assert len(revisions) == len(set(revisions))  # no revision published twice

    # both detecting roles said what their rules do, with the event time they reached
    board = SqlHealthBoard.from_url(services_db)
    try:
        wait_for(lambda: all(r.event_ts for r in board.read()), 30, every_s=0.5)
        reports = board.read()
    finally:
        board.close()
    groups = {(r.group, r.health.rule_id): r.health.state for r in reports}
    assert groups[("detect-cells", "encounter")] == RUNNING
    assert {rule for group, rule in groups if group == "detect"} == {
        rule.id for rule in load_rules() if rule.id != "encounter"
    }
    assert set(groups.values()) == {RUNNING}
