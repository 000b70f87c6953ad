"""Where the detection stage keeps what must survive a crash: per-vessel detector states and,
per input partition, the offset reached and the event time seen, saved in one transaction.

Two back-ends with one interface: `MemoryDetectStore` here (tests, `lookout process`) and
`anomaly.sql_store.SqlDetectStore` (SQLAlchemy Core: SQLite embedded, PostgreSQL distributed;
tables of the "anomaly" migration branch, `anomaly/migrations/versions`), in a module of its
own so that a batch run's detection process does not import SQLAlchemy. States are opaque blobs here
(`anomaly.stage` frames the detectors' parts into one); `last_ts` and `active` let a restarted
member load only the vessels still live in its partitions, and the rest on demand.

States are keyed by consumer group as well as vessel: two groups (say a backtest of new rules
next to the live one) never share detector state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from lookout.claims import MemoryClaims

__all__ = ["DetectStore", "MemoryDetectStore", "PartitionMark", "StoredVessel"]


@dataclass(frozen=True, slots=True)
class StoredVessel:
    mmsi: int
    partition: int  # of tracks.points: a member loads the vessels of its partitions
    blob: bytes
    last_ts: int  # event time of the vessel's last point, epoch ms
    active: bool  # False once evicted for silence: loaded when it reappears


@dataclass(frozen=True, slots=True)
class PartitionMark:
    next_offset: int  # the next message to read
    event_ts: int  # the newest event time seen in the partition (0: none)


class DetectStore(Protocol):
    def load_active(self, group: str, partitions: Iterable[int]) -> list[StoredVessel]: ...

    def load_one(self, group: str, mmsi: int) -> StoredVessel | None: ...

    def marks(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, PartitionMark]:
        """Per partition saved before: where to resume and the event time reached."""

    def claim(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """Take these partitions for a new owner: their new epochs (`lookout.claims`)."""

    def save(
        self,
        group: str,
        topic: str,
        vessels: Iterable[StoredVessel],
        marks: Mapping[int, PartitionMark],
        epochs: Mapping[int, int] | None = None,
    ) -> None:
        """One transaction: upsert the vessels' states, store the partitions' marks. With the
        saver's `epochs`, nothing if a partition was claimed since (`lookout.claims.Fenced`)."""

    def close(self) -> None: ...


class MemoryDetectStore:
    """`DetectStore` in dictionaries; `save` applies all of its changes or none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vessels: dict[tuple[str, int], StoredVessel] = {}
        self._marks: dict[tuple[str, str, int], PartitionMark] = {}
        self._claims = MemoryClaims()
        self.saves = 0

    def load_active(self, group: str, partitions: Iterable[int]) -> list[StoredVessel]:
        wanted = set(partitions)
        with self._lock:
            return sorted(
                (
                    v
                    for (g, _), v in self._vessels.items()
                    if g == group and v.active and v.partition in wanted
                ),
                key=lambda v: v.mmsi,
            )

    def load_one(self, group: str, mmsi: int) -> StoredVessel | None:
        with self._lock:
            return self._vessels.get((group, mmsi))

    def marks(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, PartitionMark]:
        with self._lock:
            return {
                p: self._marks[(group, topic, p)]
                for p in partitions
                if (group, topic, p) in self._marks
            }

    def claim(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        return self._claims.claim(group, topic, partitions)

    def save(
        self,
        group: str,
        topic: str,
        vessels: Iterable[StoredVessel],
        marks: Mapping[int, PartitionMark],
        epochs: Mapping[int, int] | None = None,
    ) -> None:
        staged = {(group, v.mmsi): v for v in vessels}  # fails before anything is applied
        staged_marks = {(group, topic, p): m for p, m in marks.items()}
        with self._lock:
            self._claims.check(group, topic, epochs)
            self._vessels.update(staged)
            self._marks.update(staged_marks)
            self.saves += 1

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._vessels)
