"""`SqlTrackStore`: the `TrackStore` on SQLAlchemy Core, for SQLite (embedded) and PostgreSQL.

The tables are created by the "tracks" migration branch (`tracks/migrations/versions`, applied by
`lookout.db.migrate`); `METADATA` below mirrors them for queries, and a test checks the two agree.

`save` is one transaction. Each part is a single executemany of an upsert
(`INSERT ... ON CONFLICT`, the same statement on both databases): states and offsets replace,
the picture keeps the newest point per vessel (an older point never overwrites a newer one),
history inserts are idempotent (`ON CONFLICT DO NOTHING`). What the tables do not hold comes back
from `picture()` and `history()` as the defaults of `tracks.memory_store`: None, `""`, `0`, `()`;
history points get their `mmsi_class` and `flag` from the MMSI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Engine

from ingest.mmsi import classify
from lookout.claims import SqlClaims, claim_table
from lookout.db import conflict_insert, make_engine, upsert, write_engine
from tracks.records import StaticFields, TrackPoint
from tracks.store import StoredState

__all__ = ["METADATA", "SqlTrackStore"]

METADATA: Final = sa.MetaData()


def _updated_at() -> sa.Column[Any]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


TRACK_STATE: Final = sa.Table(
    "track_state",
    METADATA,
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("mmsi", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("partition", sa.Integer(), nullable=False),
    sa.Column("blob", sa.LargeBinary(), nullable=False),
    sa.Column("last_ts", sa.BigInteger(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    _updated_at(),
    sa.Index("ix_track_state_topic_partition", "topic", "partition"),
)

CONSUMER_OFFSET: Final = sa.Table(
    "consumer_offset",
    METADATA,
    sa.Column("group", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("next_offset", sa.BigInteger(), nullable=False),
)

PARTITION_CLAIM: Final = claim_table("partition_claim", METADATA)

_STATIC_COLUMNS: Final = StaticFields._fields

VESSEL_PICTURE: Final = sa.Table(
    "vessel_picture",
    METADATA,
    sa.Column("mmsi", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    sa.Column("lat", sa.Float()),
    sa.Column("lon", sa.Float()),
    sa.Column("sog", sa.Float()),
    sa.Column("cog", sa.Float()),
    sa.Column("heading", sa.Integer()),
    sa.Column("nav_status", sa.Integer()),
    sa.Column("ais_class", sa.String(1)),
    sa.Column("mmsi_class", sa.String(16), nullable=False),
    sa.Column("flag", sa.String(2)),
    sa.Column("segment_id", sa.Integer(), nullable=False),
    sa.Column("name", sa.Text()),
    sa.Column("callsign", sa.Text()),
    sa.Column("imo", sa.Integer()),
    sa.Column("ship_type", sa.Integer()),
    sa.Column("to_bow", sa.Integer()),
    sa.Column("to_stern", sa.Integer()),
    sa.Column("to_port", sa.Integer()),
    sa.Column("to_starboard", sa.Integer()),
    sa.Column("draught", sa.Float()),
    sa.Column("destination", sa.Text()),
    _updated_at(),
    sa.Index("ix_vessel_picture_lat_lon", "lat", "lon"),
    sa.Index("ix_vessel_picture_ts", "ts"),
)

TRACK_HISTORY: Final = sa.Table(
    "track_history",
    METADATA,
    sa.Column("mmsi", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("ts", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("lat", sa.Float()),
    sa.Column("lon", sa.Float()),
    sa.Column("sog", sa.Float()),
    sa.Column("cog", sa.Float()),
    sa.Column("heading", sa.Integer()),
    sa.Column("segment_id", sa.Integer(), nullable=False),
    sa.Column("flags", sa.Text()),
    sa.Index("ix_track_history_ts", "ts"),
)

_PICTURE_COLUMNS: Final = tuple(c.name for c in VESSEL_PICTURE.c if c.name != "updated_at")
_HISTORY_COLUMNS: Final = tuple(c.name for c in TRACK_HISTORY.c)
_FLAG_SEPARATOR: Final = ","


class SqlTrackStore:
    """`TrackStore` on a migrated SQLite or PostgreSQL database (`lookout.db.make_engine`).

    The store does not own an engine it is given: `close()` disposes only an engine it made
    (`SqlTrackStore.from_url`).
    """

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._writer = write_engine(engine)
        self._owns_engine = owns_engine
        self._upsert_state = upsert(engine, TRACK_STATE, ("topic", "mmsi"), touch=True)
        self._upsert_offset = upsert(engine, CONSUMER_OFFSET, ("group", "topic", "partition"))
        self._claims = SqlClaims(engine, self._writer, PARTITION_CLAIM)
        self._upsert_picture = upsert(
            engine, VESSEL_PICTURE, ("mmsi",), touch=True, where=_not_older
        )
        self._insert_history = conflict_insert(engine)(TRACK_HISTORY).on_conflict_do_nothing(
            index_elements=["mmsi", "ts"]
        )

    @classmethod
    def from_url(cls, url: str) -> SqlTrackStore:
        """A store on its own engine (disposed by `close()`); the database must be migrated."""
        return cls(make_engine(url), owns_engine=True)

    def load_active(self, topic: str, partitions: Iterable[int]) -> list[StoredState]:
        wanted = sorted(set(partitions))
        if not wanted:
            return []
        t = TRACK_STATE.c
        query = (
            sa.select(t.mmsi, t.partition, t.blob, t.last_ts, t.active)
            .where(t.topic == topic, t.partition.in_(wanted), t.active.is_(True))
            .order_by(t.mmsi)
        )
        with self._engine.connect() as conn:
            return [_state(row) for row in conn.execute(query)]

    def load_one(self, topic: str, mmsi: int) -> StoredState | None:
        t = TRACK_STATE.c
        query = sa.select(t.mmsi, t.partition, t.blob, t.last_ts, t.active).where(
            t.topic == topic, t.mmsi == mmsi
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _state(row)

    def offsets(self, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        o = CONSUMER_OFFSET.c
        query = sa.select(o.partition, o.next_offset).where(
            o.group == group, o.topic == topic, o.partition.in_(wanted)
        )
        with self._engine.connect() as conn:
            return {int(p): int(n) for p, n in conn.execute(query)}

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
        # Dedupe within the batch first: PostgreSQL refuses to upsert one row twice in a statement.
        state_rows = {s.mmsi: _state_row(topic, s) for s in states}
        offset_rows = [
            {"group": group, "topic": topic, "partition": p, "next_offset": n}
            for p, n in offsets.items()
        ]
        picture_rows = [_picture_row(p) for p in _newest_per_vessel(picture)]
        history_rows = [_history_row(p) for p in history]
        with self._writer.begin() as conn:
            self._claims.check(conn, group, topic, epochs)
            if state_rows:
                conn.execute(self._upsert_state, list(state_rows.values()))
            if offset_rows:
                conn.execute(self._upsert_offset, offset_rows)
            if picture_rows:
                conn.execute(self._upsert_picture, picture_rows)
            if history_rows:
                conn.execute(self._insert_history, history_rows)

    def picture(
        self, bbox: tuple[float, float, float, float] | None = None, since_ms: int | None = None
    ) -> list[TrackPoint]:
        v = VESSEL_PICTURE.c
        query = sa.select(*(v[name] for name in _PICTURE_COLUMNS)).order_by(v.mmsi)
        if bbox is not None:
            west, south, east, north = bbox
            query = query.where(v.lat.between(south, north))
            if west <= east:
                query = query.where(v.lon.between(west, east))
            else:  # across the antimeridian
                query = query.where(sa.or_(v.lon >= west, v.lon <= east))
        if since_ms is not None:
            query = query.where(v.ts >= since_ms)
        with self._engine.connect() as conn:
            return [_picture_point(row._mapping) for row in conn.execute(query)]

    def history(self, mmsi: int, start_ms: int, end_ms: int) -> list[TrackPoint]:
        h = TRACK_HISTORY.c
        query = (
            sa.select(*(h[name] for name in _HISTORY_COLUMNS))
            .where(h.mmsi == mmsi, h.ts.between(start_ms, end_ms))
            .order_by(h.ts)
        )
        with self._engine.connect() as conn:
            return [_history_point(row._mapping) for row in conn.execute(query)]

    def prune_history(self, older_than_ms: int) -> int:
        with self._writer.begin() as conn:
            result = conn.execute(
                sa.delete(TRACK_HISTORY).where(TRACK_HISTORY.c.ts < older_than_ms)
            )
        return int(result.rowcount)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


def _not_older(statement: Any) -> sa.ColumnElement[bool]:
    """The picture keeps a vessel's newest point: an older one never overwrites it."""
    newer: sa.ColumnElement[bool] = VESSEL_PICTURE.c.ts <= statement.excluded.ts
    return newer


