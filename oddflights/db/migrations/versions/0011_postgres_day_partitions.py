"""PostgreSQL positions partitioned by UTC day

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 04:10:00

On PostgreSQL ``positions`` becomes a table range-partitioned on ``ts``, one partition per
UTC day (``positions_pYYYYMMDD``) and a DEFAULT partition (``positions_default``) for rows of
a day that has none yet (see oddflights/db/partitions.py). Old days are then dropped whole by
the prune, and a day's read touches one partition. The key (receiver_id, ts, icao24) already
includes ts, as a partitioned table's primary key must.

The existing table's rows are moved: a partitioned table is made beside it, with a partition
for every day that has rows, the rows copied (the key built after, per partition, which is
faster than inserting into it), the old table dropped and the new one renamed. This rewrites
the table once: on a large database it takes as long as copying it, inside the upgrade's
transaction. SQLite: nothing to do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_KEY = "PRIMARY KEY (receiver_id, ts, icao24)"


def _partitioned() -> bool:
    found = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('positions')"
        )
        .first()
    )
    return found is not None


def _columns() -> str:
    """The columns of positions, by name (so that their order never matters)."""
    names = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = 'positions' ORDER BY ordinal_position"
        )
        .scalars()
        .all()
    )
    return ", ".join(f'"{n}"' for n in names)


def _start(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql" or _partitioned():
        return
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    columns = _columns()
    conn.exec_driver_sql(
        "CREATE TABLE positions_new (LIKE positions INCLUDING DEFAULTS) PARTITION BY RANGE (ts)"
    )
    days = (
        conn.exec_driver_sql(
            "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM positions ORDER BY 1"
        )
        .scalars()
        .all()
    )
    for day in days:
        conn.exec_driver_sql(
            f"CREATE TABLE positions_p{day:%Y%m%d} PARTITION OF positions_new "
            f"FOR VALUES FROM ('{_start(day)}') TO ('{_start(day + timedelta(days=1))}')"
        )
    conn.exec_driver_sql("CREATE TABLE positions_default PARTITION OF positions_new DEFAULT")
    conn.exec_driver_sql(f"INSERT INTO positions_new ({columns}) SELECT {columns} FROM positions")
    conn.exec_driver_sql("DROP TABLE positions")
    conn.exec_driver_sql("ALTER TABLE positions_new RENAME TO positions")
    conn.exec_driver_sql(f"ALTER TABLE positions ADD CONSTRAINT pk_positions {_KEY}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql" or not _partitioned():
        return
    columns = _columns()
    conn.exec_driver_sql("CREATE TABLE positions_plain (LIKE positions INCLUDING DEFAULTS)")
    conn.exec_driver_sql(
        f"INSERT INTO positions_plain ({columns}) SELECT {columns} FROM positions "
        "ORDER BY receiver_id, ts, icao24"
    )
    conn.exec_driver_sql("DROP TABLE positions")  # and its partitions
    conn.exec_driver_sql("ALTER TABLE positions_plain RENAME TO positions")
    conn.exec_driver_sql(f"ALTER TABLE positions ADD CONSTRAINT pk_positions {_KEY}")
