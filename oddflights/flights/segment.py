"""Positions → flights: cut each aircraft's time-sorted positions into flights and clean them.

A flight ends where an aircraft is not heard for more than ``gap_min`` minutes or where a
known callsign changes. The caller gives the window of flight *starts* it wants (a receiver
day); it should read positions from a little before that window, so that a flight continuing
from the day before is recognised and left to that day, and to some hours after it, so that a
flight crossing midnight stays whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from oddflights.columns import TRACK_COLUMNS
from oddflights.flights.clean import CleanSettings, repeated_timestamps, speed_check

IntArray = npt.NDArray[np.int64]
AnyIntArray = npt.NDArray[np.integer[Any]]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.floating[Any]]

# The keys of FlightSet.dropped, in the order they are applied.
DROP_KEYS = (
    "no_position",  # points without lat/lon
    "repeated_ts",  # points repeating an aircraft's timestamp
    "bad_position",  # points failing the speed check
    "too_few_points",  # flights
    "too_short",  # flights
    "on_ground",  # flights
)


@dataclass
class FlightSet:
    """Cleaned flights: one table row per flight, their points, and what was dropped."""

    table: pd.DataFrame  # icao24, callsign, start_ts, end_ts, n_points
    points: pd.DataFrame  # TRACK_COLUMNS + "flight" (row of table), sorted by flight, ts
    offsets: IntArray  # flight i is points[offsets[i]:offsets[i+1]]
    dropped: dict[str, int] = field(default_factory=dict)


def seconds(ts: pd.Series) -> FloatArray:
    """UTC timestamps as float seconds since the epoch."""
    values = pd.DatetimeIndex(ts).tz_convert("UTC").tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9


def cut(aircraft: AnyIntArray, t_s: FloatArray, callsign: AnyIntArray, gap_s: float) -> IntArray:
    """Flight number of each row (rows sorted by aircraft, time): a new flight starts at a new
    aircraft, after a silence over ``gap_s`` seconds, or where the known callsign changes
    (``callsign`` codes, -1 = unknown, carried forward within the aircraft)."""
    n = len(t_s)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    same_aircraft = aircraft[1:] == aircraft[:-1]
    new[1:] = ~same_aircraft | ((t_s[1:] - t_s[:-1]) > gap_s)
    # Carry the last known callsign forward, never across aircraft.
    known = (callsign >= 0) | np.r_[True, ~same_aircraft]
    carried = callsign[np.maximum.accumulate(np.where(known, np.arange(n), 0))]
    changed = (carried[1:] != carried[:-1]) & (carried[1:] >= 0) & (carried[:-1] >= 0)
    new[1:] |= changed & same_aircraft
    return np.cumsum(new) - 1


@dataclass
class Segments:
    """What segmenting some positions kept: ``rows`` (indices into the positions, flight by
    flight, each in time order) with flight i's rows ``rows[offsets[i]:offsets[i+1]]``, and
    the counts of what was dropped (DROP_KEYS)."""

    rows: IntArray
    offsets: IntArray
    dropped: dict[str, int]


def segment(
    aircraft: AnyIntArray,
    t_s: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    speed_kt: FloatArray,
    callsign: AnyIntArray,
    ground: BoolArray,
    *,
    gap_s: float,
    clean: CleanSettings,
    start_s: float | None = None,
    end_s: float | None = None,
) -> Segments:
    """Cut, clean and filter flights from positions given as arrays sorted by aircraft (any
    integer code), then time, all with a place (``t_s``: epoch seconds; ``callsign``: codes,
    -1 unknown; ``ground``: known to be on the ground), keeping the flights whose first
    position lies in [start_s, end_s). The ``no_position`` count is the caller's."""
    dropped = dict.fromkeys(DROP_KEYS, 0)
    aircraft = np.asarray(aircraft)
    rep = repeated_timestamps(aircraft, t_s)
    labels = cut(aircraft, t_s, np.asarray(callsign, dtype=np.int64), gap_s)

    # Only flights starting in the window are this call's business (and its counts).
    first = np.r_[True, labels[1:] != labels[:-1]][: len(labels)]
    starts = t_s[first]
    wanted = np.ones(len(starts), dtype=bool)
    if start_s is not None:
        wanted &= starts >= start_s
    if end_s is not None:
        wanted &= starts < end_s
    rows = wanted[labels]
    dropped["repeated_ts"] = int((rep & rows).sum())
    rows &= ~rep
    idx = np.flatnonzero(rows)
    labels, t_s = labels[idx], t_s[idx]
    ok = speed_check(labels, t_s, lat[idx], lon[idx], speed_kt[idx])
    dropped["bad_position"] = int((~ok).sum())
    idx, labels, t_s = idx[ok], labels[ok], t_s[ok]

    # Flight-level filters.
    flight_ids, first_pos, counts = np.unique(labels, return_index=True, return_counts=True)
    last_pos = first_pos + counts - 1
    duration = t_s[last_pos] - t_s[first_pos]
    airborne = np.bincount(
        np.searchsorted(flight_ids, labels), weights=~ground[idx], minlength=len(flight_ids)
    )
    few = counts < clean.min_points
    short = ~few & (duration < clean.min_minutes * 60.0)
    on_ground = ~few & ~short & (airborne == 0) if clean.drop_ground else np.zeros_like(few)
    dropped["too_few_points"] = int(few.sum())
    dropped["too_short"] = int(short.sum())
    dropped["on_ground"] = int(on_ground.sum())
    keep_flight = ~(few | short | on_ground)
    kept_counts = counts[keep_flight]
    return Segments(
        rows=idx[np.repeat(keep_flight, counts)],
        offsets=np.r_[0, np.cumsum(kept_counts)].astype(np.int64),
        dropped=dropped,
    )


