"""aircraft: registration, type and operator of each aircraft, from readsb traces

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:00:00

One row per icao24 with what readsb's database says of it (trace keys ``r``, ``t``,
``desc``, ``ownOp``, ``year``). ``seen_at`` is the time of the newest trace the row comes
from (an older day ingested later changes nothing); ``changed_at`` the time of the trace
where the details last changed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oddflights.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aircraft",
        sa.Column("icao24", sa.String(length=6), nullable=False),
        sa.Column("registration", sa.String(length=16), nullable=True),
        sa.Column("type_code", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=80), nullable=True),
        sa.Column("operator", sa.String(length=80), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("seen_at", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.Column("changed_at", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("icao24"),
    )


def downgrade() -> None:
    op.drop_table("aircraft")
