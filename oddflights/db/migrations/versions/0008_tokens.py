"""tokens: the web tokens that may write feedback

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:30:00

One row per token named with `oddflights token create NAME`: the name (what the labels and
known-flight rules a browser writes record as ``created_by``) and the SHA-256 of the secret;
the secret itself is shown once and never stored. ``revoked_at`` set: the token opens
nothing any more.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oddflights.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", oddflights.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", oddflights.db.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", oddflights.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("tokens")
