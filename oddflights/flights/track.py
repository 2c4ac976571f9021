"""One flight's cleaned track, read back for pictures and pages.

The DB layer only reads the flight's positions; cleaning them the way the build did belongs
here, with the rest of the flights stage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.flights import read_flight_positions
from oddflights.flights.clean import repeated_timestamps, speed_check
from oddflights.flights.segment import seconds


def clean_track(positions: pd.DataFrame) -> pd.DataFrame:
    """One aircraft's positions cleaned as the build cleans a flight: no missing place, no
    repeated timestamp, no impossible jump."""
    df = positions[positions["lat"].notna() & positions["lon"].notna()].reset_index(drop=True)
    group = np.zeros(len(df), dtype=np.int64)
    df = df[~repeated_timestamps(group, seconds(df["ts"]))].reset_index(drop=True)
    keep = speed_check(
        group[: len(df)],
        seconds(df["ts"]),
        df["lat"].to_numpy(dtype=np.float64),
        df["lon"].to_numpy(dtype=np.float64),
        df["groundspeed_kt"].to_numpy(dtype=np.float64, na_value=np.nan),
    )
    return df[keep].reset_index(drop=True)


def read_flight_track(engine: Engine, flight_id: int) -> pd.DataFrame:
    """A flight's cleaned positions (POSITION_COLUMNS), re-read from the positions table and
    cleaned as the build cleaned them."""
    return clean_track(read_flight_positions(engine, flight_id))
