"""A model's stored detector comes back byte for byte (PostgreSQL reads it in binary)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from oddflights.db.receivers import add_receiver
from oddflights.db.registry import ModelNotFound, get_detector_bytes, insert_model
from oddflights.receivers import Receiver


def _model(engine: Engine, receiver_id: int, detector: bytes | None) -> int:
    fields: dict[str, Any] = {
        "receiver_id": receiver_id,
        "train_from": date(2026, 3, 1),
        "train_to": date(2026, 3, 14),
        "validation_days": [date(2026, 3, 14)],
        "config": {},
        "raster": {},
        "metrics": {},
        "threshold": 1.0,
        "calibration": {},
        "versions": {},
        "seed": 0,
        "status": "ready",
        "keras_bytes": None,
    }
    return insert_model(engine, detector_bytes=detector, **fields)


def test_detector_bytes_round_trip(engine: Engine) -> None:
    rec = add_receiver(engine, Receiver("r", 50.0, 0.0, 200.0, "UTC"))
    assert rec.id is not None
    # Every byte value, NULs and backslashes included, and a few MB of noise.
    blob = bytes(range(256)) * 3 + np.random.default_rng(0).bytes(3_000_000) + b"\\x00\x00"
    with_detector = _model(engine, rec.id, blob)
    empty = _model(engine, rec.id, b"")
    without = _model(engine, rec.id, None)
    got = get_detector_bytes(engine, with_detector)
    assert type(got) is bytes and got == blob
    assert get_detector_bytes(engine, empty) == b""
    assert get_detector_bytes(engine, without) is None
    with pytest.raises(ModelNotFound):
        get_detector_bytes(engine, without + 100)
