"""The detection stage: `tracks.points` in, `alerts` out, crash-safe (DESIGN.md, anomaly/).

A member of the `detect` consumer group owns some partitions of `tracks.points`, hence some
vessels, and runs the enabled per-vessel detectors over their points (`anomaly.registry`). It
mirrors the tracks stage (`tracks.service`):

- **state and offsets together**: the detectors' per-vessel states (and the shared evidence
  trails) are saved with the offsets reached, in one store transaction, after the alerts those
  points produced are acknowledged by the bus. A restart resumes at the last save; alerts
  emitted after it are emitted again with the same id *and revision*, which the API's alert
  sink drops (it keeps the highest revision of each id). Nothing is lost, nothing duplicated.
- **duplicates in**: points re-emitted after a tracks restart carry the same id; a two-
  generation window of recent point ids drops them, and a vessel's on-track points older than
  its newest one are dropped too (which also catches re-emissions older than the window).
- **event time**: time-driven rules (a silence that becomes a gap, an episode gone stale) are
  told the stage's watermark with `advance(now)`: the oldest of its partitions' newest event
  times, less `lateness_s` for the reorder slack of tracks (`watermark` says how idle partitions
  are told from lagging ones). Partition event times are saved with the offsets. Detectors
  decide as of event time, so when the watermark passes makes no difference to what they emit.
- **bounded memory**: a vessel silent `evict_after_s` leaves memory for the store and comes back
  from it when it reappears.
- **health**: given a `HealthBoard`, the stage reports what each of its rules is doing (running,
  silent and why, disabled: `anomaly.health`) when it starts, every `REPORT_EVERY_S` while it
  polls (a heartbeat, data or not) and when it closes.

`run_detect` runs one member (`anomaly.service` runs the roles of `lookout detect`); `lookout
process` drives the same stage over the in-process bus (`drain`, then `finish` at the end of
the data). With `topic` tracks.cells and `keyed_by` "cell" it is the cross-vessel stage.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from anomaly.blobs import BlobFormatError, pack_named, unpack_named
from anomaly.cell_router import CellOwnership
from anomaly.context import DetectContext
from anomaly.detectors.base import Detector, RuleConfig
from anomaly.health import REPORT_EVERY_S, DetectorHealth, HealthBoard, detector_health
from anomaly.records import Alert
from anomaly.registry import build_detectors
from anomaly.rules import RuleSet
from anomaly.store import DetectStore, PartitionMark, StoredVessel
from anomaly.trail import Trails
from ingest.errors import Reason
from ingest.records import DeadLetter
from lookout.bus import topics
from lookout.bus.base import (
    Bus,
    BusTimeout,
    Message,
    TopicPartition,
    close_stage,
    commit_advisory,
    message_bytes,
    timeouts_end_the_stop,
)
from lookout.claims import StageClaims
from tracks.records import TrackPoint

__all__ = ["DetectCounters", "DetectSettings", "DetectStage", "run_detect"]

log = logging.getLogger(__name__)

_STAGE: Final = "stage"  # the stage's own part of a vessel's blob
_TRAIL: Final = "trail"
_STAGE_PART: Final = struct.Struct("<qq")  # newest on-track ts, newest ts


@dataclass(frozen=True, slots=True)
class DetectSettings:
    group: str = "detect"
    topic: str = topics.POINTS  # tracks.cells for the cross-vessel stage (keyed_by "cell")
    save_interval_s: float = 2.0  # at most this much work is redone after a crash...
    save_every_messages: int = 20_000  # ... or this many messages
    poll_records: int = 2000
    dedup_window: int = 50_000  # point ids remembered (two generations of this many)
    lateness_s: float = 120.0  # the watermark trails the partitions' event time by this much
    max_partition_skew_s: float = 3600.0  # a partition this far behind the newest is idle
    advance_every_s: float = 60.0  # event time between two `advance` calls
    evict_after_s: float = 24 * 3600.0  # a vessel silent this long leaves memory
    keyed_by: str | None = "mmsi"  # detectors to run ("mmsi": per vessel); None: every one
    persist: bool = True  # save detector states (False: a batch run, nothing to resume)


@dataclass
class DetectCounters:
    messages: int = 0
    points: int = 0
    duplicates: int = 0
    deadletters: int = 0
    alerts: int = 0
    saves: int = 0
    evicted: int = 0
    advances: int = 0


class _Vessel:
    __slots__ = ("last_on", "last_ts", "partition")

    def __init__(self, partition: int, last_on: int = 0, last_ts: int = 0) -> None:
        self.partition = partition
        self.last_on = last_on  # newest on-track point: older on-track points are replays
        self.last_ts = last_ts


def _by_event_time(batch: Sequence[Message]) -> list[Message]:
    return sorted(batch, key=_event_ts)


def _event_ts(message: Message) -> int:
    record = message.record
    return int(record.ts) if record is not None else 0


def _parse_point(value: bytes) -> TrackPoint:
    return TrackPoint.from_dict(orjson.loads(value))


class DetectStage:
    """One consumer-group member of the detection stage."""

    def __init__(
        self,
        bus: Bus,
        store: DetectStore,
        rules: RuleSet | Iterable[RuleConfig],
        context: DetectContext | None = None,
        settings: DetectSettings | None = None,
        health_board: HealthBoard | None = None,
    ) -> None:
        self.settings = s = settings or DetectSettings()
        self.store = store
        configs = rules.configs() if isinstance(rules, RuleSet) else list(rules)
        self.trails = Trails()
        self.context = (context or DetectContext()).with_trails(self.trails)
        self._partitions: set[int] = set()
        if s.keyed_by == "cell":  # publish only the pairs of this member's cells
            self.context = self.context.with_cells(CellOwnership(bus, self._partitions))
        self.detectors: list[Detector] = build_detectors(configs, self.context, keyed_by=s.keyed_by)
        self.health: list[DetectorHealth] = detector_health(configs, self.detectors, s.keyed_by)
        self._health_board = health_board
        self._health_reported = 0.0  # monotonic time of the last report
        # Cross-vessel detectors compare a point with the other vessels' latest positions: a
        # poll's points, grouped by partition, are handed to them in event-time order instead
        # (records in process; the cell stage's input comes merged from the router).
        self._in_time_order = s.keyed_by is None and any(
            getattr(d, "keyed_by", "mmsi") == "cell" for d in self.detectors
        )
        self._parts = [(d.config.id, d) for d in self.detectors]
        self._updates = [d.update for d in self.detectors]
        self.counters = DetectCounters()
        bus.ensure_topics([s.topic, topics.ALERTS, topics.DEADLETTER])
        self._producer = bus.producer()
        self._vessels: dict[int, _Vessel] = {}
        self._dirty: set[int] = set()
        self._evicted: dict[int, StoredVessel] = {}
        self._offsets: dict[int, int] = {}  # partition -> next offset, processed not saved
        self._claims = StageClaims(
            lambda partitions: self.store.claim(s.group, s.topic, partitions), s.topic
        )
        self._event: dict[int, int] = {}  # partition -> newest event time seen
        self._seen: set[int] = set()
        self._seen_old: set[int] = set()
        self._advanced = 0
        self._caught_up = False  # the last poll was not full: no backlog
        self._advance_ms = round(s.advance_every_s * 1000)
        self._lateness_ms = round(s.lateness_s * 1000)
        self._skew_ms = round(s.max_partition_skew_s * 1000)
        self._evict_ms = round(s.evict_after_s * 1000)
        self._unsaved = 0
        self._last_save = time.monotonic()
        self._closing = False
        self._consumer = bus.consumer(
            [s.topic], s.group, on_assign=self._assigned, on_revoke=self._revoked
        )
        self._report_health()

    # -- the loop -------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        try:
            with timeouts_end_the_stop(stop):
                while not stop.is_set():
                    if not self.step(timeout_s=0.5) and self._unsaved:
                        self.save()  # the feed paused: idle time, so checkpoint what came before
        finally:
            self.close()

    def step(self, timeout_s: float = 0.0) -> int:
        """Poll once, process what came, advance event time, save when due."""
        batch = self._claims.unfenced(self._consumer.poll(timeout_s, self.settings.poll_records))
        if batch:
            if self._in_time_order and batch[0].record is not None:
                self._process(_by_event_time(batch))
                self._offsets_after(batch)
            else:
                self._process(batch)
        self._caught_up = len(batch) < self.settings.poll_records
        if batch:
            self._maybe_advance()
        self._unsaved += len(batch)
        due = time.monotonic() - self._last_save >= self.settings.save_interval_s
        if self._unsaved >= self.settings.save_every_messages or (due and self._unsaved):
            self.save()
        if self._health_board is not None and (
            time.monotonic() - self._health_reported >= REPORT_EVERY_S
        ):
            self._report_health()  # also while the feed is quiet: the report is a heartbeat
        return len(batch)

    def drain(self) -> int:
        """Process everything available now (batch mode), then save."""
        total = 0
        while count := self.step(0.0):
            total += count
        self.save()
        return total

    def finish(self) -> None:
        """End of the data (batch): advance to the newest event time seen, then save."""
        self.drain()
        if self._event:
            self._advance(max(self._event.values()))
        self.save()

    def close(self) -> None:
        """Save, report health a last time and leave the group.

        Alerts the bus does not acknowledge within its stop timeout (`Bus.begin_stop`) leave
        the states and offsets unsaved: the restart resumes from the save before, as after a
        crash, and the alerts it emits again carry the same id and revision."""
        self._closing = True  # the consumer's goodbye revokes everything: nothing left to save
        skipped = (
            f"{self.settings.group}: stopped without a final save: the restart processes again "
            "what came after the last save"
        )
        close_stage(self._save_and_report, self._consumer, self._producer, skipped)

    def _save_and_report(self) -> None:
        """The last save, then the last health report; also when the stop timeout ran out."""
        try:
            self.save()
        except BusTimeout:
            self._report_health()
            raise
        self._report_health()

    @property
    def watermark(self) -> int | None:
        """Event time every partition has reached (None: not known yet).

        While the consumer works through a backlog (its last poll was full) partitions are
        fetched unevenly, so every assigned partition counts; once it has caught up, one that
        is more than `max_partition_skew_s` behind the newest is idle and does not hold the
        others back."""
        event = self._event
        if not self._caught_up:
            if any(p not in event for p in self._partitions):
                return None
            events = [event[p] for p in self._partitions]
            return min(events) - self._lateness_ms if events else None
        events = [event[p] for p in self._partitions if p in event]
        if not events:
            return None
        floor = max(events) - self._skew_ms
        return min(e for e in events if e >= floor) - self._lateness_ms

    # -- processing -----------------------------------------------------------------------
    def _process(self, batch: Sequence[Message]) -> None:
        """The hot loop: every name it uses per point is a local."""
        counters = self.counters
        offsets = self._offsets
        event = self._event
        seen = self._seen
        seen_old = self._seen_old
        vessels = self._vessels
        updates = self._updates
        publish = self._publish
        trail = self.trails.update
        dirty = self._dirty.add
        duplicates = points = 0
        partition = -1
        newest = 0
        for message in batch:
            if message.partition != partition:
                if partition >= 0:
                    event[partition] = newest
                partition = message.partition
                newest = event.get(partition, 0)
            offsets[partition] = message.offset + 1
            point = message.record
            if point is None:
                try:
                    point = _parse_point(message.value)
                except (ValueError, KeyError, TypeError) as exc:
                    self._dead_letter(message, Reason.DECODE_ERROR, f"not a track point: {exc}")
                    continue
            key = hash(point[:4])  # of mmsi, ts, lat, lon: the point's id (8 bytes to keep)
            if key in seen or key in seen_old:
                duplicates += 1
                continue
            seen.add(key)
            mmsi = point.mmsi
            vessel = vessels.get(mmsi)
            if vessel is None:
                vessel = self._arrive(mmsi, partition)
            ts = point.ts
            if point.segment_id:
                if ts < vessel.last_on:  # re-emitted by tracks, older than the window
                    duplicates += 1
                    continue
                vessel.last_on = ts
            if ts > vessel.last_ts:
                vessel.last_ts = ts
                if ts > newest:
                    newest = ts
            try:
                for update in updates:
                    alerts = update(point)
                    if alerts:
                        publish(alerts)
            except Exception as exc:  # a detector bug: keep the point, go on with the others
                log.exception("detector failed on %s", point.id)
                self._dead_letter(message, Reason.INTERNAL_ERROR, f"detector failed: {exc!r}")
            trail(point)
            dirty(mmsi)
            points += 1
        if partition >= 0:
            event[partition] = newest
        counters.messages += len(batch)
        counters.points += points
        counters.duplicates += duplicates
        if len(seen) >= self.settings.dedup_window:
            self._seen_old = seen
            self._seen = set()

    def _offsets_after(self, batch: Sequence[Message]) -> None:
        """The next offset of each partition once the whole poll is processed."""
        offsets = self._offsets
        for message in batch:
            if message.offset >= offsets.get(message.partition, 0):
                offsets[message.partition] = message.offset + 1

    def _publish(self, alerts: Sequence[Alert]) -> None:
        send = self._producer.send_record
        for alert in alerts:
            send(topics.ALERTS, alert, alert.id.encode())
            for mmsi in alert.mmsis:
                if mmsi in self._vessels:
                    self._dirty.add(mmsi)
        self.counters.alerts += len(alerts)

    def _dead_letter(self, message: Message, reason: Reason, detail: str) -> None:
        self.counters.deadletters += 1
        received = message.timestamp_ms or time.time_ns() // 1_000_000
        source = f"{message.topic}/{message.partition}@{message.offset}"
        letter = DeadLetter(message_bytes(message), reason, source, received, "detect", detail)
        self._producer.send_record(topics.DEADLETTER, letter, message.key)

    def _arrive(self, mmsi: int, partition: int) -> _Vessel:
        """A vessel not in memory: evicted (or saved) before, or new."""
        stored = self._evicted.pop(mmsi, None) or self.store.load_one(self.settings.group, mmsi)
        vessel = _Vessel(partition)
        if stored is not None:
            self._restore(stored, vessel)
            vessel.partition = partition
        self._vessels[mmsi] = vessel
        return vessel

    def _maybe_advance(self) -> None:
        now = self.watermark
        if now is not None and now - self._advanced >= self._advance_ms:
            self._advance(now)

    def _advance(self, now: int) -> None:
        self._advanced = now
        self.counters.advances += 1
        for detector in self.detectors:
            alerts = detector.advance(now)
            if alerts:
                self._publish(alerts)
            touched: set[int] | None = getattr(detector, "touched", None)
            if touched:
                self._dirty.update(m for m in touched if m in self._vessels)
                touched.clear()

    # -- saving ---------------------------------------------------------------------------
    def save(self) -> None:
        """Alerts acknowledged first, then states and offsets in one store transaction."""
        self._evict_idle()
        self._producer.flush()
        self._claims.save(self._write, self._forget)
        if self._offsets:  # the marks saved above are what counts
            commit_advisory(
                self._consumer,
                {TopicPartition(self.settings.topic, p): o for p, o in self._offsets.items()},
            )
        self._dirty.clear()
        self._evicted.clear()
        self._unsaved = 0
        self._last_save = time.monotonic()
        self.counters.saves += 1

    def _write(self) -> None:
        """States and marks of the partitions this member has claimed, in one transaction."""
        claimed = self._claims.epochs
        vessels = (
            [
                self._stored(mmsi)
                for mmsi in self._dirty
                if mmsi in self._vessels and self._vessels[mmsi].partition in claimed
            ]
            if self.settings.persist
            else []
        )
        vessels.extend(v for v in self._evicted.values() if v.partition in claimed)
        marks = {
            p: PartitionMark(offset, self._event.get(p, 0))
            for p, offset in self._offsets.items()
            if p in claimed
        }
        self.store.save(
            self.settings.group, self.settings.topic, vessels, marks, epochs=dict(claimed)
        )

    def _report_health(self) -> None:
        """Tell the health board what each rule is doing; a board that fails is logged, never
        fatal: detection goes on."""
        if self._health_board is None:
            return
        self._health_reported = time.monotonic()
        newest = max(self._event.values(), default=None)
        try:
            self._health_board.report(self.settings.group, self.health, newest)
        except Exception:
            log.exception("detector health: report failed (detection goes on)")

    def _stored(self, mmsi: int, active: bool = True) -> StoredVessel:
        vessel = self._vessels[mmsi]
        parts = {_STAGE: _STAGE_PART.pack(vessel.last_on, vessel.last_ts)}
        for name, detector in self._parts:
            blob = detector.state_of(mmsi)
            if blob is not None:
                parts[name] = blob
        trail = self.trails.state_of(mmsi)
        if trail is not None:
            parts[_TRAIL] = trail
        return StoredVessel(mmsi, vessel.partition, pack_named(parts), vessel.last_ts, active)

    def _restore(self, stored: StoredVessel, vessel: _Vessel) -> None:
        try:
            parts = unpack_named(stored.blob)
        except BlobFormatError:
            log.error("vessel %d: unreadable detector state, starting afresh", stored.mmsi)
            return
        if _STAGE in parts:
            vessel.last_on, vessel.last_ts = _STAGE_PART.unpack(parts[_STAGE])
        for name, detector in self._parts:
            blob = parts.get(name)
            if blob is not None:
                try:
                    detector.restore(stored.mmsi, blob)
                except (ValueError, KeyError, TypeError, IndexError):
                    log.exception("vessel %d: unreadable %s state, dropped", stored.mmsi, name)
        if _TRAIL in parts:
            self.trails.restore(stored.mmsi, parts[_TRAIL])

    def _evict_idle(self) -> None:
        now = self.watermark
        if now is None:
            return
        horizon = now - self._evict_ms
        idle = [m for m, v in self._vessels.items() if v.last_ts < horizon]
        for mmsi in idle:
            self._evicted[mmsi] = self._stored(mmsi, active=False)
            self._drop(mmsi)
        self._dirty.difference_update(idle)
        self.counters.evicted += len(idle)

    def _drop(self, mmsi: int) -> None:
        self._vessels.pop(mmsi, None)
        for detector in self.detectors:
            detector.forget(mmsi)
        self.trails.forget(mmsi)

    # -- rebalancing ----------------------------------------------------------------------
    def _assigned(self, partitions: set[TopicPartition]) -> None:
        numbers = [tp.partition for tp in partitions if tp.topic == self.settings.topic]
        self._partitions.update(numbers)
        self._claims.assigned(numbers)
        loaded = self.store.load_active(self.settings.group, numbers)
        for stored in loaded:
            vessel = _Vessel(stored.partition)
            self._restore(stored, vessel)
            self._vessels[stored.mmsi] = vessel
        marks = self.store.marks(self.settings.group, self.settings.topic, numbers)
        for tp in partitions:
            mark = marks.get(tp.partition)
            if mark is not None:
                self._consumer.seek(tp, mark.next_offset)
                if mark.event_ts:
                    self._event[tp.partition] = mark.event_ts
        log.debug("assigned partitions %s (%d vessels loaded)", sorted(numbers), len(loaded))

    def _revoked(self, partitions: set[TopicPartition]) -> None:
        if self._closing:
            return
        self.save()
        lost = {tp.partition for tp in partitions if tp.topic == self.settings.topic}
        self._forget(lost)
        log.debug("revoked partitions %s", sorted(lost))

    def _forget(self, partitions: set[int]) -> None:
        """Drop what this member holds of these partitions, saved or not."""
        for mmsi in [m for m, v in self._vessels.items() if v.partition in partitions]:
            self._drop(mmsi)
            self._dirty.discard(mmsi)
        for mmsi in [m for m, v in self._evicted.items() if v.partition in partitions]:
            del self._evicted[mmsi]
        for partition in partitions:
            self._offsets.pop(partition, None)
            self._event.pop(partition, None)
        self._claims.forget(partitions)
        self._partitions -= partitions


def run_detect(
    bus: Bus,
    store: DetectStore,
    rules: RuleSet | Iterable[RuleConfig],
    context: DetectContext | None = None,
    settings: DetectSettings | None = None,
    stop: threading.Event | None = None,
    health_board: HealthBoard | None = None,
) -> DetectCounters:
    """One member of a detection group (`settings.group`) until `stop` is set."""
    stage = DetectStage(bus, store, rules, context, settings, health_board)
    stage.run(stop or threading.Event())
    return stage.counters
