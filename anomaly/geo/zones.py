"""Named areas from `config/zones/*.geojson` and a fast index of which ones hold a point.

Every feature has `id` (top level, and `properties.id`), `name`, `kind` and `country` (ISO
3166-1 alpha-2, or null). Kinds the detectors act on: watch_area, departure_area,
destination_coast, territorial_sea, sar_region, anchorage, port; other kinds (sharing_area: the
outlines sharing agreements name) are loaded and reported but raise nothing by themselves.

`ZoneIndex.zones_at(lat, lon)` answers in about a microsecond: zone geometries are prepared and
kept in an STRtree, and each 0.02 degree cell remembers, once asked, which zones cover it whole
(no test needed) and which only cross it (an exact, prepared point test). A point on a zone's
border is in the zone, as in `api.sharing` (intersects).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from math import floor
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from anomaly.geo.geodesy import METRES_PER_DEG_LAT, buffer_m, distance_m

WATCH_AREA = "watch_area"
DEPARTURE_AREA = "departure_area"
DESTINATION_COAST = "destination_coast"
TERRITORIAL_SEA = "territorial_sea"
SAR_REGION = "sar_region"
ANCHORAGE = "anchorage"
PORT = "port"
KINDS = (
    WATCH_AREA,
    DEPARTURE_AREA,
    DESTINATION_COAST,
    TERRITORIAL_SEA,
    SAR_REGION,
    ANCHORAGE,
    PORT,
)
HARBOUR_KINDS = (ANCHORAGE, PORT)

CELL_DEG = 0.02
MAX_CACHE = 1_000_000


class ZoneError(ValueError):
    """A zone file that cannot be read as zones."""


@dataclass(frozen=True, slots=True, eq=False)
class Zone:
    id: str
    name: str
    kind: str
    country: str | None
    geometry: BaseGeometry = field(repr=False)
    properties: dict[str, Any] = field(default_factory=dict, repr=False)


def read_zone_file(path: Path) -> list[Zone]:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ZoneError(f"{path}: {exc}") from exc
    if document.get("type") == "FeatureCollection":
        features = document.get("features") or []
    else:
        features = [document]
    zones = []
    for feature in features:
        props = feature.get("properties") or {}
        zone_id = feature.get("id") or props.get("id")
        if zone_id is None and len(features) == 1:
            zone_id = path.stem
        if zone_id is None or feature.get("geometry") is None:
            raise ZoneError(f"{path}: a feature without an id or a geometry")
        geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
        if not geometry.is_valid:
            geometry = shapely.make_valid(geometry)
        zones.append(
            Zone(
                id=str(zone_id),
                name=str(props.get("name") or zone_id),
                kind=str(props.get("kind") or WATCH_AREA),
                country=props.get("country"),
                geometry=geometry,
                properties=dict(props),
            )
        )
    return zones


def load_zones(config_dir: Path) -> list[Zone]:
    """Every zone of `config_dir/zones/*.geojson` (or of `config_dir/*.geojson` when it is the
    zones folder itself), files in name order, features in file order."""
    folder = config_dir / "zones" if (config_dir / "zones").is_dir() else config_dir
    zones: list[Zone] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.geojson")):
        for zone in read_zone_file(path):
            if zone.id in seen:
                raise ZoneError(f"{path}: zone id {zone.id!r} defined twice")
            seen.add(zone.id)
            zones.append(zone)
    return zones


class ZoneIndex:
    """Which zones hold a point; fast, for every point of every vessel."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._by_id = {zone.id: zone for zone in self.zones}
        geometries = [zone.geometry for zone in self.zones]
        for geometry in geometries:
            shapely.prepare(geometry)
        self._tree = shapely.STRtree(geometries)
        self._cells: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._ids: dict[tuple[int, ...], tuple[str, ...]] = {}  # zone indices -> their ids

    @classmethod
    def from_config(cls, config_dir: Path) -> ZoneIndex:
        return cls(load_zones(config_dir))

    def __len__(self) -> int:
        return len(self.zones)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self.zones)

    def __getitem__(self, zone_id: str) -> Zone:
        return self._by_id[zone_id]

    def get(self, zone_id: str) -> Zone | None:
        return self._by_id.get(zone_id)

    def _cell(self, lat: float, lon: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
        ix = floor((lon + 180.0) / CELL_DEG)
        iy = floor((lat + 90.0) / CELL_DEG)
        key = ix * 100_000 + iy
        cell = self._cells.get(key)
        if cell is None:
            x0, y0 = ix * CELL_DEG - 180.0, iy * CELL_DEG - 90.0
            box = shapely.box(x0, y0, x0 + CELL_DEG, y0 + CELL_DEG)
            whole: list[int] = []
            part: list[int] = []
            for i in sorted(int(i) for i in self._tree.query(box, predicate="intersects")):
                (whole if self.zones[i].geometry.contains_properly(box) else part).append(i)
            cell = (tuple(whole), tuple(part))
            if len(self._cells) >= MAX_CACHE:
                self._cells.clear()
            self._cells[key] = cell
        return cell

    def indices_at(self, lat: float, lon: float) -> list[int]:
        whole, part = self._cell(lat, lon)
        if not part:
            return list(whole)
        hits = [i for i in part if shapely.intersects_xy(self.zones[i].geometry, lon, lat)]
        return sorted((*whole, *hits)) if whole else hits

    def zones_at(self, lat: float, lon: float) -> list[Zone]:
        """The zones holding (lat, lon), in configuration order."""
        return [self.zones[i] for i in self.indices_at(lat, lon)]

    def ids_at(self, lat: float, lon: float) -> tuple[str, ...]:
        whole, part = self._cell(lat, lon)
        if part:
            found = tuple(self.indices_at(lat, lon))
        elif not whole:
            return ()  # the open sea: no zone (the usual case)
        else:
            found = whole
        ids = self._ids.get(found)
        if ids is None:
            ids = self._ids[found] = tuple(self.zones[i].id for i in found)
        return ids

    def in_kind(self, lat: float, lon: float, kind: str | Sequence[str]) -> bool:
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        whole, part = self._cell(lat, lon)
        zones = self.zones
        if any(zones[i].kind in kinds for i in whole):
            return True
        return any(
            zones[i].kind in kinds and shapely.intersects_xy(zones[i].geometry, lon, lat)
            for i in part
        )

    def nearest(self, lat: float, lon: float) -> tuple[Zone, float] | None:
        """The nearest zone and the metres to it (0 inside); nearest in degrees, so about."""
        if not self.zones:
            return None
        point = shapely.Point(lon, lat)
        found = self._tree.query_nearest(point, all_matches=False)
        zone = self.zones[int(found[0])]
        line = shapely.shortest_line(point, zone.geometry)
        (x0, y0), (x1, y1) = shapely.get_coordinates(line)
        return zone, distance_m(y0, x0, y1, x1)

    def subset(self, kinds: str | Sequence[str]) -> ZoneIndex:
        """Only the zones of these kinds."""
        wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        return ZoneIndex(zone for zone in self.zones if zone.kind in wanted)

    def resized(self, metres: float) -> ZoneIndex:
        """Every zone grown by `metres` (shrunk when negative): hysteresis and vicinity."""
        out = []
        for zone in self.zones:
            if metres >= 0:
                geometry = buffer_m(zone.geometry, metres)
            else:  # in degrees of latitude: a little less than asked east-west; a hysteresis
                geometry = shapely.buffer(zone.geometry, metres / METRES_PER_DEG_LAT)
            out.append(Zone(zone.id, zone.name, zone.kind, zone.country, geometry, zone.properties))
        return ZoneIndex(out)
