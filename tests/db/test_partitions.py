"""PostgreSQL positions partitioned by UTC day (migration 0011, oddflights/db/partitions.py):
partitions created ahead (by ingest, the nightly, several processes at once), rows of a day
with no partition kept in the default and moved when it is made, whole partitions dropped by
`prune --all`, a day's read of one receiver planned on one partition, and the migration of an
unpartitioned table with rows, both ways. SQLite: nothing changes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db import partitions as parts
from oddflights.db.engine import alembic_config, create_engine, current_revision, head_revision
from oddflights.db.positions import read_position_arrays, read_positions, write_positions
from oddflights.db.receivers import add_receiver
from oddflights.db.runs import OK, finish_run, start_run
from oddflights.receivers import Receiver
from oddflights.scheduler.nightly import KIND, run_nightly
from oddflights.scheduler.prune import prune_all
from tests.conftest import pg_schema
from tests.db.test_retention import positions_of

DAY = date(2026, 3, 10)
DAYS = [DAY + timedelta(days=k) for k in range(4)]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema."""
    with pg_schema() as url:
        yield url


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    eng = open_db(pg_url)
    yield eng
    eng.dispose()


def _names(engine: Engine) -> list[str]:
    with engine.begin() as conn:
        return [p.name for p in parts.list_partitions(conn)]


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM ONLY {table}").scalar_one())


def _all_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT * FROM positions ORDER BY receiver_id, ts, icao24"
            ).all()
        ]


def _utc_receiver(engine: Engine, name: str = "u") -> Receiver:
    rec = add_receiver(engine, Receiver(name, 52.0, 5.0, timezone="UTC"))
    assert rec.id is not None
    return rec


