"""api: the per-agency visibility index (which stored alert versions each agency may see)
and its build state.

Revision ID: api_0002
Revises: api_0001
Create Date: 2025-01-02

Mirrored by api/tables.py. The rows are computed by the API, not here: it needs the compiled
agreements (agencies.yaml, zones). An upgraded database starts with no index; each API process
claims its agencies' indexes at start-up and builds them in bounded batches, and polls scan the
feed (as before this revision) until an agency's index is complete.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api_0002"
down_revision: str | Sequence[str] | None = "api_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_visibility",
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("agency_id", "seq", name="pk_alert_visibility"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alert_visibility_state",
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("built_through", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", name="pk_alert_visibility_state"),
    )


def downgrade() -> None:
    op.drop_table("alert_visibility_state")
    op.drop_table("alert_visibility")
