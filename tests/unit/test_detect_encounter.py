"""encounter: two vessels meeting at sea, and the meetings that are not encounters."""

from __future__ import annotations

import random
import time

import pytest

from anomaly.cells import cell_of, cells_for
from anomaly.detectors.base import RuleConfig
from anomaly.detectors.encounter import EncounterDetector
from anomaly.geo import Geography
from anomaly.records import AlertType, alert_id
from tests.geo_builders import (
    BAY_EAST,
    CHITTAGONG_ANCHORAGE,
    CHITTAGONG_PORT,
    beside,
    feed,
    final,
    geography,
    line,
    merge,
    vessel_points,
)
from tests.track_builders import ms
from tracks.records import TrackPoint

A, B = 412_000_001, 563_000_002  # a fishing vessel, and the vessel it meets


@pytest.fixture(scope="module")
def geo() -> Geography:
    return geography()


def meeting(
    where: tuple[float, float] = BAY_EAST,
    hours: float = 3.0,
    knots: float = 0.5,
    apart_m: float = 200.0,
    every_s: float = 60.0,
    ship_types: tuple[int | None, int | None] = (30, 70),
) -> list[TrackPoint]:
    """Two vessels keeping station `apart_m` from each other, drifting at `knots`."""
    fixes = line(where, knots, 45.0, hours, every_s)
    first = vessel_points(A, fixes, knots, 45.0, ship_type=ship_types[0])
    second = vessel_points(B, beside(fixes, 90.0, apart_m), knots, 45.0, ship_type=ship_types[1])
    return merge(first, second)


def test_two_vessels_meeting_at_sea(geo: Geography) -> None:
    points = meeting()
    alerts = feed(EncounterDetector(geo=geo), points, then_ms=points[-1].ts + 3_600_000)
    latest = final(alerts)
    assert len(latest) == 1
    alert = next(iter(latest.values()))
    assert alert.type is AlertType.ENCOUNTER
    assert alert.mmsis == (A, B) and alert.mmsi == A
    assert alert.id == alert_id(AlertType.ENCOUNTER, [B, A], ms(0))
    assert alert.start == ms(0)
    # opened once it had lasted 2 h, revised as it went on, closed when contact was lost
    first = next(a for a in alerts if a.revision == 1)
    assert first.detected_at >= ms(2 * 3600) and first.end is None
    assert alert.revision >= 2 and alert.end == points[-1].ts
    assert alert.evidence is not None and alert.evidence["type"] == "LineString"
    assert len(alert.evidence["coordinates"]) > 10
    assert alert.extra["partner"]["mmsi"] == B
    assert alert.extra["median_sog_kn"] < 1.0
    text = " ".join(alert.reasons)
    assert "within 500 m" in text and "Median speed" in text and "from the nearest port" in text


def test_an_encounter_closes_when_the_vessels_part(geo: Geography) -> None:
    together = line(BAY_EAST, 0.5, 45.0, 2.5)
    end_lat, end_lon = together[-1][1], together[-1][2]
    away = line((end_lat, end_lon), 10.0, 200.0, 0.5, t0_s=together[-1][0] + 60)
    first = vessel_points(A, together + away, 0.5, 45.0)
    second = vessel_points(
        B,
        beside(together, 90.0, 150.0)
        + beside([(t, end_lat, end_lon) for t, _, _ in away], 90.0, 150.0),
        0.0,
        None,
    )
    alerts = feed(EncounterDetector(geo=geo), merge(first, second))
    (alert,) = final(alerts).values()
    assert alert.end is not None and alert.end <= ms(together[-1][0] + 300)
    assert any("Parted" in r for r in alert.reasons)


@pytest.mark.parametrize(
    ("label", "points"),
    [
        ("at the same anchorage", lambda: meeting(CHITTAGONG_ANCHORAGE, hours=6, knots=0.1)),
        ("tug alongside in port", lambda: meeting(CHITTAGONG_PORT, 4, 0.0, 30.0, 60, (70, None))),
        ("tug alongside at sea", lambda: meeting(BAY_EAST, 4, 0.3, 30.0, 60, (70, 52))),
        ("too short", lambda: meeting(hours=1.5)),
        ("too far apart", lambda: meeting(apart_m=800.0)),
        ("together but fast (convoy)", lambda: meeting(knots=8.0, hours=3)),
    ],
)
def test_hard_negatives(geo: Geography, label: str, points: object) -> None:
    stream = points()  # type: ignore[operator]
    alerts = feed(EncounterDetector(geo=geo), stream, then_ms=stream[-1].ts + 7_200_000)
    assert alerts == [], label