def make_flights(
    positions: pd.DataFrame,
    *,
    gap_min: float = 10.0,
    clean: CleanSettings | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> FlightSet:
    """Cut, clean and filter flights from positions (TRACK_COLUMNS at least, ts tz-aware UTC),
    keeping the flights whose first position lies in [start, end)."""
    clean = clean or CleanSettings()
    df = positions.loc[:, list(TRACK_COLUMNS)]
    has_pos = df["lat"].notna().to_numpy() & df["lon"].notna().to_numpy()
    if not has_pos.all():
        df = df.loc[has_pos]
    df = df.reset_index(drop=True)
    t_s = seconds(df["ts"])
    aircraft = pd.factorize(df["icao24"])[0].astype(np.int64)
    if not _grouped(aircraft, t_s):
        df = df.sort_values(["icao24", "ts"], kind="stable", ignore_index=True)
        t_s = seconds(df["ts"])
        aircraft = pd.factorize(df["icao24"])[0].astype(np.int64)
    callsign_codes, names = pd.factorize(df["callsign"])
    empty = np.flatnonzero(np.asarray(names, dtype=object) == "")
    callsign_codes = np.where(np.isin(callsign_codes, empty), -1, callsign_codes)
    segs = segment(
        aircraft,
        t_s,
        df["lat"].to_numpy(dtype=np.float64),
        df["lon"].to_numpy(dtype=np.float64),
        df["groundspeed_kt"].to_numpy(dtype=np.float64, na_value=np.nan),
        callsign_codes,
        _is_true(df["onground"]),
        gap_s=gap_min * 60.0,
        clean=clean,
        start_s=None if start is None else start.timestamp(),
        end_s=None if end is None else end.timestamp(),
    )
    segs.dropped["no_position"] = _count_in(positions, ~has_pos, start, end)
    points = df.iloc[segs.rows].reset_index(drop=True)
    points["flight"] = np.repeat(np.arange(len(segs.offsets) - 1), np.diff(segs.offsets))
    table = _table(points, segs.offsets, callsign_codes[segs.rows], names)
    dropped = {k: segs.dropped[k] for k in DROP_KEYS}
    return FlightSet(table=table, points=points, offsets=segs.offsets, dropped=dropped)


def _grouped(aircraft: IntArray, t_s: FloatArray) -> bool:
    """Whether rows come aircraft by aircraft (codes from pd.factorize never decrease then),
    each in time order."""
    if len(t_s) < 2:
        return True
    step = np.diff(aircraft)
    return bool(np.all(step >= 0) and np.all((step > 0) | (np.diff(t_s) >= 0)))


def _is_true(values: pd.Series) -> BoolArray:
    """True where a boolean-ish column (bool, nullable boolean, or objects with None) is
    True; unknown counts as False."""
    if values.dtype == bool:
        return values.to_numpy()
    known = values.notna().to_numpy()
    out = np.zeros(len(values), dtype=bool)
    out[known] = values.to_numpy(dtype=object)[known].astype(bool)
    return out


def _count_in(
    positions: pd.DataFrame, mask: BoolArray, start: datetime | None, end: datetime | None
) -> int:
    ts = positions["ts"][mask]
    inside = np.ones(len(ts), dtype=bool)
    if start is not None:
        inside &= (ts >= start).to_numpy()
    if end is not None:
        inside &= (ts < end).to_numpy()
    return int(inside.sum())


def _table(
    points: pd.DataFrame, offsets: IntArray, callsign_codes: IntArray, names: Any
) -> pd.DataFrame:
    first, last = offsets[:-1], offsets[1:] - 1
    return flight_table(
        points["icao24"].to_numpy(dtype=object)[first],
        points["ts"].iloc[first].reset_index(drop=True),
        points["ts"].iloc[last].reset_index(drop=True),
        offsets,
        callsign_codes,
        names,
    )


def flight_table(
    icao24: npt.NDArray[np.object_],
    start_ts: pd.Series,
    end_ts: pd.Series,
    offsets: IntArray,
    callsign_codes: AnyIntArray,
    names: Any,
) -> pd.DataFrame:
    """The flights table (icao24, callsign, start_ts, end_ts, n_points) of flights given by
    their aircraft, first and last times and ``offsets`` into their points' callsign codes
    (-1 unknown) into ``names``; a flight's callsign is its first known one."""
    if len(offsets) <= 1:
        return pd.DataFrame(
            {
                "icao24": pd.Series(dtype=object),
                "callsign": pd.Series(dtype=object),
                "start_ts": pd.Series(dtype="datetime64[ns, UTC]"),
                "end_ts": pd.Series(dtype="datetime64[ns, UTC]"),
                "n_points": pd.Series(dtype=np.int64),
            }
        )
    first = offsets[:-1]
    # The first known callsign (a flight changes callsign only at a cut).
    big = np.iinfo(np.int64).max
    known_at = np.where(callsign_codes >= 0, np.arange(len(callsign_codes)), big)
    first_known = np.minimum.reduceat(known_at, first)
    names_arr = np.asarray(names, dtype=object)
    callsign = [names_arr[callsign_codes[i]] if i != big else None for i in first_known.tolist()]
    return pd.DataFrame(
        {
            "icao24": icao24,
            "callsign": pd.Series(callsign, dtype=object),
            "start_ts": start_ts,
            "end_ts": end_ts,
            "n_points": np.diff(offsets),
        }
    )
