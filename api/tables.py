"""The API's tables as SQLAlchemy Core objects, for queries.

The schema itself is created by the Alembic revisions of the "api" branch
(`api/migrations/versions/`: 0001_api.py, and 0002_visibility.py for the visibility index);
these definitions mirror them column for column. Times are epoch milliseconds (BIGINT).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY

agency = sa.Table(
    "agency",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("config", sa.Text(), nullable=False),  # AgencyConfig as JSON
    sa.Column("source", sa.String(16), nullable=False),  # config | admin
    sa.Column("webhook_secret", sa.Text(), nullable=True),  # whsec_...
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

api_key = sa.Table(
    "api_key",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("agency_id", sa.String(64), sa.ForeignKey("agency.id"), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("roles", sa.Text(), nullable=False),  # JSON list
    sa.Column("label", sa.Text(), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=True),
    sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    sa.Column("replaced_by", sa.String(32), nullable=True),
)

# Every version of every alert, in commit order: a detector revision or a lifecycle change.
# `seq` is assigned under a lock held until commit, so readers always see a prefix.
alert_feed = sa.Table(
    "alert_feed",
    metadata,
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("alert_id", sa.String(80), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("change", sa.String(16), nullable=False),  # revision|acknowledged|closed|shared
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("tlp_rank", sa.SmallInteger(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("mmsi", sa.BigInteger(), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("recipients", sa.Text(), nullable=False),  # "|a|b|" or ""
    sa.Column("committed_at", sa.BigInteger(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),  # the alert as served (JSON)
)

# The visibility index: which stored versions each agency may see, one row per (agency,
# version), written in the same transaction as the version (api/visibility.py). A poll is a
# range scan of it. Rows only narrow the candidates: `visible_mask` still decides each one.
alert_visibility = sa.Table(
    "alert_visibility",
    metadata,
    sa.Column("agency_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# Per agency: the agreement its index rows were computed for, and how far they are built.
# `complete`: every stored version has its row (or none, when not visible), and writers keep
# it so. Otherwise versions up to `built_through` are done and a rebuild is in progress;
# readers scan instead.
alert_visibility_state = sa.Table(
    "alert_visibility_state",
    metadata,
    sa.Column("agency_id", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("built_through", sa.BigInteger(), nullable=False),
    sa.Column("complete", sa.Boolean(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)

# The latest version of each alert.
alert_current = sa.Table(
    "alert_current",
    metadata,
    sa.Column("alert_id", sa.String(80), primary_key=True),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("tlp_rank", sa.SmallInteger(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("mmsi", sa.BigInteger(), nullable=False),
    sa.Column("mmsis", sa.Text(), nullable=False),  # "|m1|m2|"
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("recipients", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("status_by_api", sa.Boolean(), nullable=False),
    sa.Column("start_ms", sa.BigInteger(), nullable=False),
    sa.Column("detected_at_ms", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("raw", sa.Text(), nullable=False),  # the detector's latest revision (wire JSON)
    sa.Column("body", sa.Text(), nullable=False),  # as served
)

alert_lifecycle = sa.Table(
    "alert_lifecycle",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(80), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # acknowledged | closed | shared
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
)

alert_note = sa.Table(
    "alert_note",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(80), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("alerts", sa.Text(), nullable=True),  # JSON [[id, revision], ...]
    sa.Column("detail", sa.Text(), nullable=True),  # JSON
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_alert = sa.Table(
    "audit_alert",
    metadata,
    sa.Column("alert_id", sa.String(80), primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("revision", sa.Integer(), primary_key=True, autoincrement=False),
)

webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("msg_id", sa.String(120), nullable=False, unique=True),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("feed_seq", sa.BigInteger(), nullable=False),
    sa.Column("alert_id", sa.String(80), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
    sa.Column("delivered_at", sa.BigInteger(), nullable=True),
    sa.Column("last_status", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
)


def append_rows(conn: Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert many rows (tuples in the table's column order) in the current transaction: COPY
    on PostgreSQL, the driver's executemany on SQLite. Several times cheaper than SQLAlchemy's
    executemany, which builds a parameter dict per row."""
    if not rows:
        return
    columns = ", ".join(c.name for c in table.columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in table.columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", list(rows))
