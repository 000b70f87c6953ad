"""ais_gap: going dark is alerted; reception holes, berths, glimpses and ferries are not."""

from __future__ import annotations

from anomaly.context import DetectContext
from anomaly.detectors.gap import GapDetector
from anomaly.records import AlertType, Severity
from ingest.records import PositionReport
from tests.detect_builders import (
    BAY,
    Leg,
    Runner,
    build,
    final,
    hours,
    minutes,
    sail,
    signature,
    silence,
    statics,
)
from tests.track_builders import ms, toward

TARGET = 405_000_001
HOURS = 12


def neighbours(
    count: int = 8,
    hours_: float = HOURS,
    every_s: float = 60.0,
    around: tuple[float, float] = BAY,
    first_mmsi: int = 419_000_100,
) -> list[list[PositionReport]]:
    """Vessels crossing slowly within about 20 km of `around`, reporting all along."""
    fleet = []
    for i in range(count):
        start = toward(*around, i * 360 / count, 15_000)
        course = (i * 360 / count + 150) % 360
        legs = [Leg(hours(hours_), 1.5, course, every_s=every_s)]
        fleet.append(sail(first_mmsi + i, legs, start=start))
    return fleet


def dark_vessel(off_s: float, on_s: float, knots: float = 4.0) -> list[PositionReport]:
    reports = sail(TARGET, [Leg(hours(HOURS), knots, 45.0)])
    return silence(reports, off_s, on_s)


def run(points, context: DetectContext | None = None, advance_every_s: float = 60.0):
    return Runner(GapDetector(context=context), advance_every_s).feed(points)


def test_going_dark_among_vessels_still_heard_is_alerted_then_closed_with_figures() -> None:
    others = neighbours()
    points = build(dark_vessel(hours(2), hours(9.2)), statics(TARGET, 30), *others)
    alerts = run(points)
    gaps = [a for a in alerts if a.type == AlertType.AIS_GAP]
    assert [a.revision for a in gaps] == [1, 2]
    opened, closed = gaps
    assert opened.id == closed.id and opened.mmsi == TARGET
    assert opened.end is None and closed.end is not None
    assert opened.detected_at - opened.start == ms(hours(6)) - ms(0)  # open-sea threshold
    assert opened.severity == Severity.MEDIUM
    assert "Silent for 6.0 h" in opened.reasons[0] and "every 10 s" in opened.reasons[0]
    assert "kept being heard" in opened.reasons[1]
    assert "reappeared" in closed.reasons[0] and "implied 4.0 kn" in closed.reasons[0]
    assert closed.extra["silence_h"] == 7.2
    assert 50 < closed.extra["distance_km"] < 55  # 4 kn for 7.2 h
    assert closed.evidence is not None and closed.evidence["type"] == "LineString"
    assert closed.vessel.ship_type == 30


def test_a_coverage_hole_where_everyone_falls_silent_is_not_going_dark() -> None:
    others = [silence(r, hours(2), hours(9.2)) for r in neighbours()]
    points = build(dark_vessel(hours(2), hours(9.2)), *others)
    assert [a for a in run(points) if a.type == AlertType.AIS_GAP] == []


def test_a_receiver_failing_for_most_vessels_is_not_going_dark() -> None:
    fleet = neighbours(count=10)
    others = [silence(r, hours(2) + 30 * i, hours(9)) for i, r in enumerate(fleet[:8])]
    points = build(dark_vessel(hours(2), hours(9.2)), *others, *fleet[8:])
    assert run(points) == []


def test_a_silence_shorter_than_the_open_sea_threshold_is_not_alerted() -> None:
    points = build(dark_vessel(hours(2), hours(7.5)), *neighbours())
    assert run(points) == []


def test_in_a_watch_area_two_hours_are_enough() -> None:
    context = DetectContext(in_watch_area=lambda lat, lon: True)
    points = build(dark_vessel(hours(2), hours(5)), *neighbours())
    alerts = final(run(points, context))
    (gap,) = alerts.values()
    assert gap.detected_at - gap.start == 2 * 3_600_000
    assert gap.severity == Severity.HIGH and "watch area" in gap.reasons[2]


def test_a_vessel_glimpsed_a_few_times_does_not_go_dark() -> None:
    reports = dark_vessel(hours(2), hours(10))
    glimpses = [r for r in reports if r.ts < ms(hours(2))][-5:]  # five reports, then nothing
    points = build(glimpses, reports[-10:], *neighbours())
    assert run(points) == []


