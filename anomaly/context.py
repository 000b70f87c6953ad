"""What the detectors may ask about the world beyond a vessel's own points: geography.

A `DetectContext` holds the geography as plain callables, so a detector never imports the
geography package and a test can say `DetectContext(in_watch_area=lambda lat, lon: True)`.
The defaults know no geography: nowhere is a watch area, an anchorage or a zone, and every
point is far from shore. `DetectContext.from_geography(load_geography(config_dir))` wires in
the real coastline and zones (`anomaly.geo`); `default_context(config_dir)` does that when the
geography package is installed and falls back to the defaults otherwise.

`trails` is the recent-positions store the detectors take their evidence tracks from. The
detection stage shares one between its detectors (updated once per point); a detector built
without one keeps its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

from anomaly.trail import Trails

__all__ = ["FAR_FROM_SHORE_NM", "DetectContext", "GeographyLike", "default_context"]

log = logging.getLogger(__name__)

FAR_FROM_SHORE_NM: Final = 999.0
"""What `distance_to_shore_nm` answers when no coastline is known."""


def _never(lat: float, lon: float) -> bool:
    return False


def _far(lat: float, lon: float) -> float:
    return FAR_FROM_SHORE_NM


def _nowhere(lat: float, lon: float) -> tuple[str, ...]:
    return ()


class GeographyLike(Protocol):
    """The part of `anomaly.geo.Geography` the detectors use."""

    def distance_to_shore_nm(self, lat: float, lon: float) -> float: ...

    def in_watch_area(self, lat: float, lon: float) -> bool: ...

    def in_anchorage(self, lat: float, lon: float) -> bool: ...

    def areas_at(self, lat: float, lon: float) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class DetectContext:
    in_watch_area: Callable[[float, float], bool] = _never
    distance_to_shore_nm: Callable[[float, float], float] = _far
    in_anchorage: Callable[[float, float], bool] = _never  # an anchorage or a port
    areas_of: Callable[[float, float], tuple[str, ...]] = _nowhere  # zone ids, for `areas`
    trails: Trails | None = None
    # A departure area (where crossings start): watched like a watch area by the gap rule.
    in_departure_area: Callable[[float, float], bool] = _never
    # Cross-vessel detectors fed by spatial cell: whether this consumer publishes for a cell
    # (None: it sees every vessel and publishes everything).
    owns_cell: Callable[[str], bool] | None = None

    @classmethod
    def from_geography(cls, geo: GeographyLike, trails: Trails | None = None) -> DetectContext:
        return cls(
            in_watch_area=geo.in_watch_area,
            distance_to_shore_nm=geo.distance_to_shore_nm,
            in_anchorage=geo.in_anchorage,
            areas_of=geo.areas_at,
            trails=trails,
            in_departure_area=_departure_areas(geo),
        )

    def with_trails(self, trails: Trails) -> DetectContext:
        return replace(self, trails=trails)

    def with_cells(self, owns_cell: Callable[[str], bool]) -> DetectContext:
        return replace(self, owns_cell=owns_cell)


def _departure_areas(geo: GeographyLike) -> Callable[[float, float], bool]:
    zones = getattr(geo, "zones", None)
    in_kind = getattr(zones, "in_kind", None)
    if in_kind is None:
        return _never

    def in_departure_area(lat: float, lon: float) -> bool:
        return bool(in_kind(lat, lon, "departure_area"))

    return in_departure_area


def default_context(config_dir: Path | None = None) -> DetectContext:
    """The geography of `config_dir` (its zones, the vendored coastline) when available."""
    try:
        from anomaly.geo import load_geography
    except ImportError:  # pragma: no cover - the geography package ships with Lookout
        log.warning("anomaly.geo is not available: detecting without coastline or zones")
        return DetectContext()
    return DetectContext.from_geography(load_geography(config_dir))
