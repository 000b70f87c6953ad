"""A model of normal traffic, for `route_anomaly`: where vessels go, which way, how fast, and how
a few hours of a vessel's track usually look.

Two parts, trained together from history (`train_route_model`, `lookout train --kind route`):

- `density`: a `CellDensity` over every fix (latitude, longitude in 0.25 degree cells smoothed
  over their neighbours; course in 30 degree sectors and speed in 4 kn steps within the cell,
  falling back on what is usual anywhere where a cell has few fixes; a vessel under 1 kn counts
  as stopped whatever its course): how usual it is to be here, going this way at this speed.
  Kept as its counts (a `DensityTable`);
- `forest`: an IsolationForest over track windows (`anomaly.models.features`, three hours by
  default; the time of day left out) plus the window's density (mean and 10th percentile of
  its fixes' log-density). Kept as plain lists (`CompactForest`).

A window is scored twice: by the forest (an unusual shape of track: speeds, turns, gaps, kind
of vessel), and by its mean density (an unusual place, course or speed for these waters, which
a forest over many features can miss). Each is measured against the level that half of
`contamination` of the training windows passed, in units of its spread over the training
windows; the window's anomaly score is the larger of the two, and above 0 is anomalous. The
file is a joblib dump of `RouteModel`; its `version` is the training time and a hash of what
it was trained on. It holds numbers and lists, no scikit-learn object: loading it does not
import scikit-learn (scikit-learn trains; it does not score).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from anomaly.models.density import DensityTable
from anomaly.models.features import FEATURE_NAMES, TrackWindow, window_features
from tracks.records import TrackPoint

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]

    from anomaly.models.estimators import CellDensity

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_FORMAT",
    "READABLE_FORMATS",
    "RouteModel",
    "density_rows",
    "is_moving",
    "load_model",
    "save_model",
    "train_route_model",
]

log = logging.getLogger(__name__)

MODEL_FORMAT: Final = 3  # of the files `save_model` writes
# The formats `load_model` reads, by kind. Format 3 holds no scikit-learn object; older files
# are upgraded as they load (which imports scikit-learn). Format 2: the route density counts a
# state per cell (format 1 counted it per longitude strip, so such a route model must be
# retrained); the risk model did not change.
READABLE_FORMATS: Final = {"route_anomaly": (2, 3), "migrant_risk": (1, 2, 3)}
DATA: Final = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL: Final = DATA / "route.joblib"
ROUTE_FEATURES: Final = (*FEATURE_NAMES, "density_mean", "density_p10")
STOPPED_KN: Final = 1.0

# How each feature reads in a reason, and its unit.
_WORDS: Final = {
    "speed_mean": ("mean speed", "kn"),
    "speed_std": ("speed variation", "kn"),
    "speed_p90": ("top speed", "kn"),
    "slow_share": ("time under 2 kn", "%"),
    "turn_deg_per_h": ("course changes", "°/h"),
    "course_spread_deg": ("spread of courses", "°"),
    "straightness": ("straightness of the track", ""),
    "gap_max_h": ("longest silence", "h"),
    "reports_per_h": ("reports", "/h"),
    "shore_nm_log": ("distance from shore", "nm"),
    "length_m": ("length", "m"),
}


_MAX: Final = float(np.finfo(np.float64).max)


def density_rows(window_array: NDArray[np.float64]) -> NDArray[np.float64]:
    """(lat, lon, course, speed) per fix, course 0 when stopped or not reported; speed 0
    when not reported (infinite ones clipped to the largest float, as `np.nan_to_num`)."""
    rows = np.empty((window_array.shape[0], 4), dtype=np.float64)
    rows[:, :2] = window_array[:, 1:3]
    speed = rows[:, 3]
    np.copyto(speed, window_array[:, 3])
    speed[np.isnan(speed)] = 0.0
    np.clip(speed, -_MAX, _MAX, out=speed)
    cog = window_array[:, 4]
    rows[:, 2] = np.where(np.isnan(cog) | (speed < STOPPED_KN), 0.0, cog)
    return rows


@dataclass
class RouteModel:
    version: str
    trained_at: str
    density: DensityTable
    forest: CompactForest
    threshold: float
    window_s: float
    spacing_s: float
    feature_names: tuple[str, ...]
    feature_median: NDArray[np.float64]
    feature_iqr: NDArray[np.float64]
    training: dict[str, Any] = field(default_factory=dict)
    kind: str = "route_anomaly"
    forest_columns: tuple[int, ...] = ()  # the vector's columns the forest sees
    forest_level: float = 0.0  # forest score at the contamination level
    forest_scale: float = 1.0
    density_level: float = 0.0  # mean log-density at the contamination level (lower tail)
    density_scale: float = 1.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Upgrade a model of file format 2: a fitted `CellDensity` and the scikit-learn
        pipeline of the forest, beside its compact form."""
        compact = state.pop("compact", None)
        if not isinstance(state["forest"], CompactForest):
            state["forest"] = compact or CompactForest.from_pipeline(state["forest"])
        if not isinstance(state["density"], DensityTable):
            state["density"] = _table_of_format_2(state["density"])
        self.__dict__.update(state)

    def vector(
        self,
        window: TrackWindow,
        distance_to_shore_nm: Callable[[float, float], float] | None = None,
    ) -> NDArray[np.float64]:
        base = window_features(window, distance_to_shore_nm)
        dens = _window_density(self.density, window)
        return np.concatenate([base, [float(dens.mean()), _p10(dens)]])

    def forest_score(self, vector: NDArray[np.float64]) -> float:
        seen = vector[list(self.forest_columns)] if self.forest_columns else vector
        return self.forest.anomaly_score(seen)

    def score(self, vector: NDArray[np.float64]) -> float:
        """Anomaly score of a window: above `threshold` (0) is anomalous, higher is stranger."""
        shape = (self.forest_score(vector) - self.forest_level) / self.forest_scale
        where = (self.density_level - float(vector[-2])) / self.density_scale
        return max(shape, where)

    def explain(self, vector: NDArray[np.float64], top: int = 3) -> list[str]:
        """The features furthest from usual traffic, in words, with the figures."""
        z = (vector - self.feature_median) / self.feature_iqr
        order = np.argsort(-np.abs(z))
        out: list[str] = []
        for i in order:
            name = self.feature_names[i]
            if abs(z[i]) < 1.5 or len(out) >= top:
                break
            if name in ("density_mean", "density_p10"):
                if z[i] < 0 and not any("rarely" in r for r in out):
                    share = math.exp(float(vector[i]))
                    out.append(
                        f"Sailing where, in this direction and at this speed, traffic rarely "
                        f"goes (about 1 fix in {max(1.0, 1.0 / max(share, 1e-12)):,.0f} of "
                        f"history)"
                    )
                continue
            if name not in _WORDS:
                continue
            words, unit = _WORDS[name]
            value, usual = float(vector[i]), float(self.feature_median[i])
            if name == "shore_nm_log":
                value, usual = math.expm1(value), math.expm1(usual)
            if unit == "%":
                value, usual = value * 100, usual * 100
            direction = "higher" if z[i] > 0 else "lower"
            out.append(
                f"{words.capitalize()} {value:.1f}{unit} ({direction} than the usual "
                f"{usual:.1f}{unit})"
            )
        return out


