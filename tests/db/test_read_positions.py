"""Reading positions back: chunked reads give the same frame as one read, on both databases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from oddflights.columns import TRACK_COLUMNS
from oddflights.db import positions as positions_module
from oddflights.db.positions import (
    read_positions,
    write_positions,
)
from oddflights.db.receivers import add_receiver
from oddflights.db.types import POSITION_SCALES
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
    # SQLite keeps times to the millisecond and floats in its integer units (migration 0010).
    sqlite = engine.dialect.name == "sqlite"
    want_ts = given["ts"].dt.floor("ms") if sqlite else given["ts"]
    assert got["ts"].tolist() == want_ts.tolist()
    for col in ("altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm"):
        want = given[col].to_numpy(dtype=float, na_value=float("nan"))
        if sqlite:
            want = np.round(want * POSITION_SCALES[col]) / POSITION_SCALES[col]
        np.testing.assert_array_equal(got[col].to_numpy(), want)
    assert got["callsign"].tolist() == ["KLM1", None, "KLM1", None]
    assert got["squawk"].tolist() == [None, "7000", None, None]
    assert got["onground"].tolist() == [True, None, False, None]
