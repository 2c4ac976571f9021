"""Shared test data: a small seeded simulation written in every format we read."""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from oddflights.columns import POSITION_COLUMNS
from oddflights.db.types import POSITION_SCALES
from oddflights.ingest.export import write_table
from oddflights.ingest.table import table_frame
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate

N_FIELDS = 22

LAT, LON = 52.0, 4.5
DAY = dt.date(2026, 1, 15)
NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


@lru_cache(maxsize=1)
def sim_positions() -> pd.DataFrame:
    """About 2,000 positions of 6 seeded flights, sorted by (icao24, ts)."""
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=6, start_day=DAY, seed=1))
    pos = sim.positions.loc[:, list(POSITION_COLUMNS)]
    return pos.sort_values(["icao24", "ts"], kind="stable").reset_index(drop=True)


def receiver(name: str = "roof") -> Receiver:
    return Receiver(name, LAT, LON, 200.0, "UTC")


def sbs_bytes() -> bytes:
    return format_sbs(sim_positions().sort_values("ts", kind="stable"))


def table_bytes(fmt: str = "csv") -> bytes:
    out = io.BytesIO()
    write_table(table_frame(sim_positions()), out, fmt)
    return out.getvalue()


def opensky_bytes() -> bytes:
    pos = sim_positions()
    epoch = pos["ts"].astype("int64") / 1e9
    frame = pd.DataFrame(
        {
            "time": np.floor(epoch),
            "icao24": pos["icao24"],
            "lat": pos["lat"],
            "lon": pos["lon"],
            "velocity": pos["groundspeed_kt"] * 1852 / 3600,
            "heading": pos["track_deg"],
            "vertrate": pos["vertical_rate_fpm"] * 0.3048 / 60,
            "callsign": pos["callsign"],
            "onground": pos["onground"],
            "alert": False,
            "spi": False,
            "squawk": pos["squawk"],
            "baroaltitude": pos["altitude_ft"] * 0.3048,
            "geoaltitude": pos["altitude_ft"] * 0.3048 + 30,
            "lastposupdate": epoch,
            "lastcontact": epoch,
        }
    )
    return frame.to_csv(index=False, float_format="%.17g").encode()


def assert_same_positions(got: pd.DataFrame, want: pd.DataFrame, *, atol: float = 1e-6) -> None:
    """The same rows: keys and texts exactly, numbers within ``atol`` (relative for speeds)."""
    got = got.sort_values(["icao24", "ts"]).reset_index(drop=True)
    want = want.sort_values(["icao24", "ts"]).reset_index(drop=True)
    assert len(got) == len(want)
    assert got["icao24"].astype(str).tolist() == want["icao24"].astype(str).tolist()
    assert (got["ts"].to_numpy() == want["ts"].to_numpy()).all()
    for c in ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm"):
        # SQLite keeps coordinates to 1e-5 degrees (db.types.POSITION_SCALES): half a unit off
        # at most; the simulated files carry 6 decimals.
        tol = max(atol, 0.5 / POSITION_SCALES[c] + 1e-12) if c in ("lat", "lon") else atol
        np.testing.assert_allclose(
            got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-9, atol=tol, err_msg=c
        )
    for c in ("callsign", "squawk", "onground"):
        assert [None if pd.isna(v) else v for v in got[c]] == [
            None if pd.isna(v) else v for v in want[c]
        ], c


def _field(values: pd.Series | np.ndarray) -> pa.Array:
    """Values as SBS field text: shortest round-trip numbers, empty where missing."""
    arr = pa.array(values, from_pandas=True)
    if pa.types.is_boolean(arr.type):
        arr = pc.if_else(arr, "-1", "0")
    return pc.fill_null(pc.cast(arr, pa.string()), "")


def format_sbs(positions: pd.DataFrame, ident_every: int = 20) -> bytes:
    """SBS-1 text for positions, as a receiver would send it: per position an MSG,4 (velocity)
    just before its MSG,3, and an MSG,1 (callsign) and MSG,6 (squawk) before every
    ``ident_every``-th position of each aircraft. Times are UTC with milliseconds.

    Unlike the simulator's own SBS writer (rounded fields, MSG,4 after its MSG,3), reading
    this back gives exactly the same positions, for round-trip tests.
    """
    df = positions.reset_index(drop=True)
    n = len(df)
    ts = pd.to_datetime(df["ts"], utc=True)
    empty = pa.array([""] * n, pa.string())
    icao = _field(df["icao24"].astype(object).str.upper())

    def line(tx: str, offset_ms: int, fields: dict[int, pa.Array]) -> pa.Array:
        at = pa.array((ts - pd.Timedelta(milliseconds=offset_ms)).dt.tz_localize(None))
        at = pc.cast(at, pa.timestamp("ms"))
        day, clock = pc.strftime(at, "%Y/%m/%d"), pc.strftime(at, "%H:%M:%S")
        cols = ["MSG", tx, "1", "1", icao, "1", day, clock, day, clock]
        cols += [fields.get(i, empty) for i in range(10, N_FIELDS)]
        return pc.binary_join_element_wise(*cols, ",")

    ground = _field(df["onground"].astype("boolean"))
    zero = pa.array(["0"] * n, pa.string())
    msg3 = line(
        "3",
        0,
        {
            11: _field(df["altitude_ft"]),
            14: _field(df["lat"]),
            15: _field(df["lon"]),
            18: zero,
            19: zero,
            20: zero,
            21: ground,
        },
    )
    msg4 = line(
        "4",
        1,
        {
            12: _field(df["groundspeed_kt"]),
            13: _field(df["track_deg"]),
            16: _field(df["vertical_rate_fpm"]),
        },
    )
    msg1 = line("1", 3, {10: _field(df["callsign"]), 21: ground})
    msg6 = line("6", 2, {17: _field(df["squawk"]), 21: ground})
    ident = (df.groupby("icao24", sort=False).cumcount() % ident_every == 0).to_numpy()
    order = np.argsort(ts.to_numpy(dtype="datetime64[ns]"), kind="stable")
    stacked = np.stack(
        [
            np.where(ident, np.arange(n), -1),
            np.where(ident, np.arange(n), -1),
            np.arange(n),
            np.arange(n),
        ],
        axis=1,
    )[order]
    kinds = np.tile(np.arange(4), len(order))
    rows = stacked.reshape(-1)
    keep = rows >= 0
    all_lines = pa.chunked_array([msg1, msg6, msg4, msg3]).combine_chunks()
    take = (kinds * n + rows)[keep]
    text = all_lines.take(pa.array(take))
    return ("\r\n".join(text.to_pylist()) + "\r\n").encode() if n else b""