def _table_of_format_2(density: Any) -> DensityTable:
    """The counts of a `CellDensity` fitted before it kept them in a `DensityTable`."""
    return DensityTable(
        bin_widths=density.bin_widths_,
        periods=list(density.periods_),
        spatial_dims=int(density.spatial_dims_),
        alpha=float(density.alpha),
        neighbourhood=int(density.neighbourhood_),
        state_prior=float(density.state_prior),
        n_state_bins=int(density.n_state_bins_),
        n_samples=int(density.n_samples_fit_),
        cell_keys=density.cell_keys_,
        cell_counts=density.cell_counts_,
        state_keys=density.state_keys_,
        state_counts=density.state_counts_,
        global_keys=density.global_keys_,
        global_counts=density.global_counts_,
    )


def _average_path_length(n: float) -> float:
    """c(n): the mean path length of an unsuccessful search in a binary search tree."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


@dataclass
class CompactForest:
    """A fitted StandardScaler + IsolationForest as plain lists, scored one sample at a time
    in pure Python (tens of microseconds, against about a millisecond through scikit-learn);
    `-score_samples` of the pipeline, to rounding."""

    mean: list[float]
    scale: list[float]
    trees: list[tuple[list[int], list[int], list[int], list[float], list[float]]]
    features: list[list[int]]
    max_samples: int

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> CompactForest:
        """From a fitted `make_pipeline(StandardScaler(), IsolationForest(...))`."""
        scaler, forest = pipeline[0], pipeline[-1]
        mean = [float(v) for v in scaler.mean_]
        scale = [float(v) for v in scaler.scale_]
        trees = []
        for tree in forest.estimators_:
            t = tree.tree_
            trees.append(
                (
                    [int(v) for v in t.children_left],
                    [int(v) for v in t.children_right],
                    [int(v) for v in t.feature],
                    [float(v) for v in t.threshold],
                    _leaf_depths(t),
                )
            )
        features = [[int(i) for i in f] for f in forest.estimators_features_]
        return cls(mean, scale, trees, features, int(forest.max_samples_))

    def anomaly_score(self, vector: NDArray[np.float64] | Sequence[float]) -> float:
        x = [(float(v) - m) / s for v, m, s in zip(vector, self.mean, self.scale, strict=True)]
        total = 0.0
        for (left, right, feature, threshold, leaf_depth), feats in zip(
            self.trees, self.features, strict=True
        ):
            node = 0
            while left[node] != -1:
                node = left[node] if x[feats[feature[node]]] <= threshold[node] else right[node]
            total += leaf_depth[node]
        depth = total / len(self.trees)
        return float(2.0 ** (-depth / _average_path_length(self.max_samples)))


def _leaf_depths(tree: Any) -> list[float]:
    """Per node: its depth plus c(samples in it) (the expected rest of the path), as in
    scikit-learn's IsolationForest; meaningful at leaves."""
    n = tree.node_count
    depth = [0] * n
    stack = [0]
    while stack:
        node = stack.pop()
        for child in (tree.children_left[node], tree.children_right[node]):
            if child != -1:
                depth[child] = depth[node] + 1
                stack.append(child)
    samples = tree.n_node_samples
    return [depth[i] + _average_path_length(float(samples[i])) for i in range(n)]


