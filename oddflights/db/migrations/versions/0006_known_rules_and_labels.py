"""known_rules and labels: flights the owner knows, and the verdicts that teach the model

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00

``known_rules``: per receiver, an aircraft (``icao24``), a callsign (``callsign``) or one
flight (``flight``) the owner knows. ``pattern`` is a case-insensitive glob (``POLICE*``,
``HB-Z??``) for the first two kinds; for ``flight`` it is the flight's icao24 and
``flight_start`` its start, the flight's natural key, so that the rule outlives a rebuild of
the day (which gives the flights new ids). ``until_day`` (inclusive, in the receiver's zone)
ends the rule; NULL never does. Rules are applied when anomalies are read, not stored with
the scores, so a rule added today applies to every past day.

``labels``: "normal" or "odd" said of one flight, also by natural key (receiver, icao24,
start) for the same reason. Every verdict is a row (the history); a flight's current label is
its latest row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oddflights.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receiver_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.String(length=64), nullable=False),
        sa.Column("flight_start", oddflights.db.types.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("until_day", sa.Date(), nullable=True),
        sa.Column("created_at", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["receiver_id"], ["receivers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("known_rules", schema=None) as batch_op:
        batch_op.create_index("ix_known_rules_receiver", ["receiver_id"], unique=False)

    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receiver_id", sa.Integer(), nullable=False),
        sa.Column("icao24", sa.String(length=6), nullable=False),
        sa.Column("start_ts", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["receiver_id"], ["receivers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_labels_flight", ["receiver_id", "icao24", "start_ts"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_index("ix_labels_flight")
    op.drop_table("labels")
    with op.batch_alter_table("known_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_known_rules_receiver")
    op.drop_table("known_rules")
