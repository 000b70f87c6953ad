"""The `TrackStore` contract (tracks/store.py) over memory, SQLite and PostgreSQL, and the
migrations that create the SQL tables (lookout.db)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import lookout.db
from lookout.db import (
    MIGRATION_LOCATIONS,
    SQLITE_BUSY_TIMEOUT_MS,
    alembic_config,
    conflict_insert,
    make_engine,
    migrate,
    normalise_url,
)
from tracks.memory_store import MemoryTrackStore, stored_history_point, stored_picture_point
from tracks.records import NEW_SEGMENT, StaticFields, TrackPoint
from tracks.sql_store import METADATA, SqlTrackStore
from tracks.store import Fenced, StoredState, TrackStore

TOPIC = "ais.decoded"
GROUP = "tracks"
T0 = 1_700_000_000_000
TABLES = {"track_state", "consumer_offset", "partition_claim", "vessel_picture", "track_history"}


def make_state(mmsi: int, partition: int = 0, **overrides: Any) -> StoredState:
    fields: dict[str, Any] = {
        "mmsi": mmsi,
        "partition": partition,
        "blob": b"state-%d" % mmsi,
        "last_ts": T0,
        "active": True,
    }
    return StoredState(**(fields | overrides))


def make_point(
    mmsi: int, ts: int = T0, lat: float | None = 36.0, lon: float | None = 14.5, **overrides: Any
) -> TrackPoint:
    fields: dict[str, Any] = {
        "mmsi": mmsi,
        "ts": ts,
        "lat": lat,
        "lon": lon,
        "sog": 7.5,
        "cog": 181.25,
        "heading": 180,
        "nav_status": 0,
        "rot": 0.0,
        "accuracy": True,
        "msg_type": 1,
        "ais_class": "A",
        "mmsi_class": "ship",
        "flag": "MT",
        "source": "test",
        "rx_ts": ts + 5,
        "segment_id": 1,
        "dt_s": 10.0,
        "dist_m": 38.6,
        "implied_sog": 7.5,
        "turn_rate": 0.0,
        "flags": (),
        "static": StaticFields(name="SEA WATCH", callsign="9HA1", imo=9123456, ship_type=70),
    }
    return TrackPoint(**(fields | overrides))


def break_save_after_states(store: TrackStore, monkeypatch: pytest.MonkeyPatch) -> list[TrackPoint]:
    """Arrange for the next save to fail after its states and offsets are written; returns the
    history to pass. SQL: a point the table refuses (NOT NULL segment_id), a real database error
    inside the transaction. Memory: the history step raises."""
    if isinstance(store, MemoryTrackStore):

        def fail(*_: Any) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(store, "_save_history", fail)
        return [make_point(201000001, T0 + 9)]
    return [make_point(201000001, T0 + 9, segment_id=None)]


# The contract, on every back-end.


def test_save_then_load_active_and_offsets_round_trip(
    make_track_store: Callable[[], TrackStore],
) -> None:
    store = make_track_store()
    states = [make_state(244000001, 0), make_state(244000002, 1), make_state(244000003, 0)]
    store.save(GROUP, TOPIC, states, {0: 120, 1: 7})
    store.save(GROUP, "other.topic", [make_state(244000001, 0, blob=b"other")], {0: 99})

    assert store.load_active(TOPIC, [0]) == [states[0], states[2]]
    assert store.load_active(TOPIC, {0, 1}) == sorted(states, key=lambda s: s.mmsi)
    assert store.load_active(TOPIC, []) == []
    assert store.offsets(GROUP, TOPIC, [0, 1, 2]) == {0: 120, 1: 7}
    assert store.offsets("another-group", TOPIC, [0, 1]) == {}
    assert store.offsets(GROUP, "other.topic", [0]) == {0: 99}

    reopened = make_track_store()  # a restart: a new store on the same database
    assert reopened.load_active(TOPIC, [0, 1]) == sorted(states, key=lambda s: s.mmsi)
    assert reopened.offsets(GROUP, TOPIC, [0, 1]) == {0: 120, 1: 7}


def test_save_replaces_states_and_offsets(track_store: TrackStore) -> None:
    track_store.save(GROUP, TOPIC, [make_state(244000001)], {0: 10})
    newer = make_state(244000001, blob=b"\x00\xffnewer", last_ts=T0 + 60_000)
    track_store.save(GROUP, TOPIC, [newer], {0: 25})

    assert track_store.load_active(TOPIC, [0]) == [newer]
    assert track_store.offsets(GROUP, TOPIC, [0]) == {0: 25}


def test_save_is_all_or_nothing(track_store: TrackStore, monkeypatch: pytest.MonkeyPatch) -> None:
    first = [make_state(244000001), make_state(244000002)]
    picture = [make_point(244000001)]
    track_store.save(GROUP, TOPIC, first, {0: 10}, picture=picture, history=picture)

    history = break_save_after_states(track_store, monkeypatch)
    changed = [make_state(244000001, blob=b"changed"), make_state(244000009)]
    with pytest.raises(Exception):  # noqa: B017 - whatever the back-end raises
        track_store.save(
            GROUP,
            TOPIC,
            changed,
            {0: 20, 1: 5},
            picture=[make_point(244000001, T0 + 9)],
            history=history,
        )

    assert track_store.load_active(TOPIC, [0]) == first
    assert track_store.load_one(TOPIC, 244000009) is None
    assert track_store.offsets(GROUP, TOPIC, [0, 1]) == {0: 10}
    assert track_store.picture() == [stored_picture_point(picture[0])]
    assert track_store.history(244000001, 0, T0 + 10**6) == [stored_history_point(picture[0])]
    assert track_store.history(201000001, 0, T0 + 10**6) == []


def test_evicted_states_load_one_by_one(track_store: TrackStore) -> None:
    active = make_state(244000001)
    evicted = make_state(244000002, active=False)
    track_store.save(GROUP, TOPIC, [active, evicted], {0: 3})

    assert track_store.load_active(TOPIC, [0]) == [active]
    assert track_store.load_one(TOPIC, 244000002) == evicted
    assert track_store.load_one(TOPIC, 244000001) == active
    assert track_store.load_one(TOPIC, 244000003) is None
    assert track_store.load_one("other.topic", 244000001) is None

    back = make_state(244000002, last_ts=T0 + 1)  # the vessel reappears
    track_store.save(GROUP, TOPIC, [back], {0: 4})
    assert track_store.load_active(TOPIC, [0]) == [active, back]


def test_picture_keeps_the_newest_point_per_vessel(track_store: TrackStore) -> None:
    a_old, a_new = make_point(244000001, T0), make_point(244000001, T0 + 20_000, lat=36.1)
    b = make_point(247000002, T0 + 5_000, lat=40.0, lon=10.0, ais_class="B", flag="IT")
    track_store.save(GROUP, TOPIC, [], {}, picture=[a_new, a_old, b])
    late = make_point(244000001, T0 + 10_000, lat=99.0)
    track_store.save(GROUP, TOPIC, [], {}, picture=[late])

    assert track_store.picture() == [stored_picture_point(a_new), stored_picture_point(b)]

    newest = make_point(244000001, T0 + 30_000, lat=36.2, static=StaticFields(name="RENAMED"))
    track_store.save(GROUP, TOPIC, [], {}, picture=[newest])
    assert track_store.picture() == [stored_picture_point(newest), stored_picture_point(b)]


def test_picture_filters_by_bbox_and_time(track_store: TrackStore) -> None:
    malta = make_point(244000001, T0, lat=35.9, lon=14.5)
    genoa = make_point(247000002, T0 + 1_000, lat=44.4, lon=8.9)
    fiji = make_point(520000003, T0 + 2_000, lat=-17.7, lon=179.5)
    samoa = make_point(561000004, T0 + 3_000, lat=-13.8, lon=-171.8)
    lost = make_point(636000005, T0 + 4_000, lat=None, lon=None)
    track_store.save(GROUP, TOPIC, [], {}, picture=[malta, genoa, fiji, samoa, lost])

    def mmsis(points: list[TrackPoint]) -> list[int]:
        return [p.mmsi for p in points]

    assert mmsis(track_store.picture()) == [244000001, 247000002, 520000003, 561000004, 636000005]
    assert mmsis(track_store.picture(bbox=(10.0, 30.0, 20.0, 40.0))) == [244000001]
    assert mmsis(track_store.picture(bbox=(-10.0, 30.0, 40.0, 46.0))) == [244000001, 247000002]
    assert mmsis(track_store.picture(bbox=(14.5, 35.9, 14.5, 35.9))) == [244000001]  # edges in
    across_antimeridian = (170.0, -20.0, -170.0, -10.0)
    assert mmsis(track_store.picture(bbox=across_antimeridian)) == [520000003, 561000004]
    assert mmsis(track_store.picture(since_ms=T0 + 2_000)) == [520000003, 561000004, 636000005]
    assert mmsis(track_store.picture(bbox=(-180, -90, 180, 90), since_ms=T0 + 1)) == [
        247000002,
        520000003,
        561000004,
    ]


def test_history_is_idempotent_and_in_time_order(track_store: TrackStore) -> None:
    points = [
        make_point(244000001, T0 + 20_000, flags=(NEW_SEGMENT, "identity_change"), segment_id=2),
        make_point(244000001, T0, heading=None, sog=None, cog=None),
        make_point(244000001, T0 + 10_000, lat=None, lon=None, flags=("no_position",)),
        make_point(247000002, T0 + 5_000),
    ]
    track_store.save(GROUP, TOPIC, [], {}, history=points)
    track_store.save(GROUP, TOPIC, [], {}, history=points + points)  # replayed after a crash

    expected = [stored_history_point(p) for p in (points[1], points[2], points[0])]
    assert track_store.history(244000001, T0, T0 + 20_000) == expected  # bounds included
    assert track_store.history(244000001, T0 + 1, T0 + 19_999) == expected[1:2]
    assert track_store.history(247000002, 0, T0 * 2) == [stored_history_point(points[3])]
    assert track_store.history(999000001, 0, T0 * 2) == []
    # What history keeps: MMSI-derived identity, none of the static data.
    assert expected[0].mmsi_class == "ship" and expected[0].flag == "NL"
    assert expected[0].static == StaticFields()


def test_prune_history_deletes_by_time(track_store: TrackStore) -> None:
    points = [make_point(244000001 + i % 2, T0 + i * 1_000) for i in range(10)]
    track_store.save(GROUP, TOPIC, [], {}, history=points)

    assert track_store.prune_history(T0 + 4_000) == 4  # strictly older
    assert track_store.prune_history(T0 + 4_000) == 0
    left = track_store.history(244000001, 0, T0 * 2) + track_store.history(244000002, 0, T0 * 2)
    assert sorted(p.ts for p in left) == [T0 + i * 1_000 for i in range(4, 10)]


def test_a_claim_fences_off_the_saves_of_the_member_before(track_store: TrackStore) -> None:
    """A member evicted from its group saves late: nothing of it lands once another member
    has claimed one of its partitions, and the new owner's saves go on."""
    evicted = track_store.claim(GROUP, TOPIC, [0, 1])
    assert evicted == {0: 1, 1: 1}
    track_store.save(GROUP, TOPIC, [make_state(244000001)], {0: 5, 1: 7}, epochs=evicted)
    owner = track_store.claim(GROUP, TOPIC, [0])
    assert owner == {0: 2}

    late = [make_state(244000001, blob=b"stale"), make_state(244000002, partition=1)]
    with pytest.raises(Fenced) as fenced:
        track_store.save(GROUP, TOPIC, late, {0: 9, 1: 8}, [make_point(244000001)], epochs=evicted)
    assert fenced.value.partitions == {0}
    assert track_store.offsets(GROUP, TOPIC, [0, 1]) == {0: 5, 1: 7}  # not even partition 1
    assert track_store.load_active(TOPIC, [0, 1]) == [make_state(244000001)]
    assert track_store.picture() == []

    track_store.save(GROUP, TOPIC, [make_state(244000001, blob=b"new")], {0: 6}, epochs=owner)
    assert track_store.offsets(GROUP, TOPIC, [0, 1]) == {0: 6, 1: 7}
    assert track_store.load_active(TOPIC, [0]) == [make_state(244000001, blob=b"new")]


