"""Track-window features: what a vessel did over its last hours, as numbers a model can take.

`TrackWindow` keeps a vessel's recent fixes compactly (one a `spacing_s` at most, the last
`span_s`), fed with the cleaned points of `tracks.points`; `window_features(window, ...)`
turns them into the vector named by `FEATURE_NAMES`. Training and detection use the same two
pieces, so a model sees in service exactly the numbers it was trained on.

Geography comes in as plain callables (`distance_to_shore_nm`), as in `DetectContext`; without
them the shore features are 0. Times of day are local solar time (from the longitude), which
is what "at night" means at sea.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from tracks.records import StaticFields, TrackPoint

__all__ = [
    "FEATURE_NAMES",
    "TrackWindow",
    "circular_mean_deg",
    "circular_spread_deg",
    "local_hour",
    "ship_group",
    "window_features",
]

_W: Final = 6  # ts, lat, lon, sog, cog, heading (NaN when not reported)
_NAN: Final = float("nan")

FEATURE_NAMES: Final = (
    "speed_mean",  # knots
    "speed_std",
    "speed_p90",
    "slow_share",  # share of fixes under 2 kn
    "turn_deg_per_h",  # summed course change of moving fixes, per hour
    "course_spread_deg",  # circular spread of the course of moving fixes
    "straightness",  # net displacement / path length, 0 .. 1
    "gap_max_h",  # longest silence within the window
    "reports_per_h",
    "shore_nm_log",  # log1p(mean distance to shore, nm)
    "hour_sin",  # local solar time at the window's end
    "hour_cos",
    "class_b",
    "has_static",
    "fishing",  # ship type group, one-hot
    "cargo_tanker",
    "passenger",
    "unknown_type",
    "length_m",  # 0 when unknown
)


def local_hour(ts_ms: int, lon: float) -> float:
    """Local solar time of day, hours."""
    return ((ts_ms / 3_600_000.0) + lon / 15.0) % 24.0


def ship_group(ship_type: int | None) -> str:
    if ship_type is None or ship_type == 0:
        return "unknown"
    if ship_type == 30:
        return "fishing"
    if 60 <= ship_type <= 69 or 40 <= ship_type <= 49:
        return "passenger"
    if 70 <= ship_type <= 89:
        return "cargo_tanker"
    return "other"


def circular_mean_deg(angles: Sequence[float] | NDArray[np.float64]) -> float:
    a = np.radians(np.asarray(angles, dtype=np.float64))
    if a.size == 0:
        return _NAN
    return float(np.degrees(np.arctan2(np.sin(a).mean(), np.cos(a).mean())) % 360.0)


_SUM: Final = np.add.reduce  # what ndarray.mean and .std sum with


def _mean(values: NDArray[np.float64]) -> float:
    """`values.mean()` of a non-empty 1-d array (the same sum and division, without the
    overhead)."""
    n: int = values.shape[0]
    return float(_SUM(values)) / n


def _std(values: NDArray[np.float64]) -> float:
    """`values.std()` of a non-empty 1-d array, likewise."""
    n: int = values.shape[0]
    deviations = values - float(_SUM(values)) / n
    np.multiply(deviations, deviations, out=deviations)
    return math.sqrt(float(_SUM(deviations)) / n)


def circular_spread_deg(angles: Sequence[float] | NDArray[np.float64]) -> float:
    """Circular standard deviation in degrees (0 for one direction, large for any)."""
    a = np.radians(np.asarray(angles, dtype=np.float64))
    if a.size == 0:
        return 0.0
    r = math.hypot(_mean(np.sin(a)), _mean(np.cos(a)))
    return float(np.degrees(math.sqrt(max(0.0, -2.0 * math.log(max(r, 1e-12))))))


class TrackWindow:
    """A vessel's recent fixes and what it says about itself."""

    __slots__ = ("ais_class", "mmsi_class", "rows", "spacing_ms", "span_ms", "static")

    def __init__(self, span_s: float = 3 * 3600.0, spacing_s: float = 60.0) -> None:
        self.span_ms = int(span_s * 1000)
        self.spacing_ms = int(spacing_s * 1000)
        self.rows: array[float] = array("d")
        self.static = StaticFields()
        self.ais_class: str | None = None
        self.mmsi_class = "ship"

    def __len__(self) -> int:
        return len(self.rows) // _W

    @property
    def first_ts(self) -> int:
        return int(self.rows[0]) if self.rows else 0

    @property
    def last_ts(self) -> int:
        return int(self.rows[-_W]) if self.rows else 0

    def add(self, point: TrackPoint) -> bool:
        """Take an on-track point; True when it was kept (the spacing allows it)."""
        self.static = point.static
        if point.ais_class:
            self.ais_class = point.ais_class
        self.mmsi_class = point.mmsi_class
        if not point.segment_id or point.lat is None or point.lon is None:
            return False
        rows = self.rows
        if rows and point.ts - rows[-_W] < self.spacing_ms:
            return False
        rows.extend(
            (
                float(point.ts),
                point.lat,
                point.lon,
                _NAN if point.sog is None else point.sog,
                _NAN if point.cog is None else point.cog,
                _NAN if point.heading is None else float(point.heading),
            )
        )
        cutoff = point.ts - self.span_ms
        if rows[0] < cutoff:
            drop = 0
            n = len(rows)
            while drop < n - _W and rows[drop] < cutoff:
                drop += _W
            del rows[:drop]
        return True

    def array(self) -> NDArray[np.float64]:
        return np.frombuffer(self.rows, dtype=np.float64).reshape(-1, _W)

    def hours(self) -> float:
        return (self.last_ts - self.first_ts) / 3_600_000.0 if self.rows else 0.0

    def to_list(self) -> list[float]:
        return list(self.rows)

    def load(self, values: Sequence[float]) -> None:
        self.rows = array("d", values)


