"""Alembic environment for Lookout, used by `lookout.db.migrate` (see its docstring).

The configuration is built in code (`lookout.db.alembic_config`): either an engine in
`config.attributes["engine"]` or a URL in the `sqlalchemy.url` option. Migrations are written by
hand with `op.*` (no autogenerate metadata), and must run on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Final

from alembic import context
from sqlalchemy import Engine, text

from lookout.db import make_engine, write_engine

# Any constant: every Lookout process migrating the same PostgreSQL database takes this lock.
_PG_MIGRATION_LOCK: Final = 0x4C4F4F4B  # "LOOK"


def _run_offline() -> None:
    """`--sql` mode: print the DDL instead of running it."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(engine: Engine) -> None:
    # One transaction around every pending revision of every branch: on both databases DDL is
    # transactional, so a failed upgrade leaves the schema as it was.
    with write_engine(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            # Serialise concurrent migrations (several replicas starting at once); released at
            # commit. SQLite's BEGIN IMMEDIATE (write_engine) does the same there.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        context.configure(
            connection=connection,
            transactional_ddl=True,
            render_as_batch=connection.dialect.name == "sqlite",  # ALTER via table copy
        )
        with context.begin_transaction():
            context.run_migrations()


def _run_online() -> None:
    engine = context.config.attributes.get("engine")
    if isinstance(engine, Engine):
        _run(engine)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set config.attributes['engine'] or sqlalchemy.url")
    owned = make_engine(url)
    try:
        _run(owned)
    finally:
        owned.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
