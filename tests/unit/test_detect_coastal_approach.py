"""coastal_approach: a vessel from the open sea heading for a coast outside any port."""

from __future__ import annotations

import time

import pytest

from anomaly.detectors.base import RuleConfig
from anomaly.detectors.coastal_approach import CoastalApproachDetector
from anomaly.geo import Geography
from anomaly.records import AlertType, Severity, alert_id
from tests.geo_builders import (
    OFF_KHAO_LAK,
    OPEN_BAY,
    SABANG_NORTH,
    feed,
    final,
    geography,
    line,
    vessel_points,
)
from tracks.records import TrackPoint

MMSI = 506_200_002


@pytest.fixture(scope="module")
def geo() -> Geography:
    return geography()


def test_heading_for_the_thai_coast(geo: Geography) -> None:
    fixes = line(OFF_KHAO_LAK, 6.0, 90.0, 7.0, every_s=30)  # 42 nm: reaches the coast
    points = vessel_points(MMSI, fixes, 6.0, 90.0, ship_type=30)
    alerts = feed(CoastalApproachDetector(geo=geo), points)
    assert len(final(alerts)) == 1
    first, last = alerts[0], alerts[-1]
    assert first.type is AlertType.COASTAL_APPROACH and first.revision == 1
    assert first.severity is Severity.HIGH  # a destination coast
    assert first.extra["coast_country"] == "TH"
    assert first.extra["destination_coasts"] == ["dest-th-andaman"]
    assert first.extra["time_to_landfall_min"] <= 180
    assert first.id == alert_id(AlertType.COASTAL_APPROACH, [MMSI], first.start)
    assert "Thailand" in first.reasons[0] and "Landfall in" in first.reasons[1]
    # revised as it closes in, ended when it reaches the coast
    assert last.revision > 1 and last.end is not None
    assert "Reached the coast" in last.reasons[-1]
    assert first.evidence is not None and first.evidence["coordinates"][-1] == pytest.approx(
        first.extra["landfall"], abs=1e-4
    )


def test_hard_negatives(geo: Geography) -> None:
    detector = CoastalApproachDetector(geo=geo)
    # heading into Sabang port, from the north
    into_port = vessel_points(MMSI, line(SABANG_NORTH, 8.0, 180.0, 3.0, every_s=30), 8.0, 180.0)
    assert feed(detector, into_port) == []
    # running parallel to the Thai coast
    along = vessel_points(MMSI + 1, line((8.0, 97.95), 8.0, 0.0, 4.0, every_s=30), 8.0, 0.0)
    assert feed(detector, along) == []
    # coastal traffic that never was offshore: along the Cox's Bazar beach, then in
    start = (21.3, 91.88)
    assert geo.distance_to_shore_nm(*start) < 9.0
    coastal = vessel_points(MMSI + 2, line(start, 6.0, 80.0, 2.0, every_s=30), 6.0, 80.0)
    assert feed(detector, coastal) == []
    # drifting toward the coast, too slow to be approaching it
    slow = vessel_points(MMSI + 3, line(OFF_KHAO_LAK, 1.0, 90.0, 12.0, every_s=60), 1.0, 90.0)
    assert feed(detector, slow) == []
    # open sea, no land within the horizon
    far = vessel_points(MMSI + 4, line(OPEN_BAY, 8.0, 0.0, 4.0, every_s=30), 8.0, 0.0)
    assert feed(detector, far) == []
    # a pilot boat (special craft) is ignored
    pilot = vessel_points(
        MMSI + 5, line(OFF_KHAO_LAK, 6.0, 90.0, 7.0, every_s=30), 6.0, 90.0, ship_type=50
    )
    assert feed(detector, pilot) == []


def test_turning_away_ends_the_episode(geo: Geography) -> None:
    toward_coast = line(OFF_KHAO_LAK, 6.0, 90.0, 4.5, every_s=30)
    end = toward_coast[-1]
    away = line((end[1], end[2]), 6.0, 270.0, 2.0, every_s=30, t0_s=end[0] + 30)
    points = vessel_points(MMSI, toward_coast, 6.0, 90.0)
    points += [p._replace(cog=270.0) for p in vessel_points(MMSI, away, 6.0, 270.0)]
    # the two runs are one vessel: renumber the second run's segment after the first
    alerts = feed(CoastalApproachDetector(geo=geo), points)
    closed = alerts[-1]
    assert closed.end is not None and "No longer heading" in closed.reasons[-1]
    assert len(final(alerts)) == 1


