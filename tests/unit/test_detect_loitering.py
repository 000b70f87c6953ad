"""loitering: slow for hours far out is alerted; fishing, anchoring and the coast are not."""

from __future__ import annotations

from anomaly.context import DetectContext
from anomaly.detectors.loitering import LoiteringDetector
from anomaly.records import AlertType, Severity
from tests.detect_builders import Leg, Runner, build, final, hours, minutes, sail, statics

VESSEL = 533_000_001


def run(points, context: DetectContext | None = None):
    return Runner(LoiteringDetector(context=context)).feed(points)


def loiterer(slow_hours: float = 6.0, ship_type: int | None = 70, **leg):
    legs = [
        Leg(hours(1), 10.0, 90.0),
        Leg(hours(slow_hours), 0.8, 200.0, wander=6.0, **leg),
        Leg(hours(1), 11.0, 120.0),
    ]
    return build(sail(VESSEL, legs), statics(VESSEL, ship_type, hours(slow_hours + 2)))


def trawling(hours_: float, knots: float = 1.8, leg_min: float = 15.0, **leg):
    """Zigzag trawl tows: a turn every `leg_min`, then hauling slowly."""
    legs = []
    course = 30.0
    elapsed = 0.0
    while elapsed < hours(hours_):
        legs.append(Leg(minutes(leg_min), knots, course, **leg))
        legs.append(Leg(minutes(5), 0.4, course, **leg))
        course = (course + 150.0) % 360
        elapsed += minutes(leg_min + 5)
    return legs


def test_a_vessel_lingering_slowly_far_out_is_loitering() -> None:
    alerts = run(loiterer())
    assert [a.revision for a in alerts] == [1, 2, 3, 4]
    first, *_, last = alerts
    assert len({a.id for a in alerts}) == 1 and first.type == AlertType.LOITERING
    assert first.start == last.start and first.end is None and last.end is not None
    assert first.detected_at - first.start >= 4 * 3_600_000
    assert "Loitering for 4.0 h" in first.reasons[0] and "average 0.8 kn" in first.reasons[0]
    assert "Loitered 6.0 h" in last.reasons[0] and "average 0.8 kn" in last.reasons[0]
    assert last.extra["duration_h"] == 6.0 and last.severity == Severity.MEDIUM
    assert last.evidence is not None and len(last.evidence["coordinates"]) > 10
    assert last.vessel.ship_type == 70


def test_four_hours_are_needed() -> None:
    assert run(loiterer(slow_hours=3.5)) == []


def test_a_trawler_fishing_slowly_is_not_loitering() -> None:
    trawler = 405_000_030
    reports = sail(trawler, trawling(8.0))
    points = build(reports, statics(trawler, 30, hours(9)))
    assert run(points) == []


def test_the_same_track_from_a_cargo_ship_is_loitering() -> None:
    ship = 405_000_070
    points = build(sail(ship, trawling(8.0)), statics(ship, 70, hours(9)))
    assert len(final(run(points))) == 1


def test_a_vessel_engaged_in_fishing_is_not_loitering() -> None:
    assert run(loiterer(ship_type=None, nav_status=7)) == []


def test_a_fishing_vessel_lying_to_its_nets_for_hours_is_not_loitering() -> None:
    assert run(loiterer(slow_hours=8, ship_type=30, heading=300.0)) == []


def test_a_fishing_vessel_lingering_longer_than_any_soak_is_loitering() -> None:
    (alert,) = final(run(loiterer(slow_hours=14, ship_type=30))).values()
    assert alert.detected_at - alert.start >= 12 * 3_600_000
    assert any("not moving like one fishing" in r for r in alert.reasons)


def test_a_class_b_boat_whose_type_is_not_heard_may_be_lying_to_its_nets() -> None:
    def lingering(slow_hours: float, ais_class: str) -> list:
        legs = [
            Leg(hours(1), 10.0, 90.0, nav_status=None),
            Leg(hours(slow_hours), 0.8, 200.0, wander=6.0, nav_status=None),
            Leg(hours(1), 11.0, 120.0, nav_status=None),
        ]
        return build(sail(VESSEL, legs, ais_class=ais_class))  # no static report heard

    assert run(lingering(8, "B")) == []  # maybe a gillnetter
    assert len(final(run(lingering(8, "A")))) == 1  # class A: the watch is about such ships
    assert len(final(run(lingering(14, "B")))) == 1  # longer than any soak


def test_a_gillnetter_shooting_its_net_again_and_again_is_not_loitering() -> None:
    legs = []
    for _ in range(4):  # five-hour soaks, the net shot again a few kilometres off
        legs += [Leg(hours(5), 0.8, 200.0, wander=6.0), Leg(minutes(20), 6.0, 30.0)]
    points = build(sail(VESSEL, legs), statics(VESSEL, 30, hours(22)))
    assert run(points) == []


def test_a_distress_beacon_does_not_loiter() -> None:
    beacon = 974_000_001
    legs = [Leg(hours(8), 0.6, 120.0, nav_status=14, every_s=60, no_heading=True)]
    assert run(build(sail(beacon, legs, mmsi_class="epirb", flag=None))) == []


def test_a_vessel_at_anchor_is_not_loitering() -> None:
    anchored = sail(VESSEL, [Leg(hours(10), 0.1, 0.0, nav_status=1, every_s=180, wander=30)])
    assert run(build(anchored)) == []


def test_near_the_coast_or_in_an_anchorage_it_is_not_loitering() -> None:
    points = loiterer()
    assert run(points, DetectContext(distance_to_shore_nm=lambda lat, lon: 12.0)) == []
    assert run(points, DetectContext(in_anchorage=lambda lat, lon: True)) == []
    assert len(final(run(points, DetectContext(distance_to_shore_nm=lambda a, b: 25.0)))) == 1


def test_in_a_watch_area_it_is_high() -> None:
    alerts = final(run(loiterer(), DetectContext(in_watch_area=lambda lat, lon: True)))
    (alert,) = alerts.values()
    assert alert.severity == Severity.HIGH


def test_a_short_burst_of_speed_does_not_end_the_episode() -> None:
    legs = [
        Leg(hours(5), 0.8, 200.0, wander=6.0),
        Leg(minutes(15), 8.0, 10.0),
        Leg(hours(2), 0.8, 200.0, wander=6.0),
        Leg(hours(1), 11.0, 120.0),
    ]
    alerts = final(run(build(sail(VESSEL, legs))))
    (alert,) = alerts.values()
    assert alert.extra["duration_h"] > 7.0
