"""Build a receiver's flights for some days: read positions, cut, clean, summarise, draw, store."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.columns import TRACK_COLUMNS
from oddflights.db.flights import raster_keys, replace_day_flights
from oddflights.db.positions import read_positions
from oddflights.flights.clean import CleanSettings
from oddflights.flights.features import summarize
from oddflights.flights.raster import RasterSettings, pack_many, rasterize_many
from oddflights.flights.segment import DROP_KEYS, FlightSet, make_flights
from oddflights.memory import release_free_memory
from oddflights.receivers import Receiver
from oddflights.scoring.tags import facts_key, facts_of
from oddflights.scoring.tracks import tracks_of_set

# Positions are read from this long before the day, so that a flight continuing from the day
# before is recognised (and its callsign known), ...
LEAD = timedelta(hours=1)
# ... and up to this long after it, so that a flight crossing midnight stays whole.
TAIL = timedelta(hours=6)


@dataclass
class BuildSummary:
    """What a build did."""

    days: int
    flights: int
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # Each day's cleaned flights, when the caller asked to keep them (to score them next).
    built: dict[date, FlightSet] = field(default_factory=dict)


def raster_settings(receiver: Receiver) -> RasterSettings:
    """The raster settings for a receiver: size and line width from the settings table, range
    from the receiver."""
    return RasterSettings(
        int(config.get("raster_size")), int(config.get("raster_line_width")), receiver.range_km
    )


def flights_frame(
    flights: FlightSet, receiver: Receiver, settings: RasterSettings
) -> tuple[pd.DataFrame, np.ndarray]:
    """The table of flights with features, lit pixels and raster key, and their images."""
    pts = flights.points
    lat = pts["lat"].to_numpy(dtype=np.float64)
    lon = pts["lon"].to_numpy(dtype=np.float64)
    alt = pts["altitude_ft"].to_numpy(dtype=np.float64, na_value=np.nan)
    centre = (receiver.lat, receiver.lon)
    feats = summarize(lat, lon, alt, flights.offsets, centre)
    images = rasterize_many(lat, lon, flights.offsets, centre, settings)
    table = pd.concat([flights.table.reset_index(drop=True), feats], axis=1)
    table["lit_pixels"] = images.sum(axis=(1, 2), dtype=np.int64)
    table["raster_key"] = settings.key
    # What the tags need of each track, stored with the flight so that scoring the day
    # later reads no positions (see oddflights.scoring.tags).
    key = facts_key(centre)
    table["track_tags"] = pd.Series(
        [f.to_json(key) for f in facts_of(tracks_of_set(flights), centre)],
        index=table.index,
        dtype=object,
    )
    return table, images


def build_day(
    engine: Engine,
    receiver: Receiver,
    day: date,
    settings: RasterSettings | None = None,
    clean: CleanSettings | None = None,
) -> FlightSet:
    """Rebuild one receiver day's flights (idempotent); returns them (table, cleaned points,
    dropped counts)."""
    assert receiver.id is not None, "receiver must be stored"
    settings = settings or raster_settings(receiver)
    start, end = receiver.day_bounds(day)
    positions = read_positions(engine, receiver.id, start - LEAD, end + TAIL, columns=TRACK_COLUMNS)
    flights = make_flights(
        positions,
        gap_min=float(config.get("flight_gap_min")),
        clean=clean or CleanSettings.from_config(),
        start=start,
        end=end,
    )
    del positions  # the cleaned points are all the rest needs
    table, images = flights_frame(flights, receiver, settings)
    replace_day_flights(engine, receiver.id, day, table, pack_many(images), bounds=(start, end))
    return flights


def build_flights(
    engine: Engine,
    receiver: Receiver,
    days: Iterable[date],
    settings: RasterSettings | None = None,
    keep: bool = False,
) -> BuildSummary:
    """Rebuild the flights of each day (each day in its own transaction); with ``keep`` the
    summary holds each day's FlightSet."""
    t0 = time.perf_counter()
    summary = BuildSummary(days=0, flights=0, dropped=dict.fromkeys(DROP_KEYS, 0))
    for day in days:
        built = build_day(engine, receiver, day, settings)
        if keep:
            summary.built[day] = built
        summary.days += 1
        summary.flights += len(built.table)
        for k, v in built.dropped.items():
            summary.dropped[k] = summary.dropped.get(k, 0) + v
        del built
        release_free_memory()  # the day's positions are gone; their pages need not stay ours
    summary.seconds = time.perf_counter() - t0
    return summary


def ensure_rasters(
    engine: Engine,
    receiver: Receiver,
    days: Iterable[date],
    settings: RasterSettings | None = None,
) -> list[date]:
    """Rebuild the days whose stored rasters were drawn with other settings; returns them.
    Days without flights are left alone."""
    assert receiver.id is not None, "receiver must be stored"
    settings = settings or raster_settings(receiver)
    day_list = list(days)
    stale = [
        d
        for d, keys in sorted(raster_keys(engine, receiver.id, day_list).items())
        if keys != {settings.key}
    ]
    for d in stale:
        build_day(engine, receiver, d, settings)
    return stale
