"""Recent positions of each vessel, for the evidence track of its alerts.

An alert's `evidence` is a GeoJSON LineString of the track around its episode. `Trails` keeps,
per vessel, a bounded ring of on-track positions: one a `spacing_s` at most (and the first of
every segment), never older than `horizon_s`. When the ring is full it is thinned by age: one
position per two minutes over the last half hour, per ten minutes up to three hours back, per
half hour beyond, so that a loitering episode of many hours, or one closed hours after it
began, still has its whole track, and a vessel costs at most `capacity` positions.

Positions live in one flat `array('d')` per vessel (ts, lat, lon): 24 bytes a point. The
update costs a dictionary lookup and a comparison for most points (10 s reports, 60 s spacing).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from typing import Any, Final

from tracks.records import NEW_SEGMENT, TrackPoint

__all__ = ["Trails"]

_WIDTH: Final = 3  # ts, lat, lon
_BIG_ENDIAN: Final = sys.byteorder == "big"


class Trails:
    """`Trails().update(point)`; `linestring(mmsi, since_ms)` -> a GeoJSON LineString."""

    def __init__(
        self, capacity: int = 64, spacing_s: float = 60.0, horizon_s: float = 12 * 3600.0
    ) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4")
        self.capacity = capacity
        self._spacing_ms = round(spacing_s * 1000)
        self._horizon_ms = round(horizon_s * 1000)
        self._rows: dict[int, array[float]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def update(self, point: TrackPoint) -> None:
        if not point.segment_id:  # off the track: late, impossible or without a position
            return
        rows = self._rows.get(point.mmsi)
        ts = point.ts
        if rows is None:
            self._rows[point.mmsi] = array("d", (ts, point.lat, point.lon))  # type: ignore[arg-type]
            return
        if ts - rows[-3] < self._spacing_ms and not (point.flags and NEW_SEGMENT in point.flags):
            return
        if ts <= rows[-3]:
            return
        rows.extend((ts, point.lat, point.lon))  # type: ignore[arg-type]  # on track: not None
        if len(rows) > self.capacity * _WIDTH:
            self._rows[point.mmsi] = rows = _thinned(rows)
        if ts - rows[0] > self._horizon_ms:
            self._rows[point.mmsi] = _recent(rows, ts - self._horizon_ms)

    def positions(
        self, mmsi: int, since_ms: int, until_ms: int | None = None
    ) -> list[tuple[int, float, float]]:
        """(ts, lat, lon) kept for the vessel in [since, until], oldest first."""
        rows = self._rows.get(mmsi)
        if rows is None:
            return []
        out = []
        for i in range(0, len(rows), _WIDTH):
            ts = rows[i]
            if ts < since_ms:
                continue
            if until_ms is not None and ts > until_ms:
                break
            out.append((int(ts), rows[i + 1], rows[i + 2]))
        return out

    def linestring(
        self,
        mmsi: int,
        since_ms: int,
        until_ms: int | None = None,
        tail: Iterable[tuple[float, float]] = (),
    ) -> dict[str, Any] | None:
        """The kept track in [since, until] then the `tail` (lat, lon) positions, as a GeoJSON
        LineString (a single position is doubled: a LineString needs two); None if empty."""
        kept = self.positions(mmsi, since_ms, until_ms)
        coords = [[round(lon, 5), round(lat, 5)] for _, lat, lon in kept]
        for lat, lon in tail:
            position = [round(lon, 5), round(lat, 5)]
            if not coords or coords[-1] != position:
                coords.append(position)
        if not coords:
            return None
        if len(coords) == 1:
            coords.append(list(coords[0]))
        return {"type": "LineString", "coordinates": coords}

    def state_of(self, mmsi: int) -> bytes | None:
        rows = self._rows.get(mmsi)
        if rows is None:
            return None
        if _BIG_ENDIAN:  # pragma: no cover - stored little-endian everywhere
            rows = array("d", rows)
            rows.byteswap()
        return rows.tobytes()

    def restore(self, mmsi: int, blob: bytes) -> None:
        if len(blob) % (8 * _WIDTH):
            raise ValueError(f"a trail of {len(blob)} bytes is not whole (ts, lat, lon) rows")
        rows = array("d")
        rows.frombytes(blob)
        if _BIG_ENDIAN:  # pragma: no cover
            rows.byteswap()
        self._rows[mmsi] = rows

    def forget(self, mmsi: int) -> None:
        self._rows.pop(mmsi, None)


# (age up to, one position per): recent minutes sharp, hours coarser.
_SCHEDULE: Final = ((30 * 60_000, 2 * 60_000), (3 * 3_600_000, 10 * 60_000))
_OLDER_SPACING_MS: Final = 30 * 60_000


def _thinned(rows: array[float]) -> array[float]:
    """One position per two minutes over the last half hour, per ten minutes up to three hours
    back, per half hour beyond: about 50 positions cover the twelve-hour horizon."""
    newest = rows[-_WIDTH]
    kept: list[int] = []
    last_key: tuple[int, int] | None = None
    for i in range(len(rows) - _WIDTH, -1, -_WIDTH):
        ts = rows[i]
        age = newest - ts
        spacing = _OLDER_SPACING_MS
        for limit, every in _SCHEDULE:
            if age < limit:
                spacing = every
                break
        key = (spacing, int(ts // spacing))
        if key != last_key:
            kept.append(i)
            last_key = key
    out = array("d")
    for i in reversed(kept):
        out.extend(rows[i : i + _WIDTH])
    return out


def _recent(rows: array[float], since_ms: int) -> array[float]:
    for i in range(0, len(rows), _WIDTH):
        if rows[i] >= since_ms:
            return rows[i:]
    return rows[-_WIDTH:]
