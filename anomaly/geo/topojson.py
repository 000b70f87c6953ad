"""A small TopoJSON decoder: quantised, delta-encoded arcs and a transform -> shapely geometries.

Only what Natural Earth's `world-atlas` files use: Topology objects holding GeometryCollections
of Polygon and MultiPolygon geometries (and points, lines for completeness). Specification:
https://github.com/topojson/topojson-specification
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry


class TopoJsonError(ValueError):
    """The document is not a TopoJSON Topology this decoder understands."""


class Topology:
    """The arcs of a Topology, decoded once; `geometries(name)` yields its objects."""

    def __init__(self, document: dict[str, Any]) -> None:
        if document.get("type") != "Topology":
            raise TopoJsonError("not a TopoJSON Topology")
        self.document = document
        transform = document.get("transform")
        self.arcs: list[NDArray[np.float64]] = [
            _decode_arc(arc, transform) for arc in document.get("arcs", [])
        ]

    def _arc(self, index: int) -> NDArray[np.float64]:
        return self.arcs[index] if index >= 0 else self.arcs[~index][::-1]

    def _line(self, indices: Sequence[int]) -> NDArray[np.float64]:
        parts = [self._arc(i) if n == 0 else self._arc(i)[1:] for n, i in enumerate(indices)]
        return np.concatenate(parts) if parts else np.empty((0, 2))

    def _polygon(self, rings: Sequence[Sequence[int]]) -> shapely.Polygon:
        coords = [self._line(ring) for ring in rings]
        if not coords or len(coords[0]) < 4:  # a degenerate shell (quantised to nothing)
            return shapely.Polygon()
        return shapely.Polygon(coords[0], [hole for hole in coords[1:] if len(hole) >= 4])

    def geometry(self, obj: dict[str, Any]) -> BaseGeometry | None:
        kind = obj.get("type")
        arcs = obj.get("arcs")
        if kind == "Polygon":
            return self._polygon(arcs or [])
        if kind == "MultiPolygon":
            parts = [self._polygon(p) for p in arcs or []]
            return shapely.MultiPolygon([p for p in parts if not p.is_empty])
        if kind == "LineString":
            return shapely.LineString(self._line(arcs or []))
        if kind == "MultiLineString":
            return shapely.MultiLineString([self._line(a) for a in arcs or []])
        if kind in ("Point", "MultiPoint"):
            coords = np.asarray(obj["coordinates"], dtype=np.float64).reshape(-1, 2)
            transform = self.document.get("transform")
            if transform:
                coords = coords * transform["scale"] + transform["translate"]
            return shapely.Point(coords[0]) if kind == "Point" else shapely.MultiPoint(coords)
        if kind is None:
            return None
        raise TopoJsonError(f"unsupported geometry type {kind!r}")

    def features(self, name: str) -> Iterator[tuple[dict[str, Any], BaseGeometry | None]]:
        """(id and properties, geometry) of every geometry of object `name`."""
        try:
            obj = self.document["objects"][name]
        except KeyError as exc:
            raise TopoJsonError(f"no object {name!r}") from exc
        members = obj["geometries"] if obj.get("type") == "GeometryCollection" else [obj]
        for member in members:
            meta = {"id": member.get("id"), **(member.get("properties") or {})}
            yield meta, self.geometry(member)


def _decode_arc(arc: Sequence[Sequence[float]], transform: Any) -> NDArray[np.float64]:
    positions = np.asarray(arc, dtype=np.float64)[:, :2]
    if transform:
        positions = np.cumsum(positions, axis=0) * transform["scale"] + transform["translate"]
    return positions
