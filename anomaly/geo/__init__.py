"""Geography for the detectors: coastline and land (Natural Earth), named zones (config).

    geo = load_geography(config_dir)        # cached per folder; the vendored land is shared
    geo.distance_to_shore_nm(lat, lon)      # 0 on land
    geo.in_watch_area(lat, lon)             # in any zone of kind watch_area
    geo.in_anchorage(lat, lon)              # in any anchorage or port zone
    geo.zones.zones_at(lat, lon)            # every zone holding the point

Each call costs about a microsecond once its grid cell has been seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from anomaly.geo.shore import Country, Landfall, Shore, shore
from anomaly.geo.zones import HARBOUR_KINDS, WATCH_AREA, Zone, ZoneIndex, load_zones

__all__ = [
    "Country",
    "Geography",
    "Landfall",
    "Shore",
    "Zone",
    "ZoneIndex",
    "geography_for",
    "load_geography",
    "load_zones",
]


@dataclass(frozen=True, slots=True, eq=False)
class Geography:
    shore: Shore
    zones: ZoneIndex

    def distance_to_shore_nm(self, lat: float, lon: float) -> float:
        return self.shore.distance_to_shore_nm(lat, lon)

    def is_on_land(self, lat: float, lon: float) -> bool:
        return self.shore.is_on_land(lat, lon)

    def in_watch_area(self, lat: float, lon: float) -> bool:
        return self.zones.in_kind(lat, lon, WATCH_AREA)

    def in_anchorage(self, lat: float, lon: float) -> bool:
        """In an anchorage or a port zone."""
        return self.zones.in_kind(lat, lon, HARBOUR_KINDS)

    def areas_at(self, lat: float, lon: float) -> tuple[str, ...]:
        """Ids of every zone holding the point, for an alert's `areas`."""
        return self.zones.ids_at(lat, lon)


def geography_for(context: object | None = None, geo: Geography | None = None) -> Geography:
    """The geography a detector should use: `geo` if given, else the one an
    `anomaly.context.DetectContext` was wired from (`DetectContext.from_geography`), else the
    default config's. Lets the geographic detectors be built like the others:
    `Detector(config, context)`."""
    if geo is not None:
        return geo
    if context is not None:
        owner = getattr(getattr(context, "in_watch_area", None), "__self__", None)
        if isinstance(owner, Geography):
            return owner
    return load_geography()


def load_geography(config_dir: Path | None = None) -> Geography:
    """The shared geography of a config folder (its `zones/`), the vendored land for the coast."""
    if config_dir is None:
        from config import default_config_dir

        config_dir = default_config_dir()
    return _load(Path(config_dir).resolve())


@lru_cache(maxsize=8)
def _load(config_dir: Path) -> Geography:
    return Geography(shore(), ZoneIndex.from_config(config_dir))
