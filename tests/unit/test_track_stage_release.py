"""The tracks stage releases a sparse vessel's held report once its partition's stream has
moved on, not only when the vessel itself reports again; it saves when the feed pauses."""

from __future__ import annotations

from lookout.bus import topics
from lookout.bus.memory import MemoryBus
from tests.track_builders import make_report
from tests.waiting import running, wait_for
from tracks.memory_store import MemoryTrackStore
from tracks.service import ServiceSettings, TrackStage

SPARSE, BUSY = 412_000_001, 412_000_002


def _points_after(reports: list, settings: ServiceSettings) -> list:
    bus = MemoryBus(1)  # one partition: both vessels share the stream
    producer = bus.producer()
    for report in reports:
        producer.send_record(topics.DECODED, report, str(report.mmsi).encode())
    stage = TrackStage(bus, MemoryTrackStore(), settings=settings)
    stage.drain()  # no end-of-input flush
    consumer = bus.consumer([topics.POINTS], "reader")
    return [m.record for m in consumer.poll(0.0, 10_000)]


def _busy_for_five_minutes() -> MemoryBus:
    """A one-partition bus holding 30 reports of one vessel, 10 s apart."""
    bus = MemoryBus(1)
    producer = bus.producer()
    for t in range(0, 300, 10):
        report = make_report(BUSY, t, lon=91.0 + t * 1e-5)
        producer.send_record(topics.DECODED, report, str(BUSY).encode())
    return bus


def test_a_silent_vessels_report_leaves_when_the_partition_moves_on() -> None:
    reports = [make_report(SPARSE, 0.0, lon=90.0)]
    reports += [make_report(BUSY, t, lon=91.0 + t * 1e-5) for t in range(0, 600, 10)]
    points = _points_after(reports, ServiceSettings(keep_history=False))
    assert [p.ts for p in points if p.mmsi == SPARSE] == [reports[0].ts]


def test_without_partition_release_it_would_wait_for_its_own_next_report() -> None:
    reports = [make_report(SPARSE, 0.0, lon=90.0)]
    reports += [make_report(BUSY, t, lon=91.0 + t * 1e-5) for t in range(0, 60, 10)]
    points = _points_after(reports, ServiceSettings(keep_history=False))
    assert not [p for p in points if p.mmsi == SPARSE]  # the stream is not a window ahead yet


def test_a_batch_drain_without_save_lets_the_bus_go_and_leaves_the_store_alone() -> None:
    bus = _busy_for_five_minutes()
    store = MemoryTrackStore()
    stage = TrackStage(bus, store, settings=ServiceSettings(keep_history=False))

    assert stage.drain(save=False) == 30

    assert store.offsets("tracks", topics.DECODED, [0]) == {}  # nothing saved yet
    assert bus.end_offsets(topics.DECODED) and bus._topics[topics.DECODED][0].messages == []
    stage.close(flush_vessels=True)  # the end of the input saves
    assert store.offsets("tracks", topics.DECODED, [0]) == {0: 30}
    assert store.load_one(topics.DECODED, BUSY) is not None


def test_points_of_one_poll_go_out_together_in_the_order_they_were_made() -> None:
    reports = [make_report(BUSY, t, lon=91.0 + t * 1e-5) for t in range(0, 600, 10)]
    reports += [make_report(SPARSE, 0.0, lon=90.0)]
    points = _points_after(reports, ServiceSettings(keep_history=False, poll_records=7))
    busy = [p.ts for p in points if p.mmsi == BUSY]
    assert busy == sorted(busy) and len(busy) == 53  # held: those within 60 s of the newest (590 s)


def test_a_running_stage_saves_as_soon_as_the_feed_pauses() -> None:
    bus = _busy_for_five_minutes()
    store = MemoryTrackStore()
    never_due = ServiceSettings(keep_history=False, save_interval_s=3600, save_every_messages=10**9)
    stage = TrackStage(bus, store, settings=never_due)
    with running(stage.run):
        wait_for(lambda: bool(store.offsets("tracks", topics.DECODED, [0])), 10, what="a save")
        saved = store.offsets("tracks", topics.DECODED, [0])  # before the stop's own save
    assert saved == {0: 30}
    assert store.load_one(topics.DECODED, BUSY) is not None