def test_a_ferry_that_switches_off_at_its_berth_every_night_is_not_a_gap() -> None:
    ferry = 405_000_777
    port_a, port_b = BAY, toward(*BAY, 90.0, 40_000)
    reports: list[PositionReport] = []
    t = 0.0
    for day in range(3):
        # a day of crossings, moored between them, then switched off overnight at port A
        for crossing in range(4):
            origin, target = (port_a, port_b) if crossing % 2 == 0 else (port_b, port_a)
            course = 90.0 if crossing % 2 == 0 else 270.0
            leg = sail(ferry, [Leg(hours(1.2), 18.0, course)], start=origin, t0_s=t, seed=day)
            moored = sail(
                ferry,
                [Leg(minutes(48), 0.0, course, nav_status=5, every_s=180)],
                start=target,
                t0_s=t + hours(1.2),
                seed=day,
            )
            reports += leg + moored
            t += hours(2)
        t += hours(10)  # off at the berth
    points = build(reports, statics(ferry, 60, t), *neighbours(hours_=t / 3600))
    assert [a for a in run(points) if a.mmsi == ferry] == []


def test_a_vessel_that_always_switches_off_at_the_same_place_is_not_alerted_again() -> None:
    boat = 405_000_888
    reports: list[PositionReport] = []
    for night in range(3):
        t0 = night * hours(20)
        day = sail(boat, [Leg(hours(4), 0.0, 0.0, nav_status=0, every_s=30)], t0_s=t0, seed=night)
        reports += day
    points = build(reports, *neighbours(hours_=60))
    gaps = final(run(points)).values()
    assert len(gaps) == 1  # the first night is unexplained; then it is a habit


def test_a_port_or_anchorage_is_where_vessels_switch_off() -> None:
    near_shore = DetectContext(distance_to_shore_nm=lambda lat, lon: 0.5)
    stationary = sail(TARGET, [Leg(hours(2), 0.0, 0.0, nav_status=0, every_s=30)])
    points = build(stationary, sail(TARGET, [Leg(minutes(5), 0.0)], t0_s=hours(10)), *neighbours())
    assert run(points, near_shore) == []
    in_anchorage = DetectContext(in_anchorage=lambda lat, lon: True)
    assert run(points, in_anchorage) == []
    assert len(final(run(points))) == 1  # far from shore and no anchorage: alerted


COASTAL = DetectContext(distance_to_shore_nm=lambda lat, lon: 30.0)  # coastal stations only


def test_sailing_out_of_reception_is_not_going_dark() -> None:
    # Others are heard only around the start; the vessel steams east at 12 kn and vanishes
    # 30 nm out, where nobody has ever been heard, in a feed of coastal stations.
    runner = sail(TARGET, [Leg(hours(2.5), 12.0, 90.0), Leg(hours(9), 12.0, 90.0)])
    points = build(silence(runner, hours(2.5), hours(24)), *neighbours())
    assert run(points, COASTAL) == []


def test_with_satellite_reception_the_open_sea_has_no_edge() -> None:
    runner = sail(TARGET, [Leg(hours(2.5), 12.0, 90.0), Leg(hours(9), 12.0, 90.0)])
    ahead = toward(*BAY, 90.0, 12.0 * 1852 * 6)
    earlier = sail(419_000_300, [Leg(hours(3), 10.0, 0.0, every_s=120)], start=ahead)
    points = build(silence(runner, hours(2.5), hours(24)), *neighbours(), earlier)
    (gap,) = final(run(points)).values()  # no coastline known: everyone is far out
    assert gap.extra["reception"] == "unknown" and gap.score < 0.5


def test_sailing_off_the_edge_of_the_data_is_not_going_dark() -> None:
    runner = sail(TARGET, [Leg(hours(2.5), 12.0, 90.0), Leg(hours(9), 12.0, 90.0)])
    points = build(silence(runner, hours(2.5), hours(24)), *neighbours())
    assert run(points) == []  # nobody has been heard where it was heading


