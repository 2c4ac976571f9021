"""Compact positions (migration 0010): every value that goes in comes out the same, up to
SQLite's integer units, through the bulk writer, both readers, the ORM and the migration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS, TRACK_COLUMNS
from oddflights.db import open_db
from oddflights.db.engine import alembic_config, create_engine, current_revision, head_revision
from oddflights.db.models import PositionRow
from oddflights.db.positions import read_position_arrays, read_positions, write_positions
from oddflights.db.receivers import add_receiver
from oddflights.db.types import POSITION_SCALES
from oddflights.receivers import Receiver

T0 = pd.Timestamp("2026-03-01T12:00:00.123Z")
FLOATS = ("altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")


def _edge_cases() -> pd.DataFrame:
    """The values at the edges of SQLite's integer columns and of the read's packing."""
    sec = pd.Timedelta(seconds=1)
    return pd.DataFrame(
        {
            "icao24": ["000001", "ffffff", "000001", "abc123", "ffffff", "800000"],
            "ts": [T0, T0, T0 + 2.5 * sec, T0 + sec, T0 + 86_399 * sec, T0 + 3 * sec],
            "lat": [-90.0, 90.0, 52.1234567, 1e-7, -0.5, 0.0000001],
            "lon": [-180.0, 180.0, 4.7654321, -1e-7, 179.9999999, -179.9999999],
            "altitude_ft": [-2000.0, 60000.0, None, 0.0, 37025.0, None],
            "groundspeed_kt": [0.0, 1500.0, None, 12.3, 451.7, None],
            "track_deg": [0.0, 359.99, None, 180.25, 12.5, None],
            "vertical_rate_fpm": [-32640.0, 32640.0, None, 0.0, -64.0, None],
            "callsign": ["KLM1234 ", " A B C", None, "BAW1", "KLM1234 ", None],
            "squawk": ["0020", "7777", None, "0000", "7500", None],
            "onground": [True, False, None, True, False, None],
        }
    )


def _expected(given: pd.DataFrame, sqlite: bool) -> pd.DataFrame:
    """``given`` as read_positions returns it: sorted by (icao24, ts), SQLite's units."""
    want = given.copy()
    want["onground"] = want["onground"].astype(object)
    for col in ("icao24", "callsign", "squawk", "onground"):
        want[col] = want[col].astype(object).where(want[col].notna(), None)
    if sqlite:
        want["ts"] = want["ts"].dt.floor("ms")
        for col in ("lat", "lon", *FLOATS):
            scale = POSITION_SCALES[col]
            want[col] = np.round(want[col].astype(float) * scale) / scale
    want = want.sort_values(["icao24", "ts"], kind="stable").reset_index(drop=True)
    return want.loc[:, list(POSITION_COLUMNS)]


def test_every_column_round_trips_with_its_unknowns(engine: Engine) -> None:
    rec = add_receiver(engine, Receiver("edges", 0.0, 0.0, 250.0, "UTC"))
    assert rec.id is not None
    given = _edge_cases()
    assert write_positions(engine, rec.id, given, "sbs").accepted == len(given)
    assert write_positions(engine, rec.id, given, "sbs").duplicates == len(given)
    want = _expected(given, engine.dialect.name == "sqlite")
    got = read_positions(engine, rec.id)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=0, atol=0)
    # A bounded read (the day build's) and a read of one aircraft give the same rows.
    start, end = T0.to_pydatetime(), (T0 + pd.Timedelta(days=1)).to_pydatetime()
    arrays = read_position_arrays(engine, rec.id, start, end, columns=TRACK_COLUMNS)
    pd.testing.assert_frame_equal(
        arrays.frame(), want.loc[:, list(TRACK_COLUMNS)], check_dtype=False, rtol=0, atol=0
    )
    one = read_positions(engine, rec.id, icao24="ffffff")
    pd.testing.assert_frame_equal(
        one, want[want["icao24"] == "ffffff"].reset_index(drop=True), check_dtype=False
    )
    # Bounds keep their meaning at the millisecond: [T0 + 1 s, T0 + 2.5 s) holds one row.
    sec = pd.Timedelta(seconds=1)
    window = read_positions(engine, rec.id, (T0 + sec).to_pydatetime(), (T0 + 2.5 * sec))
    assert window["icao24"].tolist() == ["abc123"]


