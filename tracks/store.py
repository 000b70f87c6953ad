"""Where tracks keeps what must survive a crash: vessel states and consumer offsets, saved in
one transaction, plus the latest vessel picture and a downsampled track history for the API.

Two back-ends with one interface: `MemoryTrackStore` (tests, quick batch runs) and
`SqlTrackStore` (SQLAlchemy: SQLite embedded, PostgreSQL distributed). The store knows states
only as opaque blobs; `tracks.state` owns their encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from lookout.claims import Fenced
from tracks.records import TrackPoint

__all__ = ["Fenced", "StoredState", "TrackStore"]


@dataclass(frozen=True, slots=True)
class StoredState:
    mmsi: int
    partition: int  # of the input topic: a consumer loads the states of its partitions
    blob: bytes  # tracks.state.VesselState.to_bytes()
    last_ts: int  # event time of the vessel's last fix, epoch ms
    active: bool  # False once evicted for silence: loaded on demand, not on assignment


class TrackStore(Protocol):
    def load_active(self, topic: str, partitions: Iterable[int]) -> list[StoredState]:
        """States of the active vessels of these partitions of `topic`."""

    def load_one(self, topic: str, mmsi: int) -> StoredState | None:
        """A vessel's state, active or evicted (when it reappears after eviction)."""

    def offsets(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """Per partition, the offset of the next message to read, for partitions saved before."""

    def claim(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """Take these partitions for a new owner: per partition, its new epoch (one higher
        than the last claim's), which the owner's saves then give (`save(epochs=...)`)."""

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
        """One transaction: upsert states, store offsets, upsert the picture (latest point per
        vessel), append history points (idempotent on vessel and time).

        `epochs`: the saver's claims (`claim`). If any partition has been claimed since, the
        saver is a member evicted from its group while another went on: nothing is written
        (its states and offsets are older than the new owner's) and `Fenced` names them."""

    def picture(
        self, bbox: tuple[float, float, float, float] | None = None, since_ms: int | None = None
    ) -> list[TrackPoint]:
        """Latest point of each vessel, optionally inside (west, south, east, north)."""

    def history(self, mmsi: int, start_ms: int, end_ms: int) -> list[TrackPoint]:
        """A vessel's stored track points in [start, end], in time order."""

    def prune_history(self, older_than_ms: int) -> int:
        """Delete history before a time (retention); returns how many points went."""

    def close(self) -> None: ...