def _newest_per_vessel(points: Sequence[TrackPoint]) -> list[TrackPoint]:
    newest: dict[int, TrackPoint] = {}
    for point in points:
        kept = newest.get(point.mmsi)
        if kept is None or point.ts >= kept.ts:
            newest[point.mmsi] = point
    return list(newest.values())


def _state_row(topic: str, state: StoredState) -> dict[str, Any]:
    return {
        "topic": topic,
        "mmsi": state.mmsi,
        "partition": state.partition,
        "blob": state.blob,
        "last_ts": state.last_ts,
        "active": state.active,
    }


def _state(row: Sequence[Any]) -> StoredState:
    mmsi, partition, blob, last_ts, active = row
    return StoredState(int(mmsi), int(partition), bytes(blob), int(last_ts), bool(active))


def _picture_row(p: TrackPoint) -> dict[str, Any]:
    row = {name: getattr(p, name) for name in _PICTURE_COLUMNS if name not in _STATIC_COLUMNS}
    row.update(p.static._asdict())
    return row


def _history_row(p: TrackPoint) -> dict[str, Any]:
    return {
        "mmsi": p.mmsi,
        "ts": p.ts,
        "lat": p.lat,
        "lon": p.lon,
        "sog": p.sog,
        "cog": p.cog,
        "heading": p.heading,
        "segment_id": p.segment_id,
        "flags": _FLAG_SEPARATOR.join(p.flags) or None,
    }


