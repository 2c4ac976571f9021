"""Airports: those a receiver sees, found in its data (places where several aircraft were
low), and the listed ones of ``airportsdata`` in its frame, by ICAO code and name.

The ``go_around``, ``low_approach`` and ``circuits`` tags need the ones found in the data
(they include private strips); the pages name the listed ones in tag texts and draw them on
the map.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.registry import ModelInfo
from oddflights.db.scores import low_points
from oddflights.flights.geo import EARTH_RADIUS_KM
from oddflights.flights.raster import project
from oddflights.receivers import Receiver
from oddflights.scoring.tags import PARAMS

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


# Real airports: airportsdata (ICAO code, name, position of ~28,000 airports and strips).
# Reading them takes ~0.4 s, so each receiver's frame is cut out of them once per process
# and kept.

# A hold is flown for an airport with scheduled traffic up to this far out; any airport
# (private strips too) must be this close to a go-around's low point (TagParams'
# airport_near_km) or to a hold.
HOLD_AIRPORT_KM = 60.0
ANY_HOLD_AIRPORT_KM = 15.0


@dataclass(frozen=True)
class KnownAirports:
    """Listed airports: ICAO code, name, IATA code ('' for none: no scheduled service, drawn
    smaller), position in degrees and in km from a receiver."""

    icao: tuple[str, ...]
    name: tuple[str, ...]
    iata: tuple[str, ...]
    lat: FloatArray
    lon: FloatArray
    x: FloatArray
    y: FloatArray

    def __len__(self) -> int:
        return len(self.icao)

    @property
    def major(self) -> npt.NDArray[np.bool_]:
        """Airports with an IATA code (scheduled service): drawn more prominently."""
        return np.array([bool(c) for c in self.iata], dtype=bool)

    def label(self, i: int) -> str:
        """``EHAM (Amsterdam Airport Schiphol)``."""
        return f"{self.icao[i]} ({self.name[i]})"

    def nearest(
        self, x_km: float, y_km: float, max_km: float, major_only: bool = False
    ) -> int | None:
        """The index of the nearest airport within ``max_km`` of (x, y) km; None if none."""
        if not len(self):
            return None
        d = np.hypot(self.x - x_km, self.y - y_km)
        if major_only:
            d = np.where(self.major, d, np.inf)
        i = int(np.argmin(d))
        return i if d[i] <= max_km else None


def _listed() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], FloatArray, FloatArray]:
    """Every listed airport with a 4-letter ICAO code: codes, names, IATA codes, lat, lon (read
    anew each time: only known_airports calls it, once per receiver, and keeps its frame)."""
    # The CSV that airportsdata.load() reads, streamed for five columns: load()'s 28,000
    # dicts would leave ~30 MB in a web process that keeps ~3 MB of this.
    icao, name, iata, lat, lon = [], [], [], [], []
    source = resources.files("airportsdata").joinpath("airports.csv")
    with source.open(encoding="utf-8") as f:
        rows = csv.reader(f)
        head = next(rows)
        i_icao, i_iata, i_name = head.index("icao"), head.index("iata"), head.index("name")
        i_lat, i_lon = head.index("lat"), head.index("lon")
        for row in rows:
            if len(row[i_icao]) != 4:
                continue
            icao.append(row[i_icao])
            iata.append(row[i_iata])
            name.append(row[i_name])
            lat.append(float(row[i_lat]))
            lon.append(float(row[i_lon]))
    return tuple(icao), tuple(name), tuple(iata), np.array(lat), np.array(lon)


@functools.lru_cache(maxsize=16)
def known_airports(lat0: float, lon0: float, range_km: float) -> KnownAirports:
    """The listed airports within ``range_km`` (east, north) of (lat0, lon0), with their (x, y)
    km in the receiver's projection."""
    icao, name, iata, lat, lon = _listed()
    # A generous degree box first: the projection of 28,000 points is needless.
    dlat = range_km / 111.0 + 0.5
    dlon = range_km / (111.0 * max(np.cos(np.radians(lat0)), 0.05)) + 0.5
    near = np.flatnonzero(
        (np.abs(lat - lat0) <= dlat) & (np.abs((lon - lon0 + 180.0) % 360.0 - 180.0) <= dlon)
    )
    x, y = project(lat[near], lon[near], lat0, lon0)
    x64: FloatArray = np.asarray(x, dtype=np.float64)
    y64: FloatArray = np.asarray(y, dtype=np.float64)
    inside = (np.abs(x64) <= range_km) & (np.abs(y64) <= range_km)
    keep = near[inside]
    return KnownAirports(
        tuple(icao[i] for i in keep),
        tuple(name[i] for i in keep),
        tuple(iata[i] for i in keep),
        lat[keep],
        lon[keep],
        x64[inside],
        y64[inside],
    )


