"""Labels in the database (table ``labels``, migration 0006): the owner's "normal" / "odd"
verdicts on flights, kept by the flight's natural key (receiver, icao24, start) so that they
outlive a rebuild of the day. Every verdict is a row; a flight's label is its latest."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.flights import FlightNotFound
from oddflights.db.models import FlightRow, LabelRow, ScoreRow
from oddflights.flights.raster import RasterSet, RasterSettings, unpack_many
from oddflights.labels import check_label, check_note

# What flight_labels returns, one row per labelled flight that is stored now.
LABEL_COLUMNS = ("flight_id", "day", "icao24", "callsign", "label", "note", "labelled_at", "by")


def set_label(
    engine: Engine,
    flight_id: int,
    label: str,
    *,
    note: str | None = None,
    created_by: str = "cli",
) -> dict[str, Any]:
    """Record ``label`` ("normal" or "odd") for a stored flight (its previous labels stay as
    history); returns {flight_id, receiver_id, day, label, note, previous}. FlightNotFound
    when there is no such flight; LabelError for a bad label or note."""
    label = check_label(label)
    note = check_note(note)
    with engine.begin() as conn:
        flight = conn.execute(
            sa.select(
                FlightRow.receiver_id, FlightRow.icao24, FlightRow.start_ts, FlightRow.day
            ).where(FlightRow.id == flight_id)
        ).first()
        if flight is None:
            raise FlightNotFound(f"no flight with id {flight_id}")
        key = (
            LabelRow.receiver_id == flight.receiver_id,
            LabelRow.icao24 == flight.icao24,
            LabelRow.start_ts == flight.start_ts,
        )
        previous = conn.execute(
            sa.select(LabelRow.label).where(*key).order_by(LabelRow.id.desc()).limit(1)
        ).scalar_one_or_none()
        conn.execute(
            sa.insert(LabelRow).values(
                receiver_id=flight.receiver_id,
                icao24=flight.icao24,
                start_ts=flight.start_ts,
                label=label,
                note=note,
                created_at=datetime.now(UTC),
                created_by=created_by,
            )
        )
    return {
        "flight_id": flight_id,
        "receiver_id": int(flight.receiver_id),
        "day": flight.day,
        "label": label,
        "note": note,
        "previous": previous,
    }


def _current(receiver_id: int) -> Any:
    """Each labelled flight's latest label row, joined to the stored flight it names."""
    latest = (
        sa.select(sa.func.max(LabelRow.id).label("id"))
        .where(LabelRow.receiver_id == receiver_id)
        .group_by(LabelRow.icao24, LabelRow.start_ts)
        .subquery()
    )
    return (
        sa.select(
            FlightRow.id.label("flight_id"),
            FlightRow.day,
            FlightRow.icao24,
            FlightRow.callsign,
            LabelRow.label,
            LabelRow.note,
            LabelRow.created_at.label("labelled_at"),
            LabelRow.created_by.label("by"),
        )
        .join(latest, latest.c.id == LabelRow.id)
        .join(
            FlightRow,
            sa.and_(
                FlightRow.receiver_id == LabelRow.receiver_id,
                FlightRow.icao24 == LabelRow.icao24,
                FlightRow.start_ts == LabelRow.start_ts,
            ),
        )
    )


def flight_labels(
    engine: Engine, receiver_id: int, first: date | None = None, last: date | None = None
) -> pd.DataFrame:
    """The current labels of a receiver's stored flights whose day is in ``first..last``
    (either end open when None), by day and flight id (LABEL_COLUMNS)."""
    query = _current(receiver_id).order_by(FlightRow.day, FlightRow.id)
    if first is not None:
        query = query.where(FlightRow.day >= first)
    if last is not None:
        query = query.where(FlightRow.day <= last)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))


def label_sets(engine: Engine, receiver_id: int, last: date) -> tuple[set[int], set[int]]:
    """(flight ids labelled normal, flight ids labelled odd) among the receiver's flights of
    days up to ``last``: what training on days up to ``last`` may use."""
    df = flight_labels(engine, receiver_id, last=last)
    ids = df["flight_id"].astype(int)
    return set(ids[df["label"] == "normal"]), set(ids[df["label"] == "odd"])


def read_rasters_by_id(
    engine: Engine, flight_ids: Collection[int], settings: RasterSettings
) -> tuple[RasterSet, list[int]]:
    """The rasters of ``flight_ids`` drawn with ``settings`` (by day and start), and the ids
    left out because their rasters were drawn with other settings."""
    ids = sorted(int(i) for i in flight_ids)
    query = (
        sa.select(FlightRow.id, FlightRow.day, FlightRow.raster, FlightRow.raster_key)
        .where(FlightRow.id.in_(ids))
        .order_by(FlightRow.day, FlightRow.start_ts, FlightRow.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all() if ids else []
    kept = [r for r in rows if r.raster_key == settings.key]
    return (
        RasterSet(
            flight_ids=np.array([r.id for r in kept], dtype=np.int64),
            days=[r.day for r in kept],
            images=unpack_many([r.raster for r in kept], settings.size),
            settings=settings,
        ),
        [int(r.id) for r in rows if r.raster_key != settings.key],
    )


def turns_by_id(engine: Engine, flight_ids: Collection[int]) -> dict[int, float]:
    """flight id → its cumulative turn (degrees), for ``flight_ids``."""
    ids = [int(i) for i in flight_ids]
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(FlightRow.id, FlightRow.turn_cum_deg).where(FlightRow.id.in_(ids))
        ).all()
    return {int(i): float(t) for i, t in rows}


def last_scored_day(engine: Engine, receiver_id: int) -> date | None:
    """The newest day of the receiver with scored flights (None when none is scored)."""
    query = (
        sa.select(sa.func.max(FlightRow.day))
        .join(ScoreRow, ScoreRow.flight_id == FlightRow.id)
        .where(FlightRow.receiver_id == receiver_id)
    )
    with engine.connect() as conn:
        day = conn.execute(query).scalar_one_or_none()
    return day if isinstance(day, date) else None
