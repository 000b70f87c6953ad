"""The detection stage's SQL store on PostgreSQL: states and marks in one transaction, and a
restart mid-stream on the same database yields the alerts of an uninterrupted run."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from anomaly.sql_store import SqlDetectStore
from anomaly.store import DetectStore, MemoryDetectStore, PartitionMark, StoredVessel
from lookout.bus import topics
from lookout.claims import Fenced
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


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def detect_store(
    request: pytest.FixtureRequest, sqlite_url: str, pg_database: Callable[[], str]
) -> Iterator[DetectStore]:
    if request.param == "memory":
        yield MemoryDetectStore()
        return
    url = sqlite_url if request.param == "sqlite" else pg_database()
    migrate(url)
    store = SqlDetectStore.from_url(url)
    yield store
    store.close()


def test_a_claim_fences_off_the_saves_of_the_member_before(detect_store: DetectStore) -> None:
    """A member evicted from its group saves late: nothing of it lands once another member
    has claimed one of its partitions (`lookout.claims`), and the new owner's saves go on."""
    group, topic = "detect", topics.POINTS
    vessel = StoredVessel(405_000_001, 0, b"old", 1_000, True)
    evicted = detect_store.claim(group, topic, [0, 1])
    assert evicted == {0: 1, 1: 1}
    detect_store.save(group, topic, [vessel], {0: PartitionMark(5, 1_000)}, epochs=evicted)
    owner = detect_store.claim(group, topic, [0])
    assert owner == {0: 2}

    late = [StoredVessel(405_000_001, 0, b"stale", 2_000, True)]
    with pytest.raises(Fenced) as fenced:
        marks = {0: PartitionMark(9, 2_000), 1: PartitionMark(3, 2_000)}
        detect_store.save(group, topic, late, marks, epochs=evicted)
    assert fenced.value.partitions == {0}
    assert detect_store.marks(group, topic, [0, 1]) == {0: PartitionMark(5, 1_000)}
    assert detect_store.load_one(group, 405_000_001) == vessel

    detect_store.save(group, topic, [], {0: PartitionMark(6, 1_500)}, epochs=owner)
    assert detect_store.marks(group, topic, [0]) == {0: PartitionMark(6, 1_500)}
