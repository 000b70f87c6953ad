"""zone_entry: entering a watch area raises one alert, not one per point, and never flaps."""

from __future__ import annotations

import json
import time
from pathlib import Path

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
from tests.track_builders import toward

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
