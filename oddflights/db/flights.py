"""Flights in the database: replace a day's flights at once, list them, read their rasters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.columns import FEATURE_COLUMNS
from oddflights.db.models import FlightRow, ReceiverRow, ScoreRow
from oddflights.db.positions import read_positions
from oddflights.errors import NotFoundError, OddflightsError
from oddflights.flights.raster import RasterSet, RasterSettings, unpack_many

CHUNK_ROWS = 2_000

# The columns of a flights DataFrame handed to replace_day_flights (raster excluded).
FLIGHT_COLUMNS = (
    "icao24",
    "callsign",
    "start_ts",
    "end_ts",
    "n_points",
    *FEATURE_COLUMNS,
    "lit_pixels",
    "raster_key",
)


class FlightNotFound(NotFoundError):
    """No flight with that id."""


class RasterMismatch(OddflightsError, ValueError):
    """Stored rasters were drawn with other settings than asked for (or mixed settings)."""


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def replace_day_flights(
    engine: Engine,
    receiver_id: int,
    day: date,
    flights_df: pd.DataFrame,
    rasters: Sequence[bytes],
    bounds: tuple[datetime, datetime] | None = None,
) -> int:
    """Replace a receiver day's flights (and delete their scores) in one transaction.

    ``flights_df`` has FLIGHT_COLUMNS (times tz-aware UTC) and optionally ``track_tags`` (each
    row's TrackFacts as JSON, see oddflights.scoring.tags), ``rasters`` the packed raster of
    each row. ``bounds`` (the day's UTC [start, end)) also replaces flights stored under another
    day that start inside it, as after a change of the receiver's time zone. Returns the rows
    written."""
    if len(flights_df) != len(rasters):
        raise ValueError(f"{len(flights_df)} flights but {len(rasters)} rasters")
    stale = FlightRow.receiver_id == receiver_id
    if bounds is None:
        stale &= FlightRow.day == day
    else:
        stale &= (FlightRow.day == day) | (
            (FlightRow.start_ts >= bounds[0]) & (FlightRow.start_ts < bounds[1])
        )
    records = []
    cols = [*FLIGHT_COLUMNS, *(["track_tags"] if "track_tags" in flights_df.columns else [])]
    for values, raster in zip(
        flights_df.loc[:, cols].itertuples(index=False, name=None), rasters, strict=True
    ):
        rec = {c: _plain(v) for c, v in zip(cols, values, strict=True)}
        rec.update(receiver_id=receiver_id, day=day, raster=bytes(raster))
        records.append(rec)
    with engine.begin() as conn:
        stale_ids = sa.select(FlightRow.id).where(stale)
        conn.execute(sa.delete(ScoreRow).where(ScoreRow.flight_id.in_(stale_ids)))
        conn.execute(sa.delete(FlightRow).where(stale))
        for start in range(0, len(records), CHUNK_ROWS):
            conn.execute(sa.insert(FlightRow), records[start : start + CHUNK_ROWS])
    return len(records)


_LIST_COLUMNS = [c for c in FlightRow.__table__.columns if c.name not in ("raster", "track_tags")]


def list_flights(engine: Engine, receiver_id: int, day: date) -> pd.DataFrame:
    """A receiver day's flights by start time: ``flight_id`` and every stored column but the
    raster and the track facts (times tz-aware UTC)."""
    query = (
        sa.select(*_LIST_COLUMNS)
        .where(FlightRow.receiver_id == receiver_id, FlightRow.day == day)
        .order_by(FlightRow.start_ts, FlightRow.icao24)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    names = ["flight_id" if c.name == "id" else c.name for c in _LIST_COLUMNS]
    df = pd.DataFrame(rows, columns=names)
    for c in ("start_ts", "end_ts"):
        df[c] = pd.to_datetime(df[c], utc=True)
    # None, not NaN, for an unknown callsign.
    df["callsign"] = pd.Series(
        [c if isinstance(c, str) else None for c in df["callsign"]], dtype=object, index=df.index
    )
    return df


def read_track_tags(engine: Engine, receiver_id: int, day: date) -> dict[int, Any]:
    """flight id → its stored ``track_tags`` (the JSON value; None when built before they
    were stored) for a receiver day's flights."""
    query = sa.select(FlightRow.id, FlightRow.track_tags).where(
        FlightRow.receiver_id == receiver_id, FlightRow.day == day
    )
    with engine.connect() as conn:
        return {int(fid): value for fid, value in conn.execute(query).all()}


def get_flight(engine: Engine, flight_id: int) -> dict[str, Any]:
    """One flight's stored row (``flight_id`` for ``id``, raster bytes included);
    FlightNotFound otherwise."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(FlightRow.__table__).where(FlightRow.id == flight_id)).first()
    if row is None:
        raise FlightNotFound(f"no flight with id {flight_id}")
    out = dict(row._mapping)
    out["flight_id"] = out.pop("id")
    return out


def read_rasters(
    engine: Engine,
    receiver_id: int,
    days: Sequence[date],
    settings: RasterSettings | None = None,
) -> RasterSet:
    """The rasters of a receiver's flights on ``days``, ordered by day and start time.

    All must have been drawn with one set of settings (``settings`` if given); otherwise
    RasterMismatch says which keys were found. With no flights, the settings are ``settings``
    or those of the receiver's configured frame."""
    day_list = sorted(set(days))
    query = (
        sa.select(FlightRow.id, FlightRow.day, FlightRow.raster, FlightRow.raster_key)
        .where(FlightRow.receiver_id == receiver_id, FlightRow.day.in_(day_list))
        .order_by(FlightRow.day, FlightRow.start_ts, FlightRow.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all() if day_list else []
        if settings is None and not rows:
            settings = _configured_settings(conn, receiver_id)
    keys = {r.raster_key for r in rows}
    if settings is not None and keys - {settings.key}:
        raise RasterMismatch(
            f"rasters drawn as {', '.join(sorted(keys))}, expected {settings.key}: "
            "rebuild the flights of those days"
        )
    if len(keys) > 1:
        raise RasterMismatch(
            f"rasters drawn with mixed settings ({', '.join(sorted(keys))}): rebuild the flights"
        )
    if settings is None:
        settings = RasterSettings.from_key(next(iter(keys)))
    return RasterSet(
        flight_ids=np.array([r.id for r in rows], dtype=np.int64),
        days=[r.day for r in rows],
        images=unpack_many([r.raster for r in rows], settings.size),
        settings=settings,
    )


def _configured_settings(conn: sa.Connection, receiver_id: int) -> RasterSettings:
    range_km = conn.execute(
        sa.select(ReceiverRow.range_km).where(ReceiverRow.id == receiver_id)
    ).scalar_one_or_none()
    return RasterSettings(
        int(config.get("raster_size")),
        int(config.get("raster_line_width")),
        float(range_km if range_km is not None else config.get("range_km")),
    )


def raster_keys(engine: Engine, receiver_id: int, days: Sequence[date]) -> dict[date, set[str]]:
    """The raster keys stored for each of ``days`` that has flights."""
    query = (
        sa.select(FlightRow.day, FlightRow.raster_key)
        .where(FlightRow.receiver_id == receiver_id, FlightRow.day.in_(list(days)))
        .distinct()
    )
    out: dict[date, set[str]] = {}
    with engine.connect() as conn:
        for day, key in conn.execute(query).all():
            out.setdefault(day, set()).add(key)
    return out


def read_flight_positions(engine: Engine, flight_id: int) -> pd.DataFrame:
    """A flight's stored positions (POSITION_COLUMNS), by aircraft and time range, as stored:
    cleaning them is the flights stage's work (``oddflights.flights.track``)."""
    flight = get_flight(engine, flight_id)
    return read_positions(
        engine,
        flight["receiver_id"],
        flight["start_ts"],
        flight["end_ts"] + timedelta(microseconds=1),
        icao24=flight["icao24"],
    )
