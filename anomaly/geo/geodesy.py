"""Small spherical helpers shared by the geography and the detectors (WGS84 degrees, metres).

The distance and bearing themselves come from `tracks.hygiene` (one definition of the earth in
the code base); this adds the forward problem and metric buffers of geometries in degrees.
"""

from __future__ import annotations

from math import asin, atan2, cos, degrees, radians, sin

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from tracks.hygiene import EARTH_RADIUS_M, METRES_PER_NM, distance_m, initial_bearing

__all__ = [
    "EARTH_RADIUS_M",
    "METRES_PER_DEG_LAT",
    "METRES_PER_NM",
    "buffer_m",
    "circle",
    "destination",
    "distance_m",
    "initial_bearing",
]

METRES_PER_DEG_LAT = 111_195.0  # mean, on the sphere of EARTH_RADIUS_M


def destination(lat: float, lon: float, bearing: float, metres: float) -> tuple[float, float]:
    """The point `metres` from (lat, lon) along the great circle of initial `bearing`."""
    delta = metres / EARTH_RADIUS_M
    phi1 = radians(lat)
    theta = radians(bearing)
    sin_phi1, cos_phi1, sin_delta, cos_delta = sin(phi1), cos(phi1), sin(delta), cos(delta)
    phi2 = asin(sin_phi1 * cos_delta + cos_phi1 * sin_delta * cos(theta))
    lam = atan2(sin(theta) * sin_delta * cos_phi1, cos_delta - sin_phi1 * sin(phi2))
    return degrees(phi2), (lon + degrees(lam) + 540.0) % 360.0 - 180.0


def circle(lat: float, lon: float, radius_m: float, vertices: int = 32) -> shapely.Polygon:
    """A polygon approximating the circle of `radius_m` around (lat, lon)."""
    ring = [destination(lat, lon, 360.0 * i / vertices, radius_m) for i in range(vertices)]
    return shapely.Polygon([(x, y) for y, x in ring])


def buffer_m(geometry: BaseGeometry, metres: float, band_deg: float = 2.0) -> BaseGeometry:
    """`geometry` (lon/lat degrees) grown by `metres`, within a few parts per thousand.

    Works band by band of latitude, each in an equirectangular frame true at its middle, so a
    region spanning the tropics keeps its buffer right at every latitude.
    """
    if geometry.is_empty:
        return geometry
    margin = metres / METRES_PER_DEG_LAT
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    parts: list[BaseGeometry] = []
    lat = float(np.floor(min_lat / band_deg) * band_deg)
    while lat < max_lat + margin:
        band = shapely.box(
            min_lon - 10 * margin - 1, lat, max_lon + 10 * margin + 1, lat + band_deg
        )
        source = shapely.clip_by_rect(
            geometry, min_lon - 1, lat - 2 * margin, max_lon + 1, lat + band_deg + 2 * margin
        )
        if not source.is_empty:
            k = cos(radians(min(max(lat + band_deg / 2, -85.0), 85.0)))
            squeezed = _scale_lon(source, k)
            grown = _scale_lon(shapely.buffer(squeezed, margin, quad_segs=8), 1.0 / k)
            parts.append(shapely.intersection(grown, band))
        lat += band_deg
    return shapely.union_all(parts)


def _scale_lon(geometry: BaseGeometry, k: float) -> BaseGeometry:
    def scale(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        out = coords.copy()
        out[:, 0] *= k
        return out

    return shapely.transform(geometry, scale)