def test_sqlite_has_no_partitions(tmp_path: Path) -> None:
    eng = open_db(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        assert current_revision(eng) == head_revision()
        assert parts.ensure_partitions(eng, DAY, DAY + timedelta(days=2)) == []
        assert parts.drop_partitions_before(eng, datetime(2030, 1, 1, tzinfo=UTC)).names == []
        rec = _utc_receiver(eng)
        assert rec.id is not None
        pos = positions_of(rec, DAYS[:1], per_day=8)
        assert write_positions(eng, rec.id, pos).accepted == 8
        assert set(sa.inspect(eng).get_table_names()) & {"positions_default"} == set()
    finally:
        eng.dispose()


def test_partitions_are_created_ahead_idempotently_and_concurrently(pg: Engine) -> None:
    with pg.connect() as conn:
        assert parts.is_partitioned(conn)
    assert _names(pg) == []  # a new database: only the default
    made = parts.ensure_partitions(pg, DAY, DAY + timedelta(days=2))
    assert made == ["positions_p20260310", "positions_p20260311", "positions_p20260312"]
    assert parts.ensure_partitions(pg, DAY, DAY + timedelta(days=2)) == []
    # Six threads (own connections) race for the same ten days: each is made once, no error.
    start = DAY + timedelta(days=20)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def make() -> None:
        try:
            results.append(parts.ensure_partitions(pg, start, start + timedelta(days=9)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    made_once = sorted(n for r in results for n in r)
    assert made_once == [parts.partition_name(start + timedelta(days=k)) for k in range(10)]
    # The nightly makes today (UTC) and the next DAYS_AHEAD days.
    run_nightly(pg, [])
    today = datetime.now(UTC).date()
    for k in range(parts.DAYS_AHEAD + 1):
        assert parts.partition_name(today + timedelta(days=k)) in _names(pg)


def test_ingest_makes_its_days_and_the_next_ones(pg: Engine) -> None:
    rec = _utc_receiver(pg)
    assert rec.id is not None
    pos = positions_of(rec, DAYS[:2], per_day=40)
    assert write_positions(pg, rec.id, pos).accepted == 80
    want = [parts.partition_name(DAY + timedelta(days=k)) for k in range(2 + parts.DAYS_AHEAD)]
    assert _names(pg) == want
    assert _count(pg, parts.DEFAULT) == 0
    assert _count(pg, "positions_p20260310") == 40 == _count(pg, "positions_p20260311")


def test_a_day_with_no_partition_goes_to_the_default_and_moves_when_made(
    pg: Engine, pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds the partitions' lock (a long creation elsewhere): ingest does not
    wait past LOCK_TIMEOUT_MS, its rows go to the default, none lost; once the day is made,
    they move into it."""
    monkeypatch.setattr(parts, "LOCK_TIMEOUT_MS", 200)
    rec = _utc_receiver(pg)
    assert rec.id is not None
    pos = positions_of(rec, DAYS[:2], per_day=40)
    holder = create_engine(pg_url)
    try:
        with holder.begin() as conn:
            conn.exec_driver_sql(parts.LOCK_SQL)
            assert write_positions(pg, rec.id, pos).accepted == 80
        assert "lock not granted" in caplog.text
        assert _names(pg) == []
        assert _count(pg, parts.DEFAULT) == 80
        got = read_positions(pg, rec.id)
        assert len(got) == 80 and set(got["ts"]) == set(pos["ts"])
        # A rerun of the same rows (ingest is idempotent) finds them in the default.
        assert write_positions(pg, rec.id, pos).duplicates == 80
    finally:
        holder.dispose()
    assert parts.ensure_partitions(pg, DAYS[0], DAYS[0]) == ["positions_p20260310"]
    assert _count(pg, "positions_p20260310") == 40
    assert _count(pg, parts.DEFAULT) == 40  # DAYS[1] waits for its own
    parts.ensure_partitions_ahead(pg, DAYS[1])
    assert _count(pg, parts.DEFAULT) == 0 and _count(pg, "positions_p20260311") == 40
    assert read_positions(pg, rec.id).equals(got)


def _done(engine: Engine, rec: Receiver, day: date) -> None:
    finish_run(engine, start_run(engine, KIND, rec.id, day), OK, {"flights": 0})


def test_prune_all_drops_whole_partitions(pg: Engine) -> None:
    """Days entirely before both receivers' cutoffs are dropped as partitions; the rest before
    a cutoff (Amsterdam's local midnight is 23:00 UTC) goes by the chunked delete; the counts
    are per receiver, as a dry run gives them."""
    utc = _utc_receiver(pg)
    ams = add_receiver(pg, Receiver("a", 52.0, 5.0, timezone="Europe/Amsterdam"))
    assert utc.id is not None and ams.id is not None
    write_positions(pg, utc.id, positions_of(utc, DAYS, per_day=24))
    write_positions(pg, ams.id, positions_of(ams, DAYS, per_day=24))
    for d in DAYS:
        _done(pg, utc, d)
        _done(pg, ams, d)
    today = DAYS[-1]
    dry = prune_all(pg, [utc, ams], keep_days=1, today=today, dry_run=True)
    assert len(_names(pg)) == 4 + 1 + parts.DAYS_AHEAD  # a dry run drops nothing
    results = prune_all(pg, [utc, ams], keep_days=1, today=today)
    assert [r.positions for r in results] == [r.positions for r in dry] == [48, 48]
    # Amsterdam's cutoff, 23:00 UTC on DAYS[1], is the earlier: the UTC days before DAYS[1]
    # (and Amsterdam's first local hour, on DAYS[0] - 1) are dropped whole; DAYS[1] is kept,
    # its rows before each cutoff deleted in chunks, Amsterdam's from 23:00 kept.
    names = _names(pg)
    assert names[0] == "positions_p20260311"
    assert _count(pg, "positions_p20260311") == 2  # Amsterdam's 23:00:30 and 23:30:30
    assert len(read_positions(pg, utc.id)) == 48 == len(read_positions(pg, ams.id))
    # Nothing left to drop: a second prune deletes nothing.
    assert [r.positions for r in prune_all(pg, [utc, ams], keep_days=1, today=today)] == [0, 0]


def test_the_prune_command_drops_partitions(pg: Engine, pg_url: str) -> None:
    rec = _utc_receiver(pg)
    assert rec.id is not None
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=k) for k in (5, 4, 3)]
    write_positions(pg, rec.id, positions_of(rec, days, per_day=10))
    for d in days:
        _done(pg, rec, d)
    # One receiver's prune deletes in chunks: the partitions stay, emptied.
    one = ["prune", "--receiver", "u", "--keep-days", "3", "--db", pg_url]
    out = CliRunner().invoke(main, one)
    assert out.exit_code == 0, out.output
    assert "u: deleted 20 positions" in out.output
    assert parts.partition_name(days[0]) in _names(pg)
    assert _count(pg, parts.partition_name(days[0])) == 0
    # --all drops the whole days before every receiver's cutoff.
    write_positions(pg, rec.id, positions_of(rec, days[:1], per_day=10))  # back again
    out = CliRunner().invoke(main, ["prune", "--all", "--keep-days", "3", "--db", pg_url])
    assert out.exit_code == 0, out.output
    assert "u: deleted 10 positions" in out.output
    assert parts.partition_name(days[0]) not in _names(pg)
    assert parts.partition_name(days[1]) not in _names(pg)
    assert parts.partition_name(days[2]) in _names(pg)
    assert _count(pg, parts.partition_name(days[2])) == 10


class _Recording(psycopg.Cursor[Any]):
    """A driver cursor that keeps what it was asked to run (the test's window on the SQL
    read_position_arrays sends)."""

    seen: ClassVar[list[tuple[str, Any]]] = []

    def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        self.seen.append((str(query), params))
        return super().execute(query, params, **kw)

    @contextlib.contextmanager
    def copy(self, statement: Any, params: Any = None, **kw: Any) -> Iterator[Any]:
        # The SELECT of a COPY (SELECT ...) TO STDOUT: the day read (db/pg_read.py).
        text = statement.as_string(self) if hasattr(statement, "as_string") else str(statement)
        if text.startswith("COPY (") and ") TO STDOUT" in text:
            self.seen.append((text[len("COPY (") : text.rindex(") TO STDOUT")], None))
        with super().copy(statement, params, **kw) as copy:
            yield copy


def _relations(plan: Any) -> set[str]:
    found = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            found.add(plan["Relation Name"])
        for v in plan.values():
            found |= _relations(v)
    elif isinstance(plan, list):
        for v in plan:
            found |= _relations(v)
    return found


def test_a_days_read_of_one_receiver_scans_one_partition(pg: Engine, pg_url: str) -> None:
    rec = _utc_receiver(pg)
    other = _utc_receiver(pg, "other")
    assert rec.id is not None and other.id is not None
    write_positions(pg, rec.id, positions_of(rec, DAYS, per_day=40))
    write_positions(pg, other.id, positions_of(other, DAYS, per_day=40))
    with pg.begin() as conn:  # a stray row in the default must not widen the plan
        conn.exec_driver_sql(
            "INSERT INTO positions (receiver_id, icao24, ts, lat, lon) "
            f"VALUES ({rec.id}, 'ffffff', '2027-01-01 00:00+00', 1, 2)"
        )
    recording = create_engine(pg_url, connect_args={"cursor_factory": _Recording})
    try:
        _Recording.seen.clear()
        lo, hi = rec.day_bounds(DAYS[1])
        arrays = read_position_arrays(recording, rec.id, lo, hi)
        assert len(arrays) == 40
        (sql, params), *_ = [(q, p) for q, p in _Recording.seen if "FROM positions" in q]
        with recording.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur:
                cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
                row = cur.fetchone()
                assert row is not None
                plan = row[0]
    finally:
        recording.dispose()
    assert _relations(plan) == {"positions_p20260311"}


def test_migration_of_an_unpartitioned_table_with_rows(pg_url: str) -> None:
    """A database at 0010 (positions one table) with rows: 0011 makes a partition per day of
    them and keeps every row and the key; downgrading gives the one table back, rows equal."""
    eng = create_engine(pg_url)
    try:
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0010")
        rec = _utc_receiver(eng)
        ams = add_receiver(eng, Receiver("a", 52.0, 5.0, timezone="Europe/Amsterdam"))
        assert rec.id is not None and ams.id is not None
        write_positions(eng, rec.id, positions_of(rec, DAYS[:3], per_day=30))
        write_positions(eng, ams.id, positions_of(ams, DAYS[:3], per_day=30))
        before = _all_rows(eng)
        assert len(before) == 180
        with eng.connect() as conn:
            assert not parts.is_partitioned(conn)

        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with eng.connect() as conn:
            assert parts.is_partitioned(conn)
        # Amsterdam's first local midnight is 23:00 UTC on DAY - 1: that UTC day too.
        assert _names(eng) == [parts.partition_name(DAY + timedelta(days=k)) for k in range(-1, 3)]
        assert _count(eng, parts.DEFAULT) == 0
        assert _all_rows(eng) == before
        assert sa.inspect(eng).get_pk_constraint("positions")["constrained_columns"] == [
            "receiver_id",
            "ts",
            "icao24",
        ]
        assert (
            write_positions(eng, rec.id, positions_of(rec, DAYS[:3], per_day=30)).duplicates == 90
        )

        with eng.begin() as conn:
            command.downgrade(alembic_config(conn), "0010")
        with eng.connect() as conn:
            assert not parts.is_partitioned(conn)
        assert _all_rows(eng) == before
        pk = sa.inspect(eng).get_pk_constraint("positions")
        assert pk["name"] == "pk_positions"
        assert not {"positions_default", "positions_p20260310"} & set(
            sa.inspect(eng).get_table_names()
        )
    finally:
        eng.dispose()
