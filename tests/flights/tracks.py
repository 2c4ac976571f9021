"""Hand-made tracks for the flights tests: straight lines at 1 Hz, as positions DataFrames."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from oddflights.columns import POSITION_COLUMNS

KM_PER_DEG = 6371.0 * np.pi / 180.0


def track(
    icao24: str,
    start: datetime,
    seconds: int,
    lat0: float,
    lon0: float,
    heading_deg: float = 90.0,
    speed_kt: float = 400.0,
    callsign: str | None = "TEST1",
    altitude_ft: float = 30_000.0,
    every_s: float = 1.0,
    onground: bool = False,
) -> pd.DataFrame:
    """A straight track of ``seconds`` at one point per ``every_s`` seconds."""
    t = np.arange(0.0, seconds, every_s)
    dist = t * speed_kt * 1.852 / 3600.0
    h = np.radians(heading_deg)
    lat = lat0 + dist * np.cos(h) / KM_PER_DEG
    lon = lon0 + dist * np.sin(h) / (KM_PER_DEG * np.cos(np.radians(lat0)))
    return pd.DataFrame(
        {
            "icao24": icao24,
            "ts": pd.Timestamp(start) + pd.to_timedelta(t, unit="s"),
            "lat": lat,
            "lon": lon,
            "altitude_ft": altitude_ft,
            "groundspeed_kt": speed_kt,
            "track_deg": heading_deg,
            "vertical_rate_fpm": 0.0,
            "callsign": callsign,
            "squawk": "1000",
            "onground": onground,
        },
        columns=list(POSITION_COLUMNS),
    )


def concat(*frames: pd.DataFrame) -> pd.DataFrame:
    """Frames together, sorted by (icao24, ts) like read_positions returns them."""
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["icao24", "ts"], kind="stable").reset_index(drop=True)