def test_a_read_over_years_and_an_empty_read(engine: Engine) -> None:
    """Without bounds, the time offset's width follows the stored span; nothing stored reads
    as empty typed columns."""
    rec = add_receiver(engine, Receiver("years", 0.0, 0.0, 250.0, "UTC"))
    assert rec.id is not None
    assert len(read_position_arrays(engine, rec.id)) == 0
    given = _edge_cases().iloc[:2].copy()
    given["ts"] = [pd.Timestamp("1995-01-01T00:00:00.001Z"), pd.Timestamp("2026-12-31T23:59Z")]
    write_positions(engine, rec.id, given)
    got = read_positions(engine, rec.id)
    want = _expected(given, engine.dialect.name == "sqlite")
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_the_orm_reads_and_writes_sqlite_integers_as_values(engine: Engine) -> None:
    rec = add_receiver(engine, Receiver("orm", 0.0, 0.0, 250.0, "UTC"))
    ts = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(PositionRow).values(
                receiver_id=rec.id,
                icao24="00abcd",
                ts=ts,
                lat=-33.8688197,
                lon=151.2092955,
                altitude_ft=-25.0,
                groundspeed_kt=0.5,
                track_deg=270.75,
                vertical_rate_fpm=-1216.0,
                squawk="0020",
                onground=False,
            )
        )
    with engine.connect() as conn:
        row = conn.execute(sa.select(*PositionRow.__table__.c)).one()
        last = conn.execute(sa.select(sa.func.max(PositionRow.ts))).scalar_one()
    assert (row.icao24, row.ts, row.squawk, row.onground) == ("00abcd", ts, "0020", False)
    # SQLite keeps 1e-5 degrees (types.POSITION_SCALES); PostgreSQL the float itself.
    digits = 5 if engine.dialect.name == "sqlite" else 7
    assert (row.lat, row.lon) == (round(-33.8688197, digits), round(151.2092955, digits))
    assert (row.altitude_ft, row.groundspeed_kt, row.track_deg) == (-25.0, 0.5, 270.75)
    assert row.vertical_rate_fpm == -1216.0 and row.callsign is None and last == ts


def _text_rows(conn: sa.Connection, receiver_id: int, given: pd.DataFrame) -> None:
    """Positions as a 0009 SQLite database holds them (REAL seconds, text)."""
    rows = given.assign(
        receiver_id=receiver_id,
        ts=given["ts"].map(lambda t: t.timestamp()),
        source="sbs",
    )
    rows = rows.astype(object).where(rows.notna(), None)
    conn.execute(
        sa.text(
            "INSERT INTO positions (receiver_id, source, "
            + ", ".join(POSITION_COLUMNS)
            + ") VALUES (:receiver_id, :source, "
            + ", ".join(f":{c}" for c in POSITION_COLUMNS)
            + ")"
        ),
        rows.to_dict("records"),
    )


def test_migration_0010_converts_a_populated_sqlite_database(tmp_path: Path) -> None:
    """A 0009 database's positions read back the same after the upgrade (to the SQLite units),
    a second upgrade changes nothing, and a downgrade and upgrade again give the same rows."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = create_engine(url)
    given = _edge_cases()
    try:
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0009")
            conn.exec_driver_sql(
                "INSERT INTO receivers (name, lat, lon, range_km, timezone, created_at) "
                "VALUES ('old', 0, 0, 250, 'UTC', 0)"
            )
            _text_rows(conn, 1, given)
    finally:
        eng.dispose()
    engine = open_db(url)  # upgrades to the head
    try:
        assert current_revision(engine) == head_revision()
        want = _expected(given, sqlite=True)
        pd.testing.assert_frame_equal(read_positions(engine, 1), want, check_dtype=False)
        with engine.connect() as conn:
            sources = conn.exec_driver_sql(
                "SELECT DISTINCT s.source FROM positions p JOIN position_sources s "
                "ON s.id = p.source"
            ).all()
        assert sources == [("sbs",)]
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")  # nothing left to do
            command.downgrade(alembic_config(conn), "0009")
            back = conn.exec_driver_sql(
                "SELECT icao24, squawk, callsign, source FROM positions ORDER BY icao24, ts"
            ).all()
            command.upgrade(alembic_config(conn), "head")
        assert back[0] == ("000001", "0020", "KLM1234 ", "sbs")
        pd.testing.assert_frame_equal(read_positions(engine, 1), want, check_dtype=False)
        # New rows join the converted ones, and the converted key still refuses repeats.
        assert write_positions(engine, 1, given, "sbs").duplicates == len(given)
    finally:
        engine.dispose()


@pytest.mark.parametrize("n", [1, 7])
def test_sqlite_positions_hold_at_most_50_bytes_a_position(tmp_path: Path, n: int) -> None:
    """The bytes positions and its callsign dictionary take in the file (dbstat: whole pages,
    their free space included: SQLite's page splits on append leave b-tree pages ~88 % full),
    per row, for a simulated day written by n receivers."""
    from oddflights.simulate import SimConfig, simulate
    from tests.ingest.helpers import DAY

    engine = open_db(f"sqlite:///{tmp_path / 'size.db'}")
    try:
        sim = simulate(
            SimConfig(lat=52.0, lon=4.5, days=1, flights_per_day=40, start_day=DAY, seed=3)
        )
        for k in range(n):
            rec = add_receiver(engine, Receiver(f"r{k}", 52.0, 4.5, 300.0, "UTC"))
            assert rec.id is not None
            write_positions(engine, rec.id, sim.positions, "sbs")
        with engine.connect() as conn:
            used = conn.exec_driver_sql(
                "SELECT sum(pgsize) FROM dbstat WHERE name IN "
                "('positions', 'callsigns', 'sqlite_autoindex_callsigns_1')"
            ).scalar_one()
        per = used / (n * len(sim.positions))
        assert per <= 50, per
    finally:
        engine.dispose()
