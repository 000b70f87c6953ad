"""Partition claims: the saves of a group member evicted while another member went on are
fenced off.

A member cut off from the broker, or paused, longer than the session timeout is evicted, and
its partitions go to another member, which loads their states and goes on. The evicted member
does not know yet; its next save (periodic, or in `on_revoke` once it learns the partitions are
lost) would write its older states and offsets over the new owner's. So a member claims the
partitions it is assigned (a new epoch for each, one higher than the last claim's), its saves
carry the epochs it holds, and a save in which any partition's epoch has moved on writes
nothing and raises `Fenced`. The stages then drop those partitions' unsaved work (the new owner
redoes it) and save the rest.

`SqlClaims` keeps epochs in a table of the stage's own (`claim_table`); `MemoryClaims` in a
dictionary, for the in-memory stores.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from lookout.bus.base import Message
from lookout.db import conflict_insert

__all__ = ["Fenced", "MemoryClaims", "SqlClaims", "StageClaims", "claim_table"]

log = logging.getLogger(__name__)


class Fenced(Exception):
    """A save refused, writing nothing: another member has claimed these partitions since."""

    def __init__(self, partitions: set[int]) -> None:
        super().__init__(f"partitions {sorted(partitions)} claimed by another member")
        self.partitions = partitions


def _check(held: Mapping[int, int], epochs: Mapping[int, int]) -> None:
    claimed = {p for p, epoch in epochs.items() if held.get(p) != epoch}
    if claimed:
        raise Fenced(claimed)


class StageClaims:
    """A stage's side of its claims: the epochs it holds (`epochs`, what its saves give), and
    the partitions fenced off from it until its consumer learns it lost them, or it is assigned
    them again: their messages go to the new owner only (processing them here would load the
    new owner's newer states and emit points or alerts that differ under the same ids)."""

    def __init__(self, claim: Callable[[list[int]], dict[int, int]], topic: str) -> None:
        self._claim = claim
        self._topic = topic
        self.epochs: dict[int, int] = {}
        self._fenced: set[int] = set()

    def assigned(self, partitions: list[int]) -> None:
        self.epochs.update(self._claim(partitions))
        self._fenced.difference_update(partitions)

    def unfenced(self, batch: list[Message]) -> list[Message]:
        if not self._fenced:
            return batch
        return [m for m in batch if m.partition not in self._fenced]

    def save(self, write: Callable[[], None], forget: Callable[[set[int]], None]) -> None:
        """`write()` the claimed partitions' work; if fenced off, `forget` those partitions
        (which calls `forget` here) and write the rest."""
        try:
            write()
        except Fenced as fenced:
            log.warning(
                "partitions %s of %s were claimed by another member while this one was away "
                "(evicted from its group): their unsaved work is dropped, the new owner redoes it",
                sorted(fenced.partitions),
                self._topic,
            )
            forget(fenced.partitions)
            self._fenced |= fenced.partitions
            write()

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.epochs.pop(partition, None)


class MemoryClaims:
    def __init__(self) -> None:
        self._epochs: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def claim(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        wanted = set(partitions)
        with self._lock:
            for p in wanted:
                self._epochs[(group, topic, p)] = self._epochs.get((group, topic, p), 0) + 1
            return {p: self._epochs[(group, topic, p)] for p in wanted}

    def check(self, group: str, topic: str, epochs: Mapping[int, int] | None) -> None:
        """Raise `Fenced` if a partition has been claimed since `epochs` (call under the
        store's lock, before writing)."""
        if epochs:
            _check({p: self._epochs.get((group, topic, p), 0) for p in epochs}, epochs)


def claim_table(name: str, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("group", sa.String(255), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    )


class SqlClaims:
    """Claims in `table` (`claim_table`); `writer` takes SQLite's write lock as it begins."""

    def __init__(self, engine: Engine, writer: Engine, table: sa.Table) -> None:
        self._writer = writer
        self._table = table
        self._bump: Any = conflict_insert(engine)(table).on_conflict_do_update(
            index_elements=["group", "topic", "partition"], set_={"epoch": table.c.epoch + 1}
        )

    def claim(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        rows = [{"group": group, "topic": topic, "partition": p, "epoch": 1} for p in wanted]
        with self._writer.begin() as conn:
            conn.execute(self._bump, rows)
            return self._held(conn, group, topic, wanted)

    def check(
        self, conn: sa.Connection, group: str, topic: str, epochs: Mapping[int, int] | None
    ) -> None:
        """Inside a save's transaction, before it writes: raise `Fenced` (rolling it back) if
        a partition has been claimed since `epochs`. On PostgreSQL the rows stay locked until
        the save commits, so a claim waits for it (SQLite: the write lock does that)."""
        if epochs:
            _check(self._held(conn, group, topic, sorted(epochs), lock=True), epochs)

    def _held(
        self, conn: sa.Connection, group: str, topic: str, partitions: list[int], lock: bool = False
    ) -> dict[int, int]:
        c = self._table.c
        query = sa.select(c.partition, c.epoch).where(
            c.group == group, c.topic == topic, c.partition.in_(partitions)
        )
        if lock:
            query = query.with_for_update()
        return {int(p): int(e) for p, e in conn.execute(query)}
