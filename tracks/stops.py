"""Stops: where a vessel stayed within a small area for long enough (anchored, moored, drifting
slowly, waiting at a meeting point).

Streaming, one vessel at a time, a constant cost per point: the current window's bounding box
stands in for its diameter (exact enough at the scale of hundreds of metres). When a point
would stretch the window past `max_diameter_m`, the window closes: a stop if it lasted at least
`min_duration_s`; the next window starts from that point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import cos, hypot, radians

from tracks.hygiene import EARTH_RADIUS_M


@dataclass(frozen=True, slots=True)
class Stop:
    mmsi: int
    start: int  # epoch ms
    end: int
    lat: float  # centre of the stop
    lon: float
    points: int

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / 1000


@dataclass(slots=True)
class _Window:
    start: int
    end: int
    south: float
    north: float
    west: float
    east: float
    points: int = 1

    def diameter_m(self, lat: float, lon: float) -> float:
        """The diagonal of the box with this point, flat-Earth: over hundreds of metres it
        differs from the great circle by under a part in a billion, at a third of the cost."""
        south, north = min(self.south, lat), max(self.north, lat)
        west, east = min(self.west, lon), max(self.east, lon)
        across = (east - west) * cos(radians((south + north) * 0.5))
        return radians(hypot(north - south, across)) * EARTH_RADIUS_M

    def take(self, ts: int, lat: float, lon: float) -> None:
        self.end = ts
        self.south, self.north = min(self.south, lat), max(self.north, lat)
        self.west, self.east = min(self.west, lon), max(self.east, lon)
        self.points += 1

    def restart(self, ts: int, lat: float, lon: float) -> None:
        self.start = self.end = ts
        self.south = self.north = lat
        self.west = self.east = lon
        self.points = 1


class StopDetector:
    """`StopDetector(max_diameter_m, min_duration_s).update(mmsi, ts, lat, lon)` -> a Stop
    when one just ended; `finish()` returns the stops still open at the end of the data."""

    def __init__(self, max_diameter_m: float = 300.0, min_duration_s: float = 1800.0) -> None:
        self.max_diameter_m = max_diameter_m
        self.min_duration_ms = min_duration_s * 1000
        self._windows: dict[int, _Window] = {}

    def update(self, mmsi: int, ts: int, lat: float, lon: float) -> Stop | None:
        window = self._windows.get(mmsi)
        if window is None:
            self._windows[mmsi] = _Window(ts, ts, lat, lat, lon, lon)
            return None
        if window.diameter_m(lat, lon) <= self.max_diameter_m:
            window.take(ts, lat, lon)
            return None
        stop = self._stop(mmsi, window)
        window.restart(ts, lat, lon)  # reused: a moving vessel starts a window every few fixes
        return stop

    def finish(self) -> list[Stop]:
        stops = [self._stop(mmsi, window) for mmsi, window in self._windows.items()]
        self._windows.clear()
        return [stop for stop in stops if stop is not None]

    def _stop(self, mmsi: int, window: _Window) -> Stop | None:
        if window.end - window.start < self.min_duration_ms:
            return None
        lat = (window.south + window.north) / 2
        lon = (window.west + window.east) / 2
        if not math.isfinite(lat + lon):  # pragma: no cover - inputs are checked upstream
            return None
        return Stop(mmsi, window.start, window.end, lat, lon, window.points)
