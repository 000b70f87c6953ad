"""A tracks member evicted from its group while another member went on: its late save lands
nothing of the partitions claimed since, and it drops their unsaved work."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from kafka.partitioner.default import murmur2

from lookout.bus import topics
from lookout.bus.base import Consumer, next_offsets
from lookout.bus.memory import MemoryBus
from tests.track_builders import make_report
from tracks.memory_store import MemoryTrackStore
from tracks.service import ServiceSettings, TrackStage

PARTITIONS = 2
GROUP = "tracks"


def _partition(mmsi: int) -> int:
    return (murmur2(str(mmsi).encode()) & 0x7FFFFFFF) % PARTITIONS


def _one_vessel_per_partition() -> tuple[int, int]:
    by_partition: dict[int, int] = {}
    for mmsi in range(412_000_001, 412_000_100):
        by_partition.setdefault(_partition(mmsi), mmsi)
    return by_partition[0], by_partition[1]


def _send(bus: MemoryBus, mmsis: tuple[int, ...], start_s: int, end_s: int) -> None:
    producer = bus.producer()
    for t in range(start_s, end_s, 10):
        for mmsi in mmsis:
            report = make_report(mmsi, t, lon=91.0 + t * 1e-5)
            producer.send_record(topics.DECODED, report, str(mmsi).encode())


def test_a_save_after_another_member_claimed_a_partition_drops_that_partitions_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept, taken = _one_vessel_per_partition()
    bus = MemoryBus(PARTITIONS)
    store = MemoryTrackStore()
    stage = TrackStage(bus, store, settings=ServiceSettings(group=GROUP, keep_history=False))
    _send(bus, (kept, taken), 0, 300)
    stage.drain()
    saved = store.offsets(GROUP, topics.DECODED, range(PARTITIONS))
    assert saved == {0: 30, 1: 30}

    # Meanwhile the group evicted this member and gave partition 1 to another, which claimed it
    # and saved further on.
    lost = _partition(taken)
    newer = store.claim(GROUP, topics.DECODED, [lost])
    store.save(GROUP, topics.DECODED, [], {lost: 40}, epochs=newer)
    taken_state = store.load_one(topics.DECODED, taken)

    _send(bus, (kept, taken), 300, 600)
    with caplog.at_level(logging.WARNING, logger="tracks.service"):
        stage.drain()

    assert f"partitions [{lost}] of ais.decoded were claimed by another member" in caplog.text
    offsets = store.offsets(GROUP, topics.DECODED, range(PARTITIONS))
    assert offsets == {1 - lost: 60, lost: 40}  # the partition kept goes on; the other is not moved
    assert store.load_one(topics.DECODED, taken) == taken_state  # not overwritten by the late save
    kept_state = store.load_one(topics.DECODED, kept)
    assert kept_state is not None and kept_state.last_ts == make_report(kept, 590).ts
    # Until the consumer learns it lost the partition, its messages are left to the new owner.
    reader = bus.consumer([topics.POINTS], "reader")
    before = _points_per_vessel(reader)
    _send(bus, (kept, taken), 600, 700)
    stage.drain()
    after = _points_per_vessel(reader)
    assert after.get(kept, 0) > 0
    assert after.get(taken, 0) == 0 and before[taken] > 0
    assert store.offsets(GROUP, topics.DECODED, [lost]) == {lost: 40}


def _points_per_vessel(reader: Consumer) -> Counter[int]:
    """How many points of each vessel reached `tracks.points` since the last call."""
    counts: Counter[int] = Counter()
    while batch := reader.poll(0.0, 10_000):
        counts.update(m.record.mmsi for m in batch)
        reader.commit(next_offsets(batch))
    return counts
