"""`MemoryTrackStore`: the `TrackStore` in dicts, for tests and quick batch runs.

Same semantics as `SqlTrackStore`, checked by the same contract tests: `save` is all or nothing
(every change is journalled and undone if any part fails), the picture keeps the newest point per
vessel, history is idempotent on (mmsi, ts), and points come back holding only what the SQL
tables hold (`stored_picture_point`, `stored_history_point`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any, Final

from ingest.mmsi import classify
from lookout.claims import MemoryClaims
from tracks.records import StaticFields, TrackPoint
from tracks.store import StoredState

__all__ = ["MemoryTrackStore", "stored_history_point", "stored_picture_point"]

_MISSING: Final = object()


def stored_picture_point(p: TrackPoint) -> TrackPoint:
    """What the picture keeps of a point: position, kinematics, identity, segment, static."""
    return p._replace(
        rot=None,
        accuracy=None,
        msg_type=None,
        source="",
        rx_ts=0,
        dt_s=None,
        dist_m=None,
        implied_sog=None,
        turn_rate=None,
        flags=(),
    )


def stored_history_point(p: TrackPoint) -> TrackPoint:
    """What the history keeps of a point: time, position, kinematics, segment and flags."""
    mmsi_class, flag = classify(p.mmsi)
    return p._replace(
        nav_status=None,
        rot=None,
        accuracy=None,
        msg_type=None,
        ais_class=None,
        mmsi_class=mmsi_class,
        flag=flag,
        source="",
        rx_ts=0,
        dt_s=None,
        dist_m=None,
        implied_sog=None,
        turn_rate=None,
        static=StaticFields(),
    )


class _Journal:
    """Writes to mappings, remembering each key's previous value so they can be undone."""

    def __init__(self) -> None:
        self._undo: list[tuple[MutableMapping[Any, Any], Any, Any]] = []

    def set(self, mapping: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def rollback(self) -> None:
        for mapping, key, previous in reversed(self._undo):
            if previous is _MISSING:
                del mapping[key]
            else:
                mapping[key] = previous
        self._undo.clear()


class MemoryTrackStore:
    """`TrackStore` in process memory; thread-safe; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, int], StoredState] = {}  # (topic, mmsi)
        self._offsets: dict[tuple[str, str, int], int] = {}  # (group, topic, partition)
        self._claims = MemoryClaims()
        self._picture: dict[int, TrackPoint] = {}
        self._history: dict[int, dict[int, TrackPoint]] = {}  # mmsi -> ts -> point

    def load_active(self, topic: str, partitions: Iterable[int]) -> list[StoredState]:
        wanted = set(partitions)
        with self._lock:
            found = [
                s
                for (t, _), s in self._states.items()
                if t == topic and s.active and s.partition in wanted
            ]
        return sorted(found, key=lambda s: s.mmsi)

    def load_one(self, topic: str, mmsi: int) -> StoredState | None:
        with self._lock:
            return self._states.get((topic, mmsi))

    def offsets(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        with self._lock:
            return {
                p: self._offsets[(group, topic, p)]
                for p in set(partitions)
                if (group, topic, p) in self._offsets
            }

    def claim(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        return self._claims.claim(group, topic, partitions)

    def save(
        self,
        group: str,
        topic: str,
        states: Iterable[StoredState],
        offsets: Mapping[int, int],
        picture: Sequence[TrackPoint] = (),
        history: Sequence[TrackPoint] = (),
        epochs: Mapping[int, int] | None = None,
    ) -> None:
        journal = _Journal()
        with self._lock:
            self._claims.check(group, topic, epochs)
            try:
                self._save_states(journal, topic, states)
                self._save_offsets(journal, group, topic, offsets)
                self._save_picture(journal, picture)
                self._save_history(journal, history)
            except BaseException:
                journal.rollback()
                raise

    def _save_states(self, journal: _Journal, topic: str, states: Iterable[StoredState]) -> None:
        for state in states:
            journal.set(self._states, (topic, state.mmsi), state)

    def _save_offsets(
        self, journal: _Journal, group: str, topic: str, offsets: Mapping[int, int]
    ) -> None:
        for partition, next_offset in offsets.items():
            journal.set(self._offsets, (group, topic, partition), next_offset)

    def _save_picture(self, journal: _Journal, picture: Sequence[TrackPoint]) -> None:
        for point in picture:
            kept = self._picture.get(point.mmsi)
            if kept is None or point.ts >= kept.ts:
                journal.set(self._picture, point.mmsi, stored_picture_point(point))

    def _save_history(self, journal: _Journal, history: Sequence[TrackPoint]) -> None:
        for point in history:
            track = self._history.get(point.mmsi)
            if track is None:
                track = {}
                journal.set(self._history, point.mmsi, track)
            if point.ts not in track:
                journal.set(track, point.ts, stored_history_point(point))

    def picture(
        self, bbox: tuple[float, float, float, float] | None = None, since_ms: int | None = None
    ) -> list[TrackPoint]:
        with self._lock:
            points = list(self._picture.values())
        if bbox is not None:
            points = [p for p in points if _inside(p, bbox)]
        if since_ms is not None:
            points = [p for p in points if p.ts >= since_ms]
        return sorted(points, key=lambda p: p.mmsi)

    def history(self, mmsi: int, start_ms: int, end_ms: int) -> list[TrackPoint]:
        with self._lock:
            track = self._history.get(mmsi, {})
            return [track[ts] for ts in sorted(track) if start_ms <= ts <= end_ms]

    def prune_history(self, older_than_ms: int) -> int:
        pruned = 0
        with self._lock:
            for mmsi in list(self._history):
                track = self._history[mmsi]
                old = [ts for ts in track if ts < older_than_ms]
                for ts in old:
                    del track[ts]
                pruned += len(old)
                if not track:
                    del self._history[mmsi]
        return pruned

    def close(self) -> None:
        pass


def _inside(p: TrackPoint, bbox: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bbox
    if p.lat is None or p.lon is None or not south <= p.lat <= north:
        return False
    if west <= east:
        return west <= p.lon <= east
    return p.lon >= west or p.lon <= east  # across the antimeridian