def test_claims_are_per_group_and_topic(track_store: TrackStore) -> None:
    assert track_store.claim(GROUP, TOPIC, [3]) == {3: 1}
    assert track_store.claim("replay", TOPIC, [3]) == {3: 1}
    assert track_store.claim(GROUP, "other", [3]) == {3: 1}
    assert track_store.claim(GROUP, TOPIC, [3, 4]) == {3: 2, 4: 1}
    assert track_store.claim(GROUP, TOPIC, []) == {}


def test_empty_save_is_harmless(track_store: TrackStore) -> None:
    track_store.save(GROUP, TOPIC, [], {})
    assert track_store.load_active(TOPIC, [0]) == []
    assert track_store.picture() == []


def test_stores_refuse_a_database_without_their_upsert() -> None:
    """Both stores' upserts are `INSERT ... ON CONFLICT`, which only SQLite and PostgreSQL
    share here: another database is refused when the store is made, not at its first save."""
    mysql = sa.create_mock_engine("mysql://", lambda *args, **kwargs: None)
    with pytest.raises(ValueError, match="sqlite and postgresql, not 'mysql'"):
        conflict_insert(mysql)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not 'mysql'"):
        SqlTrackStore(mysql)  # type: ignore[arg-type]


# Migrations, on the SQL back-ends.


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def fresh_url(request: pytest.FixtureRequest) -> str:
    """An empty, unmigrated database."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    make: Callable[[], str] = request.getfixturevalue("pg_database")
    return make()


def schema(url: str) -> tuple[set[str], set[str], list[tuple[Any, ...]]]:
    """(tables, alembic heads, differences between tracks' tables and tracks.sql_store.METADATA).

    Other stages' tables (their branches in MIGRATION_LOCATIONS) are not compared."""

    def tracks_tables_only(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in METADATA.tables

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            heads = set(MigrationContext.configure(conn).get_current_heads())
            context = MigrationContext.configure(conn, opts={"include_name": tracks_tables_only})
            diff = compare_metadata(context, METADATA)
    finally:
        engine.dispose()
    return tables, heads, diff


def all_heads() -> set[str]:
    """The head revision of every branch in MIGRATION_LOCATIONS (tracks_0002 among them)."""
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def test_migrate_creates_every_table_matching_the_store(fresh_url: str) -> None:
    migrate(fresh_url)

    tables, heads, diff = schema(fresh_url)
    assert TABLES | {"alembic_version"} <= tables
    assert "tracks_0002" in heads
    assert heads == all_heads()
    assert diff == [], "the migration and tracks.sql_store.METADATA disagree"


def test_migrate_twice_is_a_no_op(fresh_url: str) -> None:
    migrate(fresh_url)
    store_engine = make_engine(fresh_url)
    try:
        store = SqlTrackStore(store_engine)
        store.save(GROUP, TOPIC, [make_state(244000001)], {0: 1})
        before = schema(fresh_url)
        migrate(fresh_url)
        assert schema(fresh_url) == before
        assert store.load_active(TOPIC, [0]) == [make_state(244000001)]
    finally:
        store_engine.dispose()


DEMO_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "demo_0001"
down_revision = None
branch_labels = ("demo",)
depends_on = None


def upgrade() -> None:
    op.create_table("demo_table", sa.Column("id", sa.Text(), primary_key=True))


def downgrade() -> None:
    op.drop_table("demo_table")
"""


def test_every_stage_branch_is_applied(
    fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another stage adds its own branch later: the next upgrade applies it, alone."""
    migrate(fresh_url)
    before = schema(fresh_url)
    versions = tmp_path / "demo_versions"
    versions.mkdir()
    (versions / "0001_demo.py").write_text(DEMO_REVISION)
    monkeypatch.setattr(lookout.db, "MIGRATION_LOCATIONS", [*MIGRATION_LOCATIONS, str(versions)])

    command.upgrade(alembic_config(fresh_url), "heads")  # from a URL, as a CLI would
    migrate(fresh_url)

    tables, heads, _ = schema(fresh_url)
    assert tables == before[0] | {"demo_table"}
    assert heads == before[1] | {"demo_0001"}


# A replica: imports everything, says so, then migrates when the test says go.
REPLICA = (
    "import sys, lookout.db; print('ready', flush=True); sys.stdin.readline();"
    " lookout.db.migrate(sys.argv[1])"
)


def test_concurrent_migrations_are_serialised(fresh_url: str) -> None:
    """Replicas starting together: processes (the database serialises them) and threads."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, fresh_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(fresh_url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    try:
        for process in processes:
            assert process.stdout and process.stdout.readline() == "ready\n"
        for process in processes:
            assert process.stdin
            process.stdin.write("go\n")
            process.stdin.flush()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failures = [p.communicate(timeout=60)[1] for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert errors == []
    assert [p.returncode for p in processes] == [0] * len(processes), failures
    assert schema(fresh_url)[1] == all_heads()


@pytest.mark.integration
def test_migrate_on_a_fresh_postgresql_database(pg_database: Callable[[], str]) -> None:
    url = pg_database()
    migrate(url.replace("postgresql+psycopg://", "postgresql://"))  # plain URLs mean psycopg

    tables, heads, diff = schema(url)
    assert TABLES | {"alembic_version"} <= tables
    assert heads == all_heads()
    assert diff == []


def test_engine_settings(sqlite_url: str) -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match="unsupported"):
        normalise_url("mysql://u@h/db")
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


def test_a_new_database_switches_to_wal_once_the_writer_is_done(tmp_path: Path) -> None:
    """The first switch to WAL writes the header and SQLite skips the busy handler for it: a
    connection opened while another process holds the write lock must wait, not fail."""
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE early (x INTEGER)")  # still in rollback-journal mode
    writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, writer.execute, ["COMMIT"])
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        release.join()
        engine.dispose()
        writer.close()
