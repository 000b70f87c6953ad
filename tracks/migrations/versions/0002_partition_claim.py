"""tracks: partition claims, which fence off the saves of a member evicted from its group.

Revision ID: tracks_0002
Revises: tracks_0001
Create Date: 2026-11-29

A member that takes a partition bumps its epoch (`TrackStore.claim`); its saves give the epoch
they hold, and a save whose epoch is no longer the partition's writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tracks_0002"
down_revision: str | Sequence[str] | None = "tracks_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partition_claim",
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("group", "topic", "partition", name="pk_partition_claim"),
    )


def downgrade() -> None:
    op.drop_table("partition_claim")