def test_two_vessels_passing_each_other_at_speed(geo: Geography) -> None:
    north = line(BAY_EAST, 12.0, 0.0, 1.0, every_s=10)
    meet = north[len(north) // 2]
    south_start = (meet[1], meet[2])
    south = line(south_start, 12.0, 180.0, 0.5, every_s=10, t0_s=meet[0])
    back = [(2 * meet[0] - t, lat, lon) for t, lat, lon in south]  # arrives at meet, then on
    south_fixes = sorted(
        [(t, *beside([(t, la, lo)], 90.0, 150.0)[0][1:]) for t, la, lo in back]
        + [(t, *beside([(t, la, lo)], 90.0, 150.0)[0][1:]) for t, la, lo in south[1:]]
    )
    stream = merge(vessel_points(A, north, 12.0, 0.0), vessel_points(B, south_fixes, 12.0, 180.0))
    assert feed(EncounterDetector(geo=geo), stream, then_ms=stream[-1].ts + 7_200_000) == []


def test_a_boat_heard_only_in_satellite_passes_beside_a_ship(geo: Geography) -> None:
    # the ship, drifting at 1 kn, is heard every minute; the boat beside it every 50 minutes
    fixes = line(BAY_EAST, 1.0, 45.0, 3.5)
    ship = vessel_points(B, fixes, 1.0, 45.0, ship_type=70)
    passes = beside(fixes, 90.0, 150.0)[::50]
    boat = vessel_points(A, passes, 1.0, 45.0, ship_type=30)
    points = merge(ship, boat)
    alerts = feed(EncounterDetector(geo=geo), points, then_ms=points[-1].ts + 3_600_000)
    (alert,) = final(alerts).values()
    # one episode across the silences (the ship's reports count with the boat's last fix for
    # max_staleness_s after it)
    assert alert.start == ms(0) and boat[-1].ts <= alert.end <= boat[-1].ts + 600_000
    # heard every 50 minutes both of them: nobody saw them together in between
    both_sparse = merge(vessel_points(B, fixes[25::50], 1.0, 45.0, ship_type=70), boat)
    assert feed(EncounterDetector(geo=geo), both_sparse, then_ms=points[-1].ts) == []
    # the regular one moving on at speed is not waiting for anyone
    leaving = fixes[:60] + line(fixes[59][1:], 8.0, 45.0, 2.5, t0_s=fixes[59][0] + 60)
    ship = vessel_points(B, leaving, None, 45.0, ship_type=70)
    assert feed(EncounterDetector(geo=geo), merge(ship, boat), then_ms=points[-1].ts) == []


def test_a_boat_that_stops_alongside_has_not_parted(geo: Geography) -> None:
    # it comes alongside at 7 kn and stops, heard again only 40 minutes later: its position
    # dead-reckoned at 7 kn runs off, its last one is alongside
    fixes = line(BAY_EAST, 0.5, 45.0, 3.0)
    ship = vessel_points(B, fixes, 0.5, 45.0, ship_type=70)
    arrival = vessel_points(A, beside(fixes[:1], 90.0, 150.0), 7.0, 45.0, ship_type=30)
    stay = vessel_points(A, beside(fixes[40::10], 90.0, 150.0), 0.5, 45.0, ship_type=30)
    points = merge(ship, merge(arrival, stay))
    (alert,) = final(feed(EncounterDetector(geo=geo), points)).values()
    assert alert.start == ms(0)


def test_same_ids_when_replayed_and_after_a_restart(geo: Geography) -> None:
    points = meeting(hours=4)
    whole = feed(EncounterDetector(geo=geo), points, then_ms=points[-1].ts + 3_600_000)
    again = feed(EncounterDetector(geo=geo), points, then_ms=points[-1].ts + 3_600_000)
    assert [a.to_dict() for a in whole] == [a.to_dict() for a in again]

    # crash half way: save both vessels' state, restore into a new detector, go on
    first = EncounterDetector(geo=geo)
    half = len(points) * 5 // 8
    before = feed(first, points[:half])
    blobs = {m: first.state_of(m) for m in (A, B)}
    second = EncounterDetector(geo=geo)
    for mmsi, blob in blobs.items():
        assert blob is not None
        second.restore(mmsi, blob)
    after = feed(second, points[half:], then_ms=points[-1].ts + 3_600_000)
    assert [a.to_dict() for a in before + after] == [a.to_dict() for a in whole]
    assert first.state_of(999) is None


def test_cells_scale_out_without_duplicates(geo: Geography) -> None:
    """Two consumers, each owning half of the cells, fed points re-keyed by cell: the pair is
    alerted once, by the consumer owning the lower-MMSI vessel's cell."""
    # a meeting straddling the border between two cells
    border = (17.5, 90.5)
    points = meeting(where=(border[0] - 0.001, border[1]), hours=3, knots=0.3, apart_m=300.0)
    owner_of = {cell_of(border[0] - 0.01, border[1]): 0, cell_of(border[0] + 0.01, border[1]): 1}

    def owns(index: int) -> object:
        return lambda cell: owner_of.get(cell, 0) == index

    consumers = [
        EncounterDetector(geo=geo, owns_cell=owns(i))  # type: ignore[arg-type]
        for i in range(2)
    ]
    alerts = []
    for point in points:
        assert point.lat is not None and point.lon is not None
        targets = {owner_of.get(c, 0) for c in cells_for(point.lat, point.lon, 1500.0)}
        for index in sorted(targets):
            alerts += consumers[index].update(point)
    for consumer in consumers:
        alerts += consumer.advance(points[-1].ts + 3_600_000)
    ids = {a.id for a in alerts}
    assert len(ids) == 1


def test_parameters_come_from_the_rule(geo: Geography) -> None:
    strict = RuleConfig("encounter", 2, {"min_duration_h": 4.0})
    points = meeting(hours=3)
    assert feed(EncounterDetector(strict, geo=geo), points) == []
    with pytest.raises(ValueError):
        EncounterDetector(RuleConfig("encounter", 1, {"no_such": 1}), geo=geo)


def test_a_dense_stream_gives_the_alert_of_the_same_stream_thinned(geo: Geography) -> None:
    """A vessel reporting every 5 s is thinned to a point every 30 s (min_interval_s), as the
    cell router thins it in distributed mode: the alert is that of the thinned stream."""
    dense = meeting(hours=3, every_s=5.0)
    t0, then = dense[0].ts, dense[-1].ts + 3_600_000
    thinned = [p for p in dense if (p.ts - t0) % 30_000 == 0]
    assert len(thinned) * 6 == len(dense) + 10  # both vessels' first point, then every sixth
    detector = EncounterDetector(geo=geo)
    from_dense = feed(detector, dense, then_ms=then)
    assert detector.thinned == len(dense) - len(thinned)
    from_thinned = feed(EncounterDetector(geo=geo), thinned, then_ms=then)
    assert len(final(from_dense)) == 1
    assert [a.to_dict() for a in from_dense] == [a.to_dict() for a in from_thinned]

    # thinned another way (15 s later), or not at all: the same meeting, start and end within
    # the thinning interval
    (alert,) = final(from_dense).values()
    shifted = [p for p in dense if (p.ts - t0) % 30_000 == 15_000]
    every = EncounterDetector(RuleConfig("encounter", 1, {"min_interval_s": 0.0}), geo=geo)
    for other in (feed(EncounterDetector(geo=geo), shifted, then), feed(every, dense, then)):
        (same,) = final(other).values()
        assert same.mmsis == alert.mmsis
        assert alert.end is not None and same.end is not None
        assert abs(same.start - alert.start) < 30_000 and abs(same.end - alert.end) < 30_000
    assert every.thinned == 0


def test_points_within_the_interval_are_skipped(geo: Geography) -> None:
    (a0,) = vessel_points(A, [(0.0, *BAY_EAST)], 0.5, 45.0)
    far = (BAY_EAST[0] + 0.05, BAY_EAST[1])
    soon = a0._replace(ts=a0.ts + 29_999, lat=far[0], lon=far[1])  # 5 km away, 30 s less 1 ms
    for interval, skipped in ((30.0, True), (0.0, False)):
        config = RuleConfig("encounter", 1, {"min_interval_s": interval})
        detector = EncounterDetector(config, geo=geo)
        assert detector.update(a0) == []
        first = detector.state_of(A)
        assert detector.update(soon) == []
        # skipped: the vessel's latest position, the one its neighbours are compared with, is
        # still the first one
        assert (detector.state_of(A) == first) is skipped
        assert detector.thinned == int(skipped)
    detector = EncounterDetector(geo=geo)
    detector.update(a0)
    detector.update(soon)
    assert detector.update(a0._replace(ts=a0.ts - 1_000)) == []  # out of order: dropped
    assert detector.thinned == 1
    first = detector.state_of(A)
    assert detector.update(soon._replace(ts=a0.ts + 30_000)) == []  # 30 s on: used
    assert detector.thinned == 1 and detector.state_of(A) != first


def test_batch_and_distributed_use_the_same_points(geo: Geography) -> None:
    """What the detector uses of each vessel's points is what the cell router forwards."""
    from anomaly.cell_router import CellRouter
    from lookout.bus import topics
    from lookout.bus.memory import MemoryBus

    rng = random.Random(7)
    irregular = [f for f in line(BAY_EAST, 0.5, 45.0, 1.0, every_s=1.0) if rng.random() < 0.15]
    points = merge(
        [p for p in meeting(hours=1, every_s=5.0) if p.mmsi == B],
        vessel_points(A, irregular, 0.5, 45.0),
    )
    bus = MemoryBus(4)
    producer = bus.producer()
    for point in points:
        producer.send_record(topics.POINTS, point, str(point.mmsi).encode())
    CellRouter(bus).drain()
    consumer = bus.consumer([topics.CELLS], "reader")
    forwarded = set()
    while batch := consumer.poll(0.0, 10_000):
        forwarded |= {(m.record.mmsi, m.record.ts) for m in batch}
    detector = EncounterDetector(geo=geo)
    used = set()
    for point in points:
        before = detector.thinned
        detector.update(point)
        if detector.thinned == before:
            used.add((point.mmsi, point.ts))
    assert used == forwarded
    assert len(used) < len(points) / 3


def test_cost_per_point(geo: Geography) -> None:
    # 40 vessels drifting around the same spot: the neighbour search is not free
    streams = []
    for i in range(40):
        start = (BAY_EAST[0] + (i % 8) * 0.003, BAY_EAST[1] + (i // 8) * 0.003)
        streams.append(vessel_points(500_000_000 + i, line(start, 0.5, 45.0, 1.0, 30), 0.5, 45.0))
    points = merge(*streams)
    detector = EncounterDetector(geo=geo)
    started = time.perf_counter()
    feed(detector, points)
    per_point_us = (time.perf_counter() - started) / len(points) * 1e6
    assert per_point_us < 300.0, per_point_us  # ~ 40 us here, crowded on purpose


def test_a_batch_stage_meets_vessels_of_different_partitions_in_time_order() -> None:
    """`lookout process`: one poll holds hours of both vessels, grouped by partition; the pair
    is still compared point by point in event time."""
    from anomaly.context import default_context
    from anomaly.rules import load_rules
    from anomaly.stage import DetectSettings, DetectStage
    from anomaly.store import MemoryDetectStore
    from lookout.bus import topics
    from lookout.bus.memory import MemoryBus

    bus = MemoryBus(4)
    producer = bus.producer()
    for point in meeting(hours=3):
        producer.send_record(topics.POINTS, point, str(point.mmsi).encode())
    settings = DetectSettings(keyed_by=None, persist=False, poll_records=10_000)
    stage = DetectStage(bus, MemoryDetectStore(), load_rules(), default_context(), settings)
    stage.finish()
    consumer = bus.consumer([topics.ALERTS], "reader")
    alerts = [m.record for m in consumer.poll(0.0, 1000)]
    assert {a.type for a in alerts} >= {AlertType.ENCOUNTER}
