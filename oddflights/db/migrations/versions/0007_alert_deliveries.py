"""alert_deliveries: which flagged flight went to which alert target

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:10:00

One row per (flight, target): ``sent`` once it got through, ``failed`` (with the last error
and the number of attempts) while the nightly still retries it. The flight is named by its
natural key (receiver, icao24, start) and the key is unique with the target, so a rerun or a
rescore of a day, which rebuilds its flights with new ids, sends nothing twice.
``flight_id`` is the id the flight had when last tried (no foreign key: ids change).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oddflights.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receiver_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("flight_id", sa.Integer(), nullable=False),
        sa.Column("icao24", sa.String(length=6), nullable=False),
        sa.Column("start_ts", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("tried_at", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", oddflights.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["receiver_id"], ["receivers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "receiver_id", "icao24", "start_ts", "target", name="uq_alert_deliveries_flight_target"
        ),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_deliveries_receiver_day", ["receiver_id", "day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_deliveries_receiver_day")
    op.drop_table("alert_deliveries")
