"""Distance to shore and land or sea, from Natural Earth land polygons, in microseconds a point.

The coastline (the boundary of the vendored land, `data/land.wkb`) is cut into short pieces in
an STRtree, in Mercator coordinates so that "nearest" there is nearest on the earth to well
under a percent. An exact query costs tens of microseconds, so the answers go through a lazily
filled, multi-resolution grid cache of *signed* distances (negative on land) at cell corners:

- a point falls in a fine cell (0.01 degree); the first time, the coarsest level whose cell
  corners are all at least `ACCEPT` cell diagonals from the coast is chosen for it (far out at
  sea a 0.64 degree cell, near the coast 0.01 degree), and its corner distances are computed;
- the distance is the bilinear interpolation of the four corners. The signed distance to the
  coast is 1-Lipschitz, so the error is at most a small fraction of the distance far out and a
  few hundred metres in the cells that the coast crosses;
- land or sea is read from the sign where the coast does not cross the cell, and by an exact
  point-in-polygon test (prepared geometry) where it does, unless the interpolated distance is
  larger than its error bound (about the cell's diagonal), which already settles the side.

`distance_to_shore_nm` is 0 on land. `landfall` casts a ray along a course by sphere tracing:
it steps by the distance to the shore, so open water takes a few steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import asin, atan, cos, degrees, exp, floor, inf, log, pi, radians, sin, sqrt, tan
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from anomaly.geo.geodesy import METRES_PER_DEG_LAT, METRES_PER_NM, destination

DATA = Path(__file__).resolve().parent / "data"
R_MERCATOR = 6_378_137.0
MAX_LAT = 85.0

FINE_DEG = 0.01  # the finest cell; coarser levels double it
LEVELS = 7  # 0.01 .. 0.64 degree
ACCEPT = 20.0  # a level is used when every corner is this many cell diagonals from the coast
CHUNK = 16  # coastline vertices per STRtree item
MAX_CACHE = 500_000  # fine cells remembered before the cache starts over (~70 MB)


@dataclass(frozen=True, slots=True)
class Country:
    code: str | None  # ISO 3166-1 alpha-2, None where Natural Earth has no code
    name: str


@dataclass(frozen=True, slots=True)
class Landfall:
    distance_nm: float  # along the course
    lat: float  # where the course meets the land
    lon: float


@dataclass(frozen=True, slots=True)
class _Cell:
    x0: float
    y0: float
    size: float
    d00: float  # signed metres at (x0, y0)
    d10: float  # (x0 + size, y0)
    d01: float  # (x0, y0 + size)
    d11: float
    mixed: bool  # the coast may cross the cell: land or sea needs the exact test
    sure_m: float = 0.0  # mixed: beyond this |interpolated distance| the side is certain


def _mercator(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.empty_like(coords)
    out[:, 0] = np.radians(coords[:, 0]) * R_MERCATOR
    lat = np.radians(np.clip(coords[:, 1], -MAX_LAT, MAX_LAT))
    out[:, 1] = np.log(np.tan(pi / 4 + lat / 2)) * R_MERCATOR
    return out


def _unmercator(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    return np.degrees(x / R_MERCATOR), np.degrees(2 * np.arctan(np.exp(y / R_MERCATOR)) - pi / 2)


def _haversine_m(
    lat1: NDArray[np.float64],
    lon1: NDArray[np.float64],
    lat2: NDArray[np.float64],
    lon2: NDArray[np.float64],
) -> NDArray[np.float64]:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    result: NDArray[np.float64] = 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


class Shore:
    """Land, coastline and countries; fast `distance_to_shore_nm`, `is_on_land`, `landfall`."""

    def __init__(
        self,
        land: BaseGeometry,
        countries: Iterable[tuple[Country, BaseGeometry]] = (),
    ) -> None:
        self.land = land
        shapely.prepare(land)
        pieces: list[shapely.LineString] = []
        for ring in shapely.get_parts(shapely.get_rings(shapely.get_parts(land))):
            coords = _mercator(shapely.get_coordinates(ring))
            for start in range(0, len(coords) - 1, CHUNK):
                pieces.append(shapely.LineString(coords[start : start + CHUNK + 1]))
        self._coast = np.array(pieces, dtype=object)
        self._coast_tree = shapely.STRtree(self._coast)
        self._countries: list[Country] = []
        geometries = []
        for country, geometry in countries:
            self._countries.append(country)
            geometries.append(geometry)
        self._country_tree = shapely.STRtree(geometries) if geometries else None
        self._cells: dict[int, _Cell] = {}
        self._corners: list[dict[tuple[int, int], float]] = [{} for _ in range(LEVELS)]
        # per level, (ix, iy) -> its cell when the level is fine enough there, else None
        self._levels: list[dict[tuple[int, int], _Cell | None]] = [{} for _ in range(LEVELS)]

    @classmethod
    def load(cls, data_dir: Path = DATA) -> Shore:
        land = shapely.from_wkb((data_dir / "land.wkb").read_bytes())
        countries: list[tuple[Country, BaseGeometry]] = []
        path = data_dir / "countries.geojson"
        if path.exists():
            for feature in json.loads(path.read_bytes())["features"]:
                props = feature["properties"]
                geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
                countries.append((Country(props.get("iso_a2"), props["name"]), geometry))
        return cls(land, countries)

    # -- exact, slow -----------------------------------------------------------------------
    def coast_distance_m(
        self,
        lats: Sequence[float] | NDArray[np.float64],
        lons: Sequence[float] | NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Unsigned great-circle metres from each point to the nearest coastline (exact)."""
        lat = np.asarray(lats, dtype=np.float64)
        lon = np.asarray(lons, dtype=np.float64)
        merc = _mercator(np.column_stack([lon, lat]))
        points = np.asarray(shapely.points(merc), dtype=object)
        pairs = self._coast_tree.query_nearest(points, all_matches=False)
        out = np.full(len(lat), np.inf)
        if pairs.shape[1] == 0:
            return out
        lines = shapely.shortest_line(points[pairs[0]], self._coast[pairs[1]])
        ends = shapely.get_coordinates(shapely.get_point(lines, 1))
        end_lon, end_lat = _unmercator(ends[:, 0], ends[:, 1])
        out[pairs[0]] = _haversine_m(lat[pairs[0]], lon[pairs[0]], end_lat, end_lon)
        return out

    def signed_distance_m(
        self,
        lats: Sequence[float] | NDArray[np.float64],
        lons: Sequence[float] | NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Exact metres to the coastline, negative on land."""
        lat = np.asarray(lats, dtype=np.float64)
        lon = np.asarray(lons, dtype=np.float64)
        unsigned = self.coast_distance_m(lat, lon)
        on_land = shapely.contains_xy(self.land, lon, lat)
        return np.where(on_land, -unsigned, unsigned)

    def _signed_one(self, lat: float, lon: float) -> float:
        """`signed_distance_m` of one point, in scalars: a cache fill needs one to four
        corners at a time, and numpy's per-call overhead would cost more than the query."""
        x = radians(lon) * R_MERCATOR
        y = log(tan(pi / 4 + radians(min(max(lat, -MAX_LAT), MAX_LAT)) / 2)) * R_MERCATOR
        point = shapely.Point(x, y)
        found = self._coast_tree.query_nearest(point, all_matches=False)
        if not len(found):
            return inf
        line = shapely.shortest_line(point, self._coast[int(found[0])])
        end_x, end_y = line.coords[1]
        end_lon = degrees(end_x / R_MERCATOR)
        end_lat = degrees(2 * atan(exp(end_y / R_MERCATOR)) - pi / 2)
        p1, p2 = radians(lat), radians(end_lat)
        a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(end_lon - lon) / 2) ** 2
        metres = 2 * 6_371_008.8 * asin(sqrt(min(max(a, 0.0), 1.0)))
        return -metres if shapely.contains_xy(self.land, lon, lat) else metres

    def is_on_land_exact(self, lat: float, lon: float) -> bool:
        return bool(shapely.contains_xy(self.land, lon, lat))

    # -- fast, cached ----------------------------------------------------------------------
    def _cell(self, lat: float, lon: float) -> _Cell:
        key = floor((lon + 180.0) / FINE_DEG) * 100_000 + floor((lat + 90.0) / FINE_DEG)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._fill(lat, lon)
            if len(self._cells) >= MAX_CACHE:
                self._cells.clear()
            self._cells[key] = cell
        return cell

    def _fill(self, lat: float, lon: float) -> _Cell:
        fine_x = floor((lon + 180.0) / FINE_DEG)
        fine_y = floor((lat + 90.0) / FINE_DEG)
        for level in range(LEVELS - 1, -1, -1):
            step = 1 << level
            ix, iy = fine_x // step, fine_y // step
            decided = self._levels[level]
            if (ix, iy) in decided:  # this level was judged before, for another fine cell
                known = decided[ix, iy]
                if known is not None:
                    return known
                continue
            size = FINE_DEG * step
            corners = self._corner_values(
                level, ((ix, iy), (ix + 1, iy), (ix, iy + 1), (ix + 1, iy + 1))
            )
            lat_mid = (iy + 0.5) * size - 90.0
            diagonal = size * METRES_PER_DEG_LAT * (1.0 + cos(radians(lat_mid))) / 1.4142
            nearest = min(abs(c) for c in corners)
            cell = None
            if nearest >= ACCEPT * diagonal or level == 0:
                cell = _Cell(
                    ix * size - 180.0,
                    iy * size - 90.0,
                    size,
                    *corners,
                    mixed=nearest < diagonal,
                    # |interpolated - true| <= the distance to the farthest corner (the
                    # signed distance is 1-Lipschitz); 1.5 x the diagonal leaves room
                    sure_m=1.5 * size * METRES_PER_DEG_LAT * 1.4142,
                )
            if len(decided) >= MAX_CACHE:
                decided.clear()
            decided[ix, iy] = cell
            if cell is not None:
                return cell
        raise AssertionError("unreachable")

    def _corner_values(
        self, level: int, keys: Sequence[tuple[int, int]]
    ) -> tuple[float, float, float, float]:
        cache = self._corners[level]
        missing = [k for k in keys if k not in cache]
        if missing:
            size = FINE_DEG * (1 << level)
            lons = [ix * size - 180.0 for ix, _ in missing]
            lats = [min(max(iy * size - 90.0, -89.9), 89.9) for _, iy in missing]
            if len(missing) == 1:  # the usual case: a cell next to cells already filled
                cache[missing[0]] = self._signed_one(lats[0], lons[0])
            else:
                values = self.signed_distance_m(np.array(lats), np.array(lons))
                for k, value in zip(missing, values, strict=True):
                    cache[k] = float(value)
        a, b, c, d = (cache[k] for k in keys)
        return a, b, c, d

    def signed_distance_fast_m(self, lat: float, lon: float) -> float:
        """Metres to the coastline, negative on land, from the grid cache."""
        cell = self._cell(lat, lon)
        fx = (lon - cell.x0) / cell.size
        fy = (lat - cell.y0) / cell.size
        value = (cell.d00 * (1.0 - fx) + cell.d10 * fx) * (1.0 - fy) + (
            cell.d01 * (1.0 - fx) + cell.d11 * fx
        ) * fy
        if (
            cell.mixed
            and abs(value) <= cell.sure_m
            and bool(shapely.contains_xy(self.land, lon, lat)) != (value < 0.0)
        ):
            return 0.0  # interpolation and exact test disagree: right at the coast
        return value

    def distance_to_shore_nm(self, lat: float, lon: float) -> float:
        """Nautical miles to the nearest coast; 0 on land (`signed_distance_fast_m`, inlined:
        most detectors ask it of every point)."""
        cell = self._cells.get(
            floor((lon + 180.0) / FINE_DEG) * 100_000 + floor((lat + 90.0) / FINE_DEG)
        )
        if cell is None:
            cell = self._cell(lat, lon)
        fx = (lon - cell.x0) / cell.size
        fy = (lat - cell.y0) / cell.size
        value = (cell.d00 * (1.0 - fx) + cell.d10 * fx) * (1.0 - fy) + (
            cell.d01 * (1.0 - fx) + cell.d11 * fx
        ) * fy
        if (
            cell.mixed
            and abs(value) <= cell.sure_m
            and bool(shapely.contains_xy(self.land, lon, lat)) != (value < 0.0)
        ):
            return 0.0  # interpolation and exact test disagree: right at the coast
        return value / METRES_PER_NM if value > 0.0 else 0.0

    def is_on_land(self, lat: float, lon: float) -> bool:
        cell = self._cell(lat, lon)
        if cell.mixed:
            return bool(shapely.contains_xy(self.land, lon, lat))
        return cell.d00 < 0.0

    # -- derived ---------------------------------------------------------------------------
    def country_near(self, lat: float, lon: float, within_nm: float = 30.0) -> Country | None:
        """The country whose land is nearest (lon/lat degrees; within about `within_nm`)."""
        if self._country_tree is None:
            return None
        point = shapely.Point(lon, lat)
        reach = within_nm / 60.0 / max(cos(radians(lat)), 0.05)
        found = self._country_tree.query_nearest(point, max_distance=reach, all_matches=False)
        return self._countries[int(found[0])] if len(found) else None

    def landfall(
        self,
        lat: float,
        lon: float,
        course: float,
        horizon_nm: float,
        min_step_m: float = 200.0,
        hit_m: float = 60.0,
    ) -> Landfall | None:
        """Where the great circle from (lat, lon) along `course` first meets land within
        `horizon_nm`, by sphere tracing on the signed distance; None if it does not."""
        horizon_m = horizon_nm * METRES_PER_NM
        travelled = 0.0
        here_lat, here_lon = lat, lon
        while travelled <= horizon_m:
            distance = self.signed_distance_fast_m(here_lat, here_lon)
            if distance <= hit_m or (
                distance < 2 * min_step_m and self.is_on_land(here_lat, here_lon)
            ):
                if travelled == 0.0 and distance <= 0.0:
                    return Landfall(0.0, here_lat, here_lon)
                return Landfall(
                    (travelled + max(distance, 0.0)) / METRES_PER_NM, here_lat, here_lon
                )
            travelled += max(0.9 * distance, min_step_m)
            here_lat, here_lon = destination(lat, lon, course, travelled)
        return None


@lru_cache(maxsize=4)
def shore(data_dir: Path = DATA) -> Shore:
    """The shared, lazily loaded `Shore` of the vendored data (about a second the first time)."""
    return Shore.load(data_dir)


def distance_to_shore_nm(lat: float, lon: float) -> float:
    """Nautical miles from (lat, lon) to the nearest coast of the vendored land; 0 on land."""
    return shore().distance_to_shore_nm(lat, lon)


def is_on_land(lat: float, lon: float) -> bool:
    return shore().is_on_land(lat, lon)
