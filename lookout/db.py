"""Database engines and schema migrations, shared by the stages that keep tables.

`make_engine(url)` gives a tuned SQLAlchemy engine for the two supported databases:

- SQLite (`sqlite:///path`, embedded mode): WAL journal (readers never block the writer),
  foreign keys on, a busy timeout, usable across threads. SQLAlchemy emits `BEGIN` itself, so
  DDL is transactional too; `write_engine(engine)` begins with `BEGIN IMMEDIATE`, taking the write
  lock up front so two writers queue on the busy timeout instead of failing on lock upgrade.
- PostgreSQL (`postgresql+psycopg://...`, distributed mode; plain `postgresql://` means psycopg 3):
  a pre-pinged, recycled connection pool.

`upsert(engine, table, keys)` is the `INSERT ... ON CONFLICT DO UPDATE` both databases share
(`conflict_insert(engine)` the bare dialect insert, for `ON CONFLICT DO NOTHING`).

`migrate(url_or_engine)` runs Alembic `upgrade heads` with a configuration built in code: no
`alembic.ini` on disk. Each stage that owns tables keeps its revisions in its own version folder
(`MIGRATION_LOCATIONS`), as an independent branch: the folder's first revision has
`down_revision = None` and `branch_labels = ("<stage>",)`, and revision ids start with the stage
name (`tracks_0001`) because they share one namespace. `upgrade heads` applies every branch, in
one transaction, serialised between processes (an advisory lock on PostgreSQL, the write lock on
SQLite), so concurrent starts are safe and a second run is a no-op.

To add a revision to a branch: `alembic.command.revision(alembic_config(url), "message",
head="tracks@head", version_path=str(version_folders()[0]))`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

from lookout.runtime import tcp_unreachable, wait_until_ready

__all__ = [
    "ALEMBIC_DIR",
    "MIGRATION_LOCATIONS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "UnsupportedDatabaseError",
    "alembic_config",
    "make_engine",
    "migrate",
    "normalise_url",
    "version_folders",
    "write_engine",
]

MIGRATION_LOCATIONS: Final[list[str]] = [
    "tracks/migrations/versions",
    "api/migrations/versions",
    "anomaly/migrations/versions",
]
"""Version folders, one per stage that owns tables, as `<package>/<path inside the package>`
(resolved through `importlib.resources`, so they work from an installed package) or as absolute
paths."""

ALEMBIC_DIR: Final = Path(__file__).resolve().parent / "alembic"
"""The Alembic environment (env.py, script.py.mako), shipped inside the package."""

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
"""How long a SQLite connection waits for another writer's lock before giving up."""

SQLITE_BEGIN_OPTION: Final = "lookout_sqlite_begin"
"""Execution option naming the SQLite `BEGIN` mode: DEFERRED (default) or IMMEDIATE."""

_SQLITE_BEGIN_MODES: Final = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})

_PG_POOL: Final[dict[str, Any]] = {
    "pool_size": 5,
    "max_overflow": 10,
    "pool_timeout": 30,
    "pool_recycle": 1800,  # seconds: outlive neither server idle timeouts nor failovers
    "pool_pre_ping": True,  # a connection dropped by a restart is replaced, not handed out
}
_PG_CONNECT_ARGS: Final[dict[str, Any]] = {"connect_timeout": 10, "application_name": "lookout"}


# Alembic's `context` and `op` are module-level proxies: one migration at a time per process.
# Between processes, the database serialises them (see env.py).
_MIGRATE_LOCK: Final = threading.Lock()


class UnsupportedDatabaseError(ValueError):
    """The URL names a database Lookout does not support (SQLite and PostgreSQL only)."""


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain `postgresql://` (or `postgres://`) gets the psycopg 3 driver."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UnsupportedDatabaseError(
            f"unsupported database {parsed.get_backend_name()!r}: "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for a SQLite or PostgreSQL URL, with Lookout's connection settings."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_engine(parsed, connect_args=dict(_PG_CONNECT_ARGS), **_PG_POOL)