def test_a_short_run_toward_the_coast_is_not_an_approach(geo: Geography) -> None:
    # within 3 h of landfall after about 3.3 h; a turn 25 min later (a hop between dive
    # sites, a lane's bend) is not an approach; the same run held 45 min longer is
    def run(hours: float) -> list[TrackPoint]:
        toward_coast = line(OFF_KHAO_LAK, 6.0, 90.0, hours, every_s=60)
        end = toward_coast[-1]
        away = line((end[1], end[2]), 6.0, 270.0, 2.0, every_s=60, t0_s=end[0] + 60)
        points = vessel_points(MMSI, toward_coast, 6.0, 90.0, ship_type=0)
        return points + vessel_points(MMSI, away, 6.0, 270.0, ship_type=0)

    assert feed(CoastalApproachDetector(geo=geo), run(3.75)) == []
    assert len(final(feed(CoastalApproachDetector(geo=geo), run(4.5)))) == 1


def test_a_fishing_vessel_at_trawling_speed_is_not_approaching(geo: Geography) -> None:
    # 3.5 kn toward the Thai coast for 10.5 h: within 3 h of landfall for the last 2.5 h
    fixes = line(OFF_KHAO_LAK, 3.5, 90.0, 10.5, every_s=60)
    trawler = vessel_points(MMSI, fixes, 3.5, 90.0, ship_type=30)
    assert feed(CoastalApproachDetector(geo=geo), trawler) == []
    # the same run by a boat that does not say it is fishing is an approach
    unknown = vessel_points(MMSI + 1, fixes, 3.5, 90.0, ship_type=0)
    assert len(final(feed(CoastalApproachDetector(geo=geo), unknown))) == 1
    # and so is a fishing boat running for the coast faster than it trawls
    fast = vessel_points(MMSI + 2, line(OFF_KHAO_LAK, 6.0, 90.0, 7.0, every_s=60), 6.0, 90.0)
    assert len(final(feed(CoastalApproachDetector(geo=geo), fast))) == 1


@pytest.mark.parametrize("ship_type", [40, 60, 70, 80, 89])
def test_ferries_and_merchant_ships_are_ignored(geo: Geography, ship_type: int) -> None:
    fixes = line(OFF_KHAO_LAK, 10.0, 90.0, 4.5, every_s=60)
    points = vessel_points(MMSI, fixes, 10.0, 90.0, ship_type=ship_type)
    assert feed(CoastalApproachDetector(geo=geo), points) == []


def test_heading_for_a_port_up_a_river_is_not_an_approach(geo: Geography) -> None:
    # from the open Bay due north for the Sundarbans coast: the landfall is some 10 nm from
    # the Mongla / Harbaria anchorage, which lies ahead up the Pussur river
    start = (21.0, 89.59)
    assert geo.distance_to_shore_nm(*start) > 12.0
    fixes = line(start, 8.0, 0.0, 5.0, every_s=60)
    points = vessel_points(MMSI, fixes, 8.0, 0.0, ship_type=30)
    assert feed(CoastalApproachDetector(geo=geo), points) == []
    # without the port-ahead cue it would be an approach to the coast
    blind = RuleConfig("coastal_approach", 1, {"port_ahead_nm": 0.0})
    assert len(final(feed(CoastalApproachDetector(blind, geo=geo), points))) == 1
    # a boat running for a beach with the port well off its bow is still approaching
    beach = vessel_points(
        MMSI + 1, line((21.0, 89.2), 8.0, 0.0, 5.0, every_s=60), 8.0, 0.0, ship_type=30
    )
    assert len(final(feed(CoastalApproachDetector(geo=geo), beach))) == 1


def test_countries_filter(geo: Geography) -> None:
    config = RuleConfig("coastal_approach", 1, {"countries": ["MY", "ID"]})
    points = vessel_points(MMSI, line(OFF_KHAO_LAK, 6.0, 90.0, 7.0, every_s=30), 6.0, 90.0)
    assert feed(CoastalApproachDetector(config, geo=geo), points) == []


def test_same_ids_when_replayed_and_after_a_restart(geo: Geography) -> None:
    points = vessel_points(MMSI, line(OFF_KHAO_LAK, 6.0, 90.0, 7.0, every_s=30), 6.0, 90.0)
    whole = feed(CoastalApproachDetector(geo=geo), points)
    again = feed(CoastalApproachDetector(geo=geo), points)
    assert whole and [a.to_dict() for a in whole] == [a.to_dict() for a in again]
    first = CoastalApproachDetector(geo=geo)
    half = len(points) * 2 // 3
    before = feed(first, points[:half])
    blob = first.state_of(MMSI)
    assert blob is not None
    second = CoastalApproachDetector(geo=geo)
    second.restore(MMSI, blob)
    after = feed(second, points[half:])
    assert [a.to_dict() for a in before + after] == [a.to_dict() for a in whole]


def test_cost_per_point(geo: Geography) -> None:
    points = vessel_points(MMSI, line(OFF_KHAO_LAK, 6.0, 90.0, 6.0, every_s=10), 6.0, 90.0)
    detector = CoastalApproachDetector(geo=geo)
    started = time.perf_counter()
    feed(detector, points)
    per_point_us = (time.perf_counter() - started) / len(points) * 1e6
    assert per_point_us < 100.0, per_point_us  # ~ 10 us here: a ray every minute near the coast
