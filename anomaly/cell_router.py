"""Re-keys track points by spatial cell for the cross-vessel detectors (DESIGN.md, anomaly/).

`tracks.points` is keyed by MMSI, so two vessels meeting at sea may be owned by two members of
the `detect` group and neither sees the pair. The router (consumer group `cells`) forwards every
vessel's on-track points, at most one every `every_s` per vessel, to `tracks.cells`, keyed by the
point's cell and by every neighbouring cell within `radius_m` (`anomaly.cells.cells_for`): both
vessels of a close pair reach a common cell, hence a common partition and consumer.

In event-time order: the cross-vessel detectors compare each point with the other vessels'
latest positions, so a vessel's points must not arrive hours before its neighbour's. Points of
`tracks.points` partitions are consumed unevenly (one partition's backlog, then another's), so
the router holds them and releases them merged by event time, up to the oldest of its
partitions' newest event times (`lateness_s` earlier); a partition heard nothing from for
`idle_s` does not hold the others back.

At least once: a partition's offset is committed only up to its oldest point still held, and
after what was released is flushed, so a crash re-forwards the points since the last commit;
the cell stage drops them by point id. The thinning is per router member and in memory: after
a restart it forwards a little more, never less.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from dataclasses import dataclass
from typing import Final

import orjson

from anomaly.cells import cells_for
from lookout.bus import topics
from lookout.bus.base import (
    Bus,
    BusError,
    Message,
    TopicPartition,
    close_stage,
    message_bytes,
    timeouts_end_the_stop,
)
from tracks.records import TrackPoint

__all__ = ["CellOwnership", "CellRouter", "CellRouterSettings"]

log = logging.getLogger(__name__)

GROUP: Final = "cells"
_END: Final = 2**62  # a watermark past every point: the end of the data


@dataclass(frozen=True, slots=True)
class CellRouterSettings:
    group: str = GROUP
    every_s: float = 30.0  # at most one point per vessel this often (encounters last hours)
    radius_m: float = 1500.0  # also to the cells within this distance (>= encounter's reach)
    commit_interval_s: float = 1.0
    poll_records: int = 2000
    lateness_s: float = 60.0  # released up to this much before the slowest partition's time
    idle_s: float = 5.0  # a partition silent this long (wall clock) does not hold others back


@dataclass
class CellRouterCounters:
    messages: int = 0
    forwarded: int = 0  # points forwarded (each to one or more cells)
    sent: int = 0  # messages sent on tracks.cells


class CellRouter:
    """One member of the `cells` group: `tracks.points` in, `tracks.cells` out."""

    def __init__(self, bus: Bus, settings: CellRouterSettings | None = None) -> None:
        self.settings = s = settings or CellRouterSettings()
        self.counters = CellRouterCounters()
        bus.ensure_topics([topics.POINTS, topics.CELLS])
        self._producer = bus.producer()
        self._consumer = bus.consumer([topics.POINTS], s.group)
        self._every_ms = round(s.every_s * 1000)
        self._lateness_ms = round(s.lateness_s * 1000)
        self._last: dict[int, int] = {}  # mmsi -> event time of the last point forwarded
        self._held: list[tuple[int, int, int, Message, TrackPoint]] = []  # (ts, seq, ...) heap
        self._seq = 0
        self._event: dict[int, int] = {}  # partition -> newest event time read
        self._heard: dict[int, float] = {}  # partition -> wall time of its last message
        self._read: dict[int, int] = {}  # partition -> next offset read
        self._started = time.monotonic()
        self._last_commit = time.monotonic()
        self._commits_failing_since: float | None = None

    def run(self, stop: threading.Event) -> None:
        try:
            with timeouts_end_the_stop(stop):
                while not stop.is_set():
                    self.step(timeout_s=0.5)
        finally:
            self.close()

    def step(self, timeout_s: float = 0.0) -> int:
        batch = self._consumer.poll(timeout_s, self.settings.poll_records)
        now = time.monotonic()
        for message in batch:
            partition = message.partition
            self._read[partition] = message.offset + 1
            self._heard[partition] = now
            point = self._point(message)
            if point is None:
                continue
            if point.ts > self._event.get(partition, 0):
                self._event[partition] = point.ts
            self._seq += 1
            heapq.heappush(self._held, (point.ts, self._seq, partition, message, point))
        self.counters.messages += len(batch)
        self._release(self._watermark(now))
        if now - self._last_commit >= self.settings.commit_interval_s:
            self._commit_in_passing()
        return len(batch)

    def drain(self) -> int:
        """Everything available now, all of it released (batch mode and tests)."""
        total = 0
        while count := self.step(0.0):
            total += count
        self._release(_END)
        self.commit()
        return total

    def commit(self) -> None:
        """Flush what was released, then commit each partition up to its oldest held point."""
        if not self._read:
            return
        self._producer.flush()
        self._commit_read()

    def _commit_read(self) -> None:
        floor = dict(self._read)
        for _, _, partition, message, _ in self._held:
            floor[partition] = min(floor[partition], message.offset)
        self._consumer.commit({TopicPartition(topics.POINTS, p): o for p, o in floor.items()})
        self._last_commit = time.monotonic()

    def _commit_in_passing(self) -> None:
        """The periodic commit. One the bus fails (the broker away, the group rebalancing) is
        only late: it is tried again at the next interval, and until one succeeds a restart
        forwards again from the last commit, with the same ids."""
        if not self._read:
            return
        self._producer.flush()  # waits out a broker outage; a failed delivery raises
        try:
            self._commit_read()
        except BusError as exc:
            self._last_commit = time.monotonic()
            if self._commits_failing_since is None:
                self._commits_failing_since = self._last_commit
                log.warning("cell router: offsets not committed, trying again: %s", exc)
            return
        if self._commits_failing_since is not None:
            failed_s = self._last_commit - self._commits_failing_since
            self._commits_failing_since = None
            log.warning("cell router: offsets committed again, after %.0f s of failures", failed_s)

    def close(self) -> None:
        """Commit and leave the group. Points the bus does not acknowledge within its stop
        timeout (`Bus.begin_stop`) leave the offsets uncommitted: the restart forwards again
        what came after the last commit, with the same ids."""
        skipped = (
            "stopped without a final commit: the restart forwards again what came after the "
            "last commit"
        )
        close_stage(self.commit, self._consumer, self._producer, skipped)

    def _watermark(self, now: float) -> int | None:
        """Event time every live partition has reached, less the lateness (None: hold all)."""
        idle = self.settings.idle_s
        assigned = {tp.partition for tp in self._consumer.assignment()} or set(self._event)
        live = [p for p in assigned if now - self._heard.get(p, self._started) < idle]
        if any(p not in self._event for p in live):
            return None  # a partition that is about to deliver has not yet
        events = [self._event[p] for p in live] or list(self._event.values())
        return min(events) - self._lateness_ms if events else None

    def _release(self, watermark: int | None) -> None:
        """Pass on the points up to `watermark` (None: none yet), oldest first."""
        if watermark is None:
            return
        held = self._held
        while held and held[0][0] <= watermark:
            _, _, _, message, point = heapq.heappop(held)
            self._route(message, point)

    @staticmethod
    def _point(message: Message) -> TrackPoint | None:
        point: TrackPoint | None = message.record
        if point is None:
            try:
                point = TrackPoint.from_dict(orjson.loads(message.value))
            except (ValueError, KeyError, TypeError):
                return None  # not a point: the detect stage dead-letters it from tracks.points
        if point.segment_id <= 0 or point.lat is None or point.lon is None:
            return None  # off track (late, impossible): no position to meet anyone at
        return point

    def _route(self, message: Message, point: TrackPoint) -> None:
        last = self._last.get(point.mmsi)
        if last is not None and 0 <= point.ts - last < self._every_ms:
            return
        self._last[point.mmsi] = point.ts
        value = message_bytes(message) if message.record is None else None
        lat: float = point.lat  # type: ignore[assignment]  # on track: never None
        lon: float = point.lon  # type: ignore[assignment]
        for cell in cells_for(lat, lon, self.settings.radius_m):
            if value is None:
                self._producer.send_record(topics.CELLS, point, cell.encode())
            else:
                self._producer.send(topics.CELLS, value, cell.encode())
            self.counters.sent += 1
        self.counters.forwarded += 1


class CellOwnership:
    """Whether a cell's partition of `tracks.cells` is one of `assigned` (a live set)."""

    def __init__(self, bus: Bus, assigned: set[int]) -> None:
        from kafka.partitioner.default import murmur2

        self._murmur2 = murmur2
        self._bus = bus
        self._assigned = assigned
        self._cache: dict[str, int] = {}

    def __call__(self, cell: str) -> bool:
        partition = self._cache.get(cell)
        if partition is None:
            count = self._bus.partitions_for(topics.CELLS)  # type: ignore[attr-defined]
            partition = (self._murmur2(cell.encode()) & 0x7FFFFFFF) % count
            self._cache[cell] = partition
        return partition in self._assigned