def wait_for_database(url: str, stop: threading.Event) -> bool:
    """Wait until the PostgreSQL server at `url` accepts a connection (True) or `stop` is set
    (False), saying every 30 s what it waits for: a service may start before its database.

    A plain TCP connection, as for the broker: a server that is up but refuses us (a wrong
    password, no such database) is for the caller's first query to report, not to wait for.
    SQLite, and PostgreSQL over a Unix socket, need no wait."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" or not parsed.host:
        return not stop.is_set()
    servers = [(host, parsed.port or 5432) for host in parsed.host.split(",")]
    where = parsed.render_as_string(hide_password=True)
    return wait_until_ready(f"the database at {where}", lambda: tcp_unreachable(servers), stop)


def write_engine(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take SQLite's write lock when they begin.

    For transactions that will write: a deferred SQLite transaction that reads first and writes
    later fails with "database is locked" if another writer got in between, whatever the busy
    timeout. No effect on PostgreSQL.
    """
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})


def conflict_insert(engine: Engine) -> Callable[[sa.Table], Any]:
    """The dialect's `insert`, which has `on_conflict_do_update` / `_do_nothing`."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise ValueError(f"Lookout's stores support sqlite and postgresql, not {dialect!r}")


def upsert(
    engine: Engine,
    table: sa.Table,
    keys: tuple[str, ...],
    *,
    touch: bool = False,
    where: Callable[[Any], sa.ColumnElement[bool]] | None = None,
) -> Insert:
    """Insert, or on a conflict of `keys` update every other column; `touch`: set `updated_at`
    to now; `where(statement)`: update only where it holds (given the statement, whose
    `excluded` names the incoming row)."""
    statement = conflict_insert(engine)(table)
    updates: dict[str, Any] = {
        c.name: statement.excluded[c.name]
        for c in table.c
        if c.name not in keys and c.name != "updated_at"
    }
    if touch:
        updates["updated_at"] = sa.func.now()
    condition = where(statement) if where is not None else None
    result: Insert = statement.on_conflict_do_update(
        index_elements=list(keys), set_=updates, where=condition
    )
    return result


def _is_memory_database(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def _sqlite_engine(url: URL) -> Engine:
    memory = _is_memory_database(url)
    if not memory and url.database and not url.query.get("uri"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    # One shared connection for an in-memory database: each new one would be a new database.
    pool: dict[str, Any] = {"poolclass": StaticPool} if memory else {}
    engine = create_engine(url, connect_args=connect_args, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, say when transactions begin (see _on_begin):
        # sqlite3 would otherwise leave DDL outside transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                _enter_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be one of {sorted(_SQLITE_BEGIN_MODES)}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _enter_wal(cursor: Any) -> None:
    """`PRAGMA journal_mode = WAL`, waiting out other writers as the busy timeout would.

    Only the first switch of a database file to WAL writes (its header), and SQLite does not call
    the busy handler for that write: while another connection holds the write lock, the pragma
    fails at once with "database is locked". Processes opening a new database together meet it.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def version_folders(locations: list[str] | None = None) -> list[Path]:
    """The version folders of `locations` (default `MIGRATION_LOCATIONS`) as paths on disk."""
    folders = []
    for location in MIGRATION_LOCATIONS if locations is None else locations:
        folder: object
        if os.path.isabs(location):
            folder = Path(location)
        else:
            package, _, inside = location.replace("\\", "/").partition("/")
            folder = files(package).joinpath(inside)
        if not isinstance(folder, Path) or not folder.is_dir():
            raise FileNotFoundError(f"migration folder {location!r} is not a directory on disk")
        folders.append(folder)
    return folders


def alembic_config(url_or_engine: str | Engine) -> Config:
    """An Alembic configuration for this database, built in code (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", _escape(str(ALEMBIC_DIR)))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", _escape(os.pathsep.join(str(f) for f in version_folders()))
    )
    if isinstance(url_or_engine, Engine):
        config.attributes["engine"] = url_or_engine
    else:
        rendered = normalise_url(url_or_engine).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", _escape(rendered))
    return config


def migrate(url_or_engine: str | Engine) -> None:
    """Bring the database up to date: Alembic `upgrade heads` over every stage's branch.

    Safe to call from every process at start-up: concurrent calls are serialised and the ones
    that find nothing to do are no-ops.
    """
    if isinstance(url_or_engine, Engine):
        with _MIGRATE_LOCK:
            command.upgrade(alembic_config(url_or_engine), "heads")
        return
    engine = make_engine(url_or_engine)
    try:
        with _MIGRATE_LOCK:
            command.upgrade(alembic_config(engine), "heads")
    finally:
        engine.dispose()


def _escape(value: str) -> str:
    """Alembic's Config is a ConfigParser: a literal `%` must be doubled."""
    return value.replace("%", "%%")
