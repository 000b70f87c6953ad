"""Write tracks as an RFC 7946 GeoJSON FeatureCollection, streaming.

One feature per vessel segment: a LineString of the segment's on-track positions ([lon, lat]),
downsampled in time so memory stays bounded however long the recording, split into a
MultiLineString where it crosses the antimeridian; a segment with one position is a Point.
A segment is written as soon as the vessel starts its next one, the rest at `close()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import orjson

from ingest.records import iso_ms
from tracks.records import TrackPoint


@dataclass
class _Segment:
    mmsi: int
    segment_id: int
    start: int
    end: int
    points: int = 0
    distance_m: float = 0.0
    coordinates: list[tuple[float, float]] = field(default_factory=list)
    last_kept: int = 0
    last_point: TrackPoint | None = None


class GeoJsonTrackWriter:
    def __init__(self, path: Path, min_interval_s: float = 30.0) -> None:
        self._stream: IO[bytes] = path.open("wb")
        self._stream.write(b'{"type":"FeatureCollection","features":[\n')
        self._first = True
        self._min_ms = int(min_interval_s * 1000)
        self._open: dict[int, _Segment] = {}
        self.features = 0

    def add(self, point: TrackPoint) -> None:
        if not point.on_track or point.lat is None or point.lon is None:
            return
        segment = self._open.get(point.mmsi)
        if segment is None or segment.segment_id != point.segment_id:
            if segment is not None:
                self._write(segment)
            segment = _Segment(point.mmsi, point.segment_id, point.ts, point.ts)
            self._open[point.mmsi] = segment
        segment.points += 1
        segment.end = point.ts
        segment.distance_m += point.dist_m or 0.0
        segment.last_point = point
        if not segment.coordinates or point.ts - segment.last_kept >= self._min_ms:
            segment.coordinates.append((point.lon, point.lat))
            segment.last_kept = point.ts

    def close(self) -> None:
        for segment in self._open.values():
            self._write(segment)
        self._open.clear()
        self._stream.write(b"\n]}\n")
        self._stream.close()

    def _write(self, segment: _Segment) -> None:
        last = segment.last_point
        assert last is not None
        coordinates = list(segment.coordinates)
        if coordinates[-1] != (last.lon, last.lat):
            coordinates.append((last.lon, last.lat))  # type: ignore[arg-type]
        feature = {
            "type": "Feature",
            "geometry": _geometry(coordinates),
            "properties": _properties(segment, last),
        }
        if not self._first:
            self._stream.write(b",\n")
        self._first = False
        self._stream.write(orjson.dumps(feature))
        self.features += 1


def _geometry(coordinates: list[tuple[float, float]]) -> dict[str, Any]:
    distinct = list(dict.fromkeys(coordinates))
    if len(distinct) == 1:
        return {"type": "Point", "coordinates": list(distinct[0])}
    lines: list[list[list[float]]] = [[list(coordinates[0])]]
    for before, after in pairwise(coordinates):
        if abs(after[0] - before[0]) > 180:  # crosses the antimeridian: RFC 7946 section 3.1.9
            lines.append([])
        lines[-1].append(list(after))
    lines = [line for line in lines if len(line) >= 2]
    if not lines:  # only antimeridian hops between single positions
        return {"type": "Point", "coordinates": list(coordinates[-1])}
    if len(lines) == 1:
        return {"type": "LineString", "coordinates": lines[0]}
    return {"type": "MultiLineString", "coordinates": lines}


def _properties(segment: _Segment, last: TrackPoint) -> dict[str, Any]:
    static = last.static
    return {
        "mmsi": segment.mmsi,
        "segment_id": segment.segment_id,
        "start": iso_ms(segment.start),
        "end": iso_ms(segment.end),
        "duration_s": (segment.end - segment.start) / 1000,
        "points": segment.points,
        "distance_m": round(segment.distance_m, 1),
        "name": static.name,
        "callsign": static.callsign,
        "imo": static.imo,
        "ship_type": static.ship_type,
        "flag": last.flag,
        "mmsi_class": last.mmsi_class,
        "ais_class": last.ais_class,
    }
