"""anomaly: detector health, what each rule's detector is doing per consumer group.

Revision ID: anomaly_0002
Revises: anomaly_0001
Create Date: 2026-11-29

Written by `anomaly.sql_store.SqlHealthBoard` (the detection stage's reports), read by
`GET /v1/detectors`. Times are epoch milliseconds (BIGINT). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "anomaly_0002"
down_revision: str | Sequence[str] | None = "anomaly_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "detect_health",
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(255), nullable=True),
        sa.Column("event_ts", sa.BigInteger(), nullable=True),
        sa.Column("reported_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("group", "rule_id", name="pk_detect_health"),
    )


def downgrade() -> None:
    op.drop_table("detect_health")
