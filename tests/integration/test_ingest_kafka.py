"""`lookout ingest` into a real Kafka-protocol broker: 100,000 messages, a 10 s outage mid-run
(the broker frozen, or cut off the network with requests in flight), then every record consumed
back exactly once, keyed by MMSI, in per-vessel order."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from ingest.pipeline import Ingestor
from ingest.records import PositionReport, StaticReport
from ingest.service import ingest_paths
from lookout.bus import topics
from lookout.bus.kafka import KafkaBus
from lookout.simulate import simulate
from tests.builders import CollectingSink
from tests.conftest import Broker
from tests.relay import LateRelay

pytestmark = pytest.mark.integration

MESSAGES = 100_000
FREEZE_AFTER_S = 1.0
FREEZE_FOR_S = 10.0


def _write_messages(path: Path, count: int) -> None:
    """Simulated traffic cut after exactly `count` AIS messages (a multipart counts once)."""
    written = 0
    with path.open("w") as out:
        for line in simulate(vessels=300, hours=2.0, seed=5):
            out.write(line + "\n")
            total, number = line.split("!AIVDM,")[1].split(",")[:2]
            if total == number:
                written += 1
                if written == count:
                    return
    raise AssertionError("the simulation ended before enough messages")


def _identity(record: dict[str, object]) -> tuple[object, ...]:
    return (record["kind"], record["mmsi"], record["ts"], record.get("lat"), record.get("name"))


def _expected(path: Path) -> dict[int, list[tuple[object, ...]]]:
    sink = CollectingSink()
    ingest_paths([str(path)], Ingestor(sink))
    per_vessel: dict[int, list[tuple[object, ...]]] = defaultdict(list)
    for record in sink.records:
        assert isinstance(record, PositionReport | StaticReport)
        per_vessel[record.mmsi].append(_identity(record.to_dict()))
    return per_vessel


def _consume_all(bootstrap: str, expected_count: int) -> list[tuple[int, dict[str, object]]]:
    bus = KafkaBus(bootstrap, session_timeout_ms=2000, heartbeat_interval_ms=500)
    consumer = bus.consumer([topics.DECODED], "verify")
    got: list[tuple[int, dict[str, object]]] = []
    deadline = time.monotonic() + 120
    quiet_until: float | None = None
    while time.monotonic() < deadline:
        batch = consumer.poll(1.0, 5000)
        got.extend((m.partition, orjson.loads(m.value)) for m in batch)
        if len(got) >= expected_count:
            # keep listening a little: a duplicate would arrive now
            quiet_until = quiet_until or time.monotonic() + 3
            if time.monotonic() > quiet_until:
                break
    bus.close()
    return got


def _outage(
    kind: str, request: pytest.FixtureRequest
) -> tuple[Broker, Callable[[], None], Callable[[], None]]:
    """The broker, and how to begin and end an outage of `kind`."""
    if kind == "frozen":  # the broker takes connections and answers nothing
        broker: Broker = request.getfixturevalue("own_broker")
        return broker, broker.freeze, broker.thaw
    relayed: tuple[Broker, LateRelay] = request.getfixturevalue("relayed_broker")
    broker, relay = relayed  # every connection dropped, new ones refused
    return broker, relay.cut, relay.start


@pytest.mark.parametrize("kind", ["frozen", "cut"])
def test_ingest_through_a_broker_outage_loses_and_duplicates_nothing(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    own_broker, begin, end = _outage(kind, request)
    feed = tmp_path / "feed.nmea"
    _write_messages(feed, MESSAGES)
    expected = _expected(feed)
    expected_count = sum(len(records) for records in expected.values())

    def outage() -> None:
        time.sleep(FREEZE_AFTER_S)
        begin()
        time.sleep(FREEZE_FOR_S)
        end()

    freezer = threading.Thread(target=outage)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "lookout.cli", "ingest", "--source", str(feed),
         "--kafka", own_broker.bootstrap],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    freezer.start()
    _, err = process.communicate(timeout=300)
    freezer.join()
    assert process.returncode == 0, err.decode()[-2000:]
    assert time.monotonic() - started > FREEZE_FOR_S  # the outage happened during the run
    summary = orjson.loads(err.decode().strip().splitlines()[-1])
    assert summary["records"] == expected_count
    assert summary["decoded_lines"] + summary["deadletter_lines"] == summary["lines"]

    consumed = _consume_all(own_broker.bootstrap, expected_count)

    assert len(consumed) == expected_count  # none lost, none duplicated
    partition_of: dict[int, set[int]] = defaultdict(set)
    per_vessel: dict[int, list[tuple[object, ...]]] = defaultdict(list)
    for partition, record in consumed:
        mmsi = int(record["mmsi"])  # type: ignore[call-overload]
        partition_of[mmsi].add(partition)
        per_vessel[mmsi].append(_identity(record))
    assert all(len(parts) == 1 for parts in partition_of.values())  # keyed by MMSI
    assert per_vessel == expected  # each vessel's records, all of them, in order
