"""zone_entry: entering a watch area raises one alert, not one per point, and never flaps."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import shapely

from anomaly.detectors.base import RuleConfig
from anomaly.detectors.zone_entry import ZoneEntryDetector
from anomaly.geo import Geography, ZoneIndex
from anomaly.geo.shore import shore
from anomaly.records import AlertType, Severity, alert_id
from tests.geo_builders import (
    CORRIDOR,
    WEST_OF_CORRIDOR,
    feed,
    final,
    geography,
    line,
    vessel_points,
)
from tests.track_builders import make_report, make_static, run, toward
from tracks.records import TrackPoint

MMSI = 506_100_001


@pytest.fixture(scope="module")
def geo() -> Geography:
    return geography()


@pytest.fixture
def box_geo(tmp_path: Path) -> Geography:
    """One square watch area, 90-91 E, 10-11 N: borders exactly where a test wants them."""
    feature = {
        "type": "Feature",
        "id": "box",
        "properties": {"id": "box", "name": "Box", "kind": "watch_area", "country": None},
        "geometry": json.loads(shapely.to_geojson(shapely.box(90.0, 10.0, 91.0, 11.0))),
    }
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "box.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    return Geography(shore(), ZoneIndex.from_config(tmp_path))


def test_entering_the_crossing_corridor(geo: Geography) -> None:
    fixes = line(WEST_OF_CORRIDOR, 8.0, 120.0, 8.0)
    points = vessel_points(MMSI, fixes, 8.0, 120.0, ship_type=30)
    alerts = feed(ZoneEntryDetector(geo=geo), points)
    assert len(alerts) == 1  # one alert on entry, not one per point inside
    alert = alerts[0]
    assert alert.type is AlertType.ZONE_ENTRY
    assert alert.areas[0] == "bob-crossing-corridor"
    assert alert.extra["entered"] == ["bob-crossing-corridor"]
    assert alert.severity is Severity.LOW
    assert alert.end is None and alert.id == alert_id(AlertType.ZONE_ENTRY, [MMSI], alert.start)
    inside = [p for p in points if p.ts >= alert.start]
    assert geo.in_watch_area(inside[0].lat or 0.0, inside[0].lon or 0.0)
    assert "Entered watch area" in alert.reasons[0] and "fishing" in alert.reasons[2]
    assert alert.evidence is not None and len(alert.evidence["coordinates"]) >= 2


def test_leaving_closes_the_episode(box_geo: Geography) -> None:
    fixes = line((10.5, 89.9), 10.0, 90.0, 14.0)  # crosses the whole box and out
    points = vessel_points(MMSI, fixes, 10.0, 90.0)
    alerts = feed(ZoneEntryDetector(geo=box_geo), points)
    assert [a.revision for a in alerts] == [1, 2]
    closed = alerts[1]
    assert closed.end is not None and closed.lon > 91.0
    assert "Left at" in closed.reasons[-1]


def test_a_vessel_on_the_border_does_not_flap(box_geo: Geography) -> None:
    # zigzag across the western border, 200 m each side, for three hours
    fixes = []
    for i in range(180):
        side = 90.0 if i % 2 else 270.0
        lat, lon = toward(10.5 + i * 0.0005, 90.0, side, 200.0)
        fixes.append((i * 60.0, lat, lon))
    points = vessel_points(MMSI, fixes, 3.0, 0.0)
    assert feed(ZoneEntryDetector(geo=box_geo), points) == []
    # and one that then goes well inside raises one alert only
    deeper = fixes + [(180 * 60.0 + i * 60, 10.6, 90.05 + i * 0.001) for i in range(30)]
    alerts = feed(ZoneEntryDetector(geo=box_geo), vessel_points(MMSI, deeper, 3.0, 90.0))
    assert len(alerts) == 1


def test_coming_back_soon_continues_the_episode(box_geo: Geography) -> None:
    out_and_back = (
        line((10.5, 90.9), 10.0, 90.0, 0.6)  # in, then out across the eastern border
        + line((10.5, 91.0 + 0.02), 10.0, 270.0, 0.3, t0_s=0.6 * 3600 + 60)  # back in
    )
    points = vessel_points(MMSI, sorted(out_and_back), 10.0, 90.0)
    detector = ZoneEntryDetector(
        RuleConfig("zone_entry", 1, {"alert_on_first_fix": True}), geo=box_geo
    )
    alerts = feed(detector, points)
    assert len(final(alerts)) == 1
    assert [a.end is None for a in alerts] == [True, False, True]


def test_hard_negatives(geo: Geography, box_geo: Geography) -> None:
    crossing = line(WEST_OF_CORRIDOR, 12.0, 120.0, 8.0)
    cargo = vessel_points(MMSI, crossing, 12.0, 120.0, ship_type=70)
    assert feed(ZoneEntryDetector(geo=geo), cargo) == []  # merchant traffic on its lane
    already_inside = vessel_points(MMSI, line(CORRIDOR, 6.0, 180.0, 2.0), 6.0, 180.0)
    assert feed(ZoneEntryDetector(geo=geo), already_inside) == []  # never entered: was there
    first_fix = ZoneEntryDetector(
        RuleConfig("zone_entry", 1, {"alert_on_first_fix": True}), geo=geo
    )
    assert len(feed(first_fix, already_inside)) == 1


def test_first_seen_inside_near_the_border_has_not_entered(box_geo: Geography) -> None:
    # first fix 200 m inside the western border (within the 500 m margin), then deeper in
    start = toward(10.5, 90.0, 90.0, 200.0)
    points = vessel_points(MMSI, line(start, 3.0, 90.0, 2.0), 3.0, 90.0)
    assert feed(ZoneEntryDetector(geo=box_geo), points) == []
    # 200 m outside instead: that is an entry
    start = toward(10.5, 90.0, 270.0, 200.0)
    points = vessel_points(MMSI, line(start, 3.0, 90.0, 2.0), 3.0, 90.0)
    assert len(feed(ZoneEntryDetector(geo=box_geo), points)) == 1


def _just_seen_and_entering(ship_type: int | None, type_at_s: float) -> list[TrackPoint]:
    """First seen 1.1 km west of the box at 10 kn due east (in 500 m inside after about 5 min);
    its static report, if any, `type_at_s` after the first fix."""
    reports: list[Any] = [
        make_report(mmsi=MMSI, ts=t, lat=lat, lon=lon, sog=10.0, cog=90.0)
        for t, lat, lon in line((10.5, 89.99), 10.0, 90.0, 1.0)
    ]
    if ship_type is not None:
        reports.append(make_static(mmsi=MMSI, ts=type_at_s, name="LATE", ship_type=ship_type))
    reports.sort(key=lambda r: r.ts)
    return [p for p in run(reports)[1] if p.lat is not None]


def test_an_entry_waits_for_the_ship_type_of_a_vessel_just_seen(box_geo: Geography) -> None:
    entry_s = 6 * 60
    # merchant traffic that told its type 8 min after it was first seen: no alert at all
    cargo = _just_seen_and_entering(70, 8 * 60)
    assert feed(ZoneEntryDetector(geo=box_geo), cargo) == []
    # a fishing vessel: the alert, held until its type came, starts at the entry
    fishing = _just_seen_and_entering(30, 8 * 60)
    alerts = feed(ZoneEntryDetector(geo=box_geo), fishing)
    assert len(alerts) == 1
    (alert,) = alerts
    assert alert.start - fishing[0].ts <= entry_s * 1000
    typed = next(p.ts for p in fishing if p.static.ship_type is not None)
    assert alert.detected_at == typed > alert.start  # held until the type came
    assert "fishing" not in alert.reasons[2]  # the type was not known on entry
    # no type ever: published when the wait is over, 10 min after the first fix
    silent = _just_seen_and_entering(None, 0)
    alerts = feed(ZoneEntryDetector(geo=box_geo), silent)
    assert len(alerts) == 1
    assert 10 * 60 * 1000 <= alerts[0].detected_at - silent[0].ts <= 11 * 60 * 1000
    waitless = ZoneEntryDetector(RuleConfig("zone_entry", 2, {"static_wait_s": 0}), geo=box_geo)
    assert len(feed(waitless, cargo)) == 1  # no waiting: the entry came before the type


def test_a_held_entry_survives_a_restart(box_geo: Geography) -> None:
    points = _just_seen_and_entering(30, 8 * 60)
    whole = feed(ZoneEntryDetector(geo=box_geo), points)
    first = ZoneEntryDetector(geo=box_geo)
    cut = next(i for i, p in enumerate(points) if p.ts - points[0].ts >= 7 * 60 * 1000)
    assert feed(first, points[:cut]) == []  # entered, held
    blob = first.state_of(MMSI)
    assert blob is not None
    second = ZoneEntryDetector(geo=box_geo)
    second.restore(MMSI, blob)
    assert [a.to_dict() for a in feed(second, points[cut:])] == [a.to_dict() for a in whole]


def test_other_kinds_can_be_watched(geo: Geography) -> None:
    config = RuleConfig("zone_entry", 1, {"kinds": ["destination_coast"]})
    fixes = line((8.6, 97.3), 8.0, 90.0, 5.0)
    alerts = feed(ZoneEntryDetector(config, geo=geo), vessel_points(MMSI, fixes, 8.0, 90.0))
    assert len(alerts) == 1 and alerts[0].areas[0] == "dest-th-andaman"
    assert alerts[0].severity is Severity.MEDIUM


def test_same_ids_when_replayed_and_after_a_restart(box_geo: Geography) -> None:
    points = vessel_points(MMSI, line((10.5, 89.9), 10.0, 90.0, 14.0), 10.0, 90.0)
    whole = feed(ZoneEntryDetector(geo=box_geo), points)
    again = feed(ZoneEntryDetector(geo=box_geo), points)
    assert [a.to_dict() for a in whole] == [a.to_dict() for a in again]
    first = ZoneEntryDetector(geo=box_geo)
    half = len(points) // 2
    before = feed(first, points[:half])
    blob = first.state_of(MMSI)
    assert blob is not None
    second = ZoneEntryDetector(geo=box_geo)
    second.restore(MMSI, blob)
    after = feed(second, points[half:])
    assert [a.to_dict() for a in before + after] == [a.to_dict() for a in whole]
    second.forget(MMSI)
    assert second.state_of(MMSI) is None


def test_cost_per_point(geo: Geography) -> None:
    points = vessel_points(MMSI, line(WEST_OF_CORRIDOR, 8.0, 120.0, 12.0, every_s=10), 8.0, 120.0)
    detector = ZoneEntryDetector(geo=geo)
    feed(detector, points[:100])
    started = time.perf_counter()
    feed(detector, points[100:])
    per_point_us = (time.perf_counter() - started) / (len(points) - 100) * 1e6
    assert per_point_us < 50.0, per_point_us  # a few us on the development machine
