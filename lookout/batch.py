"""`lookout process`: the pipeline over recorded data, in one process, streaming.

The same stages as the live system, over the in-process bus, driven in turn from one thread:
ingest pushes a slice of lines, then every downstream stage drains what it was given. Memory
stays bounded by the number of vessels, not by the size of the files: the bus releases what
every stage has committed, and track output is written as segments close.
Files are taken in event-time order of their first timestamped line. Outputs: tracks.geojson,
alerts.jsonl and summary.json.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from anomaly.batch import BatchDetection
from anomaly.batch_worker import DetectionProcess
from anomaly.rules import RuleSet, load_rules
from ingest.errors import IngestError
from ingest.framing import parse_line
from ingest.pipeline import Ingestor, IngestSettings
from ingest.publish import BufferedBusSink
from ingest.sources import FileSource, Source, open_source
from lookout.bus import topics
from lookout.bus.base import drain_available, payload
from lookout.bus.memory import MemoryBus
from tracks.geojson import GeoJsonTrackWriter
from tracks.hygiene import TrackSettings
from tracks.memory_store import MemoryTrackStore
from tracks.records import TrackPoint
from tracks.service import ServiceSettings, TrackStage

SLICE_LINES = 5000
# below this much input (bytes on disk), starting the detection process costs more than it saves
PARALLEL_MIN_BYTES = 4_000_000
BATCH_SERVICE = ServiceSettings(
    group="tracks", save_interval_s=3600.0, save_every_messages=50_000, keep_history=False
)


def first_event_time(path: str, probe_lines: int = 200) -> int:
    """The first time a file states (tag block, timestamp); files without one sort last."""
    try:
        for number, raw in enumerate(open_source(path).lines()):
            if number >= probe_lines:
                break
            try:
                stamp = parse_line(raw.data.strip())[0].time_ms
            except IngestError:
                continue
            if stamp is not None:
                return stamp
    except OSError:
        pass
    return sys.maxsize


def _push_source(source: Source, ingestor: Ingestor, after_slice: Callable[[], None]) -> None:
    """Every line of `source` into `ingestor`, calling `after_slice` every SLICE_LINES lines."""
    if isinstance(source, FileSource):  # by read chunks, cut into slices
        for batch in source.batches():
            for start in range(0, len(batch.lines), SLICE_LINES):
                ingestor.push_lines(
                    batch.lines[start : start + SLICE_LINES], batch.source, batch.rx_ms
                )
                after_slice()
        return
    for raw in source.lines():
        ingestor.push(raw.data, raw.source, raw.rx_ms, raw.truncated)
        if ingestor.stats.lines % SLICE_LINES == 0:
            after_slice()


def _parse_point(value: bytes) -> TrackPoint:
    return TrackPoint.from_dict(orjson.loads(value))


class _PointCollector:
    """Reads `tracks.points` for the outputs: GeoJSON segments and counts."""

    def __init__(self, bus: MemoryBus, writer: GeoJsonTrackWriter) -> None:
        self._consumer = bus.consumer([topics.POINTS], "process-output")
        self._writer = writer
        self.points = 0
        self.on_track = 0
        self.flags: dict[str, int] = {}
        self.vessels: set[int] = set()

    def drain(self) -> None:
        for batch in drain_available(self._consumer):
            for message in batch:
                point = payload(message, _parse_point)
                self.points += 1
                self.vessels.add(point.mmsi)
                for flag in point.flags:
                    self.flags[flag] = self.flags.get(flag, 0) + 1
                if point.on_track:
                    self.on_track += 1
                self._writer.add(point)


def _worth_a_process(paths: list[str], rules: RuleSet) -> bool:
    if (os.cpu_count() or 1) < 2 or not any(rule.enabled for rule in rules.rules):
        return False
    sizes = [os.path.getsize(p) if os.path.isfile(p) else PARALLEL_MIN_BYTES for p in paths]
    return sum(sizes) >= PARALLEL_MIN_BYTES


def _detection(
    bus: MemoryBus, rules: RuleSet, config_dir: Path | None, partitions: int, parallel: bool
) -> BatchDetection | DetectionProcess:
    if parallel:
        return DetectionProcess(bus, rules, config_dir, partitions=partitions)
    return BatchDetection(bus, config_dir, rules=rules)


def process(
    paths: list[str],
    out_dir: Path,
    ingest_settings: IngestSettings,
    track_settings: TrackSettings | None = None,
    partitions: int = 4,
    progress: Callable[[int], None] | None = None,
    config_dir: Path | None = None,
    rules_path: Path | None = None,
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Run ingest, tracks and detection over `paths`; write tracks.geojson, alerts.jsonl
    (the final revision of every alert) and summary.json to `out_dir`.

    `rules_path`: a rules file other than the configuration's (backtests). `parallel`: run
    detection in a process of its own (`anomaly.batch_worker`); None: when some rule is
    enabled, the machine has a second core and the input is large enough to repay starting
    the process. The alerts are the same either way."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bus = MemoryBus(default_partitions=partitions)
    bus.ensure_topics(topics.ALL)
    sink = BufferedBusSink(bus.producer())
    ingestor = Ingestor(sink, ingest_settings)
    stage = TrackStage(bus, MemoryTrackStore(), track_settings, BATCH_SERVICE)
    rules = load_rules(rules_path or config_dir)
    if parallel is None:
        parallel = _worth_a_process(paths, rules)
    detection = _detection(bus, rules, config_dir, partitions, parallel)
    try:
        writer = GeoJsonTrackWriter(out_dir / "tracks.geojson")
        collector = _PointCollector(bus, writer)
        dead = bus.consumer([topics.DEADLETTER], "process-deadletters")
        unreadable: list[str] = []

        def downstream() -> None:
            sink.flush()
            stage.drain(save=False)
            detection.drain()
            collector.drain()
            for _ in drain_available(dead):  # read, so that the bus lets them go
                pass

        def after_slice() -> None:
            downstream()
            if progress:
                progress(ingestor.stats.lines)

        for path in sorted(paths, key=first_event_time):
            try:
                source = open_source(path, max_line_bytes=ingest_settings.max_line_bytes)
                _push_source(source, ingestor, after_slice)
            except OSError as exc:
                unreadable.append(f"{path}: {exc}")
        ingestor.flush()
        downstream()
        stage.close(flush_vessels=True)
        detection.finish()
        collector.drain()
        writer.close()
        alerts_written = detection.write(out_dir)
        detection.close()
    except BaseException:
        detection.abort()  # do not wait for a child that may be stuck or gone
        raise
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {
        **ingestor.stats.summary(),
        "unreadable": unreadable,
        "vessels": len(collector.vessels),
        "points": collector.points,
        "points_on_track": collector.on_track,
        "point_flags": dict(sorted(collector.flags.items())),
        "segments": writer.features,
        "alerts": detection.by_type(),
        "detectors": detection.health(),
        "alerts_total": alerts_written,
        "wall_seconds": round(seconds, 3),
        "messages_per_s": round(ingestor.stats.lines / seconds) if seconds else None,
    }
    (out_dir / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return summary


@contextmanager
def terminal_progress() -> Iterator[Callable[[int], None] | None]:
    """A rich progress line on a terminal (lines processed); nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} lines"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("processing", total=None)
        yield lambda lines: bar.update(task, completed=lines)
