"""api: the analysts' workbench: detection rule versions (which one is active per rule) and
backtest jobs.

Revision ID: api_0003
Revises: api_0002
Create Date: 2025-01-03

Mirrored by api/rules_store.py (`rule`, `rule_version`) and api/workbench.py (`backtest_job`).
Times are epoch milliseconds. `rule_version` is a history: rows are only ever added (a change
is version n+1; `rule.active_version` points at the one analysts currently stand behind). What
detection runs is still config/rules.yaml, deployed by an operator: nothing here hot-reloads.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "api_0003"
down_revision: str | Sequence[str] | None = "api_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rule"),
    )
    op.create_table(
        "rule_version",
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("author_agency", sa.String(64), nullable=False),
        sa.Column("author_key", sa.String(32), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "version", name="pk_rule_version"),
        sa.ForeignKeyConstraint(["rule_id"], ["rule.id"], name="fk_rule_version_rule"),
    )
    op.create_table(
        "backtest_job",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("data", sa.String(255), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backtest_job"),
    )
    op.create_index("ix_backtest_job_agency", "backtest_job", ["agency_id", "created_at"])
    op.create_index("ix_backtest_job_status", "backtest_job", ["status"])


def downgrade() -> None:
    op.drop_index("ix_backtest_job_status", table_name="backtest_job")
    op.drop_index("ix_backtest_job_agency", table_name="backtest_job")
    op.drop_table("backtest_job")
    op.drop_table("rule_version")
    op.drop_table("rule")
