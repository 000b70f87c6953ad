"""Where the API reads vessel positions: the tracks store, through a small protocol.

`tracks.store.TrackStore` satisfies `VesselSource` as it is (`picture`, `history`).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from tracks.records import TrackPoint

BBox = tuple[float, float, float, float]


class VesselSource(Protocol):
    def picture(
        self, bbox: BBox | None = None, since_ms: int | None = None
    ) -> list[TrackPoint]: ...

    def history(self, mmsi: int, start_ms: int, end_ms: int) -> list[TrackPoint]: ...


class NoVessels:
    """A source with no vessels (an API serving alerts only)."""

    def picture(self, bbox: BBox | None = None, since_ms: int | None = None) -> list[TrackPoint]:
        return []

    def history(self, mmsi: int, start_ms: int, end_ms: int) -> list[TrackPoint]:
        return []


class LatestPositions:
    """The latest point of each vessel, from `picture()`, refreshed at most every `ttl_s`."""

    def __init__(self, source: VesselSource, ttl_s: float = 1.0) -> None:
        self.source = source
        self.ttl_s = ttl_s
        self._points: dict[int, TrackPoint] = {}
        self._at = float("-inf")
        self._lock = threading.Lock()

    def get(self, mmsi: int) -> TrackPoint | None:
        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                self._points = {p.mmsi: p for p in self.source.picture()}
                self._at = time.monotonic()
            return self._points.get(mmsi)
