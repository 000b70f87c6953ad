"""`SqlDetectStore`: the `DetectStore` on SQLAlchemy Core, for SQLite (embedded) and PostgreSQL;
`SqlHealthBoard`: the `HealthBoard` the stages report detector health to (`anomaly.health`).

The tables are created by the "anomaly" migration branch (`anomaly/migrations/versions`,
applied by `lookout.db.migrate`); `METADATA` below mirrors them for queries. `save` is one
transaction: states and offsets are upserts (`INSERT ... ON CONFLICT`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Engine

from anomaly.health import DetectorHealth, HealthReport
from anomaly.store import PartitionMark, StoredVessel
from lookout.claims import SqlClaims, claim_table
from lookout.db import make_engine, upsert, write_engine

__all__ = ["METADATA", "SqlDetectStore", "SqlHealthBoard"]


METADATA: Final = sa.MetaData()

DETECT_STATE: Final = sa.Table(
    "detect_state",
    METADATA,
    sa.Column("group", sa.String(255), primary_key=True),
    sa.Column("mmsi", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("partition", sa.Integer(), nullable=False),
    sa.Column("blob", sa.LargeBinary(), nullable=False),
    sa.Column("last_ts", sa.BigInteger(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("ix_detect_state_group_partition", "group", "partition"),
)

DETECT_OFFSET: Final = sa.Table(
    "detect_offset",
    METADATA,
    sa.Column("group", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("next_offset", sa.BigInteger(), nullable=False),
    sa.Column("event_ts", sa.BigInteger(), nullable=False),
)

DETECT_HEALTH: Final = sa.Table(
    "detect_health",
    METADATA,
    sa.Column("group", sa.String(255), primary_key=True),
    sa.Column("rule_id", sa.String(64), primary_key=True),
    sa.Column("rule_version", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("model_version", sa.String(255), nullable=True),
    sa.Column("event_ts", sa.BigInteger(), nullable=True),
    sa.Column("reported_ms", sa.BigInteger(), nullable=False),
)


DETECT_CLAIM: Final = claim_table("detect_claim", METADATA)


class SqlDetectStore:
    """`DetectStore` on a migrated SQLite or PostgreSQL database (`lookout.db.migrate`).

    It does not own an engine it is given: `close()` disposes only one it made (`from_url`)."""

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._writer = write_engine(engine)
        self._owns_engine = owns_engine
        self._upsert_state = upsert(engine, DETECT_STATE, ("group", "mmsi"), touch=True)
        self._upsert_offset = upsert(engine, DETECT_OFFSET, ("group", "topic", "partition"))
        self._claims = SqlClaims(engine, self._writer, DETECT_CLAIM)

    @classmethod
    def from_url(cls, url: str) -> SqlDetectStore:
        return cls(make_engine(url), owns_engine=True)

    def load_active(self, group: str, partitions: Iterable[int]) -> list[StoredVessel]:
        wanted = sorted(set(partitions))
        if not wanted:
            return []
        t = DETECT_STATE.c
        query = (
            sa.select(t.mmsi, t.partition, t.blob, t.last_ts, t.active)
            .where(t.group == group, t.partition.in_(wanted), t.active.is_(True))
            .order_by(t.mmsi)
        )
        with self._engine.connect() as conn:
            return [_vessel(row) for row in conn.execute(query)]

    def load_one(self, group: str, mmsi: int) -> StoredVessel | None:
        t = DETECT_STATE.c
        query = sa.select(t.mmsi, t.partition, t.blob, t.last_ts, t.active).where(
            t.group == group, t.mmsi == mmsi
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _vessel(row)

    def marks(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, PartitionMark]:
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        o = DETECT_OFFSET.c
        query = sa.select(o.partition, o.next_offset, o.event_ts).where(
            o.group == group, o.topic == topic, o.partition.in_(wanted)
        )
        with self._engine.connect() as conn:
            return {int(p): PartitionMark(int(n), int(e)) for p, n, e in conn.execute(query)}

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
        rows = {
            v.mmsi: {
                "group": group,
                "mmsi": v.mmsi,
                "partition": v.partition,
                "blob": v.blob,
                "last_ts": v.last_ts,
                "active": v.active,
            }
            for v in vessels
        }
        mark_rows = [
            {
                "group": group,
                "topic": topic,
                "partition": p,
                "next_offset": m.next_offset,
                "event_ts": m.event_ts,
            }
            for p, m in marks.items()
        ]
        with self._writer.begin() as conn:
            self._claims.check(conn, group, topic, epochs)
            if rows:
                conn.execute(self._upsert_state, list(rows.values()))
            if mark_rows:
                conn.execute(self._upsert_offset, mark_rows)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


class SqlHealthBoard:
    """`HealthBoard` on a migrated database. A report replaces the group's rows in one
    transaction: upserts, and the rules no longer reported deleted. Does not own the engine it
    is given (`from_url` makes one it owns)."""

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._writer = write_engine(engine)
        self._owns_engine = owns_engine
        self._upsert = upsert(engine, DETECT_HEALTH, ("group", "rule_id"))

    @classmethod
    def from_url(cls, url: str) -> SqlHealthBoard:
        return cls(make_engine(url), owns_engine=True)

    def report(self, group: str, health: Sequence[DetectorHealth], event_ts: int | None) -> None:
        now = time.time_ns() // 1_000_000
        rows = [
            {
                "group": group,
                "rule_id": h.rule_id,
                "rule_version": h.rule_version,
                "state": h.state,
                "reason": h.reason,
                "model_version": h.model_version,
                "event_ts": event_ts,
                "reported_ms": now,
            }
            for h in health
        ]
        t = DETECT_HEALTH.c
        gone = DETECT_HEALTH.delete().where(t.group == group)
        if rows:  # upserts: the group's other members report the same rows at the same time
            gone = gone.where(t.rule_id.not_in([h.rule_id for h in health]))
        with self._writer.begin() as conn:
            if rows:
                conn.execute(self._upsert, rows)
            conn.execute(gone)

    def read(self) -> list[HealthReport]:
        t = DETECT_HEALTH.c
        query = sa.select(DETECT_HEALTH).order_by(t.group, t.rule_id)
        with self._engine.connect() as conn:
            return [_report(row) for row in conn.execute(query).mappings()]

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


def _report(row: sa.RowMapping) -> HealthReport:
    health = DetectorHealth(
        row["rule_id"], int(row["rule_version"]), row["state"], row["reason"], row["model_version"]
    )
    event_ts = None if row["event_ts"] is None else int(row["event_ts"])
    return HealthReport(row["group"], health, event_ts, int(row["reported_ms"]))


def _vessel(row: Sequence[Any]) -> StoredVessel:
    mmsi, partition, blob, last_ts, active = row
    return StoredVessel(int(mmsi), int(partition), bytes(blob), int(last_ts), bool(active))
