"""Database fixtures: PostgreSQL databases, SQLite files and track stores, as factories.

Loaded from tests/conftest.py (`pytest_plugins = ["tests.db_fixtures"]`).

PostgreSQL is the server on this machine (127.0.0.1:5432, user postgres, trust auth; override
the admin URL with LOOKOUT_TEST_PG_ADMIN_URL). Every database a session creates is named
`lookout_test_<random>` and dropped `WITH (FORCE)` at the end. A server that cannot be reached
fails the tests that need it: integration tests are the point, they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from lookout.db import migrate
from tracks.memory_store import MemoryTrackStore
from tracks.sql_store import SqlTrackStore
from tracks.store import TrackStore

PG_ADMIN_URL = os.environ.get(
    "LOOKOUT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class PgServer:
    """An admin connection to the PostgreSQL server that creates and drops test databases."""

    def __init__(self, admin_url: str) -> None:
        try:
            self._admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at {admin_url}: {exc}\n"
                "The integration tests need it: start the server (`pg_isready -h 127.0.0.1` "
                "must say 'accepting connections') or set LOOKOUT_TEST_PG_ADMIN_URL.",
                pytrace=False,
            )
        info = self._admin.info
        self._base = f"postgresql+psycopg://{info.user}@{info.host}:{info.port}"
        self._created: list[str] = []

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"lookout_test_{uuid.uuid4().hex[:12]}"
        self._admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        return f"{self._base}/{name}"

    def drop_all(self) -> None:
        for name in reversed(self._created):
            query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            self._admin.execute(query.format(sql.Identifier(name)))
        self._created.clear()
        self._admin.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer(PG_ADMIN_URL)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """URL of an empty database for this session (`postgresql+psycopg://...`), not migrated."""
    return pg_server.create_database()


@pytest.fixture
def pg_database(pg_server: PgServer) -> Callable[[], str]:
    """Factory: `pg_database()` -> URL of a new empty database (dropped at the session's end)."""
    return pg_server.create_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file in the test's temporary directory (created on first connection)."""
    return f"sqlite:///{tmp_path / 'lookout.db'}"


TRACK_STORE_BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.integration),
]


@pytest.fixture(params=TRACK_STORE_BACKENDS)
def track_store_url(request: pytest.FixtureRequest) -> str | None:
    """Per back-end: a freshly migrated database's URL (None for the memory back-end)."""
    backend: str = request.param
    if backend == "memory":
        return None
    url: str
    if backend == "sqlite":
        url = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("pg_database")()
    migrate(url)
    return url


@pytest.fixture
def make_track_store(track_store_url: str | None) -> Iterator[Callable[[], TrackStore]]:
    """Factory: `make_track_store()` -> a store on the back-end's database; a second call
    gives a new store on the same data (a restart). Every store is closed at the end."""
    memory = MemoryTrackStore()
    made: list[TrackStore] = []

    def make() -> TrackStore:
        url = track_store_url
        store: TrackStore = memory if url is None else SqlTrackStore.from_url(url)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def track_store(make_track_store: Callable[[], TrackStore]) -> TrackStore:
    """A `TrackStore` on a fresh database, parametrized over memory, sqlite and postgresql."""
    return make_track_store()
