"""Reading positions back: chunked reads give the same frame as one read, on both databases."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS, TRACK_COLUMNS
from oddflights.db import open_db
from oddflights.db import positions as positions_module
from oddflights.db.positions import (
    PositionArrays,
    read_position_arrays,
    read_positions,
    write_positions,
)
from oddflights.db.receivers import add_receiver
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate
from tests.ingest.helpers import DAY, LAT, LON


def _stored(engine: Engine) -> int:
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=6, start_day=DAY, seed=4))
    rec = add_receiver(engine, Receiver("chunks", LAT, LON, 250.0, "UTC"))
    assert rec.id is not None
    write_positions(engine, rec.id, sim.positions)
    return rec.id


def test_a_read_in_small_chunks_equals_one_read(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = _stored(engine)
    whole = read_positions(engine, rid)
    assert len(whole) > 1000
    monkeypatch.setattr(positions_module, "READ_CHUNK_ROWS", 97)
    chunked = read_positions(engine, rid)
    pd.testing.assert_frame_equal(whole, chunked)
    tracks = read_positions(engine, rid, columns=TRACK_COLUMNS)
    pd.testing.assert_frame_equal(whole.loc[:, list(TRACK_COLUMNS)], tracks)
    # Sorted by aircraft, then time, whatever the chunking.
    key = pd.MultiIndex.from_arrays([chunked["icao24"], chunked["ts"]])
    assert key.is_monotonic_increasing


def test_text_columns_hold_one_object_per_distinct_value(engine: Engine) -> None:
    rid = _stored(engine)
    df = read_positions(engine, rid, columns=("icao24", "ts", "callsign"))
    icao = df["icao24"].to_numpy()
    assert len({id(v) for v in icao}) == df["icao24"].nunique()
    # Unknown callsigns stay None (not NaN, not "None").
    callsigns = df["callsign"].to_numpy()
    assert all(c is None or isinstance(c, str) for c in callsigns)
    assert (df.groupby("icao24")["ts"].diff().dropna() > pd.Timedelta(0)).all()


def test_unknown_values_read_back_as_nan_and_none(engine: Engine) -> None:
    """Floats come back NaN where unknown (SQL NULL travels as -inf inside the read), onground
    True/False/None, text None; known values exactly, on both databases."""
    rec = add_receiver(engine, Receiver("nulls", LAT, LON, 250.0, "UTC"))
    assert rec.id is not None
    t0 = pd.Timestamp("2026-01-15T10:00:00.123456Z")
    given = pd.DataFrame(
        {
            "icao24": ["abc123", "abc123", "abc123", "def456"],
            "ts": [t0, t0 + pd.Timedelta(seconds=1), t0 + pd.Timedelta(seconds=2), t0],
            "lat": [52.1, 52.2, 52.3, 51.0],
            "lon": [4.1, 4.2, 4.3, 5.0],
            "altitude_ft": [1000.0, None, -25.0, 0.0],
            "groundspeed_kt": [None, 140.5, 0.0, 12.25],
            "track_deg": [None, 0.0, 359.9, None],
            "vertical_rate_fpm": [-64.0, None, 0.0, None],
            "callsign": ["KLM1", None, "KLM1", None],
            "squawk": [None, "7000", None, None],
            "onground": [True, None, False, None],
        }
    )
    write_positions(engine, rec.id, given)
    got = read_positions(engine, rec.id)
    assert got["icao24"].tolist() == ["abc123"] * 3 + ["def456"]
    assert got["ts"].tolist() == given["ts"].tolist()
    for col in ("altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm"):
        want = given[col].to_numpy(dtype=float, na_value=float("nan"))
        np.testing.assert_array_equal(got[col].to_numpy(), want)
    assert got["callsign"].tolist() == ["KLM1", None, "KLM1", None]
    assert got["squawk"].tolist() == [None, "7000", None, None]
    assert got["onground"].tolist() == [True, None, False, None]


def _faulty_day(engine: Engine) -> int:
    """A simulated day with faults (missing callsigns, unknown values), whose earliest rows
    have every nullable column unknown (lat/lon are NOT NULL), and some empty callsigns."""
    sim = simulate(
        SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=6, start_day=DAY, seed=5, faults=True)
    )
    df = sim.positions.sort_values("ts", kind="stable").reset_index(drop=True)
    first = df.index < 300  # several whole read chunks of 97 rows
    for col in ("altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm"):
        df.loc[first, col] = np.nan
    df["callsign"] = df["callsign"].astype(object)
    df["squawk"] = df["squawk"].astype(object)
    df["onground"] = df["onground"].astype(object)
    df.loc[first, ["callsign", "squawk", "onground"]] = None
    df.loc[df.index[400:420], "callsign"] = ""
    rec = add_receiver(engine, Receiver("faulty", LAT, LON, 250.0, "UTC"))
    assert rec.id is not None
    write_positions(engine, rec.id, df)
    return rec.id


def _assert_same_arrays(a: PositionArrays, b: PositionArrays) -> None:
    assert a.columns == b.columns
    np.testing.assert_array_equal(a.ts_us, b.ts_us)
    assert a.floats.keys() == b.floats.keys()
    for name in a.floats:  # bit for bit, NaN included
        np.testing.assert_array_equal(a.floats[name].view(np.int64), b.floats[name].view(np.int64))
    assert a.codes.keys() == b.codes.keys()
    for name in a.codes:
        np.testing.assert_array_equal(a.codes[name], b.codes[name])
        assert a.values[name].tolist() == b.values[name].tolist()
    if a.onground is None or b.onground is None:
        assert a.onground is None and b.onground is None
    else:
        np.testing.assert_array_equal(a.onground, b.onground)


@pytest.mark.parametrize("chunk_rows", [97, positions_module.READ_CHUNK_ROWS])
def test_the_arrow_read_equals_the_sqlite3_read_on_a_faulty_day(
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    chunk_rows: int,
) -> None:
    """ADBC (SQLite files) gives exactly what the engine's driver gives, even when the first
    record batches hold only NULLs in a column (ADBC infers a column's type from them)."""
    rid = _faulty_day(engine)
    monkeypatch.setattr(positions_module, "READ_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(positions_module, "_adbc_unusable_logged", False)
    for columns in (POSITION_COLUMNS, TRACK_COLUMNS, ("icao24", "ts", "squawk")):
        old = read_position_arrays(engine, rid, columns=columns, arrow=False)
        with caplog.at_level(logging.DEBUG, logger=positions_module.__name__):
            new = read_position_arrays(engine, rid, columns=columns)
        _assert_same_arrays(old, new)
        assert np.isnan(new.floats.get("altitude_ft", np.array([np.nan]))).any()
    if engine.dialect.name == "sqlite":
        assert not [r for r in caplog.records if "ADBC" in r.getMessage()], caplog.text
    got = read_positions(engine, rid)
    assert got["callsign"].isna().any()
    assert "" in set(got["callsign"].dropna())


def test_a_value_of_an_unexpected_type_falls_back_to_sqlite3(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored value ADBC cannot give as the column's type (a BLOB callsign) sends the read
    through sqlite3, which reads it as always; the fallback is logged once."""
    engine = open_db(f"sqlite:///{tmp_path / 'blob.db'}")
    try:
        rid = _faulty_day(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE positions SET callsign = X'4B4C4D' WHERE callsign = ''")
        monkeypatch.setattr(positions_module, "_adbc_unusable_logged", False)
        old = read_position_arrays(engine, rid, arrow=False)
        with caplog.at_level(logging.DEBUG, logger=positions_module.__name__):
            new = read_position_arrays(engine, rid)
            read_position_arrays(engine, rid)
        _assert_same_arrays(old, new)
        assert b"KLM" in old.values["callsign"].tolist()
        assert len([r for r in caplog.records if "ADBC" in r.getMessage()]) == 1
    finally:
        engine.dispose()
