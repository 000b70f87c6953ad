"""tracks: vessel states, consumer offsets, the vessel picture and the track history.

Revision ID: tracks_0001
Revises:
Create Date: 2025-01-01

The first revision of the "tracks" branch. Times are epoch milliseconds (BIGINT); positions WGS84
degrees, speeds knots, courses degrees (double precision). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "tracks_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tracks",)
depends_on: str | Sequence[str] | None = None


def _updated_at() -> sa.Column[Any]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    # Per-vessel state of the track builder, an opaque blob owned by tracks.state. Saved in the
    # same transaction as consumer_offset, so a restart resumes exactly where it stopped.
    op.create_table(
        "track_state",
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("mmsi", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("topic", "mmsi", name="pk_track_state"),
    )
    # A consumer loads the states of the partitions it is assigned.
    op.create_index("ix_track_state_topic_partition", "track_state", ["topic", "partition"])

    op.create_table(
        "consumer_offset",
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("group", "topic", "partition", name="pk_consumer_offset"),
    )

    # The latest point of each vessel, for the map and /v1/picture.
    op.create_table(
        "vessel_picture",
        sa.Column("mmsi", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("sog", sa.Float(), nullable=True),
        sa.Column("cog", sa.Float(), nullable=True),
        sa.Column("heading", sa.Integer(), nullable=True),
        sa.Column("nav_status", sa.Integer(), nullable=True),
        sa.Column("ais_class", sa.String(1), nullable=True),
        sa.Column("mmsi_class", sa.String(16), nullable=False),
        sa.Column("flag", sa.String(2), nullable=True),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("callsign", sa.Text(), nullable=True),
        sa.Column("imo", sa.Integer(), nullable=True),
        sa.Column("ship_type", sa.Integer(), nullable=True),
        sa.Column("to_bow", sa.Integer(), nullable=True),
        sa.Column("to_stern", sa.Integer(), nullable=True),
        sa.Column("to_port", sa.Integer(), nullable=True),
        sa.Column("to_starboard", sa.Integer(), nullable=True),
        sa.Column("draught", sa.Float(), nullable=True),
        sa.Column("destination", sa.Text(), nullable=True),
        _updated_at(),
        sa.PrimaryKeyConstraint("mmsi", name="pk_vessel_picture"),
    )
    # Bounding-box queries: a range on lat, then lon within it.
    op.create_index("ix_vessel_picture_lat_lon", "vessel_picture", ["lat", "lon"])
    op.create_index("ix_vessel_picture_ts", "vessel_picture", ["ts"])

    # Downsampled track history for /v1/vessels/{mmsi}/track; flags comma-separated.
    op.create_table(
        "track_history",
        sa.Column("mmsi", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("sog", sa.Float(), nullable=True),
        sa.Column("cog", sa.Float(), nullable=True),
        sa.Column("heading", sa.Integer(), nullable=True),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("mmsi", "ts", name="pk_track_history"),
    )
    # Retention: prune_history deletes by time.
    op.create_index("ix_track_history_ts", "track_history", ["ts"])


def downgrade() -> None:
    op.drop_table("track_history")
    op.drop_table("vessel_picture")
    op.drop_table("consumer_offset")
    op.drop_table("track_state")
