"""A day's cleaned tracks as flat arrays: what scoring needs of each flight's points (to tag it
or redraw it), handed over by the build or read back from the stored positions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from oddflights.flights.clean import repeated_timestamps, speed_check
from oddflights.flights.segment import FlightSet, seconds

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Tracks:
    """Flight ``flight_ids[i]``'s points are rows ``offsets[i]:offsets[i+1]`` of the arrays,
    in time order (t_s: UTC epoch seconds; NaN where altitude or speed is unknown)."""

    flight_ids: IntArray
    offsets: IntArray
    lat: FloatArray
    lon: FloatArray
    t_s: FloatArray
    altitude_ft: FloatArray
    groundspeed_kt: FloatArray

    def __len__(self) -> int:
        return len(self.flight_ids)

    def index(self) -> dict[int, int]:
        """flight id → its position in ``flight_ids``."""
        return {int(f): i for i, f in enumerate(self.flight_ids)}

    def take(self, flight_ids: npt.ArrayLike) -> Tracks:
        """The tracks of ``flight_ids``, in that order (no points for an unknown flight)."""
        where = self.index()
        pos = np.array([where.get(int(f), -1) for f in np.asarray(flight_ids)], dtype=np.int64)
        known = pos >= 0
        at = np.where(known, pos, 0)
        if not known.any():  # no track of any of them (possibly no tracks at all)
            at = np.zeros(len(pos), dtype=np.int64)
            starts = counts = at
        else:
            starts = np.where(known, self.offsets[at], 0)
            counts = np.where(known, self.offsets[at + 1] - starts, 0)
        rows = _gather(starts, counts)
        return Tracks(
            flight_ids=np.asarray(flight_ids, dtype=np.int64),
            offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
            lat=self.lat[rows],
            lon=self.lon[rows],
            t_s=self.t_s[rows],
            altitude_ft=self.altitude_ft[rows],
            groundspeed_kt=self.groundspeed_kt[rows],
        )


def _gather(starts: IntArray, counts: IntArray) -> IntArray:
    """Row indices of the runs ``starts[i] : starts[i] + counts[i]``, one after another."""
    counts = np.asarray(counts, dtype=np.int64)
    before = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    return np.repeat(np.asarray(starts, dtype=np.int64) - before, counts) + np.arange(
        int(counts.sum()), dtype=np.int64
    )


def empty_tracks() -> Tracks:
    """No flights."""
    none = np.zeros(0, dtype=np.float64)
    return Tracks(np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64), *([none] * 5))


def _float(col: pd.Series) -> FloatArray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _start_us(ts: pd.Series) -> IntArray:
    # Microseconds: what both databases keep of a time (SQLite's REAL seconds round to them).
    return np.round(seconds(ts) * 1e6).astype(np.int64)


def tracks_of_set(built: FlightSet) -> Tracks:
    """Every flight of a build, as Tracks (flight ids: their rows in ``built.table``)."""
    pts = built.points
    n = len(built.offsets) - 1
    if n <= 0:
        return empty_tracks()
    return Tracks(
        flight_ids=np.arange(n, dtype=np.int64),
        offsets=np.asarray(built.offsets, dtype=np.int64),
        lat=_float(pts["lat"]),
        lon=_float(pts["lon"]),
        t_s=np.asarray(seconds(pts["ts"]), dtype=np.float64),
        altitude_ft=_float(pts["altitude_ft"]),
        groundspeed_kt=_float(pts["groundspeed_kt"]),
    )


def tracks_from_build(built: FlightSet, flights: pd.DataFrame) -> Tracks:
    """The build's cleaned points of the stored ``flights`` (flight_id, icao24, start_ts),
    matched on (icao24, start time): what the build drew is what gets tagged."""
    table = built.table.reset_index(drop=True)
    if table.empty or flights.empty:
        return empty_tracks()
    keys = pd.DataFrame(
        {"icao24": table["icao24"].astype(str).to_numpy(), "us": _start_us(table["start_ts"])}
    )
    keys["row"] = np.arange(len(table))
    stored = pd.DataFrame(
        {
            "icao24": flights["icao24"].astype(str).to_numpy(),
            "us": _start_us(flights["start_ts"]),
            "flight_id": flights["flight_id"].to_numpy(dtype=np.int64),
        }
    )
    matched = keys.merge(stored, on=["icao24", "us"], how="inner").sort_values("flight_id")
    offsets = np.asarray(built.offsets, dtype=np.int64)
    rows_of = matched["row"].to_numpy(dtype=np.int64)
    counts = offsets[rows_of + 1] - offsets[rows_of]
    # The points of the matched flights, in flight id order, taken once from each column.
    take = _gather(offsets[rows_of], counts)
    pts = built.points
    return Tracks(
        flight_ids=matched["flight_id"].to_numpy(dtype=np.int64),
        offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
        lat=_float(pts["lat"])[take],
        lon=_float(pts["lon"])[take],
        t_s=np.asarray(seconds(pts["ts"]), dtype=np.float64)[take],
        altitude_ft=_float(pts["altitude_ft"])[take],
        groundspeed_kt=_float(pts["groundspeed_kt"])[take],
    )


def tracks_from_positions(positions: pd.DataFrame, flights: pd.DataFrame) -> Tracks:
    """Each stored flight's positions, cleaned as the build cleaned them (for rescoring a day
    whose build is not at hand).

    ``positions``: TRACK_COLUMNS; ``flights``: flight_id, icao24, start_ts, end_ts. A position
    belongs to the flight of its aircraft that started last at or before it and had not yet
    ended."""
    if positions.empty or flights.empty:
        return empty_tracks()
    pos = positions[positions["lat"].notna() & positions["lon"].notna()].copy()
    pos["icao24"] = pos["icao24"].astype(str)
    pos = pos.sort_values("ts", kind="stable")
    fl = flights[["flight_id", "icao24", "start_ts", "end_ts"]].copy()
    fl["icao24"] = fl["icao24"].astype(str)
    fl = fl.sort_values("start_ts", kind="stable")
    pos["ts"] = pos["ts"].astype("datetime64[ns, UTC]")
    fl["start_ts"] = fl["start_ts"].astype("datetime64[ns, UTC]")
    fl["end_ts"] = fl["end_ts"].astype("datetime64[ns, UTC]")
    joined = pd.merge_asof(
        pos, fl, left_on="ts", right_on="start_ts", by="icao24", direction="backward"
    )
    joined = joined[joined["flight_id"].notna() & (joined["ts"] <= joined["end_ts"])]
    joined = joined.sort_values(["flight_id", "ts"], kind="stable").reset_index(drop=True)
    group = joined["flight_id"].to_numpy(dtype=np.int64)
    t_s = np.asarray(seconds(joined["ts"]), dtype=np.float64)
    keep = ~repeated_timestamps(group, t_s)
    group, t_s, joined = group[keep], t_s[keep], joined[keep].reset_index(drop=True)
    lat, lon = _float(joined["lat"]), _float(joined["lon"])
    speed = _float(joined["groundspeed_kt"])
    keep = speed_check(group, t_s, lat, lon, speed)
    group = group[keep]
    ids, first = np.unique(group, return_index=True)
    return Tracks(
        flight_ids=ids.astype(np.int64),
        offsets=np.r_[first, len(group)].astype(np.int64),
        lat=lat[keep],
        lon=lon[keep],
        t_s=t_s[keep],
        altitude_ft=_float(joined["altitude_ft"])[keep],
        groundspeed_kt=speed[keep],
    )


def track_slice(tracks: Tracks, i: int) -> dict[str, Any]:
    """Flight ``i``'s arrays (by position in ``tracks``), as a dict of column → array."""
    a, b = int(tracks.offsets[i]), int(tracks.offsets[i + 1])
    return {
        "lat": tracks.lat[a:b],
        "lon": tracks.lon[a:b],
        "t_s": tracks.t_s[a:b],
        "altitude_ft": tracks.altitude_ft[a:b],
        "groundspeed_kt": tracks.groundspeed_kt[a:b],
    }
