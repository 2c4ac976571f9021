"""Per-flight summary features kept in the database beside the raster."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from oddflights.columns import FEATURE_COLUMNS
from oddflights.flights.geo import step_km, step_marks, turns_deg
from oddflights.flights.raster import project

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.floating[Any]]

# Headings are taken between points about this far apart along the track: position noise of a
# few metres between 1 Hz points would otherwise add up to hundreds of degrees of "turning".
HEADING_STEP_KM = 2.0
# Heading changes smaller than this count towards the net turn but not the cumulative one, for
# the same reason (a standard-rate turn changes heading by ~40° per 2 km).
TURN_DEADBAND_DEG = 2.0


def summarize(
    lat: FloatArray,
    lon: FloatArray,
    altitude_ft: FloatArray,
    offsets: IntArray,
    receiver: tuple[float, float],
) -> pd.DataFrame:
    """Summary features (FEATURE_COLUMNS) of flights given as points
    ``offsets[i]:offsets[i+1]``; every flight has at least one point."""
    return summarize_from(lat, lon, altitude_ft, offsets, receiver)[0]


def summarize_from(
    lat: FloatArray,
    lon: FloatArray,
    altitude_ft: FloatArray,
    offsets: IntArray,
    receiver: tuple[float, float],
    along_start: float = 0.0,
    xy: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[pd.DataFrame, float]:
    """summarize() of flights that follow others, and the distance to hand to the next ones.

    The turn features take headings at every HEADING_STEP_KM of the distance summed along
    all the flights given, in order, from ``along_start``: a build that summarises a day's
    flights a batch at a time hands each batch the distance the previous one ended at
    (returned here), so that its features are those of the whole day at once, bit for bit.
    ``xy``: the points already projected (``project(lat, lon, *receiver)``), when the caller
    has them.
    """
    n = len(offsets) - 1
    if n <= 0:
        empty = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in FEATURE_COLUMNS})
        return empty, along_start
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    alt = np.asarray(altitude_ft, dtype=np.float64)
    starts = offsets[:-1]
    flight = np.repeat(np.arange(n), np.diff(offsets))
    east, north = step_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    within = flight[1:] == flight[:-1]
    step = np.where(within, np.hypot(east, north), 0.0)
    path = np.bincount(flight[1:], weights=step, minlength=n)
    along = np.cumsum(np.r_[along_start, step])  # sequential sums: as over the whole day
    cum_turn, net_turn = _turns(lat, lon, flight, along, n)
    x, y = xy if xy is not None else project(lat, lon, receiver[0], receiver[1])
    dist = np.hypot(x, y).astype(np.float64)
    with np.errstate(invalid="ignore"):
        alt_min = np.fmin.reduceat(alt, starts)
        alt_max = np.fmax.reduceat(alt, starts)
    table = pd.DataFrame(
        {
            "path_km": path,
            "turn_cum_deg": cum_turn,
            "turn_net_deg": net_turn,
            "alt_min_ft": alt_min,
            "alt_max_ft": alt_max,
            "min_dist_km": np.minimum.reduceat(dist, starts),
            "lat_min": np.minimum.reduceat(lat, starts),
            "lat_max": np.maximum.reduceat(lat, starts),
            "lon_min": np.minimum.reduceat(lon, starts),
            "lon_max": np.maximum.reduceat(lon, starts),
        }
    )
    return table, float(along[-1])


def _turns(
    lat: FloatArray, lon: FloatArray, flight: IntArray, along_km: FloatArray, n: int
) -> tuple[FloatArray, FloatArray]:
    """Cumulative |Δheading| and net signed Δheading (clockwise positive) per flight, from
    headings between points about HEADING_STEP_KM apart."""
    pick = step_marks(along_km, HEADING_STEP_KM, flight)
    # Each flight's last point too, so the final stretch counts.
    pick[np.r_[np.flatnonzero(flight[1:] != flight[:-1]), len(flight) - 1]] = True
    k = np.flatnonzero(pick)
    kf = flight[k]
    east, north = step_km(lat[k[:-1]], lon[k[:-1]], lat[k[1:]], lon[k[1:]])
    # Legs within a flight that go somewhere (a leg of length 0 has no heading).
    seg_ok = (kf[1:] == kf[:-1]) & (np.hypot(east, north) > 0)
    delta, hf = turns_deg(east[seg_ok], north[seg_ok]), kf[1:][seg_ok]
    same = hf[1:] == hf[:-1]
    delta, df = delta[same], hf[1:][same]
    cum = np.bincount(
        df, weights=np.where(np.abs(delta) >= TURN_DEADBAND_DEG, np.abs(delta), 0.0), minlength=n
    )
    net = np.bincount(df, weights=delta, minlength=n)
    return cum.astype(np.float64), net.astype(np.float64)
