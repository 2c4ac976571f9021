"""Trained models in the database: the fitted detector, the ``.keras`` bytes and the metadata
to use and judge them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.models import ModelRow, ReceiverRow
from oddflights.errors import NotFoundError
from oddflights.flights.raster import RasterSettings
from oddflights.model.train_config import TrainConfig


class ModelNotFound(NotFoundError):
    """No model with that id."""


@dataclass(frozen=True)
class ModelInfo:
    """A stored model's metadata (everything but the weights and the detector's bytes).

    ``threshold`` is the stored detector's (the one every score row of the model carries);
    ``has_detector`` is False for a model stored before detectors existed whose validation
    rasters were gone when the database was upgraded: it must be retrained to score.
    """

    id: int
    receiver_id: int
    receiver: str
    created_at: datetime
    train_from: date
    train_to: date
    validation_days: list[date]
    config: TrainConfig
    raster: RasterSettings
    metrics: dict[str, Any]
    threshold: float | None
    calibration: dict[str, Any]
    versions: dict[str, Any]
    seed: int
    status: str
    has_detector: bool


_COLUMNS = [c for c in ModelRow.__table__.c if c.name not in ("keras", "detector")]


def insert_model(
    engine: Engine,
    *,
    receiver_id: int,
    train_from: date,
    train_to: date,
    validation_days: list[date],
    config: dict[str, Any],
    raster: dict[str, Any],
    metrics: dict[str, Any],
    threshold: float | None,
    calibration: dict[str, Any],
    versions: dict[str, Any],
    seed: int,
    status: str,
    keras_bytes: bytes | None,
    detector_bytes: bytes | None = None,
) -> int:
    """Store one model row; returns its id."""
    with engine.begin() as conn:
        new_id = conn.execute(
            sa.insert(ModelRow)
            .values(
                receiver_id=receiver_id,
                created_at=datetime.now(UTC),
                train_from=train_from,
                train_to=train_to,
                validation_days=[d.isoformat() for d in validation_days],
                config=config,
                raster=raster,
                metrics=metrics,
                threshold=threshold,
                calibration=calibration,
                versions=versions,
                seed=seed,
                status=status,
                keras=keras_bytes,
                detector=detector_bytes,
            )
            .returning(ModelRow.id)
        ).scalar_one()
    return int(new_id)


def _select() -> sa.Select[Any]:
    return sa.select(
        *_COLUMNS,
        ReceiverRow.name.label("receiver_name"),
        # length(), not IS NOT NULL: SQLite answers length() from the row's header, while
        # IS NOT NULL on a column stored after the .keras blob reads that blob's tens of MB
        # of overflow pages (~80 ms a model row). PostgreSQL's length(bytea) needs no
        # detoasting either. NULL has no length, so the meaning is the same.
        sa.func.length(ModelRow.detector).is_not(None).label("has_detector"),
    ).join(ReceiverRow, ReceiverRow.id == ModelRow.receiver_id)


def _info(row: sa.Row[Any]) -> ModelInfo:
    m = row._mapping
    return ModelInfo(
        id=int(m["id"]),
        receiver_id=int(m["receiver_id"]),
        receiver=m["receiver_name"],
        created_at=m["created_at"],
        train_from=m["train_from"],
        train_to=m["train_to"],
        validation_days=[date.fromisoformat(d) for d in m["validation_days"]],
        config=TrainConfig.from_dict(m["config"]),
        raster=RasterSettings.from_dict(m["raster"]),
        metrics=m["metrics"],
        threshold=m["threshold"],
        calibration=m["calibration"],
        versions=m["versions"],
        seed=int(m["seed"]),
        status=m["status"],
        has_detector=bool(m["has_detector"]),
    )


def get_model_row(engine: Engine, model_id: int) -> tuple[ModelInfo, bytes | None]:
    """A model's metadata and its ``.keras`` bytes; ModelNotFound otherwise."""
    with engine.connect() as conn:
        row = conn.execute(
            _select().add_columns(ModelRow.keras).where(ModelRow.id == model_id)
        ).first()
    if row is None:
        raise ModelNotFound(f"no model with id {model_id} (see `oddflights models list`)")
    return _info(row), row._mapping["keras"]


def get_model(engine: Engine, model_id: int) -> ModelInfo:
    """A model's metadata (no weights read); ModelNotFound otherwise."""
    with engine.connect() as conn:
        row = conn.execute(_select().where(ModelRow.id == model_id)).first()
    if row is None:
        raise ModelNotFound(f"no model with id {model_id} (see `oddflights models list`)")
    return _info(row)


def get_detector_bytes(engine: Engine, model_id: int) -> bytes | None:
    """A model's stored detector (None when it has none); ModelNotFound when no such model."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # In binary: as text, bytea comes as hex, twice its size, which the server prints
            # and the driver parses (a default model's 13 MB: server CPU 0.05 s, 0.015 s in
            # binary; once per receiver-day scored).
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor(binary=True) as cur:
                cur.execute("SELECT detector FROM models WHERE id = %s", (int(model_id),))
                row = cur.fetchone()
        else:
            row = conn.execute(sa.select(ModelRow.detector).where(ModelRow.id == model_id)).first()
    if row is None:
        raise ModelNotFound(f"no model with id {model_id} (see `oddflights models list`)")
    return None if row[0] is None else bytes(row[0])


def list_models(engine: Engine, receiver_id: int | None = None) -> list[ModelInfo]:
    """All models (of one receiver when given), oldest first."""
    query = _select().order_by(ModelRow.id)
    if receiver_id is not None:
        query = query.where(ModelRow.receiver_id == receiver_id)
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(query).all()]


def newest_ready_model(engine: Engine, receiver_id: int, before_day: date) -> ModelInfo | None:
    """The newest ``ready`` model of a receiver trained only on days before ``before_day``.

    Rejected models are never returned: they are kept for inspection, not for scoring.
    """
    query = (
        _select()
        .where(
            ModelRow.receiver_id == receiver_id,
            ModelRow.status == "ready",
            ModelRow.train_to < before_day,
        )
        .order_by(ModelRow.created_at.desc(), ModelRow.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _info(row)
