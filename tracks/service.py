"""The tracks stage: `ais.decoded` in, `tracks.points` out, crash-safe.

A member of the `tracks` consumer group owns some partitions and so some vessels. On
assignment it loads those vessels' states and the stored offsets from the store and seeks
there; it saves the states it changed together with the offsets it reached, in one store
transaction, after the points those messages produced are acknowledged by the bus. A crash
therefore resumes exactly at the last save: nothing is lost; the points emitted after that
save are emitted again with the same ids, which downstream consumers drop (idempotent keys).
The broker's own committed offsets are advisory only.

A member evicted from its group (cut off from the broker, or paused, longer than the session
timeout) while another member went on must not save over the new owner's newer states and
offsets: on assignment a member claims its partitions in the store (a new epoch each), its
saves carry its claims, and a save refused because a partition was claimed since (`Fenced`)
drops that partition's unsaved work, which its new owner redoes.

A stop works the same way when the broker is gone: once the bus's stop timeout has passed
(`Bus.begin_stop`), the stage saves only if every point was acknowledged, and leaves the rest
to its restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.errors import Reason
from ingest.records import DeadLetter, PositionReport, StaticReport, from_json
from lookout.bus import topics
from lookout.bus.base import (
    Bus,
    Message,
    TopicPartition,
    close_stage,
    commit_advisory,
    message_bytes,
    payload,
    timeouts_end_the_stop,
)
from lookout.claims import StageClaims
from tracks.builder import TrackBuilder
from tracks.hygiene import TrackSettings
from tracks.records import TrackPoint
from tracks.state import VesselState
from tracks.store import StoredState, TrackStore

log = logging.getLogger(__name__)

_REPORTS = (PositionReport, StaticReport)
_SKIPPED_SAVE = (
    "stopped without a final save: the restart processes again what came after the last save"
)


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    group: str = "tracks"
    save_interval_s: float = 2.0  # at most this much work is redone after a crash...
    save_every_messages: int = 20_000  # ... or this many messages
    history_interval_s: float = 60.0  # downsampled history for the API: one point per minute
    keep_history: bool = True
    # Under a backlog, a bigger poll costs less per message (5000 ran 7 % faster than 2000 on
    # Kafka) and delays a point by at most one poll's work (about 0.15 s).
    poll_records: int = 5000
    # Held reports of a vessel leave the reorder buffer when its own newer reports are
    # `reorder_window_s` ahead, and also, at least this often in event time, when its
    # partition's are: a vessel reporting every half hour is not half an hour behind the rest.
    release_every_s: float = 30.0


@dataclass
class TrackCounters:
    messages: int = 0
    points: int = 0
    deadletters: int = 0
    saves: int = 0
    evicted: int = 0


class TrackStage:
    """One consumer-group member of the tracks stage."""

    def __init__(
        self,
        bus: Bus,
        store: TrackStore,
        track_settings: TrackSettings | None = None,
        settings: ServiceSettings | None = None,
    ) -> None:
        self.settings = settings or ServiceSettings()
        self.store = store
        self.builder = TrackBuilder(track_settings or TrackSettings())
        self.counters = TrackCounters()
        bus.ensure_topics([topics.DECODED, topics.POINTS, topics.DEADLETTER])
        self._producer = bus.producer()
        self._states: dict[int, VesselState] = {}
        self._partition_of: dict[int, int] = {}
        self._dirty: set[int] = set()
        self._offsets: dict[int, int] = {}  # partition -> next offset, processed not saved
        self._picture: dict[int, TrackPoint] = {}
        self._history: list[TrackPoint] = []
        self._history_ts: dict[int, int] = {}
        self._evicted: dict[int, StoredState] = {}
        self._newest_ts = 0
        self._members: dict[int, set[int]] = {}  # partition -> vessels in memory
        self._newest_in: dict[int, int] = {}  # partition -> newest report held there
        self._claims = StageClaims(
            lambda partitions: self.store.claim(self.settings.group, topics.DECODED, partitions),
            topics.DECODED,
        )
        self._release_ms = max(1, round(self.settings.release_every_s * 1000))
        self._window_ms = round(self.builder.settings.reorder_window_s * 1000)
        self._unsaved = 0
        self._last_save = time.monotonic()
        self._outbox: list[tuple[bytes, bytes, TrackPoint]] = []  # points of this poll, in order
        self._closing = False
        self._consumer = bus.consumer(
            [topics.DECODED],
            self.settings.group,
            on_assign=self._assigned,
            on_revoke=self._revoked,
        )

    # -- the loop -----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        with timeouts_end_the_stop(stop):
            while not stop.is_set():
                if not self.step(timeout_s=0.5) and self._unsaved:
                    self.save()  # the feed paused: idle time, so checkpoint what came before it
        self.close()

    def step(self, timeout_s: float = 0.0) -> int:
        """Poll once, process what came, save when due. Returns the messages processed."""
        batch = self._consumer.poll(timeout_s, self.settings.poll_records)
        for message in self._claims.unfenced(batch):
            self._process(message)
        self._send_outbox()
        self._unsaved += len(batch)
        due = time.monotonic() - self._last_save >= self.settings.save_interval_s
        if self._unsaved >= self.settings.save_every_messages or (due and self._unsaved):
            self.save()
        return len(batch)

    def drain(self, save: bool = True) -> int:
        """Process everything available now (batch mode), then save. With `save=False` (a
        batch run, which never resumes) only commit to the bus, so that it lets the messages
        go; states are then saved as often as the settings say."""
        total = 0
        while count := self.step(0.0):
            total += count
        if save:
            self.save()
        else:
            self._commit_bus()
        return total

    def close(self, flush_vessels: bool = False) -> None:
        """Save and leave the group. `flush_vessels`: end of input, release every held point.

        Points the bus does not acknowledge within its stop timeout leave the states and
        offsets unsaved: the restart resumes from the save before, as after a crash."""
        if flush_vessels:
            for mmsi, state in self._states.items():
                self._emit(self.builder.flush(state))
                self._dirty.add(mmsi)
        self._closing = True  # the consumer's goodbye revokes everything: nothing left to save
        close_stage(self.save, self._consumer, self._producer, _SKIPPED_SAVE)

    # -- processing ---------------------------------------------------------------------
    def _process(self, message: Message) -> None:
        self.counters.messages += 1
        self._offsets[message.partition] = message.offset + 1
        try:
            record = payload(message, from_json)
            if not isinstance(record, _REPORTS):
                raise ValueError(f"a {record.kind} record on {message.topic}")
        except (ValueError, KeyError, TypeError) as exc:
            self._dead_letter(message, str(exc))
            return
        mmsi = record.mmsi
        state = self._states.get(mmsi) or self._state_for(mmsi, message.partition)
        state, points = self.builder.advance(state, record)
        self._states[mmsi] = state
        self._dirty.add(mmsi)
        if isinstance(record, PositionReport) and record.ts > self._newest_ts:
            self._newest_ts = record.ts
        if points:
            self._emit(points)
        held = state.newest_ts
        if held is not None:
            partition = message.partition
            newest = self._newest_in.get(partition, 0)
            if held > newest:
                self._newest_in[partition] = held
                if held // self._release_ms != newest // self._release_ms:
                    self._release_held(partition, held - self._window_ms)

    def _release_held(self, partition: int, before_ts: int) -> None:
        """The partition's held reports older than `before_ts` (a function of the partition's
        data alone, so a restart releases at the same points as an uninterrupted run)."""
        states = self._states
        release = self.builder.release
        for mmsi in self._members.get(partition, ()):
            state = states.get(mmsi)
            if state is not None and state.holds_before(before_ts):
                self._emit(release(state, before_ts))
                self._dirty.add(mmsi)

    def _state_for(self, mmsi: int, partition: int) -> VesselState | None:
        state = self._states.get(mmsi)
        if state is None:
            self._partition_of[mmsi] = partition
            self._members.setdefault(partition, set()).add(mmsi)
            stored = self._evicted.pop(mmsi, None) or self.store.load_one(topics.DECODED, mmsi)
            if stored is not None:
                state = VesselState.from_bytes(stored.blob)
        return state

    def _emit(self, points: Iterable[TrackPoint]) -> None:
        """Queue points for `tracks.points`: sent together at the end of the poll."""
        outbox = self._outbox
        picture = self._picture
        history = self.settings.keep_history
        for point in points:
            mmsi = point.mmsi
            outbox.append((str(mmsi).encode(), b"", point))
            if point.segment_id > 0 and point.lat is not None:  # on the track
                picture[mmsi] = point
                if history:
                    self._remember_history(point)

    def _send_outbox(self) -> None:
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            self._producer.send_all(topics.POINTS, outbox)
            self.counters.points += len(outbox)

    def _remember_history(self, point: TrackPoint) -> None:
        """Downsampled history for the API (only when `keep_history`: `_emit` checks)."""
        last = self._history_ts.get(point.mmsi)
        interval_ms = self.settings.history_interval_s * 1000
        if last is None or point.ts - last >= interval_ms or "new_segment" in point.flags:
            self._history.append(point)
            self._history_ts[point.mmsi] = point.ts

    def _dead_letter(self, message: Message, reason: str) -> None:
        self.counters.deadletters += 1
        received = message.timestamp_ms or time.time_ns() // 1_000_000
        source = f"{message.topic}/{message.partition}@{message.offset}"
        letter = DeadLetter(
            message_bytes(message), Reason.DECODE_ERROR, source, received, "tracks", reason
        )
        self._producer.send_record(topics.DEADLETTER, letter, message.key)

    # -- saving -------------------------------------------------------------------------
    def save(self) -> None:
        """Points acknowledged first, then states and offsets in one store transaction."""
        self._evict_idle()
        self._send_outbox()
        self._producer.flush()
        self._claims.save(self._write, self._forget)
        self._commit_bus()
        self._dirty.clear()
        self._picture.clear()
        self._history = []
        self._evicted.clear()
        self._unsaved = 0
        self._last_save = time.monotonic()
        self.counters.saves += 1

    def _write(self) -> None:
        """States and offsets of the partitions this member has claimed, in one transaction."""
        claimed = self._claims.epochs
        states = [self._stored(mmsi, active=mmsi in self._states) for mmsi in self._dirty]
        self.store.save(
            self.settings.group,
            topics.DECODED,
            [s for s in states if s is not None and s.partition in claimed],
            {p: o for p, o in self._offsets.items() if p in claimed},
            [p for m, p in self._picture.items() if self._partition(m) in claimed],
            [p for p in self._history if self._partition(p.mmsi) in claimed],
            epochs=dict(claimed),
        )

    def _partition(self, mmsi: int) -> int | None:
        """The partition of a vessel in memory or evicted since the last save."""
        partition = self._partition_of.get(mmsi)
        if partition is None and (evicted := self._evicted.get(mmsi)) is not None:
            return evicted.partition
        return partition

    def _commit_bus(self) -> None:
        """Advisory only (see the module docstring); the in-process bus frees what it holds."""
        if self._offsets:
            commit_advisory(
                self._consumer,
                {TopicPartition(topics.DECODED, p): o for p, o in self._offsets.items()},
            )

    def _stored(self, mmsi: int, active: bool) -> StoredState | None:
        if not active:
            return self._evicted.get(mmsi)
        state = self._states[mmsi]
        return StoredState(
            mmsi=mmsi,
            partition=self._partition_of.get(mmsi, 0),
            blob=state.to_bytes(),
            last_ts=state.newest_ts or 0,
            active=True,
        )

    def _evict_idle(self) -> None:
        """Vessels silent longer than the eviction time leave memory for the store."""
        idle = [m for m, s in self._states.items() if self.builder.is_idle(s, self._newest_ts)]
        for mmsi in idle:
            state = self._states.pop(mmsi)
            self._emit(self.builder.flush(state))
            partition = self._partition_of.pop(mmsi, 0)
            self._members.get(partition, set()).discard(mmsi)
            blob = state.to_bytes()
            self._evicted[mmsi] = StoredState(mmsi, partition, blob, state.newest_ts or 0, False)
            self._dirty.add(mmsi)
        self.counters.evicted += len(idle)

    # -- rebalancing --------------------------------------------------------------------
    def _assigned(self, partitions: set[TopicPartition]) -> None:
        numbers = [tp.partition for tp in partitions if tp.topic == topics.DECODED]
        self._claims.assigned(numbers)
        for stored in self.store.load_active(topics.DECODED, numbers):
            state = VesselState.from_bytes(stored.blob)
            self._states[stored.mmsi] = state
            self._partition_of[stored.mmsi] = stored.partition
            self._members.setdefault(stored.partition, set()).add(stored.mmsi)
            newest = state.newest_ts or 0
            if newest > self._newest_in.get(stored.partition, 0):
                self._newest_in[stored.partition] = newest
        offsets = self.store.offsets(self.settings.group, topics.DECODED, numbers)
        for tp in partitions:
            if tp.partition in offsets:
                self._consumer.seek(tp, offsets[tp.partition])
        log.info("assigned partitions %s (%d vessels loaded)", sorted(numbers), len(self._states))

    def _revoked(self, partitions: set[TopicPartition]) -> None:
        if self._closing:
            return
        self.save()
        lost = {tp.partition for tp in partitions if tp.topic == topics.DECODED}
        self._forget(lost)
        log.info("revoked partitions %s", sorted(lost))

    def _forget(self, partitions: set[int]) -> None:
        """Drop what this member holds of these partitions, saved or not."""
        held = [*self._partition_of, *self._evicted]
        gone = {m for m in held if self._partition(m) in partitions}
        for mmsi in gone:
            self._states.pop(mmsi, None)
            self._partition_of.pop(mmsi, None)
            self._evicted.pop(mmsi, None)
            self._history_ts.pop(mmsi, None)
            self._picture.pop(mmsi, None)
            self._dirty.discard(mmsi)
        if gone:
            self._history = [p for p in self._history if p.mmsi not in gone]
        for partition in partitions:
            self._offsets.pop(partition, None)
            self._members.pop(partition, None)
            self._newest_in.pop(partition, None)
        self._claims.forget(partitions)