def _picture_point(row: Mapping[Any, Any]) -> TrackPoint:
    return TrackPoint(
        mmsi=row["mmsi"],
        ts=row["ts"],
        lat=row["lat"],
        lon=row["lon"],
        sog=row["sog"],
        cog=row["cog"],
        heading=row["heading"],
        nav_status=row["nav_status"],
        rot=None,
        accuracy=None,
        msg_type=None,
        ais_class=row["ais_class"],
        mmsi_class=row["mmsi_class"],
        flag=row["flag"],
        source="",
        rx_ts=0,
        segment_id=row["segment_id"],
        dt_s=None,
        dist_m=None,
        implied_sog=None,
        turn_rate=None,
        flags=(),
        static=StaticFields(*(row[name] for name in _STATIC_COLUMNS)),
    )


def _history_point(row: Mapping[Any, Any]) -> TrackPoint:
    mmsi = row["mmsi"]
    mmsi_class, flag = classify(mmsi)
    return TrackPoint(
        mmsi=mmsi,
        ts=row["ts"],
        lat=row["lat"],
        lon=row["lon"],
        sog=row["sog"],
        cog=row["cog"],
        heading=row["heading"],
        nav_status=None,
        rot=None,
        accuracy=None,
        msg_type=None,
        ais_class=None,
        mmsi_class=mmsi_class,
        flag=flag,
        source="",
        rx_ts=0,
        segment_id=row["segment_id"],
        dt_s=None,
        dist_m=None,
        implied_sog=None,
        turn_rate=None,
        flags=tuple(row["flags"].split(_FLAG_SEPARATOR)) if row["flags"] else (),
        static=StaticFields(),
    )
