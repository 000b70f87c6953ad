"""Alerts and tracks as RFC 7946 GeoJSON: WGS84 longitude, latitude order; no `crs` member."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import orjson

from tracks.records import TrackPoint

MEDIA_TYPE: Final = "application/geo+json"


def alert_feature(body: str | dict[str, Any]) -> dict[str, Any]:
    alert = orjson.loads(body) if isinstance(body, str) else body
    properties = {k: v for k, v in alert.items() if k not in ("lat", "lon", "v", "kind")}
    return {
        "type": "Feature",
        "id": alert["id"],
        "geometry": {"type": "Point", "coordinates": [alert["lon"], alert["lat"]]},
        "properties": properties,
    }


def alert_collection(bodies: Iterable[str], next_cursor: str | None = None) -> dict[str, Any]:
    collection: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [alert_feature(b) for b in bodies],
    }
    if next_cursor is not None:
        collection["next"] = next_cursor  # a foreign member (RFC 7946, 6.1)
    return collection


def point_properties(point: TrackPoint) -> dict[str, Any]:
    data = point.to_dict()
    for key in ("v", "kind", "lat", "lon"):
        data.pop(key, None)
    return data


def point_feature(point: TrackPoint) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": point.id,
        "geometry": {"type": "Point", "coordinates": [point.lon, point.lat]},
        "properties": point_properties(point),
    }


def track_collection(mmsi: int, points: Sequence[TrackPoint]) -> dict[str, Any]:
    """A vessel's track: one LineString per segment (two fixes or more) and every fix as a
    Point, in time order."""
    located = [p for p in points if p.lat is not None and p.lon is not None]
    features: list[dict[str, Any]] = []
    segments: dict[int, list[TrackPoint]] = {}
    for point in located:
        if point.on_track:
            segments.setdefault(point.segment_id, []).append(point)
    for segment_id, members in segments.items():
        if len(members) < 2:
            continue
        features.append(
            {
                "type": "Feature",
                "id": f"{mmsi}:segment:{segment_id}",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[p.lon, p.lat] for p in members],
                },
                "properties": {
                    "mmsi": mmsi,
                    "segment_id": segment_id,
                    "start": members[0].to_dict()["ts"],
                    "end": members[-1].to_dict()["ts"],
                    "points": len(members),
                },
            }
        )
    features.extend(point_feature(p) for p in located)
    return {"type": "FeatureCollection", "features": features}


def picture_collection(points: Iterable[TrackPoint]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [point_feature(p) for p in points if p.lat is not None and p.lon is not None],
    }
