"""Zones from config/zones, the zone index, the TopoJSON decoder and the spatial cells."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
import shapely

from anomaly.cells import CELL_DEG, cell_of, cells_for
from anomaly.geo import load_geography
from anomaly.geo.geodesy import destination, distance_m
from anomaly.geo.topojson import TopoJsonError, Topology
from anomaly.geo.zones import KINDS, ZoneError, ZoneIndex, load_zones
from config import default_config_dir
from tests.geo_builders import (
    BAY_EAST,
    CHITTAGONG_ANCHORAGE,
    CHITTAGONG_PORT,
    CORRIDOR,
    COXS_BAZAR_OFFSHORE,
    OPEN_BAY,
    WEST_OF_CORRIDOR,
)

ZONES_DIR = default_config_dir() / "zones"


def test_every_shipped_zone_is_complete_and_unique() -> None:
    seen = set()
    for path in sorted(ZONES_DIR.glob("*.geojson")):
        document = json.loads(path.read_bytes())
        assert document["type"] == "FeatureCollection"
        for feature in document["features"]:
            props = feature["properties"]
            assert feature["id"] == props["id"]  # api.sharing and agencies.yaml read the top id
            assert props["id"] not in seen
            seen.add(props["id"])
            assert props["name"] and props["kind"]
            assert props["kind"] in (*KINDS, "sharing_area")
            assert "country" in props
            geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
            assert geometry.is_valid and not geometry.is_empty
    kinds = {z.kind for z in load_zones(default_config_dir())}
    assert set(KINDS) <= kinds


def test_the_region_is_covered() -> None:
    zones = {z.id: z for z in load_zones(default_config_dir())}
    for wanted in (
        "dep-coxs-bazar-teknaf",
        "dep-rakhine-sittwe",
        "dest-th-andaman",
        "dest-my-north",
        "dest-id-aceh",
        "bob-crossing-corridor",
        "anch-chittagong",
        "anch-kutubdia",
        "port-mongla",
        "port-sittwe",
        "port-thilawa",
        "port-phuket",
        "port-penang",
        "port-klang",
        "port-belawan",
        "port-sabang",
        "port-lhokseumawe",
        "ts-bd",
        "ts-mm",
        "ts-th",
        "ts-my",
        "ts-id",
        "ts-in",
        "srr-bd",
        "srr-mm",
        "srr-th",
        "srr-my",
        "srr-id",
        "srr-in",
        "andaman-sea",
    ):
        assert wanted in zones, wanted
    assert zones["dep-coxs-bazar-teknaf"].country == "BD"
    assert zones["dest-my-north"].kind == "destination_coast"


def test_zone_membership_at_known_places() -> None:
    geo = load_geography()
    assert "dep-coxs-bazar-teknaf" in geo.areas_at(*COXS_BAZAR_OFFSHORE)
    assert geo.in_watch_area(*CORRIDOR)  # the crossing corridor
    assert not geo.in_watch_area(*BAY_EAST)
    assert not geo.in_watch_area(*WEST_OF_CORRIDOR)
    assert not geo.in_watch_area(*OPEN_BAY)
    assert geo.in_anchorage(*CHITTAGONG_ANCHORAGE)
    assert geo.in_anchorage(*CHITTAGONG_PORT)
    assert not geo.in_anchorage(*BAY_EAST)
    assert "ts-bd" in geo.areas_at(21.9, 91.7)  # off Kutubdia, inside 12 nm
    assert "ts-th" in geo.areas_at(8.0, 98.15)  # off Phuket
    assert "dest-id-aceh" in geo.areas_at(5.5, 96.5)
    assert "srr-th" in geo.areas_at(8.0, 97.0)
    # the sharing outline agencies.yaml names keeps the API test positions inside
    assert "andaman-sea" in geo.areas_at(12.0, 97.0) and "andaman-sea" in geo.areas_at(6.0, 97.0)


def test_territorial_seas_reach_12_nm() -> None:
    geo = load_geography()
    assert geo.zones["ts-bd"].kind == "territorial_sea"
    # westward from the Teknaf coast: in the territorial sea up to 12 nm from shore, not beyond
    coast = geo.shore.landfall(20.95, 91.5, 90.0, 60.0)
    assert coast is not None
    checked = 0
    for step in range(1, 40):
        point = destination(coast.lat, coast.lon, 270.0, step * 0.5 * 1852)
        shore_nm = geo.distance_to_shore_nm(*point)
        if shore_nm < 11.3:
            assert "ts-bd" in geo.areas_at(*point), shore_nm
            checked += 1
        elif shore_nm > 12.7:
            assert "ts-bd" not in geo.areas_at(*point), shore_nm
            checked += 1
    assert checked > 30


def test_index_matches_plain_shapely_and_is_fast() -> None:
    index = ZoneIndex.from_config(default_config_dir())
    rng = random.Random(11)
    points = [(rng.uniform(0.0, 24.0), rng.uniform(78.0, 102.0)) for _ in range(3000)]
    for lat, lon in points[:500]:
        plain = [z.id for z in index if shapely.intersects_xy(z.geometry, lon, lat)]
        assert list(index.ids_at(lat, lon)) == plain
    walk = []
    lat, lon = 10.0, 95.0
    for _ in range(20_000):
        lat += rng.uniform(-0.004, 0.004)
        lon += rng.uniform(-0.004, 0.004)
        walk.append((lat, lon))
    for lat, lon in walk:
        index.zones_at(lat, lon)
    started = time.perf_counter()
    for lat, lon in walk:
        index.in_kind(lat, lon, "watch_area")
        index.zones_at(lat, lon)
    per_point_us = (time.perf_counter() - started) / len(walk) * 1e6
    assert per_point_us < 25.0, per_point_us  # about 2 us on the development machine


def test_resized_zones_and_nearest(tmp_path: Path) -> None:
    box = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": "box",
                "properties": {"id": "box", "name": "Box", "kind": "watch_area", "country": None},
                "geometry": json.loads(shapely.to_geojson(shapely.box(90.0, 10.0, 91.0, 11.0))),
            }
        ],
    }
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "box.geojson").write_text(json.dumps(box))
    index = ZoneIndex.from_config(tmp_path)
    near_edge = (10.5, 90.003)  # 330 m inside the western edge
    assert index.ids_at(*near_edge) == ("box",)
    assert index.resized(-1000.0).ids_at(*near_edge) == ()
    assert index.resized(1000.0).ids_at(10.5, 89.995) == ("box",)
    zone, metres = index.nearest(10.5, 89.9) or (None, 0.0)
    assert zone is not None and zone.id == "box"
    assert abs(metres - distance_m(10.5, 89.9, 10.5, 90.0)) < 50


def test_a_broken_zone_file_is_a_zone_error(tmp_path: Path) -> None:
    (tmp_path / "bad.geojson").write_text('{"type": "FeatureCollection", "features": [{}]}')
    with pytest.raises(ZoneError):
        load_zones(tmp_path)


def test_topojson_decoder_shared_and_reversed_arcs() -> None:
    # two unit squares side by side sharing the arc x=1 (arc 0), quantised and delta-encoded
    topology = {
        "type": "Topology",
        "transform": {"scale": [0.5, 0.5], "translate": [90.0, 10.0]},
        "arcs": [
            [[2, 0], [0, 2]],  # (91,10) -> (91,11)
            [[2, 2], [-2, 0], [0, -2], [2, 0]],  # (91,11) -> (90,11) -> (90,10) -> (91,10)
            [[2, 0], [2, 0], [0, 2], [-2, 0]],  # (91,10) -> (92,10) -> (92,11) -> (91,11)
        ],
        "objects": {
            "land": {
                "type": "GeometryCollection",
                "geometries": [
                    {"type": "Polygon", "id": "W", "arcs": [[0, 1]]},
                    {"type": "Polygon", "id": "E", "properties": {"n": 1}, "arcs": [[2, ~0]]},
                ],
            }
        },
    }
    decoded = dict((meta["id"], g) for meta, g in Topology(topology).features("land"))
    assert decoded["W"].equals(shapely.box(90.0, 10.0, 91.0, 11.0))
    assert decoded["E"].equals(shapely.box(91.0, 10.0, 92.0, 11.0))
    with pytest.raises(TopoJsonError):
        Topology({"type": "FeatureCollection"})


def test_close_vessels_always_share_a_cell() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        lat, lon = rng.uniform(-60, 60), rng.uniform(-180, 180)
        # near a cell corner half of the time
        if rng.random() < 0.5:
            lat = round(lat / CELL_DEG) * CELL_DEG + rng.uniform(-0.01, 0.01)
            lon = round(lon / CELL_DEG) * CELL_DEG + rng.uniform(-0.01, 0.01)
        other = destination(lat, lon, rng.uniform(0, 360), rng.uniform(0, 1400))
        mine, theirs = set(cells_for(lat, lon, 1500)), set(cells_for(*other, 1500))
        assert cell_of(lat, lon) in mine and cell_of(*other) in theirs
        assert cell_of(*other) in mine or cell_of(lat, lon) in theirs


def test_cells_are_stable_names() -> None:
    assert cell_of(21.0, 91.9) == "c0.25:444:1087"
    assert cells_for(21.125, 91.875, 1500) == ["c0.25:444:1087"]  # the middle of a cell
    assert cell_of(0.0, 180.0) == cell_of(0.0, -180.0)  # the antimeridian wraps
