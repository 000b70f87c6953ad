"""The detection stage over the in-process bus: alerts out, duplicates in dropped, and a crash
mid-stream (a new stage on the same store) loses nothing and duplicates nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import orjson
import pytest

from anomaly.outputs import AlertCollector
from anomaly.records import Alert
from anomaly.rules import RuleSet, load_rules
from anomaly.sql_store import SqlDetectStore
from anomaly.stage import DetectSettings, DetectStage
from anomaly.store import DetectStore, MemoryDetectStore, PartitionMark, StoredVessel
from lookout.bus import topics
from lookout.bus.memory import MemoryBus
from lookout.db import migrate
from tests.detect_builders import mixed_scenario
from tests.waiting import running, wait_for
from tracks.records import TrackPoint

MINE = ("ais_gap", "loitering", "drifting", "distress", "position_jump", "speed_anomaly")
PER_VESSEL = RuleSet(
    version=1, rules=tuple(r for r in load_rules() if r.id in (*MINE, "identity_anomaly"))
)


@cache
def scenario() -> tuple[TrackPoint, ...]:
    return tuple(mixed_scenario())


def published(
    points: Iterable[TrackPoint], partitions: int = 4, as_json: bool = False
) -> MemoryBus:
    """A bus whose `tracks.points` holds the points, keyed by vessel (a broker's log)."""
    bus = MemoryBus(default_partitions=partitions)
    bus.ensure_topics(topics.ALL)
    producer = bus.producer()
    for point in points:
        key = str(point.mmsi).encode()
        if as_json:
            producer.send(topics.POINTS, orjson.dumps(point.to_dict()), key)
        else:
            producer.send_record(topics.POINTS, point, key)
    return bus


def settings(**kw: object) -> DetectSettings:
    return DetectSettings(**{"save_every_messages": 3000, "save_interval_s": 3600.0, **kw})  # type: ignore[arg-type]


def revisions(bus: MemoryBus) -> list[Alert]:
    """Every alert message on the bus, as sent."""
    collector = AlertCollector(bus, group="test-revisions")
    seen: list[Alert] = []
    consumer = bus.consumer([topics.ALERTS], "test-all")
    while batch := consumer.poll(0.0, 10_000):
        seen.extend(
            m.record if m.record is not None else Alert.from_dict(orjson.loads(m.value))
            for m in batch
        )
        consumer.commit({m.tp: m.offset + 1 for m in batch})
    collector.close()
    return seen


def run_whole(points: Sequence[TrackPoint], store: DetectStore | None = None) -> list[Alert]:
    bus = published(points)
    stage = DetectStage(bus, store or MemoryDetectStore(), PER_VESSEL, settings=settings())
    stage.finish()
    stage.close()
    return revisions(bus)


def final(alerts: Iterable[Alert]) -> dict[str, bytes]:
    best: dict[str, Alert] = {}
    for alert in alerts:
        if alert.id not in best or alert.revision > best[alert.id].revision:
            best[alert.id] = alert
    return {k: orjson.dumps(v.to_dict()) for k, v in best.items()}


def by_revision(alerts: Iterable[Alert]) -> dict[tuple[str, int], bytes]:
    out: dict[tuple[str, int], bytes] = {}
    for alert in alerts:
        body = orjson.dumps(alert.to_dict())
        key = (alert.id, alert.revision)
        assert out.setdefault(key, body) == body, f"revision {key} sent with different content"
        out[key] = body
    return out


@cache
def uninterrupted() -> tuple[Alert, ...]:
    return tuple(run_whole(scenario()))


def test_the_stage_publishes_every_detectors_alerts_keyed_by_id() -> None:
    alerts = uninterrupted()
    types = {a.type.value for a in alerts}
    assert {
        "ais_gap",
        "loitering",
        "drifting",
        "distress",
        "position_jump",
        "speed_anomaly",
        "identity_anomaly",
    } <= types
    by_revision(alerts)  # no (id, revision) sent twice with different content


def test_points_as_json_give_the_same_alerts() -> None:
    bus = published(scenario(), as_json=True)
    stage = DetectStage(bus, MemoryDetectStore(), PER_VESSEL, settings=settings())
    stage.finish()
    assert final(revisions(bus)) == final(uninterrupted())


def test_points_re_emitted_after_a_tracks_restart_are_dropped() -> None:
    points = list(scenario())
    replayed = points[:6000] + points[4000:6000] + points[6000:]  # 2000 points sent twice
    bus = published(replayed)
    stage = DetectStage(bus, MemoryDetectStore(), PER_VESSEL, settings=settings())
    stage.finish()
    assert stage.counters.duplicates == 2000
    assert by_revision(revisions(bus)) == by_revision(uninterrupted())


def test_a_crash_mid_stream_loses_and_duplicates_nothing() -> None:
    store = MemoryDetectStore()
    first_bus = published(scenario())
    crashed = DetectStage(first_bus, store, PER_VESSEL, settings=settings(poll_records=1700))
    while crashed.counters.messages < 0.6 * len(scenario()):
        crashed.step()
    assert store.saves >= 2 and crashed.counters.messages % 3400  # work done after the last save
    before_crash = revisions(first_bus)  # sent, never saved as done: will be sent again
    # The process dies (no close, no save); a new member starts on the same store and log.
    second_bus = published(scenario())
    restarted = DetectStage(second_bus, store, PER_VESSEL, settings=settings())
    restarted.finish()
    after = revisions(second_bus)
    assert final(before_crash + after) == final(uninterrupted())
    # Every revision sent twice is identical (the API sink drops the copy); none is missing.
    assert by_revision(before_crash + after) == by_revision(uninterrupted())


def test_restart_on_a_sqlite_store(sqlite_url: str) -> None:
    migrate(sqlite_url)
    store = SqlDetectStore.from_url(sqlite_url)
    points = scenario()
    bus = published(points)
    first = DetectStage(bus, store, PER_VESSEL, settings=settings())
    while first.counters.messages < 0.4 * len(points):
        first.step()
    sent = revisions(bus)
    second_store = SqlDetectStore.from_url(sqlite_url)
    bus2 = published(points)
    second = DetectStage(bus2, second_store, PER_VESSEL, settings=settings())
    second.finish()
    assert final(sent + revisions(bus2)) == final(uninterrupted())
    store.close()
    second_store.close()


def test_a_vessel_silent_long_enough_leaves_memory_and_comes_back(tmp_path: Path) -> None:
    store = MemoryDetectStore()
    bus = published(scenario())
    stage = DetectStage(bus, store, PER_VESSEL, settings=settings(evict_after_s=3 * 3600.0))
    stage.finish()
    assert stage.counters.evicted > 0
    assert by_revision(revisions(bus)) == by_revision(uninterrupted())


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_store_saves_states_and_marks_together(backend: str, sqlite_url: str) -> None:
    if backend == "sqlite":
        migrate(sqlite_url)
        store: DetectStore = SqlDetectStore.from_url(sqlite_url)
    else:
        store = MemoryDetectStore()
    vessels = [
        StoredVessel(405_000_001, 2, b"\x01abc", 1_000, True),
        StoredVessel(7, 1, b"", 5, False),
    ]
    store.save("detect", topics.POINTS, vessels, {2: PartitionMark(41, 1_000)})
    store.save(
        "detect", topics.POINTS, [StoredVessel(7, 1, b"x", 6, True)], {1: PartitionMark(3, 6)}
    )
    assert store.load_one("detect", 405_000_001) == vessels[0]
    assert store.load_one("other", 405_000_001) is None
    assert [v.mmsi for v in store.load_active("detect", [1, 2])] == [7, 405_000_001]
    assert store.marks("detect", topics.POINTS, [1, 2, 3]) == {
        1: PartitionMark(3, 6),
        2: PartitionMark(41, 1_000),
    }
    store.close()


def test_batch_detection_writes_the_final_revision_of_each_alert(tmp_path: Path) -> None:
    from anomaly.batch import BatchDetection
    from anomaly.context import DetectContext

    bus = published(scenario())
    detection = BatchDetection(bus, rules=PER_VESSEL, context=DetectContext())
    detection.drain()
    detection.finish()
    count = detection.write(tmp_path)
    lines = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    written = [Alert.from_dict(orjson.loads(line)) for line in lines]
    assert count == len(written) == len({a.id for a in written})
    assert {a.id: orjson.dumps(a.to_dict()) for a in written} == final(uninterrupted())
    assert [a.start for a in written] == sorted(a.start for a in written)
    assert sum(detection.by_type().values()) == count
    detection.close()


def test_batch_detection_with_every_rule_disabled_runs_nothing_and_writes_no_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anomaly.batch
    from anomaly.batch import BatchDetection

    def no_geography(config_dir: Path | None = None) -> None:
        raise AssertionError("nothing to detect: the geography should not be loaded")

    monkeypatch.setattr(anomaly.batch, "default_context", no_geography)
    disabled = RuleSet(
        version=1, rules=tuple(r.model_copy(update={"enabled": False}) for r in load_rules())
    )
    bus = published(scenario())
    detection = BatchDetection(bus, rules=disabled)
    detection.drain()
    detection.finish()

    assert detection.write(tmp_path) == 0
    assert (tmp_path / "alerts.jsonl").read_bytes() == b""
    assert detection.by_type() == {}
    assert detection.stage is None  # no consumer group holds the points back
    detection.close()


def test_a_running_stage_saves_as_soon_as_the_feed_pauses() -> None:
    bus = published(scenario())
    store = MemoryDetectStore()
    never_due = settings(save_every_messages=10**9)  # and an interval of an hour
    stage = DetectStage(bus, store, PER_VESSEL, settings=never_due)
    with running(stage.run):
        wait_for(lambda: bool(store.marks("detect", topics.POINTS, range(4))), 30, what="a save")
        saved = store.marks("detect", topics.POINTS, range(4))  # before the stop's own save
    assert sum(mark.next_offset for mark in saved.values()) == len(scenario())


def test_a_save_after_another_member_claimed_a_partition_drops_that_partitions_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The member was evicted from its group and partition 0 given to another, which claimed
    it and saved further on: this member's late save leaves partition 0 alone."""
    store = MemoryDetectStore()
    bus = published(scenario())
    stage = DetectStage(bus, store, PER_VESSEL, settings=settings(poll_records=1700))
    stage.step()
    stage.save()
    group, topic = stage.settings.group, stage.settings.topic
    first = store.marks(group, topic, range(4))
    assert 0 in first
    newer = store.claim(group, topic, [0])
    store.save(group, topic, [], {0: PartitionMark(first[0].next_offset + 1, 0)}, epochs=newer)
    taken = {v.mmsi: v for v in store.load_active(group, [0])}

    with caplog.at_level(logging.WARNING, logger="anomaly.stage"):
        for _ in range(3):
            stage.step()
        stage.save()

    assert "partitions [0] of tracks.points were claimed by another member" in caplog.text
    marks = store.marks(group, topic, range(4))
    assert marks[0] == PartitionMark(first[0].next_offset + 1, 0)  # not moved by the late save
    assert {v.mmsi: v for v in store.load_active(group, [0])} == taken
    assert all(marks[p].next_offset > first[p].next_offset for p in first if p != 0)
