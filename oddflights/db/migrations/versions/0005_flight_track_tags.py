"""flights.track_tags: what the tags need of a flight's track, worked out at build

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00

Scoring a day tagged each flight from its track, so a rescore of a past day read the day's
millions of positions back (most of its time). The build now works out what the tags need
of the track alone (oddflights.scoring.tags.TrackFacts: the shape tags, ``low_slow`` and
the go-around low points) and stores it here as JSON. Rows built before stay NULL: scoring
reads their positions as before, and rebuilding a day fills them. Downgrading drops the
column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("flights", sa.Column("track_tags", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+, as 0004): a batch rebuild of the table would trip
    # over anomalies_view, which names it.
    op.get_bind().exec_driver_sql("ALTER TABLE flights DROP COLUMN track_tags")
