"""The cell router: track points re-keyed by spatial cell, merged in event time, thinned, and
committed only up to what it has passed on."""

from __future__ import annotations

import logging

import pytest
from kafka.partitioner.default import murmur2

from anomaly.cell_router import CellRouter, CellRouterSettings
from anomaly.cells import cells_for
from lookout.bus import topics
from lookout.bus.base import BusError, TopicPartition
from lookout.bus.memory import MemoryBus
from tests.unit.test_detect_encounter import A, B, meeting
from tracks.records import TrackPoint

PARTITIONS = 4


def _partition(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def _published(points: list[TrackPoint]) -> MemoryBus:
    bus = MemoryBus(PARTITIONS)
    producer = bus.producer()
    for point in points:
        producer.send_record(topics.POINTS, point, str(point.mmsi).encode())
    return bus


def _cells(bus: MemoryBus) -> list[tuple[str, TrackPoint]]:
    consumer = bus.consumer([topics.CELLS], "reader")
    out = []
    while batch := consumer.poll(0.0, 10_000):
        out += [(m.key.decode(), m.record) for m in batch if m.key is not None]
    return out


def test_points_reach_their_cell_and_its_neighbours_in_event_time_order() -> None:
    points = meeting(hours=2, every_s=60.0)
    bus = _published(points)
    assert len({_partition(str(m)) for m in (A, B)}) == 2
    CellRouter(bus).drain()
    routed = _cells(bus)
    for point in points:
        expected = set(cells_for(point.lat, point.lon, 1500.0))  # type: ignore[arg-type]
        assert {cell for cell, p in routed if p == point} == expected
    by_partition: dict[int, list[int]] = {}
    for cell, point in routed:
        by_partition.setdefault(_partition(cell), []).append(point.ts)
    for stamps in by_partition.values():
        assert stamps == sorted(stamps)  # both vessels interleaved, not one after the other


def test_a_vessel_is_thinned_to_one_point_every_thirty_seconds() -> None:
    points = [p for p in meeting(hours=1, every_s=10.0) if p.mmsi == A]
    router = CellRouter(_published(points))
    router.drain()
    assert router.counters.forwarded == (len(points) + 2) // 3  # the first, then every third
    assert router.counters.messages == len(points)


def test_points_off_the_track_are_not_routed() -> None:
    points = meeting(hours=1)
    late = [p._replace(segment_id=0) for p in points[:10]]
    router = CellRouter(_published(late))
    router.drain()
    assert router.counters.messages == 10 and router.counters.forwarded == 0


def test_offsets_are_committed_only_up_to_the_oldest_point_held() -> None:
    points = meeting(hours=2)
    bus = _published(points)
    slow = max(_partition(str(m)) for m in (A, B))
    router = CellRouter(bus, CellRouterSettings(idle_s=3600.0))
    while router.step(0.0):
        pass
    router.commit()
    held = router.counters.messages - router.counters.forwarded
    assert held == len(points)  # two partitions have not been heard from yet: all wait
    consumer = bus.consumer([topics.POINTS], "cells")
    committed = consumer.committed(TopicPartition(topics.POINTS, slow))
    assert committed is not None and committed < len([p for p in points if p.mmsi == A])


def test_partitions_silent_for_idle_s_do_not_hold_the_others_back() -> None:
    points = meeting(hours=2)
    router = CellRouter(_published(points), CellRouterSettings(idle_s=0.0))
    while router.step(0.0):
        pass
    held = router.counters.messages - router.counters.forwarded
    assert held == 2  # each vessel's last report: within `lateness_s` of the newest time


def test_a_failed_periodic_commit_is_tried_again_at_the_next_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The broker away, say: the router goes on, and commits once the bus takes commits."""
    points = meeting(hours=2)
    bus = _published(points)
    router = CellRouter(bus, CellRouterSettings(commit_interval_s=0.0, idle_s=0.0))
    consumer = router._consumer
    commit = consumer.commit
    refusals = 3

    def refused_at_first(offsets: dict[TopicPartition, int]) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise BusError("kafka: commit failed: KafkaConnectionError: 111 ECONNREFUSED")
        commit(offsets)

    consumer.commit = refused_at_first  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="anomaly.cell_router"):
        for _ in range(refusals + 1):  # an interval each
            router.step(0.0)
    assert refusals == 0
    assert [r.getMessage()[:36] for r in caplog.records] == [
        "cell router: offsets not committed, ",
        "cell router: offsets committed again",
    ]
    committed = {
        p: bus.consumer([topics.POINTS], "cells").committed(TopicPartition(topics.POINTS, p))
        for p in range(PARTITIONS)
    }
    assert sum(offset or 0 for offset in committed.values()) > 0