def _version(summary: dict[str, Any], trained_at: str) -> str:
    digest = hashlib.sha256(repr(sorted(summary.items())).encode()).hexdigest()[:10]
    return f"route-{trained_at.replace('-', '').replace(':', '')}-{digest}"


def train_route_model(
    tracks: Iterable[Sequence[TrackPoint]],
    *,
    distance_to_shore_nm: Callable[[float, float], float] | None = None,
    window_h: float = 3.0,
    spacing_s: float = 60.0,
    step_min: float = 30.0,
    min_fixes: int = 10,
    contamination: float = 0.002,
    n_estimators: int = 40,
    max_samples: int = 128,
    seed: int = 0,
    sources: Sequence[str] = (),
    trained_at: str | None = None,
) -> RouteModel:
    """Train from history: `tracks` yields each vessel's points in time order."""
    from sklearn.ensemble import IsolationForest  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    fixes: list[NDArray[np.float64]] = []
    fold_of_fixes: list[int] = []
    windows: list[tuple[TrackWindow, NDArray[np.float64], int]] = []
    step_ms = int(step_min * 60_000)
    vessels = 0
    for points in tracks:
        vessels += 1
        # each vessel in one of two halves, by a hash of its MMSI (not by order or parity,
        # which can follow how the history was gathered)
        fold = (((points[0].mmsi if points else vessels) * 2_654_435_761) >> 16) & 1
        window = TrackWindow(window_h * 3600.0, spacing_s)
        everything = TrackWindow(10**9, spacing_s)
        next_eval = 0
        for point in points:
            if not window.add(point):
                continue
            everything.add(point)
            if (
                point.ts >= next_eval
                and len(window) >= min_fixes
                and window.hours() >= window_h / 2
                and is_moving(window)
            ):
                next_eval = point.ts + step_ms
                features = window_features(window, distance_to_shore_nm)
                windows.append((_snapshot(window), features, fold))
        if len(everything):
            fixes.append(density_rows(everything.array()))
            fold_of_fixes.append(fold)
    if not fixes or len(windows) < 20:
        raise ValueError(f"too little history to learn from: {len(windows)} track windows")
    X_fix = np.vstack(fixes)
    density = _density().fit(X_fix)
    # Cross-fitted: each window's density comes from the other half of the vessels, so that
    # the levels learned are those of vessels the density has not seen, as in service.
    halves = [
        _density().fit(np.vstack([f for f, k in zip(fixes, fold_of_fixes, strict=True) if k != h]))
        if any(k != h for k in fold_of_fixes)
        else density
        for h in (0, 1)
    ]
    rows = []
    for window, base, fold in windows:
        dens = _window_density(halves[fold].table_, window)
        rows.append(np.concatenate([base, [float(dens.mean()), _p10(dens)]]))
    X = np.vstack(rows)
    columns = tuple(i for i, name in enumerate(ROUTE_FEATURES) if name not in _NOT_IN_FOREST)
    forest = make_pipeline(
        StandardScaler(),
        IsolationForest(
            n_estimators=n_estimators, max_samples=min(max_samples, len(X)), random_state=seed
        ),
    )
    forest.fit(X[:, list(columns)])
    shape_scores = -forest.score_samples(X[:, list(columns)])
    forest_level = float(np.quantile(shape_scores, 1.0 - contamination / 2))
    forest_scale = _spread(shape_scores)
    density_mean = X[:, -2]
    density_level = float(np.quantile(density_mean, contamination / 2))
    density_scale = _spread(density_mean)
    q25, median, q75 = np.percentile(X, [25, 50, 75], axis=0)
    iqr = np.where(q75 - q25 > 1e-9, q75 - q25, np.maximum(np.abs(median) * 0.1, 1.0))
    when = trained_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = {
        "vessels": vessels,
        "fixes": int(X_fix.shape[0]),
        "windows": int(X.shape[0]),
        "window_h": window_h,
        "contamination": contamination,
        "seed": seed,
        "sources": list(sources),
        "fix_digest": hashlib.sha256(np.round(X_fix, 4).tobytes()).hexdigest()[:16],
        "density": {k: v for k, v in density.get_params().items() if k != "contamination"},
        "features": {"density_every": DENSITY_EVERY, "moving_only": True, "version": 2},
        "forest": {"n_estimators": n_estimators, "max_samples": max_samples},
    }
    return RouteModel(
        version=_version(summary, when),
        trained_at=when,
        density=density.table_,
        forest=CompactForest.from_pipeline(forest),
        threshold=0.0,
        window_s=window_h * 3600.0,
        spacing_s=spacing_s,
        feature_names=ROUTE_FEATURES,
        feature_median=median,
        feature_iqr=iqr,
        training=summary,
        forest_columns=columns,
        forest_level=forest_level,
        forest_scale=forest_scale,
        density_level=density_level,
        density_scale=density_scale,
    )


