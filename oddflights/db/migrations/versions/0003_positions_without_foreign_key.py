"""positions without a foreign key to receivers

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 05:00:00

PostgreSQL checks a foreign key with a trigger per inserted row: on the positions table, the
one that takes millions of rows a day, that check cost more than half of COPY's time (measured:
207 k rows/s with it, 448 k without). Positions are written only by the DB layer with the id of
a stored receiver, and removing a receiver deletes its positions explicitly, so the check buys
nothing. SQLite cannot drop a constraint: the table is rebuilt without it (same key, WITHOUT
ROWID), its rows copied over.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FK_SQLITE = "FOREIGN KEY(receiver_id) REFERENCES receivers (id) ON DELETE CASCADE"


def _rebuild_sqlite(ddl_of: str) -> None:
    """Recreate SQLite's positions table from ``ddl_of`` (CREATE TABLE positions ...)."""
    conn = op.get_bind()
    # After a rename SQLite keeps the name quoted: CREATE TABLE "positions".
    new = re.sub(r'^CREATE TABLE\s+"?positions"?', "CREATE TABLE positions_new", ddl_of, count=1)
    conn.exec_driver_sql(new)
    conn.exec_driver_sql("INSERT INTO positions_new SELECT * FROM positions")
    conn.exec_driver_sql("DROP TABLE positions")
    conn.exec_driver_sql("ALTER TABLE positions_new RENAME TO positions")


def _sqlite_ddl() -> str:
    row = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'positions'"
        )
        .one()
    )
    return str(row[0])


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        ddl = _sqlite_ddl()
        without = re.sub(r",\s*FOREIGN KEY\s*\(receiver_id\)[^,)]*\([^)]*\)[^,)]*", "", ddl)
        if without != ddl:
            _rebuild_sqlite(without)
        return
    for fk in sa.inspect(conn).get_foreign_keys("positions"):
        if fk.get("name"):
            op.drop_constraint(fk["name"], "positions", type_="foreignkey")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        ddl = _sqlite_ddl()
        if "FOREIGN KEY" not in ddl:
            _rebuild_sqlite(
                re.sub(r"\)\s*WITHOUT ROWID\s*$", f", \n\t{_FK_SQLITE}\n) WITHOUT ROWID", ddl)
            )
        return
    op.create_foreign_key(
        "positions_receiver_id_fkey",
        "positions",
        "receivers",
        ["receiver_id"],
        ["id"],
        ondelete="CASCADE",
    )
