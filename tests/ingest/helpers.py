"""Shared test data: a small seeded simulation written in every format we read."""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache

import numpy as np
import pandas as pd

from oddflights.columns import POSITION_COLUMNS
from oddflights.ingest.export import write_table
from oddflights.ingest.sbs import format_sbs
from oddflights.ingest.table import table_frame
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate

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
        np.testing.assert_allclose(
            got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-9, atol=atol, err_msg=c
        )
    for c in ("callsign", "squawk", "onground"):
        assert [None if pd.isna(v) else v for v in got[c]] == [
            None if pd.isna(v) else v for v in want[c]
        ], c
