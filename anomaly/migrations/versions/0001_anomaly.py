"""anomaly: detector states and the detection stage's partition marks.

Revision ID: anomaly_0001
Revises:
Create Date: 2025-01-01

The first revision of the "anomaly" branch (`anomaly.sql_store.SqlDetectStore`). Times are epoch
milliseconds (BIGINT). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "anomaly_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("anomaly",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Per vessel and consumer group, the detectors' states (an opaque blob framed by
    # anomaly.stage), saved in the same transaction as detect_offset.
    op.create_table(
        "detect_state",
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("mmsi", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.PrimaryKeyConstraint("group", "mmsi", name="pk_detect_state"),
    )
    # A member loads the states of the partitions it is assigned.
    op.create_index("ix_detect_state_group_partition", "detect_state", ["group", "partition"])

    # Per input partition: where to resume, and the newest event time seen (the watermark).
    op.create_table(
        "detect_offset",
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("event_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("group", "topic", "partition", name="pk_detect_offset"),
    )


def downgrade() -> None:
    op.drop_table("detect_offset")
    op.drop_table("detect_state")
