"""Build a receiver's flights for some days: read positions, cut, clean, summarise, draw, store."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.columns import TRACK_COLUMNS
from oddflights.db.flights import raster_keys, replace_day_flights
from oddflights.db.positions import read_position_arrays
from oddflights.flights.clean import CleanSettings
from oddflights.flights.features import summarize_from
from oddflights.flights.raster import RasterSettings, pack_many, project, rasterize_many
from oddflights.flights.segment import DROP_KEYS, FlightSet, flight_table, segment
from oddflights.memory import release_free_memory
from oddflights.progress import ProgressFn, Step, tell
from oddflights.receivers import Receiver
from oddflights.scoring.tags import facts_key, facts_of
from oddflights.scoring.tracks import Tracks, tracks_of_set

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
    tracks = tracks_of_set(flights)
    table, images, _ = _describe(flights.table, tracks, receiver, settings, 0.0)
    return table, images


def _describe(
    table: pd.DataFrame,
    tracks: Tracks,
    receiver: Receiver,
    settings: RasterSettings,
    along_start: float,
) -> tuple[pd.DataFrame, npt.NDArray[np.uint8], float]:
    """``table`` (one row per flight of ``tracks``) with features, lit pixels, raster key and
    track facts, the flights' images, and the distance the features' headings end at (see
    summarize_from)."""
    centre = (receiver.lat, receiver.lon)
    # The batch's points projected once, for the features, the images and the track facts
    # alike (project works point by point: the same numbers as each projecting them anew).
    xy = project(tracks.lat, tracks.lon, *centre)
    feats, along = summarize_from(
        tracks.lat, tracks.lon, tracks.altitude_ft, tracks.offsets, centre, along_start, xy=xy
    )
    images = rasterize_many(tracks.lat, tracks.lon, tracks.offsets, centre, settings, xy=xy)
    table = pd.concat([table.reset_index(drop=True), feats], axis=1)
    table["lit_pixels"] = images.sum(axis=(1, 2), dtype=np.int64)
    table["raster_key"] = settings.key
    # What the tags need of each track, stored with the flight so that scoring the day
    # later reads no positions (see oddflights.scoring.tags).
    key = facts_key(centre)
    table["track_tags"] = pd.Series(
        [f.to_json(key) for f in facts_of(tracks, centre, xy=xy)],
        index=table.index,
        dtype=object,
    )
    return table, images, along


@dataclass
class DayBuild:
    """What building one day made: its flights' table (as stored, without rasters), the
    counts of what was dropped, and, when asked for, the cleaned flights themselves."""

    table: pd.DataFrame
    dropped: dict[str, int]
    flights: FlightSet | None = None


def build_day(
    engine: Engine,
    receiver: Receiver,
    day: date,
    settings: RasterSettings | None = None,
    clean: CleanSettings | None = None,
    keep: bool = False,
) -> DayBuild:
    """Rebuild one receiver day's flights (idempotent); with ``keep`` the result holds them
    (table, cleaned points, dropped counts).

    The day's positions are read once, as compact arrays (PositionArrays), and cut, cleaned,
    summarised, drawn and tagged a batch of aircraft at a time (about BUILD_BATCH_ROWS
    positions): only a batch's working copies are alive at once, not the whole day's. The
    result is that of the whole day at once (make_flights, flights_frame), bit for bit."""
    assert receiver.id is not None, "receiver must be stored"
    settings = settings or raster_settings(receiver)
    clean = clean or CleanSettings.from_config()
    start, end = receiver.day_bounds(day)
    cols = read_position_arrays(
        engine, receiver.id, start - LEAD, end + TAIL, columns=TRACK_COLUMNS
    )
    gap_s = float(config.get("flight_gap_min")) * 60.0
    dropped = dict.fromkeys(DROP_KEYS, 0)
    lat_all, lon_all = cols.floats["lat"], cols.floats["lon"]
    has_pos = ~(np.isnan(lat_all) | np.isnan(lon_all))
    if not has_pos.all():
        t_all = cols.ts_us[~has_pos]
        dropped["no_position"] = int(((t_all >= _us(start)) & (t_all < _us(end))).sum())
    icao = cols.codes["icao24"]
    names = cols.values["callsign"]
    # Codes of the empty callsign count as unknown, as in make_flights.
    blank = np.flatnonzero(np.asarray(names, dtype=object) == "").astype(np.int32)
    tables, images, kept_rows = [], [], []
    along = 0.0
    for a, b in _batches(icao, BUILD_BATCH_ROWS):
        base = a + np.flatnonzero(has_pos[a:b])
        callsign = cols.codes["callsign"][base]
        if len(blank):
            callsign = np.where(np.isin(callsign, blank), -1, callsign)
        t_s = (cols.ts_us[base] * 1000) / 1e9  # as segment.seconds() of the times
        segs = segment(
            icao[base],
            t_s,
            lat_all[base],
            lon_all[base],
            cols.floats["groundspeed_kt"][base],
            callsign,
            cols.onground[base] == 1 if cols.onground is not None else np.zeros(len(base), bool),
            gap_s=gap_s,
            clean=clean,
            start_s=start.timestamp(),
            end_s=end.timestamp(),
        )
        for k, v in segs.dropped.items():
            dropped[k] += v
        rows = base[segs.rows]
        del base
        off = segs.offsets
        tracks = Tracks(
            flight_ids=np.arange(len(off) - 1, dtype=np.int64),
            offsets=off,
            lat=lat_all[rows],
            lon=lon_all[rows],
            t_s=t_s[segs.rows],
            altitude_ft=cols.floats["altitude_ft"][rows],
            groundspeed_kt=cols.floats["groundspeed_kt"][rows],
        )
        first, last = rows[off[:-1]], rows[off[1:] - 1]
        table = flight_table(
            cols.values["icao24"][icao[first]],
            _times(cols.ts_us[first]),
            _times(cols.ts_us[last]),
            off,
            callsign[segs.rows],
            names,
        )
        table, drawn, along = _describe(table, tracks, receiver, settings, along)
        tables.append(table)
        images.append(drawn)
        if keep:
            kept_rows.append(rows)
        del tracks, rows, t_s, segs
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    image_stack = np.concatenate(images) if len(images) > 1 else images[0]
    del tables, images
    replace_day_flights(
        engine, receiver.id, day, table, pack_many(image_stack), bounds=(start, end)
    )
    flights = None
    if keep:
        rows = np.concatenate(kept_rows)
        counts = table["n_points"].to_numpy(dtype=np.int64)
        points = cols.take(rows).frame()
        points["flight"] = np.repeat(np.arange(len(counts)), counts)
        flights = FlightSet(
            table=table.loc[:, ["icao24", "callsign", "start_ts", "end_ts", "n_points"]],
            points=points,
            offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
            dropped=dict(dropped),
        )
    return DayBuild(table, dropped, flights)


# Positions cut, cleaned, drawn and tagged at a time by build_day (whole aircraft at a time):
# small enough that a batch's copies stay a few tens of MB, large enough for numpy to be
# efficient.
BUILD_BATCH_ROWS = 100_000


def _batches(aircraft: npt.NDArray[np.int32], rows: int) -> list[tuple[int, int]]:
    """[a, b) row ranges of about ``rows`` rows each (at least one; whole aircraft, which
    are contiguous in ``aircraft``)."""
    n = len(aircraft)
    if n == 0:
        return [(0, 0)]
    change = np.flatnonzero(aircraft[1:] != aircraft[:-1]) + 1
    out, a = [], 0
    while a < n:
        # The first aircraft boundary at or after a + rows (or the end).
        k = int(np.searchsorted(change, a + rows))
        b = int(change[k]) if k < len(change) else n
        out.append((a, b))
        a = b
    return out


def _us(t: datetime) -> int:
    return int(pd.Timestamp(t).value // 1000)


def _times(us: npt.NDArray[np.int64]) -> pd.Series:
    """UTC epoch microseconds as a datetime64[ns, UTC] Series (as read_positions gives ts)."""
    return pd.Series(pd.to_datetime(us, unit="us", utc=True).astype("datetime64[ns, UTC]"))


def build_flights(
    engine: Engine,
    receiver: Receiver,
    days: Iterable[date],
    settings: RasterSettings | None = None,
    keep: bool = False,
    progress: ProgressFn | None = None,
) -> BuildSummary:
    """Rebuild the flights of each day (each day in its own transaction); with ``keep`` the
    summary holds each day's FlightSet. ``progress`` hears of each day done."""
    t0 = time.perf_counter()
    summary = BuildSummary(days=0, flights=0, dropped=dict.fromkeys(DROP_KEYS, 0))
    days = list(days)
    for day in days:
        built = build_day(engine, receiver, day, settings, keep=keep)
        note = f"{receiver.name} {day}: {len(built.table)} flights"
        tell(progress, Step("build", summary.days + 1, len(days), note))
        if built.flights is not None:
            summary.built[day] = built.flights
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
