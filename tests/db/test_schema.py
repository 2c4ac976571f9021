"""Schema and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db import DatabaseError, open_db
from oddflights.db.engine import create_engine, current_revision, head_revision, upgrade
from oddflights.db.models import PositionRow, ReceiverRow

TABLES = {"receivers", "positions", "flights", "models", "runs", "scores", "locks"}


def test_open_creates_every_table_at_head(engine: Engine) -> None:
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    assert current_revision(engine) == head_revision()


def test_head_revision_constant_is_alembics_head() -> None:
    # HEAD_REVISION spares every run Alembic's import; it must name the newest migration.
    from alembic.script import ScriptDirectory

    from oddflights.db.engine import _MIGRATIONS, HEAD_REVISION

    assert ScriptDirectory(str(_MIGRATIONS)).get_current_head() == HEAD_REVISION


def test_current_revision_matches_alembic_and_opening_imports_no_alembic(tmp_path) -> None:
    # A fresh process: opening an up-to-date database reads the revision without Alembic,
    # and reads the same revision Alembic's MigrationContext reads.
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'o.db'}"
    open_db(url).dispose()
    code = (
        "import sys\n"
        "from oddflights.db import open_db\n"
        "from oddflights.db.engine import current_revision\n"
        f"eng = open_db({url!r})\n"
        "print(current_revision(eng), 'alembic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [head_revision(), "False"]
    from alembic.runtime.migration import MigrationContext

    eng = open_db(url)
    with eng.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    eng.dispose()
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert current_revision(empty) is None
    empty.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    eng = open_db(db_url)
    assert upgrade(eng) == (head_revision(), head_revision())
    eng.dispose()
    eng = open_db(db_url)  # a second open finds nothing to do
    assert current_revision(eng) == head_revision()
    eng.dispose()


def test_sqlite_uses_wal(tmp_path) -> None:
    eng = open_db(f"sqlite:///{tmp_path / 'w.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    eng.dispose()


def _receiver(conn: sa.Connection) -> int:
    return conn.execute(
        sa.insert(ReceiverRow)
        .values(
            name="r", lat=1.0, lon=2.0, range_km=200.0, timezone="UTC", created_at=datetime.now(UTC)
        )
        .returning(ReceiverRow.id)
    ).scalar_one()


def test_times_round_trip_as_aware_utc(engine: Engine) -> None:
    ts = datetime(2026, 3, 29, 1, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        rid = _receiver(conn)
        conn.execute(
            sa.insert(PositionRow).values(receiver_id=rid, icao24="abc123", ts=ts, lat=1.0, lon=2.0)
        )
    with engine.connect() as conn:
        got = conn.execute(sa.select(PositionRow.ts)).scalar_one()
    assert got == ts and got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_naive_times_are_refused(engine: Engine) -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001  (the point of the test)
    with engine.begin() as conn:
        rid = _receiver(conn)
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"), engine.begin() as conn:
        conn.execute(
            sa.insert(PositionRow).values(
                receiver_id=rid,
                icao24="abc123",
                ts=naive,
                lat=1.0,
                lon=2.0,
            )
        )


def test_positions_are_unique_on_natural_key(engine: Engine) -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        rid = _receiver(conn)
        conn.execute(
            sa.insert(PositionRow).values(receiver_id=rid, icao24="abc123", ts=ts, lat=1.0, lon=2.0)
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.insert(PositionRow).values(receiver_id=rid, icao24="abc123", ts=ts, lat=3.0, lon=4.0)
        )


def test_bad_urls_give_clear_errors(tmp_path) -> None:
    with pytest.raises(DatabaseError, match="not a database URL"):
        open_db("nonsense")
    with pytest.raises(DatabaseError, match="does not exist"):
        open_db(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(DatabaseError, match="cannot open"):
        open_db("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})


def test_migration_0003_drops_the_positions_foreign_key_and_keeps_the_rows(db_url: str) -> None:
    """A database made before 0003 keeps its positions, loses the per-row foreign key check,
    and keeps its key (a duplicate is still refused); downgrading puts the check back."""
    from alembic import command

    from oddflights.db.engine import alembic_config, create_engine

    eng = create_engine(db_url)
    try:
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0002")
        assert sa.inspect(eng).get_foreign_keys("positions") != []
        t0 = datetime(2026, 1, 15, 12, tzinfo=UTC)
        with eng.begin() as conn:
            conn.execute(
                sa.insert(ReceiverRow),
                [
                    dict(
                        name="old", lat=52.0, lon=4.5, range_km=250.0, timezone="UTC", created_at=t0
                    )
                ],
            )
            rid = conn.execute(sa.select(ReceiverRow.id)).scalar_one()
            # Plain SQL: the models describe the head's columns (integers on SQLite since 0010).
            sqlite = eng.dialect.name == "sqlite"
            conn.execute(
                sa.text(
                    "INSERT INTO positions (receiver_id, icao24, ts, lat, lon) "
                    "VALUES (:r, 'abc123', :t, 52.0, 4.5)"
                ),
                [
                    {"r": rid, "t": t.timestamp() if sqlite else t}
                    for t in (t0 + timedelta(seconds=i) for i in range(5))
                ],
            )
        upgrade(eng)
        assert current_revision(eng) == head_revision()
        assert sa.inspect(eng).get_foreign_keys("positions") == []
        with eng.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(PositionRow)).scalar() == 5
        with pytest.raises(sa.exc.IntegrityError), eng.begin() as conn:
            conn.execute(
                sa.insert(PositionRow),
                [dict(receiver_id=rid, icao24="abc123", ts=t0, lat=52.0, lon=4.5)],
            )
        with eng.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
        assert sa.inspect(eng).get_foreign_keys("positions") != []
        with eng.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(PositionRow)).scalar() == 5
    finally:
        eng.dispose()
