"""The airports a receiver sees, found in its data: places where several aircraft were low.

The ``go_around`` tag needs them, and the web page draws them.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.registry import ModelInfo
from oddflights.db.scores import low_points
from oddflights.flights.raster import project
from oddflights.receivers import Receiver

FloatArray = npt.NDArray[np.float64]

# The airports a receiver sees are looked for in the positions of this many of the model's
# last training days (below this altitude): enough to find every runway in use.
AIRPORT_DAYS = 3
AIRPORT_MAX_ALT_FT = 2000.0
AIRPORT_CELL_KM = 2.0
AIRPORT_MIN_AIRCRAFT = 3


def airports_from_low_points(
    low: pd.DataFrame, centre: tuple[float, float], cell_km: float = AIRPORT_CELL_KM
) -> FloatArray:
    """Airport locations ((x, y) km from the receiver): cells of ``cell_km`` where at least
    AIRPORT_MIN_AIRCRAFT aircraft were seen low (``low``: icao24, lat, lon)."""
    if low.empty:
        return np.zeros((0, 2))
    x, y = project(low["lat"].to_numpy(), low["lon"].to_numpy(), centre[0], centre[1])
    cx = np.floor(np.asarray(x) / cell_km).astype(np.int64)
    cy = np.floor(np.asarray(y) / cell_km).astype(np.int64)
    aircraft, _ = pd.factorize(low["icao24"].to_numpy())
    # Distinct (cell, aircraft) pairs, then aircraft per cell; cells come out sorted by
    # (cx, cy). numpy, not a pandas groupby: a web process would keep the ~20 MB that
    # groupby's first use loads.
    triples = np.unique(np.column_stack((cx, cy, aircraft)), axis=0)
    cells, counts = np.unique(triples[:, :2], axis=0, return_counts=True)
    busy = cells[counts >= AIRPORT_MIN_AIRCRAFT]
    return ((busy.astype(np.float64) + 0.5) * cell_km).reshape(-1, 2)


def training_airports(engine: Engine, receiver: Receiver, info: ModelInfo) -> FloatArray:
    """Airports ((x, y) km) seen low in the model's last AIRPORT_DAYS training days."""
    assert receiver.id is not None
    first = max(info.train_from, info.train_to - timedelta(days=AIRPORT_DAYS - 1))
    start, _ = receiver.day_bounds(first)
    _, end = receiver.day_bounds(info.train_to)
    low = low_points(engine, receiver.id, start, end, AIRPORT_MAX_ALT_FT)
    return airports_from_low_points(low, (receiver.lat, receiver.lon))


def day_airports(engine: Engine, receiver: Receiver, day: date) -> FloatArray:
    """Airports ((x, y) km) seen low on one receiver day."""
    assert receiver.id is not None
    start, end = receiver.day_bounds(day)
    low = low_points(engine, receiver.id, start, end, AIRPORT_MAX_ALT_FT)
    return airports_from_low_points(low, (receiver.lat, receiver.lon))