def test_a_vessel_whose_course_runs_ashore_made_port() -> None:
    runner = sail(TARGET, [Leg(hours(2.5), 12.0, 90.0), Leg(hours(9), 12.0, 90.0)])
    points = build(silence(runner, hours(2.5), hours(24)), *neighbours())
    land_ahead = DetectContext(distance_to_shore_nm=lambda lat, lon: 0.0 if lon > 89.9 else 40.0)
    assert run(points, land_ahead) == []


def test_steaming_on_into_waters_where_others_are_heard_but_not_it_is_alerted() -> None:
    ahead = toward(*BAY, 90.0, 12.0 * 1852 * 5)  # where it would be 3 h into its silence
    runner = sail(TARGET, [Leg(hours(2), 12.0, 90.0), Leg(hours(9), 12.0, 90.0)])
    points = build(
        silence(runner, hours(2), hours(24)),
        *neighbours(),
        *neighbours(count=4, around=ahead, first_mmsi=419_000_200),
    )
    (gap,) = final(run(points)).values()
    assert gap.extra["reception"] == "received" and gap.end is None


def test_the_decision_does_not_depend_on_when_time_is_advanced() -> None:
    points = build(dark_vessel(hours(2), hours(9.2)), *neighbours())
    often = run(points, advance_every_s=60)
    # Advancing only at the end: the vessel reappears before the gap is due for a decision.
    rarely = run(points, advance_every_s=hours(48))
    assert signature(often) == signature(rarely)
    assert len(often) == 2


def test_replaying_the_same_points_gives_the_same_alerts() -> None:
    points = build(dark_vessel(hours(2), hours(9.2)), *neighbours())
    assert signature(run(points)) == signature(run(points))


def test_patrol_and_naval_vessels_switching_off_on_duty_are_not_alerted() -> None:
    points = build(dark_vessel(hours(2), hours(9.2)), statics(TARGET, 55), *neighbours())
    assert run(points) == []


def test_heard_only_in_satellite_passes_a_watch_area_vessel_is_judged_at_six_hours() -> None:
    watch = DetectContext(in_watch_area=lambda lat, lon: True)
    legs = []
    for _ in range(4):  # heard for ten minutes every 80: a satellite pass
        legs += [Leg(minutes(10), 4.0, 45.0), Leg(minutes(70), 4.0, 45.0, every_s=4200)]
    heard = sail(TARGET, legs)
    end = hours(4 * 80 / 60)
    back = sail(TARGET, [Leg(hours(1), 4.0, 45.0)], t0_s=end + hours(4))
    assert run(build(heard, back, *neighbours()), watch) == []  # 4 h: too short for six
    later = sail(TARGET, [Leg(hours(1), 4.0, 45.0)], t0_s=end + hours(7))
    (gap,) = final(run(build(heard, later, *neighbours()), watch)).values()
    assert gap.detected_at - gap.start == 6 * 3_600_000


def test_a_silence_must_be_long_against_the_vessels_own_interval() -> None:
    """Heard every 20 minutes on average (a class B set at the edge of a receiver's range): in
    a watch area, three hours of silence are not ten of its usual intervals; seven are."""
    watch = DetectContext(in_watch_area=lambda lat, lon: True)
    patchy = [Leg(hours(4), 1.0, 45.0, every_s=1200)]
    heard = sail(TARGET, patchy, ais_class="B")
    end = hours(4)

    def back_after(silent_h: float) -> list[PositionReport]:
        leg = [Leg(hours(1), 1.0, 45.0, every_s=1200)]
        return sail(TARGET, leg, t0_s=end + hours(silent_h), ais_class="B")

    assert run(build(heard, back_after(3), *neighbours()), watch) == []
    (gap,) = final(run(build(heard, back_after(7), *neighbours()), watch)).values()
    assert gap.detected_at - gap.start == 6 * 3_600_000  # the open-sea threshold
    # heard every 5 minutes, two hours are enough
    often = sail(TARGET, [Leg(hours(4), 1.0, 45.0, every_s=300)], ais_class="B")
    (gap,) = final(run(build(often, back_after(3), *neighbours()), watch)).values()
    assert gap.detected_at - gap.start == 2 * 3_600_000


def test_a_departure_area_is_watched_like_a_watch_area() -> None:
    context = DetectContext(in_departure_area=lambda lat, lon: True)
    points = build(dark_vessel(hours(2), hours(5)), *neighbours())
    (gap,) = final(run(points, context)).values()
    assert gap.detected_at - gap.start == 2 * 3_600_000
