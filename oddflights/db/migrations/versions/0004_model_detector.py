"""models.detector: the fitted detector scoring uses

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:00:00

Each model gets its fitted ``Detector`` (oddflights.model.detector) as ``.npz`` bytes: the
autoencoder's weights as arrays, the score function, each part's scale, the combination and
its threshold. Scoring runs it with numpy, so it no longer loads TensorFlow nor refits the
combined score from the validation rasters on every run.

Models stored before are converted here, without TensorFlow: the weights are read from the
stored ``.keras`` file (a zip holding ``model.weights.h5``, read with h5py) and the scales and
thresholds fitted on the model's validation day(s), from their stored rasters, exactly as
scoring did until now (combination: the ``score_combine`` setting, noted in the model's
config). ``models.threshold`` becomes the detector's. A model whose validation rasters are gone or were redrawn with other
settings, or whose weights cannot be read, keeps no detector: scoring then says it must be
retrained. Downgrading drops the column (the thresholds stay the detector's).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_log = logging.getLogger("oddflights.db.migrations")

_models = sa.table(
    "models",
    sa.column("id", sa.Integer),
    sa.column("receiver_id", sa.Integer),
    sa.column("validation_days", sa.JSON),
    sa.column("config", sa.JSON),
    sa.column("raster", sa.JSON),
    sa.column("calibration", sa.JSON),
    sa.column("keras", sa.LargeBinary),
    sa.column("threshold", sa.Float),
    sa.column("detector", sa.LargeBinary),
)


def upgrade() -> None:
    op.add_column("models", sa.Column("detector", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            _models.c.id,
            _models.c.receiver_id,
            _models.c.validation_days,
            _models.c.config,
            _models.c.raster,
            _models.c.calibration,
        ).where(_models.c.keras.is_not(None))
    ).all()
    for row in rows:
        detector = _convert(conn, row)
        if detector is None:
            continue
        config = {**(row.config or {}), "combine": detector.combine}
        conn.execute(
            sa.update(_models)
            .where(_models.c.id == row.id)
            .values(detector=detector.to_bytes(), threshold=detector.threshold, config=config)
        )


def _convert(conn: sa.Connection, row: Any) -> Any:
    """The fitted Detector of one stored model, or None (logged) when it cannot be made."""
    # The application's own code: the detector must be fitted as training fits it.
    from oddflights import config as settings
    from oddflights.db.models import FlightRow
    from oddflights.flights.raster import RasterSettings, unpack_many
    from oddflights.model.detector import Autoencoder, fit_detector

    try:
        raster = RasterSettings.from_dict(row.raster)
        keras_bytes = conn.execute(
            sa.select(_models.c.keras).where(_models.c.id == row.id)
        ).scalar_one()
        weights = Autoencoder.from_keras_file(bytes(keras_bytes))
    except (ImportError, KeyError, ValueError, OSError) as exc:
        _log.warning("model %s: weights unreadable (%s); it must be retrained", row.id, exc)
        return None
    days = [date.fromisoformat(d) for d in row.validation_days]
    val = conn.execute(
        sa.select(FlightRow.raster, FlightRow.raster_key, FlightRow.turn_cum_deg).where(
            FlightRow.receiver_id == row.receiver_id, FlightRow.day.in_(days)
        )
    ).all()
    if not val or {r.raster_key for r in val} != {raster.key}:
        _log.warning("model %s: validation rasters gone or redrawn; it must be retrained", row.id)
        return None
    calibration = row.calibration or {}
    cfg = row.config or {}
    return fit_detector(
        weights,
        raster,
        unpack_many([bytes(r.raster) for r in val], raster.size),
        np.array([r.turn_cum_deg for r in val], dtype=np.float64),
        score_fn=str(calibration.get("score_fn") or cfg.get("score_fn") or "bce"),
        percentile=float(calibration.get("percentile") or settings.get("threshold_percentile")),
        combine=str(settings.get("score_combine")),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of the table would trip over
    # anomalies_view, which names it.
    op.get_bind().exec_driver_sql("ALTER TABLE models DROP COLUMN detector")
