"""Training from recorded data: `lookout train`.

    tracks = tracks_from_files(paths)                        # mmsi -> cleaned points
    route = train_route_from_files(paths)                    # normal traffic
    risk = train_risk_from_files(paths, labels=truth_path)   # labelled voyages

Files go through the same ingest and track building as the live pipeline, so a model learns
from the points it will see in service. Points are thinned to one a `spacing_s` per vessel
(the models look at minutes, not seconds), which keeps a day of a busy region in memory.

Labels for the risk model: a truth file (`lookout simulate --truth`: its `migrant_voyage`
records, a vessel counting as risky from its departure to its arrival) and/or officers'
outcomes (alerts closed `rescued` or `interdicted` mark their vessel risky over the alert's
span; `false_alarm` marks it ordinary).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from anomaly.models.risk import RiskGeography, RiskModel, risk_samples, train_risk_model
from anomaly.models.route import RouteModel, train_route_model
from ingest.pipeline import Ingestor, IngestSettings
from ingest.records import DeadLetter, PositionReport, StaticReport, parse_iso_ms
from ingest.sources import open_source
from tracks.builder import TrackBuilder
from tracks.hygiene import TrackSettings
from tracks.records import NEW_SEGMENT, TrackPoint
from tracks.state import VesselState

__all__ = [
    "Labels",
    "load_labels",
    "tracks_from_files",
    "train_risk_from_files",
    "train_route_from_files",
]

log = logging.getLogger(__name__)


class _TrackSink:
    """An ingest sink that builds every vessel's track, keeping one point a `spacing_ms`."""

    def __init__(self, settings: TrackSettings, spacing_ms: int) -> None:
        self.builder = TrackBuilder(settings)
        self.states: dict[int, VesselState] = {}
        self.points: dict[int, list[TrackPoint]] = defaultdict(list)
        self.spacing_ms = spacing_ms
        self.dead = 0

    def record(self, report: PositionReport | StaticReport) -> None:
        state, points = self.builder.advance(self.states.get(report.mmsi), report)
        self.states[report.mmsi] = state
        self._keep(points)

    def deadletter(self, letter: DeadLetter) -> None:
        self.dead += 1

    def _keep(self, points: Iterable[TrackPoint]) -> None:
        for point in points:
            kept = self.points[point.mmsi]
            if (
                not kept
                or point.ts - kept[-1].ts >= self.spacing_ms
                or (point.flags and NEW_SEGMENT in point.flags)
                or not point.segment_id
            ):
                kept.append(point)

    def finish(self) -> dict[int, list[TrackPoint]]:
        for state in self.states.values():
            self._keep(self.builder.flush(state))
        for points in self.points.values():
            points.sort(key=lambda p: p.ts)
        return dict(self.points)


def tracks_from_files(
    paths: Sequence[str | Path],
    *,
    ingest_settings: IngestSettings | None = None,
    track_settings: TrackSettings | None = None,
    spacing_s: float = 30.0,
) -> dict[int, list[TrackPoint]]:
    """Every vessel's cleaned points (thinned), from recorded files in any supported format."""
    sink = _TrackSink(track_settings or TrackSettings(), int(spacing_s * 1000))
    settings = ingest_settings or IngestSettings()
    ingestor = Ingestor(sink, settings)
    for path in paths:
        for raw in open_source(str(path), max_line_bytes=settings.max_line_bytes).lines():
            ingestor.push(raw.data, raw.source, raw.rx_ms, raw.truncated)
    ingestor.flush()
    return sink.finish()


def train_route_from_files(
    paths: Sequence[str | Path],
    *,
    distance_to_shore_nm: Callable[[float, float], float] | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> RouteModel:
    tracks = tracks_from_files(paths)
    return train_route_model(
        tracks.values(),
        distance_to_shore_nm=distance_to_shore_nm,
        seed=seed,
        sources=[Path(p).name for p in paths],
        **kwargs,
    )


class Labels:
    """Which vessel was risky when: intervals per MMSI, and vessels known to be ordinary."""

    def __init__(self) -> None:
        self.risky: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.ordinary: set[int] = set()
        self.ambiguous: set[int] = set()  # neither: left out of training

    def __call__(self, mmsi: int, ts: int) -> bool:
        return any(a <= ts <= b for a, b in self.risky.get(mmsi, ()))

    def __len__(self) -> int:
        return len(self.risky)


_FOREVER = 2**62


def load_labels(truth: Sequence[Path] = (), outcomes: Sequence[Path] = ()) -> Labels:
    """Labels from truth files (`migrant_voyage`) and officers' outcomes (closed alerts)."""
    return _load_labels(truth, outcomes)


def _load_labels(truth: Sequence[Path], outcomes: Sequence[Path]) -> Labels:
    labels = Labels()
    for path in truth:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            d = orjson.loads(line)
            if d.get("kind") != "truth":
                continue
            if d.get("type") != "migrant_voyage":
                # a vessel where a migrant-risk alert would be fair (a boat landing on a beach,
                # a craft meeting a migrant boat) is no example of an ordinary one
                if "migrant_risk" in ((d.get("details") or {}).get("also") or ()):
                    labels.ambiguous.update(int(m) for m in d.get("mmsis") or [d["mmsi"]])
                continue
            start = parse_iso_ms(d["start"])
            details = d.get("details") or {}
            end_text = details.get("arrival") or d.get("end")
            end = parse_iso_ms(end_text) if end_text else _FOREVER
            for mmsi in d.get("mmsis") or [d["mmsi"]]:
                labels.risky[int(mmsi)].append((start, end))
    for path in outcomes:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            d = orjson.loads(line)
            outcome = d.get("outcome")
            if not outcome or "start" not in d:
                continue
            mmsis = [int(m) for m in d.get("mmsis") or [d["mmsi"]]]
            if outcome in ("rescued", "interdicted"):
                start = parse_iso_ms(d["start"])
                end = parse_iso_ms(d["end"]) if d.get("end") else _FOREVER
                for mmsi in mmsis:
                    labels.risky[mmsi].append((start - 24 * 3_600_000, end))
            elif outcome == "false_alarm":
                labels.ordinary.update(mmsis)
    return labels


def train_risk_from_files(
    paths: Sequence[str | Path],
    labels: Labels,
    geo: RiskGeography,
    *,
    every_min: float = 30.0,
    **kwargs: Any,
) -> RiskModel:
    tracks = tracks_from_files(paths)
    usable = [
        (m, points)
        for m, points in tracks.items()
        if m in labels.risky or m not in labels.ambiguous
    ]
    X, y, groups = risk_samples(usable, geo, labels, every_min=every_min)
    log.info("risk training: %d samples, %d risky", len(y), int(y.sum()))
    return train_risk_model(X, y, groups, sources=[Path(p).name for p in paths], **kwargs)
