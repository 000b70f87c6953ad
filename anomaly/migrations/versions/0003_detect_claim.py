"""anomaly: partition claims, which fence off the saves of a member evicted from its group.

Revision ID: anomaly_0003
Revises: anomaly_0002
Create Date: 2026-11-29

See `lookout.claims`: a member bumps the epoch of each partition it is assigned, and a save
whose epochs are no longer the partitions' writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "anomaly_0003"
down_revision: str | Sequence[str] | None = "anomaly_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "detect_claim",
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("group", "topic", "partition", name="pk_detect_claim"),
    )


def downgrade() -> None:
    op.drop_table("detect_claim")
