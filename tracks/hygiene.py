"""Track hygiene: the settings, the physical speed limits and the geodesy the builder needs.

Distances and bearings use plain `math` on a spherical Earth: one call per point, where numpy's
per-call overhead would cost more than the arithmetic, and a sphere is within 0.5 % of the
ellipsoid, far inside the margin of the speed limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import asin, atan2, cos, degrees, radians, sin, sqrt

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
METRES_PER_NM = 1852.0
MS_PER_KNOT = METRES_PER_NM / 3600.0  # metres per second at one knot

FIXED_STATIONS = frozenset({"aton", "coast_station"})


@dataclass(frozen=True, slots=True)
class TrackSettings:
    """How tracks are cleaned; times in seconds, speeds in knots."""

    reorder_window_s: float = 60.0  # reports are held this long to be put in event-time order
    segment_gap_s: float = 7200.0  # a silence longer than this starts a new segment
    max_recent: int = 32  # recent on-track points kept per vessel
    recent_window_s: float = 7200.0  # ... and no older than this before the newest
    evict_after_s: float = 21600.0  # a vessel silent this long leaves memory (the consumer's job)
    max_pending: int = 64  # reorder buffer bound: beyond it the oldest is released early
    max_seen_keys: int = 8  # off-track reports remembered for duplicate detection
    noise_floor_m: float = 50.0  # moves this short never count as impossible (GPS scatter)
    # Consecutive impossible fixes, each consistent with the one before, that prove the last
    # good fix was the outlier (say a first fix at 0,0) and start a new segment; 0 never does.
    recover_after: int = 3
    class_a_knots: float = 50.0
    class_b_knots: float = 40.0
    high_speed_craft_knots: float = 70.0
    sar_aircraft_knots: float = 600.0
    fixed_station_knots: float = 5.0  # AtoN and coast stations: a jump is spoofing or a bad fix

    def __post_init__(self) -> None:
        if self.max_recent < 2:
            raise ValueError("max_recent must be at least 2: turn rates need two legs")
        if self.max_pending < 1 or self.max_seen_keys < 1 or self.recover_after < 0:
            raise ValueError("max_pending and max_seen_keys must be >= 1, recover_after >= 0")
        if min(self.reorder_window_s, self.segment_gap_s, self.recent_window_s) < 0:
            raise ValueError("windows and gaps cannot be negative")


DEFAULT_SETTINGS = TrackSettings()


def speed_limit_knots(
    mmsi_class: str,
    ais_class: str | None,
    ship_type: int | None,
    settings: TrackSettings = DEFAULT_SETTINGS,
) -> float:
    """The highest plausible speed over ground for a transmitter of this kind."""
    if mmsi_class == "sar_aircraft":
        return settings.sar_aircraft_knots
    if mmsi_class in FIXED_STATIONS:
        return settings.fixed_station_knots
    if ship_type is not None and 40 <= ship_type <= 49:  # AIS ship types: high-speed craft
        return settings.high_speed_craft_knots
    if ais_class == "B":
        return settings.class_b_knots
    return settings.class_a_knots


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1 = radians(lat1)
    phi2 = radians(lat2)
    half_dphi = (phi2 - phi1) * 0.5
    half_dlam = radians(lon2 - lon1) * 0.5
    a = sin(half_dphi) ** 2 + cos(phi1) * cos(phi2) * sin(half_dlam) ** 2
    return 2.0 * EARTH_RADIUS_M * asin(min(1.0, sqrt(a)))


def initial_bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing from the first point to the second, degrees true [0, 360)."""
    phi1 = radians(lat1)
    phi2 = radians(lat2)
    dlam = radians(lon2 - lon1)
    y = sin(dlam) * cos(phi2)
    x = cos(phi1) * sin(phi2) - sin(phi1) * cos(phi2) * cos(dlam)
    return degrees(atan2(y, x)) % 360.0


def course_change(before: float, after: float) -> float:
    """Signed change from one bearing to another, degrees in [-180, 180); positive = starboard."""
    return (after - before + 540.0) % 360.0 - 180.0


def knots(dist_m: float, dt_s: float) -> float:
    return dist_m / dt_s / MS_PER_KNOT
