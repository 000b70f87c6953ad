"""Detection of `lookout process` on a core of its own: `BatchDetection` in a child process.

The live system runs detection as its own service; a batch run on one thread would add the
detectors' whole cost to the wall time. `DetectionProcess` has `BatchDetection`'s interface.
In the parent it reads `tracks.points` and, after every slice, sends the points it drained to
a child process (`python -m anomaly.batch_worker`), which publishes them on its own in-process
bus (same keys, so the same partitions and offsets) and drains its `BatchDetection`. Each of
the child's drains therefore polls exactly the batches the parent's stage would have polled,
and the alerts are the same, byte for byte (a test compares them).

The child is a fresh interpreter, not a fork (the parent may run threads) and not
multiprocessing's spawn (which re-runs the caller's main script: an analyst's unguarded script
would start itself again). Messages are pickles on two pipes. A writer thread sends what a
bounded queue holds, so ingest and tracks run at most a few slices ahead of detection and
memory stays bounded. A failure in the child (bad rules, a crash, its death) is raised in the
parent at its next call, with the child's traceback.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final, NoReturn

from anomaly.batch import BatchDetection
from anomaly.rules import RuleSet
from lookout.bus import topics
from lookout.bus.base import Bus, drain_available
from lookout.bus.memory import MemoryBus, MemoryProducer
from lookout.runtime import tune_gc

__all__ = ["DetectionFailed", "DetectionProcess"]

QUEUED_SLICES: Final = 4
POLL_RECORDS: Final = 10_000
WAIT_S: Final = 1.0  # how often a blocked parent checks that the child is still alive
PACKAGE_ROOT: Final = Path(__file__).resolve().parent.parent

# key, value, and the record as its class and its fields (as the in-process bus has them): a
# named tuple pickles and unpickles 2-3 times slower than the plain tuple of its fields
_Point = tuple[bytes | None, bytes, type | None, tuple[Any, ...] | None]


class DetectionFailed(RuntimeError):
    """The detection process failed or died."""


class DetectionProcess:
    def __init__(
        self,
        bus: Bus,
        rules: RuleSet,
        config_dir: Path | None = None,
        *,
        partitions: int,
        group: str = "detect",
    ) -> None:
        self._consumer = bus.consumer([topics.POINTS], group)
        self._child, self._jobs, self._replies = _start_child()
        self._outbox: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=QUEUED_SLICES)
        self._write_error: OSError | None = None
        self._writer = threading.Thread(target=self._write_jobs, name="detect-feed", daemon=True)
        self._writer.start()
        self._by_type: dict[str, int] = {}
        self._health: list[dict[str, Any]] = []
        self._closed = False
        self._send(("start", (rules, config_dir, partitions)))

    def drain(self) -> None:
        points: list[_Point] = []
        for batch in drain_available(self._consumer, POLL_RECORDS):
            for m in batch:
                record = m.record
                if record is None:
                    points.append((m.key, m.value, None, None))
                else:
                    points.append((m.key, m.value, record.__class__, tuple(record)))
        if points:
            self._send(("points", points))

    def finish(self) -> None:
        self.drain()
        self._send(("finish", None))
        self._by_type, self._health = self._reply("finished")

    def write(self, out_dir: Path) -> int:
        """Write the final revision of every alert (the child writes it); returns how many."""
        self._send(("write", str(out_dir)))
        written: int = self._reply("written")
        return written

    def by_type(self) -> dict[str, int]:
        return dict(self._by_type)

    def health(self) -> list[dict[str, Any]]:
        return list(self._health)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._child.poll() is None:
                self._send(("close", None))
                self._reply("closed")
        finally:
            self._outbox.put(None)
            self._writer.join(timeout=10)
            self._consumer.close()
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
            self._jobs.close()
            self._replies.close()

    def abort(self) -> None:
        """Stop the child without waiting for it (the parent failed)."""
        if self._closed:
            return
        self._closed = True
        self._child.kill()
        self._child.wait()
        self._consumer.close()
        self._jobs.close()
        self._replies.close()

    # -- talking to the child ---------------------------------------------------------------
    def _write_jobs(self) -> None:
        while (item := self._outbox.get()) is not None:
            try:
                self._jobs.send(item)
            except OSError as exc:  # the child is gone: the parent notices at its next call
                self._write_error = exc
                return

    def _send(self, item: tuple[str, Any]) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._outbox.put(item, timeout=WAIT_S)
                return
            except queue.Full:
                continue

    def _reply(self, expected: str) -> Any:
        while not self._replies.poll(WAIT_S):
            self._raise_if_failed()
        kind, value = self._receive()
        if kind != expected:
            raise DetectionFailed(f"detection process answered {kind!r}, expected {expected!r}")
        return value

    def _raise_if_failed(self) -> None:
        if self._replies.poll():  # a failure report, or the end of the pipe
            kind, _ = self._receive()
            raise DetectionFailed(f"detection process answered {kind!r} unasked")
        if self._child.poll() is not None or self._write_error is not None:
            self._died()

    def _receive(self) -> tuple[str, Any]:
        try:
            kind, value = self._replies.recv()
        except (EOFError, OSError):
            self._died()
        if kind == "failed":
            self._fail(value)
        return kind, value

    def _died(self) -> NoReturn:
        self.abort()
        raise DetectionFailed(f"detection process died (exit code {self._child.returncode})")

    def _fail(self, value: tuple[BaseException | None, str]) -> NoReturn:
        error, child_traceback = value
        self.abort()
        if error is None:
            raise DetectionFailed(f"detection process failed:\n{child_traceback}")
        error.add_note(f"in the detection process:\n{child_traceback}")
        raise error


def _start_child() -> tuple[subprocess.Popen[bytes], Connection, Connection]:
    jobs_in, jobs_out = os.pipe()
    replies_in, replies_out = os.pipe()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-m", "anomaly.batch_worker", str(jobs_in), str(replies_out)],
        pass_fds=(jobs_in, replies_out),
        env=env,
    )
    os.close(jobs_in)
    os.close(replies_out)
    return child, Connection(jobs_out, readable=False), Connection(replies_in, writable=False)


def _serve(jobs: Connection, replies: Connection) -> None:
    """The child: publish each slice's points on its own bus, drain detection, answer."""
    try:
        command, argument = jobs.recv()
        if command != "start":
            raise DetectionFailed(f"expected start, got {command!r}")
        rules, config_dir, partitions = argument
        bus = MemoryBus(default_partitions=partitions)
        bus.ensure_topics(topics.ALL)
        producer = bus.producer()
        detection = BatchDetection(bus, config_dir, rules=rules)
        dead = bus.consumer([topics.DEADLETTER], "process-deadletters")
        while True:
            command, argument = jobs.recv()
            if command == "points":
                _publish(producer, argument)
                detection.drain()
                for _ in drain_available(dead, POLL_RECORDS):  # so that the bus lets them go
                    pass
            elif command == "finish":
                detection.finish()
                replies.send(("finished", (detection.by_type(), detection.health())))
            elif command == "write":
                replies.send(("written", detection.write(Path(argument))))
            elif command == "close":
                detection.close()
                replies.send(("closed", None))
                return
    except BaseException as exc:  # every failure goes back to the parent
        _report_failure(replies, exc)


def _publish(producer: MemoryProducer, points: Sequence[_Point]) -> None:
    new = tuple.__new__
    producer.send_all(
        topics.POINTS,
        [
            (key, value, None if kind is None or fields is None else new(kind, fields))
            for key, value, kind, fields in points
        ],
    )


def _report_failure(replies: Connection, exc: BaseException) -> None:
    text = traceback.format_exc()
    try:
        replies.send(("failed", (exc, text)))
    except Exception:  # the exception does not pickle: send the text
        replies.send(("failed", (None, text)))


if __name__ == "__main__":
    tune_gc()
    _serve(
        Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    )