def unproject(
    x_km: npt.ArrayLike, y_km: npt.ArrayLike, lat0: float, lon0: float
) -> tuple[FloatArray, FloatArray]:
    """Latitude and longitude (degrees) of plane points (km east, km north): the inverse of
    oddflights.flights.raster.project."""
    x, y = np.asarray(x_km, dtype=np.float64), np.asarray(y_km, dtype=np.float64)
    phi0 = np.radians(lat0)
    rho = np.hypot(x, y)
    c = rho / EARTH_RADIUS_KM
    sin_c, cos_c = np.sin(c), np.cos(c)
    safe = np.where(rho > 0, rho, 1.0)
    lat = np.arcsin(
        np.clip(cos_c * np.sin(phi0) + np.where(rho > 0, y * sin_c * np.cos(phi0) / safe, 0), -1, 1)
    )
    lon = lon0 + np.degrees(
        np.arctan2(x * sin_c, rho * np.cos(phi0) * cos_c - y * np.sin(phi0) * sin_c)
    )
    return np.degrees(lat), (lon + 180.0) % 360.0 - 180.0


def _where(x_km: float, y_km: float, centre: tuple[float, float]) -> str:
    lat, lon = unproject(np.array([x_km]), np.array([y_km]), *centre)
    return f"{float(lat[0]):.2f}, {float(lon[0]):.2f}"


def go_around_text(
    low_xy: FloatArray,
    known: KnownAirports,
    inferred_xy: FloatArray,
    centre: tuple[float, float],
    near_km: float = PARAMS.airport_near_km,
) -> str:
    """``go-around at EHAM (Amsterdam Airport Schiphol)``: the listed airport nearest to the
    flight's low points; else the airport found in the data (a private strip), by position."""
    return airport_text("go-around", low_xy, known, inferred_xy, centre, near_km)


def airport_text(
    what: str,
    low_xy: FloatArray,
    known: KnownAirports,
    inferred_xy: FloatArray,
    centre: tuple[float, float],
    near_km: float = PARAMS.airport_near_km,
) -> str:
    """``{what} at EHLE (Lelystad Airport)``: the listed airport within ``near_km`` nearest
    to the points (``low_xy``, (k, 2) km); else ``{what} near a strip at lat, lon``, the
    nearest of the airports found in the data; else ``what`` alone."""
    best: tuple[float, str] | None = None
    for px, py in np.asarray(low_xy, dtype=np.float64).reshape(-1, 2):
        i = known.nearest(px, py, near_km)
        if i is not None:
            d = float(np.hypot(known.x[i] - px, known.y[i] - py))
            if best is None or d < best[0]:
                best = (d, known.label(i))
    if best is not None:
        return f"{what} at {best[1]}"
    pts = np.asarray(inferred_xy, dtype=np.float64).reshape(-1, 2)
    low = np.asarray(low_xy, dtype=np.float64).reshape(-1, 2)
    if len(pts) and len(low):
        dist = np.hypot(low[:, None, 0] - pts[None, :, 0], low[:, None, 1] - pts[None, :, 1])
        j = int(np.unravel_index(np.argmin(dist), dist.shape)[1])
        return f"{what} near a strip at {_where(pts[j, 0], pts[j, 1], centre)}"
    return what


def holding_text(
    hold_xy: tuple[float, float] | None, known: KnownAirports, centre: tuple[float, float]
) -> str:
    """``holding for EHAM (Amsterdam Airport Schiphol)``: the nearest airport with scheduled
    service within HOLD_AIRPORT_KM of the hold, else any within ANY_HOLD_AIRPORT_KM, else the
    hold's position."""
    if hold_xy is None:
        return "holding"
    i = known.nearest(*hold_xy, ANY_HOLD_AIRPORT_KM)
    j = known.nearest(*hold_xy, HOLD_AIRPORT_KM, major_only=True)
    pick = j if j is not None else i
    if pick is not None:
        return f"holding for {known.label(pick)}"
    return f"holding at {_where(hold_xy[0], hold_xy[1], centre)}"
