"""PostgreSQL's day read by binary COPY (db/pg_read.py) gives exactly what the text SELECT
gave, and falls back to the SELECT for data outside its fixed layout."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS
from oddflights.db import open_db, pg_read
from oddflights.db.positions import (
    PositionArrays,
    _select_arrays,
    read_position_arrays,
    write_positions,
)
from oddflights.db.receivers import add_receiver
from oddflights.receivers import Receiver
from tests.conftest import pg_schema

T0 = datetime(2026, 3, 10, 22, tzinfo=UTC)
ALL = ["icao24", "ts", *(c for c in POSITION_COLUMNS if c not in ("icao24", "ts"))]
FALLBACK = "positions read by SELECT"


@pytest.fixture
def pg() -> Iterator[Engine]:
    with pg_schema() as url:
        engine = open_db(url)
        yield engine
        engine.dispose()


def _day(n: int = 3_000, seed: int = 3) -> pd.DataFrame:
    """``n`` positions of 40 aircraft over 4 hours (two UTC days), with unknowns of every
    kind: NaN floats, None callsigns and squawks, unknown onground."""
    rng = np.random.default_rng(seed)
    icao = np.array([f"{v:06x}" for v in rng.choice(1 << 24, 40, replace=False)])
    k = np.arange(n)
    floats = {
        c: np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n) * s)
        for c, s in (
            ("altitude_ft", 10_000),
            ("groundspeed_kt", 300),
            ("track_deg", 180),
            ("vertical_rate_fpm", 1_000),
        )
    }
    callsigns = np.array([None, "KLM123", "AB", "EZY9", "SWISS12", "A", "ABCDEFGH"], dtype=object)
    squawks = np.array([None, "7000", "1200", "0017", "7777"], dtype=object)
    onground = np.array([None, True, False], dtype=object)
    return pd.DataFrame(
        {
            "icao24": icao[k % 40],
            # Several aircraft share a time: the order of ties must not matter.
            "ts": pd.Timestamp(T0) + pd.to_timedelta((k // 5) * 24.0 + 0.5 * (k % 3), "s"),
            "lat": 50 + rng.normal(size=n),
            "lon": rng.normal(size=n) * 30,
            **floats,
            "callsign": callsigns[rng.integers(0, len(callsigns), n)],
            "squawk": squawks[rng.integers(0, len(squawks), n)],
            "onground": onground[rng.integers(0, 3, n)],
        }
    )


def _receiver(engine: Engine, name: str = "r") -> int:
    rec = add_receiver(engine, Receiver(name, 50.0, 0.0, 200.0, "UTC"))
    assert rec.id is not None
    return rec.id


def _assert_same(a: PositionArrays, b: PositionArrays) -> None:
    assert a.columns == b.columns
    assert a.ts_us.dtype == b.ts_us.dtype and np.array_equal(a.ts_us, b.ts_us)
    assert a.floats.keys() == b.floats.keys()
    for k in a.floats:
        assert a.floats[k].dtype == b.floats[k].dtype
        assert np.array_equal(a.floats[k], b.floats[k], equal_nan=True), k
        # Bit for bit (one NaN, -0.0 kept).
        assert a.floats[k].tobytes() == b.floats[k].tobytes(), k
    assert a.codes.keys() == b.codes.keys() == a.values.keys() == b.values.keys()
    for k in a.codes:
        assert a.codes[k].dtype == b.codes[k].dtype == np.int32
        assert np.array_equal(a.codes[k], b.codes[k]), k
        assert a.values[k].dtype == b.values[k].dtype == object
        assert a.values[k].tolist() == b.values[k].tolist(), k
    if a.onground is None or b.onground is None:
        assert a.onground is None and b.onground is None
    else:
        assert a.onground.dtype == b.onground.dtype and np.array_equal(a.onground, b.onground)


def _both(engine: Engine, rid: int, *args: object) -> tuple[PositionArrays, PositionArrays]:
    new = pg_read.read_copy_arrays(engine, rid, *args)  # type: ignore[arg-type]
    old = _select_arrays(engine, rid, *args)  # type: ignore[arg-type]
    _assert_same(new, old)
    return new, old


def test_copy_read_equals_select(
    pg: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _receiver(pg)
    other = _receiver(pg, "other")
    day = _day()
    write_positions(pg, rid, day)
    write_positions(pg, other, _day(500, seed=4))
    # Values the writer never stores but the column holds: NaN, infinities, -0.0.
    with pg.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO positions (receiver_id, icao24, ts, lat, lon, altitude_ft, "
            "groundspeed_kt, track_deg, vertical_rate_fpm) VALUES "
            f"({rid}, 'abcdef', '2026-03-10T22:00:00.250+00', -0.0, 'NaN', 'Infinity', "
            "'-Infinity', 'NaN', -0.0)"
        )
    # Small blocks: rows and the trailer split across many reads of the buffer.
    monkeypatch.setattr(pg_read, "BLOCK_ROWS", 7)
    caplog.set_level(logging.INFO, logger=pg_read.__name__)
    new, _ = _both(pg, rid, None, None, None, ALL)
    assert len(new) == len(day) + 1
    assert np.isnan(new.floats["altitude_ft"]).any()
    assert (new.codes["callsign"] == -1).any() and (new.codes["squawk"] == -1).any()
    assert set(new.onground.tolist()) == {-1, 0, 1}  # type: ignore[union-attr]
    # Bounds inside the data (to the microsecond, across midnight), one aircraft, subsets.
    lo = T0 + timedelta(minutes=20, microseconds=1)
    hi = T0 + timedelta(hours=2, minutes=3, seconds=0.5)
    _both(pg, rid, lo, hi, None, ALL)
    _both(pg, rid, lo, None, None, ALL)
    _both(pg, rid, None, hi, None, ALL)
    _both(pg, rid, None, None, str(day["icao24"].iloc[7]), ALL)
    _both(pg, rid, lo, hi, None, ["icao24", "ts", "lat", "lon"])
    _both(pg, rid, None, None, None, ["icao24", "ts", "callsign", "onground"])
    _both(pg, rid, lo, hi, None, ["icao24", "ts", "squawk", "vertical_rate_fpm"])
    # Nothing there: a day without rows, an unknown aircraft, an unknown receiver.
    empty, _ = _both(pg, rid, T0 + timedelta(days=5), T0 + timedelta(days=6), None, ALL)
    assert len(empty) == 0
    _both(pg, rid, None, None, "000000", ALL)
    _both(pg, 9_999, None, None, None, ["icao24", "ts", "callsign"])
    assert FALLBACK not in caplog.text
    # The public read takes the COPY.
    _assert_same(read_position_arrays(pg, rid), new)
    assert FALLBACK not in caplog.text


@pytest.mark.parametrize(
    ("column", "odd"),
    [
        ("callsign", "KLM12 "),  # "KLM12" too: only the lengths tell them apart
        ("callsign", "ZÜRICH1"),  # not one byte a character
        ("squawk", "70é"),
        ("icao24", "abc12"),  # not 6 bytes
    ],
)
def test_odd_values_fall_back_to_select(
    pg: Engine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    column: str,
    odd: str,
) -> None:
    rid = _receiver(pg)
    day = _day(400)
    day.loc[day.index[200], column] = odd
    if odd != odd.rstrip():
        day.loc[day.index[5], column] = odd.rstrip()
    write_positions(pg, rid, day)
    caplog.set_level(logging.INFO, logger=pg_read.__name__)
    _, old = _both(pg, rid, None, None, None, ALL)
    assert FALLBACK in caplog.text
    assert odd in old.values[column].tolist()
    # Found in the middle of the COPY (small blocks): it is cancelled, and the connection
    # it leaves behind reads on.
    monkeypatch.setattr(pg_read, "BLOCK_ROWS", 7)
    caplog.clear()
    _both(pg, rid, None, None, None, ALL)
    assert FALLBACK in caplog.text
    # Without the odd row, the COPY reads it.
    caplog.clear()
    odd_ts = day["ts"].iloc[200].to_pydatetime()
    _both(pg, rid, None, odd_ts, None, ALL)
    assert FALLBACK not in caplog.text


def test_sqlite_runs_never_import_psycopg(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from oddflights.db import open_db\n"
        "from oddflights.db.positions import read_position_arrays\n"
        f"engine = open_db('sqlite:///{tmp_path}/t.db')\n"
        "read_position_arrays(engine, 1, datetime(2026, 1, 1, tzinfo=UTC))\n"
        "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_client_encoding_of_one_byte_a_character(
    pg: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """With LATIN1 on the wire, "ZÜRICH1" is 7 bytes: the COPY reads it, exactly."""
    rid = _receiver(pg)
    day = _day(300)
    day.loc[day.index[100], "callsign"] = "ZÜRICH1"
    day.loc[day.index[120], "callsign"] = "ÄÖÜ "
    day.loc[day.index[140], "callsign"] = "Ä"
    write_positions(pg, rid, day)
    latin = open_db(
        pg.url.render_as_string(hide_password=False),
        migrate=False,
        connect_args={"client_encoding": "LATIN1"},
    )
    try:
        caplog.set_level(logging.INFO, logger=pg_read.__name__)
        new, _ = _both(latin, rid, None, None, None, ALL)
        assert FALLBACK not in caplog.text
        assert {"ZÜRICH1", "ÄÖÜ ", "Ä"} <= set(new.values["callsign"].tolist())
    finally:
        latin.dispose()


def test_copy_out_raises_the_servers_error_and_leaves_the_connection_usable(pg: Engine) -> None:
    import psycopg

    with pg.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        flushed: list[int] = []

        def flush(buf: bytearray) -> None:
            flushed.append(len(buf))
            del buf[:]

        with raw.cursor() as cur:
            # Fails at row 50,000, after many rows were sent.
            sql = "COPY (SELECT 1 / (g - 50000) FROM generate_series(1, 100000) g) TO STDOUT"
            with pytest.raises(psycopg.errors.DivisionByZero), cur.copy(sql):
                pg_read.copy_out(raw, 10_000, flush)
            assert flushed
            raw.rollback()
            with cur.copy("COPY (SELECT g FROM generate_series(1, 3) g) TO STDOUT"):
                assert bytes(pg_read.copy_out(raw, 1 << 20, flush)) == b"1\n2\n3\n"
            assert cur.execute("SELECT 42").fetchone() == (42,)
