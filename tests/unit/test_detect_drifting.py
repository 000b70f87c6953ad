"""drifting: adrift at sea is alerted (high, shared with rescuers); at anchor it is not."""

from __future__ import annotations

from anomaly.context import DetectContext
from anomaly.detectors.drifting import DriftingDetector
from anomaly.records import AlertType, Severity, Tlp
from tests.detect_builders import Leg, Runner, build, final, hours, minutes, sail, statics

BOAT = 506_000_001


def run(points, context: DetectContext | None = None):
    return Runner(DriftingDetector(context=context)).feed(points)


def adrift(drift_hours: float = 3.0, ship_type: int | None = 70, **leg):
    legs = [
        Leg(hours(1), 8.0, 100.0),
        Leg(hours(drift_hours), 1.2, 200.0, heading=290.0, course_noise=8.0, **leg),
        Leg(hours(1), 8.0, 100.0),
    ]
    return build(sail(BOAT, legs), statics(BOAT, ship_type, hours(drift_hours + 2)))


def swinging_at_anchor(hours_: float, nav_status: int | None, knots: float = 0.3):
    """Round and round a small circle (the anchor chain), bow toward the anchor."""
    legs = []
    course = 0.0
    for _ in range(int(hours_ * 6)):
        legs.append(
            Leg(
                minutes(10),
                knots,
                course,
                heading=(course + 90) % 360,
                nav_status=nav_status,
                every_s=30,
            )
        )
        course = (course + 60.0) % 360
    return build(sail(BOAT, legs))


def test_a_vessel_adrift_is_alerted_high_and_green() -> None:
    alerts = run(adrift())
    first, *_, last = alerts
    assert first.type == AlertType.DRIFTING and first.id == last.id
    assert first.severity == Severity.HIGH and first.tlp == Tlp.GREEN
    assert 3_600_000 <= first.detected_at - first.start < 1.2 * 3_600_000
    assert first.end is None and last.end is not None and last.revision == len(alerts)
    assert "toward 200°" in first.reasons[0] and "not going where it points" in first.reasons[1]
    assert 1.0 < last.extra["drift_kn"] < 1.4 and last.extra["duration_h"] > 2.9


def test_adrift_without_a_heading_the_course_wanders() -> None:
    points = adrift(no_heading=True, wander=25.0, ship_type=None)
    (alert,) = final(run(points)).values()
    assert "wanders" in alert.reasons[1]


def test_a_vessel_not_under_command_drifting_bow_first_is_drifting() -> None:
    legs = [Leg(hours(1), 8.0, 100.0), Leg(hours(3), 1.5, 0.0, nav_status=2, wander=3.0)]
    (alert,) = final(run(build(sail(BOAT, legs)))).values()
    assert any("not under command" in r for r in alert.reasons)


def test_an_hour_is_needed() -> None:
    assert run(adrift(drift_hours=0.8)) == []


def test_a_vessel_at_anchor_is_not_drifting() -> None:
    assert run(swinging_at_anchor(8, nav_status=1)) == []


def test_a_vessel_swinging_at_anchor_without_saying_so_is_not_drifting() -> None:
    assert run(swinging_at_anchor(8, nav_status=0)) == []


def test_moored_fishing_sailing_or_in_an_anchorage_is_not_drifting() -> None:
    for status in (5, 7, 8):
        assert run(adrift(nav_status=status)) == [], status
    assert run(adrift(), DetectContext(in_anchorage=lambda lat, lon: True)) == []


def test_slow_steaming_where_it_points_is_not_drifting() -> None:
    legs = [Leg(hours(4), 2.5, 200.0, course_noise=3.0)]
    assert run(build(sail(BOAT, legs))) == []


def test_a_trawler_towing_slowly_with_turns_and_no_heading_is_not_drifting() -> None:
    legs = []
    course = 30.0
    for _ in range(12):
        legs.append(Leg(minutes(20), 2.6, course, no_heading=True, course_noise=5.0))
        course = (course + 150.0) % 360
    points = build(sail(BOAT, legs), statics(BOAT, 30, hours(5)))
    assert run(points) == []


def test_a_gillnetter_lying_to_its_net_is_not_drifting_but_one_adrift_all_day_is() -> None:
    # class B: no navigational status to say whether it is fishing
    assert run(adrift(drift_hours=6.0, ship_type=30, nav_status=None)) == []
    assert len(final(run(adrift(drift_hours=9.0, ship_type=30, nav_status=None)))) == 1


def test_a_fishing_vessel_saying_it_is_under_way_is_drifting_like_any_other() -> None:
    assert len(final(run(adrift(drift_hours=3.0, ship_type=30, nav_status=0)))) == 1


def test_reception_gaps_do_not_break_a_drift() -> None:
    legs = [Leg(hours(0.5), 8.0, 100.0)]
    for _ in range(4):  # heard in satellite passes: ten minutes in the hour
        legs.append(Leg(minutes(10), 1.2, 200.0, heading=290.0, course_noise=8.0))
        legs.append(Leg(minutes(50), 1.2, 200.0, heading=290.0, every_s=3000))
    (alert,) = final(run(build(sail(BOAT, legs)))).values()
    assert alert.extra["duration_h"] > 2.5


def test_a_boat_settling_on_its_mooring_without_a_heading_is_not_drifting() -> None:
    legs = [
        Leg(hours(0.5), 12.0, 330.0, no_heading=True, every_s=30),
        *(
            Leg(minutes(5), knots, 334.0, no_heading=True, every_s=30)
            for knots in (3.0, 2.6, 2.2, 1.8, 1.5, 1.2, 1.0, 0.8)
        ),
        Leg(hours(2), 0.1, 0.0, no_heading=True, every_s=180, course_noise=120.0),
    ]
    assert run(build(sail(BOAT, legs, ais_class="B"), statics(BOAT, 37, hours(4)))) == []


def test_a_trawler_heard_every_few_minutes_turning_round_is_not_drifting() -> None:
    # tows of an hour and of 40 minutes back and forth, heard every 5 or 10 minutes, no heading,
    # no type: each turn-round adds 180° to few reports, so the average course change is over
    # 20°; the share of reports that change course is small
    for every_s in (300, 600):
        legs = []
        for _ in range(6):
            legs.append(
                Leg(minutes(60), 2.8, 290.0, no_heading=True, course_noise=3.0, every_s=every_s)
            )
            legs.append(
                Leg(minutes(40), 2.8, 110.0, no_heading=True, course_noise=3.0, every_s=every_s)
            )
        assert run(build(sail(BOAT, legs))) == [], every_s


def test_a_class_b_boat_of_unknown_type_may_be_lying_to_its_nets() -> None:
    def lying_to_nets(drift_hours: float, ship_type: int | None) -> list:
        legs = [
            Leg(hours(1), 8.0, 100.0, nav_status=None),
            Leg(hours(drift_hours), 1.2, 200.0, heading=290.0, course_noise=8.0, nav_status=None),
            Leg(hours(1), 8.0, 100.0, nav_status=None),
        ]
        types = [statics(BOAT, ship_type, hours(drift_hours + 2))] if ship_type else []
        return build(sail(BOAT, legs, ais_class="B"), *types)

    assert run(lying_to_nets(3.0, None)) == []  # its type not heard: maybe a gillnetter
    assert len(final(run(lying_to_nets(3.0, 70)))) == 1  # a cargo ship is adrift
    assert len(final(run(lying_to_nets(9.0, None)))) == 1  # nobody lies to a net all day