_NOT_IN_FOREST: Final = ("hour_sin", "hour_cos")


DENSITY_EVERY: Final = 3  # a window's density from every third fix (a fix every 3 min)


def is_moving(window: TrackWindow) -> bool:
    """Whether the vessel made way at all in the window (a route needs movement: a ship at
    anchor or alongside is not scored)."""
    sog = window.array()[:, 3]
    return bool(np.nanmax(sog) >= STOPPED_KN) if len(sog) else False


def _window_density(density: DensityTable, window: TrackWindow) -> NDArray[np.float64]:
    rows = density_rows(window.array()[::DENSITY_EVERY])
    return density.score_array(rows)


def _density() -> CellDensity:
    from anomaly.models.estimators import CellDensity

    return CellDensity(
        bin_widths=(0.25, 0.25, 30.0, 4.0),
        periods=(None, None, 360.0, None),
        spatial_dims=2,
        alpha=0.5,
        contamination=0.01,
        neighbourhood=1,
        state_prior=20.0,
    )


def _p10(values: NDArray[np.float64]) -> float:
    """The 10th percentile (the lower one of a pair), faster than np.percentile."""
    k = (len(values) - 1) // 10
    return float(np.partition(values, k)[k])


def _spread(values: NDArray[np.float64]) -> float:
    q25, q75 = np.percentile(values, [25, 75])
    spread = float(q75 - q25)
    return spread if spread > 1e-9 else max(float(np.std(values)), 1e-6)


def _snapshot(window: TrackWindow) -> TrackWindow:
    copy = TrackWindow(window.span_ms / 1000, window.spacing_ms / 1000)
    copy.rows = window.rows[:]
    copy.static = window.static
    copy.ais_class = window.ais_class
    copy.mmsi_class = window.mmsi_class
    return copy


def save_model(model: Any, path: Path) -> Path:
    """A model file: joblib, compressed, with its kind and format."""
    import joblib  # type: ignore[import-untyped]

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"format": MODEL_FORMAT, "kind": model.kind, "model": model}, path, compress=3)
    return path


def load_model(path: Path, kind: str) -> Any:
    """The model in a file written by `save_model`; ValueError when it is not a `kind` model."""
    import joblib

    data = joblib.load(path)
    if not isinstance(data, dict) or data.get("kind") != kind or "model" not in data:
        raise ValueError(f"{path}: not a {kind} model file")
    readable = READABLE_FORMATS.get(kind, (MODEL_FORMAT,))
    if data.get("format") not in readable:
        raise ValueError(
            f"{path}: model format {data.get('format')}, expected {' or '.join(map(str, readable))}"
            " (retrain it with `lookout train`)"
        )
    return data["model"]
