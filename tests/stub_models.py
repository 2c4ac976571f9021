"""Model rows for tests that need a stored model but no trained network (or a broken one)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from oddflights.db.registry import insert_model

RASTER_64 = {"size": 64, "line_width": 1, "range_km": 200.0}


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
