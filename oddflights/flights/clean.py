"""Cleaning positions and flights: repeated timestamps, impossible jumps, scraps.

The speed check is the one dump1090-fa applies to a new position: it must lie within
0.5 km + (Δt + 1 s) × max(speed, 200 kt) × 4/3 of the last accepted position. It is
vectorised against the previous point, and only where that fails does a short walk decide
against the last *accepted* point, so an isolated 300 km jump is dropped without cutting the
flight, and a flight whose first point was the bad one recovers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from oddflights import config
from oddflights.flights.geo import EARTH_RADIUS_KM, KT_TO_KM_S, step_km

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.int64]

MIN_SPEED_KT = 200.0
# After this many consecutive rejected points that agree with one another, the last accepted
# point is taken to be the bad one and the track restarts from them.
RESET_RUN = 5


@dataclass(frozen=True)
class CleanSettings:
    """Which flights are kept (defaults from the settings table)."""

    min_points: int = 10
    min_minutes: float = 2.0
    drop_ground: bool = True

    @classmethod
    def from_config(cls) -> CleanSettings:
        """The settings as configured (environment, then defaults)."""
        return cls(
            int(config.get("flight_min_points")),
            float(config.get("flight_min_minutes")),
            bool(config.get("drop_ground_flights")),
        )


def repeated_timestamps(group: npt.NDArray[np.integer[Any]], t_s: FloatArray) -> BoolArray:
    """True for rows that repeat the previous row's (group, timestamp); rows sorted."""
    rep = np.zeros(len(t_s), dtype=bool)
    if len(t_s) > 1:
        rep[1:] = (group[1:] == group[:-1]) & (t_s[1:] == t_s[:-1])
    return rep


def _allowed_km(dt_s: FloatArray | float, speed_kt: FloatArray | float) -> Any:
    speed = np.fmax(speed_kt, MIN_SPEED_KT)  # NaN speed → 200 kt
    return 0.5 + (np.abs(dt_s) + 1.0) * speed * KT_TO_KM_S * (4.0 / 3.0)


def _dist_km(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    # The same equirectangular step as geo.step_km, for scalars.
    k = EARTH_RADIUS_KM * math.pi / 180.0
    dlon = (lon1 - lon0 + 180.0) % 360.0 - 180.0
    coslat = math.cos(math.radians((lat0 + lat1) / 2))
    return math.hypot(dlon * coslat * k, (lat1 - lat0) * k)


def speed_check(
    group: IntArray, t_s: FloatArray, lat: FloatArray, lon: FloatArray, speed_kt: FloatArray
) -> BoolArray:
    """Keep-mask of positions that pass the speed check within their group (rows sorted by
    group, then time; ``speed_kt`` may hold NaN)."""
    n = len(t_s)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    east, north = step_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    dist = np.hypot(east, north)
    ok = np.ones(n, dtype=bool)
    ok[1:] = (dist <= _allowed_km(t_s[1:] - t_s[:-1], speed_kt[1:])) | (group[1:] != group[:-1])
    bad = np.flatnonzero(~ok)
    done = -1
    for i in bad:
        if i <= done:
            continue
        done = _repair(int(i), group, t_s, lat, lon, speed_kt, ok, keep)
    return keep


def _repair(
    i: int,
    group: IntArray,
    t_s: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    speed_kt: FloatArray,
    ok: BoolArray,
    keep: BoolArray,
) -> int:
    """Walk from the failing point ``i`` against the last accepted point until the track is
    consistent again; returns the last index decided."""
    g = group[i]
    first = int(np.searchsorted(group, g, side="left"))
    rejected = np.flatnonzero(~keep[first:i]) + first
    accepted = np.flatnonzero(keep[first:i]) + first
    if len(accepted) == 0:
        return i  # nothing accepted before it in this flight: it starts the track
    anchor = int(accepted[-1])
    # The stretch accepted since the last rejected point (or the start of the flight).
    stretch_start = int(rejected[-1]) + 1 if len(rejected) else first
    run: list[int] = []
    n = len(t_s)
    j = i
    while j < n and group[j] == g:
        if anchor == j - 1 and ok[j]:
            return j  # back on track: the vectorised check holds from here
        if _passes(anchor, j, t_s, lat, lon, speed_kt):
            anchor = j
            run = []
        else:
            keep[j] = False
            if run and _passes(run[-1], j, t_s, lat, lon, speed_kt):
                run.append(j)
            else:
                run = [j]
            if len(run) >= RESET_RUN:
                # The rejected points agree with one another: it is the accepted stretch
                # before them that was wrong if it is shorter than they are.
                accepted_before = np.flatnonzero(keep[stretch_start : run[0]]) + stretch_start
                if len(accepted_before) <= len(run):
                    keep[accepted_before] = False
                keep[run] = True
                anchor = run[-1]
                stretch_start = run[0]
                run = []
        j += 1
    return j - 1


def _passes(a: int, b: int, t_s: FloatArray, lat: FloatArray, lon: FloatArray, sp: Any) -> bool:
    d = _dist_km(float(lat[a]), float(lon[a]), float(lat[b]), float(lon[b]))
    return bool(d <= _allowed_km(float(t_s[b] - t_s[a]), float(sp[b])))
