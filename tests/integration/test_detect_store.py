"""The detection stage's SQL store on PostgreSQL: states and marks in one transaction, and a
restart mid-stream on the same database yields the alerts of an uninterrupted run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from anomaly.sql_store import SqlDetectStore
from anomaly.store import PartitionMark, StoredVessel
from lookout.bus import topics
from lookout.db import migrate
from tests.unit.test_detect_stage import (
    PER_VESSEL,
    final,
    published,
    revisions,
    scenario,
    settings,
    uninterrupted,
)

pytestmark = pytest.mark.integration


def test_states_and_marks_round_trip(pg_database: Callable[[], str]) -> None:
    url = pg_database()
    migrate(url)
    store = SqlDetectStore.from_url(url)
    vessels = [StoredVessel(405_000_001, 2, b"\x01abc", 1_000, True)]
    store.save("detect", topics.POINTS, vessels, {2: PartitionMark(41, 1_000)})
    store.save("detect", topics.POINTS, vessels, {2: PartitionMark(42, 1_001)})  # upsert
    assert store.load_one("detect", 405_000_001) == vessels[0]
    assert store.marks("detect", topics.POINTS, [2]) == {2: PartitionMark(42, 1_001)}
    store.close()


def test_restart_mid_stream_on_postgres(pg_database: Callable[[], str]) -> None:
    from anomaly.stage import DetectStage

    url = pg_database()
    migrate(url)
    first_store = SqlDetectStore.from_url(url)
    bus = published(scenario())
    first = DetectStage(bus, first_store, PER_VESSEL, settings=settings())
    while first.counters.messages < 0.5 * len(scenario()):
        first.step()
    sent = revisions(bus)
    first_store.close()
    second_store = SqlDetectStore.from_url(url)
    bus2 = published(scenario())
    second = DetectStage(bus2, second_store, PER_VESSEL, settings=settings())
    second.finish()
    assert final(sent + revisions(bus2)) == final(uninterrupted())
    second_store.close()
