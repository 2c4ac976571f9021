"""Model rows for tests that need a stored model but no trained network (or a broken one)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from oddflights.db.registry import insert_model

RASTER_64 = {"size": 64, "line_width": 1, "range_km": 200.0}


def stub_flight(i: int, start: datetime, **changes: Any) -> dict[str, Any]:
    """A stored flight's row (the columns of db.flights.FLIGHT_COLUMNS): flight ``i`` of a
    made-up day, starting ``10 * i`` minutes after ``start``; ``changes`` override fields."""
    row: dict[str, Any] = {
        "icao24": f"{i + 0xA0:06x}",
        "callsign": f"CS{i}",
        "start_ts": start + timedelta(minutes=10 * i),
        "end_ts": start + timedelta(minutes=10 * i + 30),
        "n_points": 100,
        "path_km": 100.0,
        "turn_cum_deg": 10.0,
        "turn_net_deg": 1.0,
        "alt_min_ft": 1000.0,
        "alt_max_ft": 30000.0,
        "min_dist_km": 5.0,
        "lat_min": 51.0,
        "lat_max": 53.0,
        "lon_min": 4.0,
        "lon_max": 6.0,
        "lit_pixels": 3,
        "raster_key": "64px/1w/200km",
    }
    return row | changes


def stub_model(
    engine: Engine,
    receiver_id: int,
    train_from: date,
    train_to: date,
    *,
    validation_days: list[date] | None = None,
    keras_bytes: bytes | None = None,
    **fields: Any,
) -> int:
    """Insert a ``ready`` model row (threshold 0.5, 64 px raster, empty metrics) trained on
    ``train_from``..``train_to`` and validated on ``validation_days`` (default: the last
    training day); ``fields`` override any other column. Returns its id."""
    values: dict[str, Any] = {
        "config": {},
        "raster": RASTER_64,
        "metrics": {},
        "threshold": 0.5,
        "calibration": {},
        "versions": {},
        "seed": 0,
        "status": "ready",
        **fields,
    }
    return insert_model(
        engine,
        receiver_id=receiver_id,
        train_from=train_from,
        train_to=train_to,
        validation_days=[train_to] if validation_days is None else validation_days,
        keras_bytes=keras_bytes,
        **values,
    )
