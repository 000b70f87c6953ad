"""Spatial cells: the key of `tracks.cells`, so cross-vessel detectors scale out by area.

A cell is a square of `CELL_DEG` degrees on a latitude/longitude grid (0.25 degree, about 28 km
at the equator), named "c{size}:{row}:{col}" with integer indices counted from 90 S and 180 W.
`cells_for(lat, lon, radius_m)` is the point's own cell first, then every neighbouring cell whose
border lies within `radius_m` of it: a vessel near a border is also sent there, so any two
vessels closer than `radius_m` always share at least one cell (the cell of either of them).

Cells are larger than an encounter's 500 m by far, so a point goes to one cell most of the time
(about a fifth of the points of a uniform stream also go to a neighbour at radius 1.5 km).
"""

from __future__ import annotations

from math import ceil, cos, floor, radians

from anomaly.geo.geodesy import METRES_PER_DEG_LAT

CELL_DEG = 0.25


def _name(row: int, col: int, size: float = CELL_DEG) -> str:
    return f"c{size:g}:{row}:{col % round(360 / size)}"


def cell_of(lat: float, lon: float, size: float = CELL_DEG) -> str:
    """The cell holding (lat, lon)."""
    rows = round(180 / size)
    row = min(max(floor((lat + 90.0) / size), 0), rows - 1)
    col = floor(((lon + 180.0) % 360.0) / size)
    return _name(row, col, size)


def cells_for(lat: float, lon: float, radius_m: float, size: float = CELL_DEG) -> list[str]:
    """The point's cell, then the neighbours whose border is within `radius_m` of it."""
    rows = round(180 / size)
    y = (lat + 90.0) / size
    x = ((lon + 180.0) % 360.0) / size
    row = min(max(floor(y), 0), rows - 1)
    col = floor(x)
    out = [_name(row, col, size)]
    if radius_m <= 0:
        return out
    dy = radius_m / METRES_PER_DEG_LAT / size  # in cells
    dx = dy / max(cos(radians(min(abs(lat) + dy * size, 89.0))), 1e-6)
    fy, fx = y - row, x - col
    reach_y, reach_x = ceil(dy), ceil(dx)
    for oy in range(-reach_y, reach_y + 1):
        r = row + oy
        if r < 0 or r >= rows:
            continue
        # distance, in cells, from the point to that row of cells
        near_y = max(oy - fy, 0.0, fy - (oy + 1))
        for ox in range(-reach_x, reach_x + 1):
            if oy == 0 and ox == 0:
                continue
            near_x = max(ox - fx, 0.0, fx - (ox + 1))
            if (near_y / dy) ** 2 + (near_x / dx) ** 2 <= 1.0:
                out.append(_name(r, col + ox, size))
    return out