def _haversine_m(
    lat1: NDArray[np.float64],
    lon1: NDArray[np.float64],
    lat2: NDArray[np.float64],
    lon2: NDArray[np.float64],
) -> NDArray[np.float64]:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    metres: NDArray[np.float64] = 2 * 6_371_008.8 * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return metres


def _percentile_linear(values: NDArray[np.float64], q: float) -> float:
    """`np.percentile(values, q)` (linear interpolation) of a non-empty array without NaN,
    without its overhead: the same order statistics and the same interpolation arithmetic."""
    n: int = values.shape[0]
    virtual = (n - 1) * (q / 100.0)
    below = math.floor(virtual)
    above = min(below + 1, n - 1)
    part = np.partition(values, (below, above))
    a, b = float(part[below]), float(part[above])
    gamma = virtual - below
    diff = b - a
    return b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma


_PAIRS: dict[int, tuple[NDArray[np.intp], NDArray[np.intp]]] = {}  # by window length
_PICKS: dict[tuple[int, int], list[int]] = {}
_CACHED_LENGTHS: Final = 2048  # windows longer than this (not the detectors') are not cached


def _picks(n: int, k: int) -> list[int]:
    """`k` fixes of `n` spread evenly, first and last included (for the distance to shore)."""
    picks = _PICKS.get((n, k))
    if picks is None:
        picks = [int(i) for i in np.linspace(0, n - 1, k).astype(int)]
        if n <= _CACHED_LENGTHS:
            _PICKS[(n, k)] = picks
    return picks


def _pairs(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Index pairs of a window of `n` fixes: each fix and the next, then the first and the
    last (every step and the net displacement, in one haversine)."""
    pairs = _PAIRS.get(n)
    if pairs is None:
        first = np.arange(n, dtype=np.intp)
        first[-1] = 0
        second = np.arange(1, n + 1, dtype=np.intp)
        second[-1] = n - 1
        first.flags.writeable = second.flags.writeable = False
        pairs = (first, second)
        if n <= _CACHED_LENGTHS:
            _PAIRS[n] = pairs
    return pairs


def window_features(
    window: TrackWindow,
    distance_to_shore_nm: Callable[[float, float], float] | None = None,
    shore_samples: int = 3,
) -> NDArray[np.float64]:
    """The `FEATURE_NAMES` vector of a window (at least two fixes).

    Evaluated for every moving vessel every hour or so, on a few tens to a couple of hundred
    fixes: numpy's cost per call, not per element, dominates, so each number is computed from
    the window's array in as few calls as give the same result."""
    m = window.array()
    n = m.shape[0]
    rows = window.rows
    ts_first, ts_last, lon_last = rows[0], rows[-_W], rows[-_W + 2]
    ts, lat, lon, sog, cog = m[:, 0], m[:, 1], m[:, 2], m[:, 3], m[:, 4]
    speeds = sog[~np.isnan(sog)]
    if speeds.size == 0:
        speeds = np.zeros(1)
    hours = max((ts_last - ts_first) / 3_600_000.0, 1.0 / 60.0)
    moving = ~np.isnan(cog) & (sog >= 1.0)  # NaN speeds compare False, as 0 kn would
    courses = cog[moving]
    if courses.size >= 2:
        changes = np.abs((np.diff(courses) + 540.0) % 360.0 - 180.0)
        turn = float(changes.sum()) / hours
    else:
        turn = 0.0
    if n >= 2:
        first, second = _pairs(n)
        metres = _haversine_m(lat[first], lon[first], lat[second], lon[second])
        path = float(metres[:-1].sum())
        net = float(metres[-1])
        straight = net / path if path > 50.0 else 0.0
        gap = float(np.diff(ts).max()) / 3_600_000.0
    else:
        straight, gap = 0.0, 0.0
    shore = 0.0
    if distance_to_shore_nm is not None:
        where = [(rows[i * _W + 1], rows[i * _W + 2]) for i in _picks(n, min(n, shore_samples))]
        shore = float(np.mean([distance_to_shore_nm(la, lo) for la, lo in where]))
    hour = local_hour(int(ts_last), lon_last)
    static = window.static
    group = ship_group(static.ship_type)
    length = (static.to_bow or 0) + (static.to_stern or 0)
    has_static = static.name is not None or static.ship_type is not None
    return np.array(
        [
            _mean(speeds),
            _std(speeds),
            _percentile_linear(speeds, 90.0),
            float(np.count_nonzero(speeds < 2.0)) / speeds.shape[0],
            turn,
            circular_spread_deg(courses),
            straight,
            gap,
            n / hours,
            math.log1p(min(shore, 999.0)),
            math.sin(2 * math.pi * hour / 24.0),
            math.cos(2 * math.pi * hour / 24.0),
            1.0 if window.ais_class == "B" else 0.0,
            1.0 if has_static else 0.0,
            1.0 if group == "fishing" else 0.0,
            1.0 if group == "cargo_tanker" else 0.0,
            1.0 if group == "passenger" else 0.0,
            1.0 if group in ("unknown", "other") else 0.0,
            float(length),
        ],
        dtype=np.float64,
    )
