"""Distance to shore and land or sea, from Natural Earth land polygons, in microseconds a point.

The coastline (the boundary of the vendored land, `data/land.wkb`) is cut into short pieces in
an STRtree, in Mercator coordinates. The piece nearest in Mercator need not be the nearest on the
earth (Mercator's scale grows with latitude: up to a percent of the distance off, where two
coasts are about as far), so where another piece could be nearer every piece that could be is
measured: the exact distance is the great-circle distance to the nearest coast point (to tens
of metres in the Bay of Bengal, see `_to_pieces`). An exact query costs tens of microseconds,
so the answers go through a lazily filled, multi-resolution grid cache of *signed* distances
(negative on land):

- a point falls in a fine cell (0.01 degree); the first time, the levels over it are judged from
  the coarsest (0.64 degree) down and the first fine enough serves it (`Shore._judge`). The
  corners of cells carry the exact distance, its gradient (away from the nearest coast point)
  and that point; they are shared by neighbouring cells and by the levels;
- the distance is interpolated from the four corners: bilinear, plus a curvature term each way
  fitted to the corners' gradients (exact for quadratics). Where a medial axis (a line as far
  from two coasts) crosses a cell, the corners' gradients fall in two groups; the cell then
  keeps one such surface per coast, and the answer is the nearer;
- a coarser cell serves where no corner is nearer the coast than the cell's diagonal, the
  interpolation's estimated error is within `TOLERANCE_M` (0.2 nm) and `TOLERANCE_REL` (1.5 %)
  of the distance d, and so is the blind spot within `BLIND_M` (0.4 nm) and `BLIND_REL` (3 %):
  a coast hiding between the corners could be nearer than they tell by about diagonal^2 / (8 d),
  or side^2 / (8 d) once the centre is known too (it is then measured, and must agree). Neither
  is a strict bound (the estimate takes the distance to vary smoothly between the corners), so
  the worst case is about their sum, 0.6 nm or 4.5 % of the distance; over 40,000 points of the
  Bay of Bengal and the Andaman Sea (tracks, and uniform at sea) the largest error was 0.42 nm,
  1.7 % beyond 5 nm, and 99 % were within 0.14 nm. Within about 3 nm of the coast the cells are
  the finest, and the error is a few hundred metres at most (0.08 nm measured within 2 nm);
- land or sea is read from the sign where the coast does not cross the cell, and by an exact
  point-in-polygon test (prepared geometry) where it does, unless the interpolated distance is
  larger than its error bound (about the cell's diagonal), which already settles the side.

`distance_to_shore_nm` is 0 on land. `landfall` casts a ray along a course by sphere tracing:
it steps by the distance to the shore, so open water takes a few steps.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import asin, atan, cos, degrees, exp, floor, inf, log, nan, pi, radians, sin, sqrt, tan
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from anomaly.geo.geodesy import METRES_PER_DEG_LAT, METRES_PER_NM, destination

DATA = Path(__file__).resolve().parent / "data"
R_MERCATOR = 6_378_137.0
R_EARTH = 6_371_008.8  # the sphere of the great-circle distances
MAX_LAT = 85.0
_POINT_WKB = struct.Struct("<BIdd")  # little-endian WKB of a 2-D point

FINE_DEG = 0.01  # the finest cell; coarser levels double it
LEVELS = 7  # 0.01 .. 0.64 degree
KEY = 100_000  # cell and corner keys: x index * KEY + y index (y < 18_001)
# a coarser cell serves only if (see `Shore._judge`) its estimated interpolation error and its
# blind spot are each within an absolute and a relative bound
TOLERANCE_M = 0.2 * 1852.0
TOLERANCE_REL = 0.015
BLIND_M = 0.4 * 1852.0
BLIND_REL = 0.03
CHUNK = 16  # coastline vertices per STRtree item
NODE_CAPACITY = 3  # small tree nodes: a nearest query visits fewer pieces (twice as fast as 10)
# Mercator's scale grows with latitude, so the piece nearest there may not be the nearest on the
# earth (by up to a percent of the distance, some 3 nm 300 nm out): when another piece could be
# nearer by more than this, every piece that could be is measured
DOUBT_M = 10.0
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
    # signed metres at (x0 + u size, y0 + v size), u and v in 0..1:
    # d00 + u (du - qu u + duv v) + v (dv - qv v), bilinear plus a curvature term each way
    d00: float  # at (x0, y0)
    du: float
    dv: float
    duv: float
    qu: float = 0.0
    qv: float = 0.0
    mixed: bool = False  # the coast may cross the cell: land or sea needs the exact test
    sure_m: float = 0.0  # mixed: beyond this |interpolated distance| the side is certain
    # where a medial axis crosses the cell, the distance to the second coast (same form and
    # cell): the answer is the nearer of the two
    other: _Cell | None = None
    slow: bool = False  # mixed, or another coast


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
    result: NDArray[np.float64] = 2 * R_EARTH * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


def _haversine_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) / 2) ** 2
    return 2 * R_EARTH * asin(sqrt(min(max(a, 0.0), 1.0)))


# a corner: signed metres, gradient (metres per degree of longitude, of latitude), the nearest
# coast point (lon, lat) and its piece
_Corner = tuple[float, float, float, float, float, int]


def _corner(
    lat: float, lon: float, metres: float, end_lon: float, end_lat: float, piece: int
) -> _Corner:
    """A corner, its gradient along the great circle away from the coast point (towards it on
    land)."""
    phi, phi_end, dlon = radians(lat), radians(end_lat), radians(end_lon - lon)
    east = sin(dlon) * cos(phi_end)  # the direction to the coast point
    north = cos(phi) * sin(phi_end) - sin(phi) * cos(phi_end) * cos(dlon)
    norm = sqrt(east * east + north * north)
    if norm > 0.0 and metres < inf:
        scale = (METRES_PER_DEG_LAT if metres < 0.0 else -METRES_PER_DEG_LAT) / norm
        return metres, east * scale * cos(phi), north * scale, end_lon, end_lat, piece
    return metres, 0.0, 0.0, end_lon, end_lat, piece  # on the coast, or no coast at all


# a cell's interpolation (`_Cell`'s d00, du, dv, duv, qu, qv) and its estimated error
_Surface = tuple[float, float, float, float, float, float, float]


def _surface(
    c00: _Corner,
    c10: _Corner,
    c01: _Corner,
    c11: _Corner,
    size: float,
    width: float,
    height: float,
    inside: float,
) -> _Surface:
    """The interpolation of a cell from its corners, as `_Cell`'s d00, du, dv, duv, qu, qv,
    and its estimated error (see `Shore._judge`)."""
    d00, d10, d01, d11 = c00[0], c10[0], c01[0], c11[0]
    # slopes in metres per cell width (u) and height (v)
    gx00, gx10, gx01, gx11 = c00[1] * size, c10[1] * size, c01[1] * size, c11[1] * size
    gy00, gy10, gy01, gy11 = c00[2] * size, c10[2] * size, c01[2] * size, c11[2] * size
    bottom, top = 0.5 * (gx00 - gx10), 0.5 * (gx01 - gx11)  # curvature terms along u
    left, right = 0.5 * (gy00 - gy01), 0.5 * (gy10 - gy11)  # along v
    misfit = max(
        abs(0.5 * (gx00 + gx10) - (d10 - d00)),
        abs(0.5 * (gx01 + gx11) - (d11 - d01)),
        abs(0.5 * (gy00 + gy01) - (d01 - d00)),
        abs(0.5 * (gy10 + gy11) - (d11 - d10)),
    )
    # a convex coast at distance d curves the distance by at most 1 / d, so at most
    # h^2 / (2 d) each way; more is a medial axis (or a concave coast): a kink that the
    # curvature term only halves
    kink = max(0.0, max(abs(bottom), abs(top)) - width * width / (2.0 * inside)) + max(
        0.0, max(abs(left), abs(right)) - height * height / (2.0 * inside)
    )
    curved = (abs(top - bottom) + abs(right - left)) / 8.0 + 0.0962 * misfit + kink / 4.0
    flat = 0.5 * (max(abs(bottom), abs(top)) + max(abs(left), abs(right)))
    qu, qv = (0.5 * (bottom + top), 0.5 * (left + right)) if curved < flat else (0.0, 0.0)
    duv = d11 - d10 - d01 + d00
    return d00, d10 - d00 + qu, d01 - d00 + qv, duv, qu, qv, min(curved, flat)


def _reach(lat: float, metres: float) -> float:
    """A Mercator radius around a point at `lat` that holds every point within `metres` of it
    on the earth (Mercator's scale is at most sec(latitude) on the way)."""
    phi = radians(min(abs(lat) + degrees(metres / R_EARTH), MAX_LAT))
    return metres * (R_MERCATOR / R_EARTH) / cos(phi) * (1.0 + 1e-9) + 1.0


def _toward(x: float, y: float, lon: float, lat: float) -> tuple[float, float]:
    """The Mercator unit vector from (x, y) to (lon, lat), (0, 0) if they coincide."""
    dx = radians(lon) * R_MERCATOR - x
    dy = log(tan(pi / 4 + radians(min(max(lat, -MAX_LAT), MAX_LAT)) / 2)) * R_MERCATOR - y
    norm = sqrt(dx * dx + dy * dy)
    return (dx / norm, dy / norm) if norm > 0.0 else (0.0, 0.0)


def _at(surface: Sequence[float], u: float, v: float) -> float:
    d00, du, dv, duv, qu, qv = surface[:6]
    return d00 + u * (du - qu * u + duv * v) + v * (dv - qv * v)


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
        self._coast_tree = shapely.STRtree(self._coast, node_capacity=NODE_CAPACITY)
        self._countries: list[Country] = []
        geometries = []
        for country, geometry in countries:
            self._countries.append(country)
            geometries.append(geometry)
        self._country_tree = shapely.STRtree(geometries) if geometries else None
        self._cells: dict[int, _Cell] = {}  # fine cell key -> the cell that answers there
        self._corners: dict[int, _Corner] = {}  # by fine-grid key, shared by the levels
        # per level, cell key -> its cell when the level is fine enough there, else None
        self._levels: list[dict[int, _Cell | None]] = [{} for _ in range(LEVELS)]
        self._last: tuple[int, int, _Cell | None] = (0, -1, None)  # the last filled: level, key

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
    def _nearest(self, lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
        """Great-circle metres from each point to the nearest coastline (inf without one)."""
        merc = _mercator(np.column_stack([lon, lat]))
        points = np.asarray(shapely.points(merc), dtype=object)
        out = np.full(len(lat), np.inf)
        pairs = self._coast_tree.query_nearest(points, all_matches=False)
        if pairs.shape[1] == 0:
            return out
        at = pairs[0]
        out[at], ends = self._to_pieces(points[at], lat[at], lon[at], pairs[1])
        # the nearest piece in Mercator may not be the nearest on the earth (see `DOUBT_M`)
        mercator_m = np.full(len(lat), np.inf)
        mercator_m[at] = np.hypot(*(merc[at] - ends).T)
        phi = np.radians(np.minimum(np.abs(lat) + np.degrees(out / R_EARTH), MAX_LAT))
        doubt = out - mercator_m * (R_EARTH / R_MERCATOR) * np.cos(phi)
        far = np.flatnonzero(doubt > DOUBT_M)
        if len(far):
            reach = out[far] * (R_MERCATOR / R_EARTH) / np.cos(phi[far]) * (1.0 + 1e-9) + 1.0
            more = self._coast_tree.query(points[far], predicate="dwithin", distance=reach)
            at = far[more[0]]
            metres = self._to_pieces(points[at], lat[at], lon[at], more[1])[0]
            np.minimum.at(out, at, metres)
        return out

    def _to_pieces(
        self,
        points: NDArray[np.object_],
        lat: NDArray[np.float64],
        lon: NDArray[np.float64],
        pieces: NDArray[np.intp],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Great-circle metres from each point to its coast piece, at the piece's point nearest
        in Mercator, and that point (Mercator). Not quite the piece's nearest point on the earth:
        in the Bay of Bengal (10 m data) a few tens of metres off at most, but off a long piece of
        the coarser coast far out at high latitudes up to a few tenths of a percent too far."""
        lines = shapely.shortest_line(points, self._coast[pieces])
        ends = shapely.get_coordinates(shapely.get_point(lines, 1))
        end_lon, end_lat = _unmercator(ends[:, 0], ends[:, 1])
        return _haversine_m(lat, lon, end_lat, end_lon), ends

    def coast_distance_m(
        self,
        lats: Sequence[float] | NDArray[np.float64],
        lons: Sequence[float] | NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Unsigned great-circle metres from each point to the nearest coastline (exact)."""
        lat = np.asarray(lats, dtype=np.float64)
        lon = np.asarray(lons, dtype=np.float64)
        return self._nearest(lat, lon)

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

    def _exact_one(
        self, lat: float, lon: float, side: float = 0.0, within_m: float = inf
    ) -> tuple[float, float, float, int]:
        """`signed_distance_m` of one point, its nearest coast point (lon, lat) and that
        point's piece, in scalars: a cache fill needs a corner or two at a time, and numpy's
        per-call overhead would cost more than the query. `side` (1 at sea, -1 on land), when
        known, spares the land test; `within_m`, a bound on the distance, lets one tree query
        find every candidate."""
        x = radians(lon) * R_MERCATOR
        y = log(tan(pi / 4 + radians(min(max(lat, -MAX_LAT), MAX_LAT)) / 2)) * R_MERCATOR
        point = shapely.from_wkb(_POINT_WKB.pack(1, 1, x, y))  # twice as fast as Point(x, y)
        # (Mercator metres, piece): every piece that may be the nearest, nearest first
        candidates: list[tuple[float, int]] = []
        if within_m < inf:
            pieces = self._within(point, _reach(lat, within_m))
            if len(pieces) > 1:
                mercator = shapely.distance(point, self._coast[pieces])
                order = mercator.argsort()
                candidates = list(
                    zip(mercator[order].tolist(), pieces[order].tolist(), strict=True)
                )
            elif len(pieces) == 1:
                candidates = [(0.0, int(pieces[0]))]
        if not candidates:  # no bound (or, by rounding, nothing within it): ask for the nearest
            found = self._coast_tree.query_nearest(point, all_matches=False)
            if not len(found):
                return inf, nan, nan, -1
            candidates = [(0.0, int(found[0]))]
            within_m = inf
        piece = first = candidates[0][1]
        metres, end_x, end_y, end_lon, end_lat = self._to_piece(point, lat, lon, piece)
        phi = radians(min(abs(lat) + degrees(metres / R_EARTH), MAX_LAT))
        mercator_m = sqrt((x - end_x) ** 2 + (y - end_y) ** 2)
        if metres - mercator_m * (R_EARTH / R_MERCATOR) * cos(phi) > DOUBT_M:  # as `_nearest`
            reach = _reach(lat, metres)
            if within_m == inf:
                candidates = [(0.0, other) for other in self._within(point, reach).tolist()]
            others = [other for away, other in candidates if away <= reach and other != first]
            if len(others) > 2:  # far out at high latitudes, many: measured at once
                many = np.array(others)
                lengths, ends = self._to_pieces(
                    np.array([point], dtype=object), np.array([lat]), np.array([lon]), many
                )
                best = int(lengths.argmin())
                if lengths[best] < metres:
                    metres, piece = float(lengths[best]), others[best]
                    end_lon = degrees(ends[best, 0] / R_MERCATOR)
                    end_lat = degrees(2 * atan(exp(ends[best, 1] / R_MERCATOR)) - pi / 2)
            else:
                for other in others:
                    candidate = self._to_piece(point, lat, lon, other)
                    if candidate[0] < metres:
                        metres, _, _, end_lon, end_lat = candidate
                        piece = other
        if side == 0.0:
            side = -1.0 if shapely.contains_xy(self.land, lon, lat) else 1.0
        return side * metres, end_lon, end_lat, piece

    def _within(self, point: BaseGeometry, reach: float) -> NDArray[np.intp]:
        """The pieces within `reach` (Mercator metres) of `point` (asked as arrays of one,
        which spares the query's wrapper some work)."""
        found = self._coast_tree.query(
            np.array([point], dtype=object), predicate="dwithin", distance=np.array([reach])
        )
        result: NDArray[np.intp] = found[1]
        return result

    def _to_piece(
        self, point: BaseGeometry, lat: float, lon: float, piece: int
    ) -> tuple[float, float, float, float, float]:
        """`_to_pieces` of one point and piece, in scalars: metres, and the coast point in
        Mercator and in lon, lat."""
        (_, _), (end_x, end_y) = shapely.get_coordinates(
            shapely.shortest_line(point, self._coast[piece])
        ).tolist()
        end_lon = degrees(end_x / R_MERCATOR)
        end_lat = degrees(2 * atan(exp(end_y / R_MERCATOR)) - pi / 2)
        p1, p2 = radians(lat), radians(end_lat)
        a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(end_lon - lon) / 2) ** 2
        return 2 * R_EARTH * asin(sqrt(min(max(a, 0.0), 1.0))), end_x, end_y, end_lon, end_lat

    def is_on_land_exact(self, lat: float, lon: float) -> bool:
        return bool(shapely.contains_xy(self.land, lon, lat))

    # -- fast, cached ----------------------------------------------------------------------
    def _cell(self, lat: float, lon: float) -> _Cell:
        fine_x = floor((lon + 180.0) / FINE_DEG)
        fine_y = floor((lat + 90.0) / FINE_DEG)
        key = fine_x * KEY + fine_y
        cell = self._cells.get(key)
        if cell is None:
            level, last, cell = self._last  # a track mostly stays in the cell it was in
            if cell is None or (fine_x >> level) * KEY + (fine_y >> level) != last:
                cell = self._fill(fine_x, fine_y)
            if len(self._cells) >= MAX_CACHE:
                self._cells.clear()
            self._cells[key] = cell
        return cell

    def _fill(self, fine_x: int, fine_y: int) -> _Cell:
        """The cell of the coarsest level fine enough over a fine cell, judging levels top
        down (each judgement is remembered for the other fine cells it covers)."""
        for level in range(LEVELS - 1, -1, -1):
            key = (fine_x >> level) * KEY + (fine_y >> level)
            decided = self._levels[level]
            if key in decided:  # judged before, for another fine cell
                cell = decided[key]
            else:
                cell = self._judge(level, fine_x >> level, fine_y >> level)
                if len(decided) >= MAX_CACHE:
                    decided.clear()
                decided[key] = cell
            if cell is not None:
                self._last = (level, key, cell)
                return cell
        raise AssertionError("unreachable")

    def _judge(self, level: int, ix: int, iy: int) -> _Cell | None:
        """The cell (ix, iy) of `level` if it is fine enough, else None (level 0 always is).

        Fine enough: no corner nearer the coast than the diagonal (the coast does not cross
        the cell, whose side is then known); the blind spot and the interpolation's estimated
        error within bounds (see the module's docstring). The estimate (`_surface`): along each
        edge the slopes at its ends give the curvature, and a term q u (1 - u) (u across the
        cell, 0 to 1) added to the bilinear interpolation makes it exact for quadratics; what
        is left, third order, shows in the same data: the curvature's change from one edge to
        the opposite one, over 8, and each edge's misfit of its mean slope with its chord,
        times 0.0962 (a cubic's share). A convex coast at distance d curves the distance by at
        most 1 / d; more is a kink (a medial axis crossing the cell, or a concave coast), of
        which the curvature term leaves half, counted in. Plain bilinear errs by a quarter of
        the slopes' change across the cell (nothing for a straight coast); the cell takes the
        better. Where that is too much, the corners may fall in two groups by their gradients,
        each near its own coast: then each coast's distance is interpolated alone (`_split`),
        and the centre must agree.
        """
        step = 1 << level
        x0, y0 = ix * step, iy * step
        x1, y1 = x0 + step, y0 + step
        keys = (x0 * KEY + y0, x1 * KEY + y0, x0 * KEY + y1, x1 * KEY + y1)
        corners = self._corners
        if len(corners) >= MAX_CACHE:  # (here: a judgement adds at most five)
            corners.clear()
        size = FINE_DEG * step
        coslat = cos(radians((y0 + 0.5 * step) * FINE_DEG - 90.0))
        diagonal = size * METRES_PER_DEG_LAT * sqrt(1.0 + coslat * coslat)
        missing = [k for k in keys if k not in corners]
        if missing and level > 0:
            # the known corners may already show that the cell is too coarse: spare the others
            known_near = min((abs(corners[k][0]) for k in keys if k in corners), default=inf)
            inside = known_near - 0.5 * diagonal
            width, height = size * METRES_PER_DEG_LAT * coslat, size * METRES_PER_DEG_LAT
            blind = max(width, height) ** 2 / (8.0 * max(inside, 1.0))
            if known_near < diagonal or blind > BLIND_M or blind > BLIND_REL * inside:
                return None
        if missing:
            # known corners' nearest coast points bound the others' distance, and a known
            # corner farther from the coast than the diagonal tells their side
            side = 0.0
            feet = []
            for k in keys:
                known = corners.get(k)
                if known is not None:
                    feet.append((known[3], known[4]))
                    if abs(known[0]) > 1.01 * diagonal:
                        side = 1.0 if known[0] > 0.0 else -1.0
            for k in missing:
                self._add_corner(k, side, feet)
                feet.append((corners[k][3], corners[k][4]))
        c00, c10, c01, c11 = (corners[k] for k in keys)
        nearest = min(abs(c00[0]), abs(c10[0]), abs(c01[0]), abs(c11[0]))
        x0_deg, y0_deg = x0 * FINE_DEG - 180.0, y0 * FINE_DEG - 90.0
        if nearest == inf:  # no coast at all
            return _Cell(x0_deg, y0_deg, size, c00[0], 0.0, 0.0, 0.0)
        width, height = size * METRES_PER_DEG_LAT * coslat, size * METRES_PER_DEG_LAT
        inside = max(nearest - 0.5 * diagonal, 1.0)  # the least distance anywhere in the cell
        centred = False  # whether the centre must confirm the interpolation
        if level > 0:
            if nearest < diagonal:
                return None
            blind = diagonal * diagonal / (8.0 * inside)
            if blind > BLIND_M or blind > BLIND_REL * inside:
                # the centre (a corner of the four halves, needed if this cell is refused)
                # halves the blind spot and checks the interpolation
                blind = max(width, height) ** 2 / (8.0 * inside)
                if blind > BLIND_M or blind > BLIND_REL * inside:
                    return None
                centred = True
        first = _surface(c00, c10, c01, c11, size, width, height, inside)
        second: _Surface | None = None
        error = first[-1]
        if error > TOLERANCE_M or error > TOLERANCE_REL * inside:
            split = self._split(keys, size, coslat, width, height, inside, diagonal)
            if split is not None and max(split[0][-1], split[1][-1]) < error:
                first, second = split
                error = max(first[-1], second[-1])
                centred = level > 0
            if level > 0 and (error > TOLERANCE_M or error > TOLERANCE_REL * inside):
                return None
        if centred:
            centre = (x0 + (step >> 1)) * KEY + y0 + (step >> 1)
            if centre not in corners:
                feet = [(corners[k][3], corners[k][4]) for k in keys]
                self._add_corner(centre, 1.0 if c00[0] > 0.0 else -1.0, feet)
            guess = _at(first, 0.5, 0.5)
            if second is not None:
                other = _at(second, 0.5, 0.5)
                guess = min(guess, other) if guess > 0.0 else max(guess, other)
            miss = abs(guess - corners[centre][0])
            if miss > TOLERANCE_M or miss > TOLERANCE_REL * inside:
                return None
        mixed = nearest < diagonal
        return _Cell(
            x0_deg,
            y0_deg,
            size,
            *first[:6],
            mixed=mixed,
            # |interpolated - true| <= the distance to the farthest corner (the
            # signed distance is 1-Lipschitz); 1.5 x the diagonal leaves room
            sure_m=1.5 * size * METRES_PER_DEG_LAT * 1.4142,
            other=None if second is None else _Cell(x0_deg, y0_deg, size, *second[:6]),
            slow=mixed or second is not None,
        )

    def _split(
        self,
        keys: tuple[int, int, int, int],
        size: float,
        coslat: float,
        width: float,
        height: float,
        inside: float,
        diagonal: float,
    ) -> tuple[_Surface, _Surface] | None:
        """Two surfaces, one per coast, where the corners' gradients fall in two groups (a
        medial axis crosses the cell): each corner's distance to the other group's coast is
        that of the nearest coast point seen in the direction of that group's coast points
        rather than its own."""
        corners = self._corners
        cs = [corners[k] for k in keys]
        if min(abs(c[0]) for c in cs) < diagonal:  # the coast itself may cross the cell
            return None
        units = [(c[1] / (METRES_PER_DEG_LAT * coslat), c[2] / METRES_PER_DEG_LAT) for c in cs]
        gap, a, b = max(
            ((units[i][0] - units[j][0]) ** 2 + (units[i][1] - units[j][1]) ** 2, i, j)
            for i in range(4)
            for j in range(i + 1, 4)
        )
        if gap < 0.1:  # the gradients turn less than 20 degrees: no two coasts to tell apart
            return None
        group = [
            (units[i][0] - units[a][0]) ** 2 + (units[i][1] - units[a][1]) ** 2
            > (units[i][0] - units[b][0]) ** 2 + (units[i][1] - units[b][1]) ** 2
            for i in range(4)
        ]  # False: with a, True: with b
        lons = [k // KEY * FINE_DEG - 180.0 for k in keys]
        lats = [min(max(k % KEY * FINE_DEG - 90.0, -MAX_LAT), MAX_LAT) for k in keys]
        xs = [radians(lon) * R_MERCATOR for lon in lons]
        ys = [log(tan(pi / 4 + radians(lat) / 2)) * R_MERCATOR for lat in lats]
        toward, away, reach = [], [], 0.0
        for i, c in enumerate(cs):
            theirs = [cs[j] for j in range(4) if group[j] != group[i]]
            sx = sy = 0.0
            for t in theirs:
                tx, ty = _toward(xs[i], ys[i], t[3], t[4])
                sx, sy = sx + tx, sy + ty
            norm = sqrt(sx * sx + sy * sy)
            if norm == 0.0:
                return None
            toward.append((sx / norm, sy / norm))
            away.append(_toward(xs[i], ys[i], c[3], c[4]))
            bound = min(_haversine_one(lats[i], lons[i], t[4], t[3]) for t in theirs) + 1.0
            reach = max(reach, _reach(lats[i], bound))
        # one query for the four corners: the pieces near enough to any of them
        x_mid, y_mid = 0.25 * sum(xs), 0.25 * sum(ys)
        reach += max(sqrt((x - x_mid) ** 2 + (y - y_mid) ** 2) for x, y in zip(xs, ys, strict=True))
        middle = shapely.from_wkb(_POINT_WKB.pack(1, 1, x_mid, y_mid))
        pieces = self._within(middle, reach)
        if not len(pieces):
            return None
        points = np.asarray(shapely.points(np.array([xs, ys]).T), dtype=object)
        lines = shapely.shortest_line(points[:, np.newaxis], self._coast[pieces][np.newaxis, :])
        ends = shapely.get_coordinates(shapely.get_point(lines.ravel(), 1)).reshape(4, -1, 2)
        dx, dy = ends[:, :, 0] - np.array(xs)[:, None], ends[:, :, 1] - np.array(ys)[:, None]
        norm = np.hypot(dx, dy)
        norm[norm == 0.0] = np.nan
        dx, dy = dx / norm, dy / norm
        to, aw = np.array(toward), np.array(away)
        seen = (dx - to[:, :1]) ** 2 + (dy - to[:, 1:]) ** 2 < (dx - aw[:, :1]) ** 2 + (
            dy - aw[:, 1:]
        ) ** 2
        end_lon, end_lat = _unmercator(ends[:, :, 0], ends[:, :, 1])
        metres = _haversine_m(np.array(lats)[:, None], np.array(lons)[:, None], end_lat, end_lon)
        metres[~seen] = np.inf
        best = metres.argmin(axis=1)
        surfaces: list[list[_Corner]] = [list(cs), list(cs)]
        for i, c in enumerate(cs):
            j = int(best[i])
            found = float(metres[i, j])
            if found == inf or found < abs(c[0]) - 1.0:
                return None  # no other coast that way, or nearer than the nearest
            side = 1.0 if c[0] > 0.0 else -1.0
            surfaces[not group[i]][i] = _corner(
                lats[i], lons[i], side * found, float(end_lon[i, j]), float(end_lat[i, j]), -1
            )
        a00, a10, a01, a11 = surfaces[0]
        b00, b10, b01, b11 = surfaces[1]
        return (
            _surface(a00, a10, a01, a11, size, width, height, inside),
            _surface(b00, b10, b01, b11, size, width, height, inside),
        )

    def _add_corner(
        self, key: int, side: float = 0.0, feet: Sequence[tuple[float, float]] = ()
    ) -> None:
        """The exact signed distance at a corner (a fine-grid key: corners are shared by all
        levels), its gradient in metres per degree of longitude and of latitude (along the great
        circle away from the nearest coast point, towards it on land), and that point (lon,
        lat). Coast points already known nearby (`feet`) bound the distance."""
        corners = self._corners
        lon = key // KEY * FINE_DEG - 180.0
        lat = min(max(key % KEY * FINE_DEG - 90.0, -89.9), 89.9)
        within = inf
        for foot_lon, foot_lat in feet[:1]:
            within = min(within, _haversine_one(lat, lon, foot_lat, foot_lon) + 1.0)
        corners[key] = _corner(lat, lon, *self._exact_one(lat, lon, side, within))

    def signed_distance_fast_m(self, lat: float, lon: float) -> float:
        """Metres to the coastline, negative on land, from the grid cache."""
        cell = self._cell(lat, lon)
        fx = (lon - cell.x0) / cell.size
        fy = (lat - cell.y0) / cell.size
        value = (
            cell.d00 + fx * (cell.du - cell.qu * fx + cell.duv * fy) + fy * (cell.dv - cell.qv * fy)
        )
        if cell.slow:
            return self._slow(cell, lat, lon, fx, fy, value)
        return value

    def _slow(
        self, cell: _Cell, lat: float, lon: float, fx: float, fy: float, value: float
    ) -> float:
        """The interpolated `value` in a cell that a medial axis or the coast crosses."""
        other = cell.other
        if other is not None:
            second = other.d00 + fx * (other.du - other.qu * fx + other.duv * fy)
            second += fy * (other.dv - other.qv * fy)
            value = min(value, second) if value > 0.0 else max(value, second)
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
            floor((lon + 180.0) / FINE_DEG) * KEY + floor((lat + 90.0) / FINE_DEG)
        )
        if cell is None:
            cell = self._cell(lat, lon)
        fx = (lon - cell.x0) / cell.size
        fy = (lat - cell.y0) / cell.size
        value = (
            cell.d00 + fx * (cell.du - cell.qu * fx + cell.duv * fy) + fy * (cell.dv - cell.qv * fy)
        )
        if cell.slow:
            value = self._slow(cell, lat, lon, fx, fy, value)
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
