"""The per-vessel track builder: order, hygiene, segments, static data, state encoding."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.records import PositionReport, StaticReport
from tests.track_builders import (
    LAT0,
    LON0,
    MMSI,
    make_report,
    make_static,
    make_track,
    ms,
    on_track,
    run,
    steady_track,
    toward,
)
from tracks.builder import TrackBuilder
from tracks.hygiene import (
    METRES_PER_NM,
    TrackSettings,
    course_change,
    distance_m,
    initial_bearing,
    speed_limit_knots,
)
from tracks.records import (
    IDENTITY_CHANGE,
    IMPOSSIBLE,
    LATE,
    NEW_SEGMENT,
    NO_POSITION,
    StaticFields,
    TrackPoint,
)
from tracks.state import StateFormatError, VesselState

NM = METRES_PER_NM


def times(points: list[TrackPoint]) -> list[float]:
    return [(p.ts - ms(0)) / 1000 for p in points]


# Geodesy and limits.


def test_distance_and_bearing_on_the_sphere() -> None:
    assert distance_m(0.0, 0.0, 1 / 60, 0.0) == pytest.approx(NM, rel=1e-3)  # a minute of arc
    assert distance_m(10.0, 179.99, 10.0, -179.99) == pytest.approx(2190, rel=1e-2)
    assert initial_bearing(0.0, 0.0, 1.0, 0.0) == pytest.approx(0.0)
    assert initial_bearing(0.0, 0.0, 0.0, 1.0) == pytest.approx(90.0)
    assert initial_bearing(0.0, 0.0, 0.0, -1.0) == pytest.approx(270.0)
    assert course_change(350.0, 10.0) == pytest.approx(20.0)
    assert course_change(10.0, 350.0) == pytest.approx(-20.0)


@pytest.mark.parametrize(
    ("mmsi_class", "ais_class", "ship_type", "limit"),
    [
        ("ship", "A", 70, 50.0),
        ("ship", None, None, 50.0),
        ("ship", "A", 40, 70.0),
        ("ship", "A", 49, 70.0),
        ("ship", "B", 37, 40.0),
        ("sar_aircraft", None, None, 600.0),
        ("aton", None, None, 5.0),
        ("coast_station", None, None, 5.0),
    ],
)
def test_speed_limit_by_class(
    mmsi_class: str, ais_class: str | None, ship_type: int | None, limit: float
) -> None:
    assert speed_limit_knots(mmsi_class, ais_class, ship_type) == limit


def test_speed_limits_are_configurable() -> None:
    fast = TrackSettings(class_b_knots=65.0)
    assert speed_limit_knots("ship", "B", None, fast) == 65.0


# Order.


def test_reports_within_the_window_come_out_sorted() -> None:
    builder = TrackBuilder()
    fixes = dict((ts, (lat, lon)) for ts, lat, lon in steady_track(8, 10.0, every_s=10))
    state = None
    emitted: list[TrackPoint] = []
    for ts in (0, 20, 10, 40, 30, 50, 70, 60):
        state, out = builder.advance(state, make_report(ts=ts, lat=fixes[ts][0], lon=fixes[ts][1]))
        emitted += out
    assert state is not None
    assert times(emitted) == [0.0]  # only the fix more than 60 s older than the newest (70 s)
    emitted += builder.flush(state)
    assert times(emitted) == [0, 10, 20, 30, 40, 50, 60, 70]
    assert all(LATE not in p.flags for p in emitted)
    assert [p.segment_id for p in emitted] == [1] * 8
    assert len(state.pending) == 0


def test_a_report_older_than_the_released_track_is_late_not_dropped() -> None:
    track = make_track(steady_track(20, 10.0, every_s=10))
    builder = TrackBuilder()
    state, emitted = None, []
    for report in track:
        state, out = builder.advance(state, report)
        emitted += out
    assert state is not None and state.released_ts == ms(120)
    straggler = make_report(ts=55, lat=LAT0 + 0.001, lon=LON0)
    state, out = builder.advance(state, straggler)
    assert len(out) == 1
    (late,) = out
    assert late.flags == (LATE,) and late.segment_id == 0
    assert (late.dt_s, late.dist_m, late.implied_sog, late.turn_rate) == (None,) * 4
    assert state.late == 1
    rest = builder.flush(state)
    assert times(on_track(emitted + rest)) == [i * 10 for i in range(20)]


def test_reports_before_the_window_closes_are_not_late_even_after_a_release() -> None:
    # Released up to 100 s; 130 s arrives after 200 s: still after the released track.
    reports = make_track([(0, LAT0, LON0), (100, LAT0, LON0), (200, LAT0, LON0)])
    reports.append(make_report(ts=130, lat=LAT0, lon=LON0 + 0.0001))
    state, points = run(reports)
    assert times(points) == [0, 100, 130, 200]
    assert state.late == 0


def test_the_reorder_buffer_is_bounded() -> None:
    limit = TrackSettings(max_pending=4)
    reports = make_track((t, LAT0, LON0 + t * 1e-5) for t in range(10))  # 1 s apart
    builder = TrackBuilder(limit)
    state = None
    for report in reports:
        state, _ = builder.advance(state, report)
        assert state is not None and len(state.pending) <= 4


# Duplicates.


def test_a_copy_from_another_receiver_is_dropped_and_counted() -> None:
    track = make_track(steady_track(10, 10.0))
    copies = [track[3]._replace(source="other", rx_ts=track[3].rx_ts + 400)]
    state, points = run(track[:5] + copies + track[5:])
    assert len(points) == 10
    assert state.duplicates == 1


def test_a_copy_arriving_after_release_is_dropped_not_late() -> None:
    track = make_track(steady_track(30, 10.0))
    state, points = run([*track, track[2]._replace(source="satellite")])
    assert state.duplicates == 1 and state.late == 0
    assert len(points) == 30


def test_a_copy_of_an_off_track_report_is_dropped() -> None:
    track = make_track([(0, LAT0, LON0), (10, LAT0 + 1, LON0), (200, LAT0, LON0)])
    state, points = run([*track, track[1]])
    assert state.impossible == 1 and state.duplicates == 1
    assert len(points) == 3


def test_same_time_and_place_is_a_duplicate_whatever_the_other_fields() -> None:
    first = make_report(ts=0, sog=10.0)
    state, points = run([first, first._replace(sog=10.1, source="rx2")])
    assert len(points) == 1 and state.duplicates == 1


# Hygiene.


def test_an_impossible_jump_is_flagged_and_kept_off_the_track() -> None:
    fixes = steady_track(6, 12.0, every_s=30)
    jump = (75.0, LAT0 + 0.5, LON0)  # 55 km in 15 s
    state, points = run(make_track([*fixes[:3], jump, *fixes[3:]]))
    bad = [p for p in points if IMPOSSIBLE in p.flags]
    assert [(p.lat, p.segment_id) for p in bad] == [(LAT0 + 0.5, 0)]
    good = on_track(points)
    assert len(good) == 6 and state.impossible == 1
    after = good[3]  # compared with the last good fix, 30 s before, not with the jump
    assert after.dt_s == 30.0
    assert after.implied_sog == pytest.approx(12.0, rel=1e-3)
    assert after.segment_id == 1 and after.flags == ()


def test_a_jump_at_the_same_time_is_impossible_but_scatter_is_not() -> None:
    near = toward(LAT0, LON0, 0.0, 30.0)
    far = toward(LAT0, LON0, 0.0, 500.0)
    reports = make_track([(0, LAT0, LON0), (0, *near), (0, *far)])
    _, points = run(reports)
    assert [p.flags for p in points] == [(NEW_SEGMENT,), (), (IMPOSSIBLE,)]
    assert points[1].dt_s == 0.0 and points[1].implied_sog is None


def test_the_track_recovers_when_the_last_good_fix_was_the_outlier() -> None:
    null_island = make_report(ts=0, lat=0.0, lon=0.0)
    real = make_track(steady_track(5, 10.0, every_s=10, t0_s=10))
    _, points = run([null_island, *real])
    assert [p.segment_id for p in points] == [1, 0, 0, 2, 2, 2]
    restart = points[3]
    assert restart.flags == (NEW_SEGMENT,)
    assert (restart.dt_s, restart.dist_m, restart.implied_sog) == (None, None, None)
    assert points[4].implied_sog == pytest.approx(10.0, rel=1e-3)


def test_two_transmitters_sharing_an_mmsi_do_not_flip_the_track() -> None:
    here = steady_track(10, 8.0, every_s=20)
    there = steady_track(10, 8.0, every_s=20, start=(LAT0 + 2, LON0), t0_s=10)
    mixed = sorted([*here, *there])
    state, points = run(make_track(mixed))
    assert {p.lat for p in on_track(points)} == {lat for _, lat, _ in here}
    assert state.impossible == 10 and state.segment_id == 1


def test_recovery_can_be_switched_off() -> None:
    reports = [make_report(ts=0, lat=0.0, lon=0.0), *make_track(steady_track(6, 10.0, t0_s=10))]
    state, points = run(reports, TrackSettings(recover_after=0))
    assert state.impossible == 6 and len(on_track(points)) == 1


@pytest.mark.parametrize(
    ("mmsi_class", "ais_class", "knots", "ok"),
    [
        ("sar_aircraft", None, 300.0, True),
        ("ship", "B", 60.0, False),
        ("ship", "B", 35.0, True),
        ("ship", "A", 45.0, True),
        ("ship", "A", 55.0, False),
        ("aton", None, 8.0, False),
    ],
)
def test_class_limits(mmsi_class: str, ais_class: str | None, knots: float, ok: bool) -> None:
    fixes = steady_track(4, knots, every_s=60)
    reports = make_track(fixes, mmsi_class=mmsi_class, ais_class=ais_class)
    state, points = run(reports, TrackSettings(recover_after=0))
    assert (state.impossible == 0) is ok
    assert len(on_track(points)) == (4 if ok else 1)


def test_high_speed_craft_may_go_faster_once_its_ship_type_is_known() -> None:
    fixes = make_track(steady_track(4, 65.0, every_s=60, t0_s=1))
    state, points = run([make_static(ts=0, ship_type=40), *fixes])
    assert state.impossible == 0
    assert points[-1].static.ship_type == 40


def test_a_report_without_position_is_kept_off_the_track_in_time_order() -> None:
    fixes = steady_track(3, 10.0, every_s=30)
    reports = make_track([fixes[0], (15, None, None), fixes[1], fixes[2]])
    state, points = run(reports)
    assert times(points) == [0, 15, 30, 60]
    assert points[1].flags == (NO_POSITION,) and points[1].segment_id == 0
    assert points[2].dt_s == 30.0  # measured from the fix before, not the blank report
    assert state.no_position == 1


def test_kinematics_of_a_steady_turn() -> None:
    # Legs of 10 kn, 60 s each, bearing 10 degrees further to starboard each leg.
    lat, lon = LAT0, LON0
    fixes = [(0.0, lat, lon)]
    for i in range(1, 5):
        lat, lon = toward(lat, lon, 90.0 + 10.0 * i, 10 * NM / 60)
        fixes.append((60.0 * i, lat, lon))
    _, points = run(make_track(fixes))
    assert points[0].turn_rate is None and points[1].turn_rate is None
    for p in points[2:]:
        assert p.turn_rate == pytest.approx(10.0, abs=0.05)
        assert p.dist_m == pytest.approx(10 * NM / 60, rel=1e-4)
        assert p.implied_sog == pytest.approx(10.0, rel=1e-4)
        assert p.dt_s == 60.0


def test_no_turn_rate_from_legs_inside_gps_scatter() -> None:
    drifting = [(t * 60.0, LAT0 + t * 1e-5, LON0) for t in range(4)]  # 1 m a minute
    _, points = run(make_track(drifting))
    assert [p.turn_rate for p in points] == [None] * 4


# Segments.


def test_a_long_silence_starts_a_new_segment() -> None:
    before = steady_track(3, 5.0, every_s=60)
    after = steady_track(3, 5.0, every_s=60, start=before[-1][1:], t0_s=120 + 7201)
    state, points = run(make_track(before + after))
    assert [p.segment_id for p in points] == [1, 1, 1, 2, 2, 2]
    first = points[3]
    assert first.flags == (NEW_SEGMENT,) and first.dt_s == 7201.0
    assert points[4].flags == ()
    assert state.segment_start == ms(120 + 7201)


def test_a_silence_of_exactly_the_gap_keeps_the_segment() -> None:
    _, points = run(make_track([(0, LAT0, LON0), (7200, LAT0, LON0)]))
    assert [p.segment_id for p in points] == [1, 1]


def test_an_identity_change_starts_a_new_segment() -> None:
    fixes = make_track(steady_track(6, 10.0, every_s=10, t0_s=1))
    reports: list[PositionReport | StaticReport] = [
        make_static(ts=0, name="SEA STAR", callsign="IABC", imo=9_000_001),
        *fixes[:3],
        make_static(ts=25, name="NEW NAME", callsign="IABC"),
        *fixes[3:],
    ]
    state, points = run(reports)
    assert [p.segment_id for p in points] == [1, 1, 1, 2, 2, 2]
    assert points[3].flags == (NEW_SEGMENT, IDENTITY_CHANGE)
    assert points[3].dt_s == 10.0  # same transmitter: kinematics still measured
    assert state.identity_ts is None
    assert points[-1].static.name == "NEW NAME"


def test_identity_change_applies_in_event_time_to_reordered_points() -> None:
    fixes = make_track(steady_track(4, 10.0, every_s=10))
    reports: list[PositionReport | StaticReport] = [
        make_static(ts=0, name="A"),
        fixes[0],
        fixes[1],
        make_static(ts=25, name="B"),
        fixes[3],
        fixes[2],  # 20 s: before the change, arrives after it
    ]
    _, points = run(reports)
    assert times(points) == [0, 10, 20, 30]
    assert [IDENTITY_CHANGE in p.flags for p in points] == [False, False, False, True]


def test_learning_a_first_name_is_not_an_identity_change() -> None:
    state, points = run([make_report(ts=0), make_static(ts=5, name="ONE"), make_report(ts=10)])
    assert state.identity_ts is None
    assert [p.segment_id for p in points] == [1, 1]


# Static data.


def test_static_reports_merge_and_never_forget() -> None:
    builder = TrackBuilder()
    state, out = builder.advance(None, make_static(name="SEA STAR", ship_type=70, to_bow=100))
    assert out == []
    state, out = builder.advance(state, make_static(ts=1, callsign="IABC", destination="GENOA"))
    assert out == []
    state, _ = builder.advance(state, make_static(ts=2, name=None, draught=7.5))
    assert state.static == StaticFields(
        name="SEA STAR",
        callsign="IABC",
        ship_type=70,
        to_bow=100,
        draught=7.5,
        destination="GENOA",
    )
    state, _ = builder.advance(state, make_report(ts=3))
    (point,) = builder.flush(state)
    assert point.static is state.static


def test_a_report_for_another_vessel_is_refused() -> None:
    builder = TrackBuilder()
    state, _ = builder.advance(None, make_report(mmsi=1))
    with pytest.raises(ValueError, match="MMSI 2"):
        builder.advance(state, make_report(mmsi=2))


# Flush and eviction.


def test_flush_releases_everything_in_order_and_the_state_goes_on() -> None:
    builder = TrackBuilder()
    state = None
    for ts in (30, 10, 20):
        state, out = builder.advance(state, make_report(ts=ts, lon=LON0 + ts * 1e-4))
        assert out == []
    assert state is not None
    assert times(builder.flush(state)) == [10, 20, 30]
    assert builder.flush(state) == []
    state, out = builder.advance(state, make_report(ts=25, lon=LON0 + 0.1))
    assert [p.flags for p in out] == [(LATE,)]


def test_idle_vessels_can_be_evicted() -> None:
    builder = TrackBuilder(TrackSettings(evict_after_s=600))
    state, _ = builder.advance(None, make_report(ts=0))
    assert not builder.is_idle(state, ms(600))
    assert builder.is_idle(state, ms(601))


# State encoding.


def test_the_recent_points_are_bounded_by_count_and_time() -> None:
    state, _ = run(make_track(steady_track(50, 1.0, every_s=10)))
    assert len(state.recent_points()) == 32
    state, _ = run(make_track(steady_track(10, 1.0, every_s=1800)))
    assert [p[0] for p in state.recent_points()] == [
        ms(s) for s in (9000, 10800, 12600, 14400, 16200)
    ]
    last = state.recent_points()[-1]
    assert last[3:] == (10.0, 90.0)


def test_state_round_trips_with_sog_and_cog_unavailable() -> None:
    reports = make_track(steady_track(10, 3.0), sog=None, cog=None)
    state, _ = run(reports, flush=False)
    again = VesselState.from_bytes(state.to_bytes())
    assert again == state
    assert again.pending and again.recent_points()[-1][3:] == (None, None)


@pytest.mark.parametrize("blob", [b"", b"\x09garbage", b"\x01\x00\x00\x00\x00\x00\x00\x00\x00[1"])
def test_unreadable_state_bytes_raise_a_typed_error(blob: bytes) -> None:
    with pytest.raises(StateFormatError):
        VesselState.from_bytes(blob)


# Properties.

CLASSES = [("ship", "A"), ("ship", "B"), ("sar_aircraft", None), ("aton", None)]


@dataclass(frozen=True)
class Scenario:
    reports: list[PositionReport | StaticReport]
    positions: list[PositionReport]
    jitter_s: float  # how far a report may be displaced from its time order, either way


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """One vessel: a random walk below its class limit with jumps, blanks, stationary
    stretches, renames and copies, delivered in a shuffled order."""
    mmsi_class, ais_class = draw(st.sampled_from(CLASSES))
    limit = speed_limit_knots(mmsi_class, ais_class, None)
    lat = draw(st.floats(-80, 80))
    lon = draw(st.floats(-180, 180))
    t = 0.0
    made: list[tuple[float, PositionReport | StaticReport]] = []
    for _ in range(draw(st.integers(1, 40))):
        t += draw(st.sampled_from([0, 1, 2, 10, 30, 60, 300, 3600, 9000]))
        step = draw(st.sampled_from(["walk", "walk", "walk", "still", "jump", "blank", "rename"]))
        if step == "rename":
            made.append((t, make_static(ts=t, name=draw(st.sampled_from(["A", "B", None])))))
            continue
        if step == "jump":
            lat, lon = toward(lat, lon, draw(st.floats(0, 360)), draw(st.floats(2e4, 2e6)))
        elif step == "walk" and made:
            speed = draw(st.floats(0, 0.95)) * limit * METRES_PER_NM / 3600.0
            lat, lon = toward(lat, lon, draw(st.floats(0, 360)), speed * (t - made[-1][0]))
        fix = (None, None) if step == "blank" else (lat, lon)
        report = make_report(
            ts=t, lat=fix[0], lon=fix[1], mmsi_class=mmsi_class, ais_class=ais_class
        )
        made.append((t, report))
    positions = [r for _, r in made if isinstance(r, PositionReport)]
    for original in draw(st.lists(st.sampled_from(positions), max_size=5)) if positions else []:
        made.append((original.ts / 1000 - ms(0) / 1000, original._replace(source="rx2")))
    jitter = draw(st.sampled_from([0.0, 30.0, 120.0, 7200.0]))
    noise = draw(st.lists(st.floats(-jitter, jitter), min_size=len(made), max_size=len(made)))
    order = sorted(range(len(made)), key=lambda i: made[i][0] + noise[i])
    reports = [made[i][1] for i in order]
    return Scenario(reports, [r for r in reports if isinstance(r, PositionReport)], jitter)


def key(report: PositionReport | TrackPoint) -> tuple[int, float | None, float | None]:
    return report.ts, report.lat, report.lon


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_track_is_physical_ordered_and_complete(scenario: Scenario) -> None:
    floor = TrackSettings().noise_floor_m
    state, points = run(scenario.reports)
    track = on_track(points)
    for p in track:
        limit = speed_limit_knots(p.mmsi_class, p.ais_class, p.static.ship_type)
        assert p.implied_sog is None or p.implied_sog <= limit or (p.dist_m or 0) <= floor
    assert [p.ts for p in track] == sorted(p.ts for p in track)
    released = [p.ts for p in points if LATE not in p.flags]
    assert released == sorted(released)
    if 2 * scenario.jitter_s <= TrackSettings().reorder_window_s:
        assert state.late == 0  # disorder within the window is always repaired
    assert [p.segment_id for p in track] == sorted(p.segment_id for p in track)
    assert all(
        (NEW_SEGMENT in p.flags) == (p.segment_id != q.segment_id) for q, p in pairwise(track)
    )
    sent = Counter(key(r) for r in scenario.positions)
    emitted = Counter(key(p) for p in points)
    assert set(emitted) == set(sent)
    assert all(emitted[k] <= n for k, n in sent.items())
    assert sum(emitted.values()) + state.duplicates == len(scenario.positions)
    counted = state.points + state.impossible + state.late + state.no_position
    assert counted == len(points)


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_a_restart_from_saved_state_changes_nothing(
    scenario: Scenario, data: st.DataObject
) -> None:
    """What crash safety rests on: state saved after any report and loaded again continues
    exactly as the state that stayed in memory."""
    builder = TrackBuilder()
    kept: VesselState | None = None
    reloaded: VesselState | None = None
    for report in scenario.reports:
        kept, out_kept = builder.advance(kept, report)
        if data.draw(st.booleans()) and reloaded is not None:
            reloaded = VesselState.from_bytes(reloaded.to_bytes())
            assert reloaded == VesselState.from_bytes(reloaded.to_bytes())
        reloaded, out_reloaded = builder.advance(reloaded, report)
        assert out_kept == out_reloaded
        assert VesselState.from_bytes(kept.to_bytes()) == kept
    assert kept == reloaded


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


finite = st.floats(allow_nan=False, allow_infinity=False)

any_static = st.builds(
    StaticFields,
    *[optional(st.text(max_size=20))] * 2,
    *[optional(st.integers(0, 2**30))] * 6,
    optional(finite),
    optional(st.text(max_size=20)),
)

any_report = st.builds(
    PositionReport,
    mmsi=st.just(MMSI),
    ts=st.integers(0, 2**50),
    lat=optional(st.floats(-90, 90)),
    lon=optional(st.floats(-180, 180)),
    sog=optional(finite),
    cog=optional(finite),
    heading=optional(st.integers(0, 511)),
    nav_status=optional(st.integers(0, 15)),
    rot=optional(finite),
    accuracy=optional(st.booleans()),
    msg_type=optional(st.integers(1, 27)),
    ais_class=st.sampled_from(["A", "B", None]),
    mmsi_class=st.sampled_from(["ship", "sar_aircraft", "aton"]),
    flag=optional(st.sampled_from(["IT", "MT"])),
    source=st.sampled_from(["rx1", "rx2"]),
    rx_ts=st.integers(0, 2**50),
)


@given(
    any_static,
    st.lists(st.tuples(st.integers(0, 2**50), st.floats(-90, 90), st.floats(-180, 180))),
    st.lists(any_report, max_size=20),
    st.tuples(optional(finite), optional(finite)),
    st.integers(0, 2**40),
)
def test_any_state_round_trips_exactly(
    static: StaticFields,
    fixes: list[tuple[int, float, float]],
    held: list[PositionReport],
    sog_cog: tuple[float | None, float | None],
    counter: int,
) -> None:
    state = VesselState(MMSI)
    state.static = static
    state.late = counter
    state.rejected = fixes[0] if fixes else None
    for ts, lat, lon in fixes:
        state.remember_fix((ts, lat, lon, *sog_cog), 32, 2**62)
        state.remember_key(ts, lat, None, 8)
    for report in held:
        state.pending.hold(report)
    again = VesselState.from_bytes(state.to_bytes())
    assert again == state
    assert again.recent_points() == state.recent_points()
    assert again.pending.reports(MMSI) == sorted(held, key=lambda r: r.ts)
