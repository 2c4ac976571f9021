"""Migration 0004 on SQLite and PostgreSQL: models stored before detectors get theirs, fitted
from their .keras weights (read without Keras) and their validation day's stored rasters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from alembic import command

from oddflights.db.engine import alembic_config, create_engine, current_revision, head_revision
from oddflights.db.engine import upgrade as upgrade_to_head
from oddflights.db.flights import list_flights, read_rasters
from oddflights.db.models import ModelRow, ReceiverRow
from oddflights.db.registry import get_detector_bytes, get_model
from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import Detector, fit_detector
from oddflights.model.registry import model_bytes
from tests.model.conftest import TINY, store_route_days

D0 = date(2026, 1, 1)
RASTER = RasterSettings(64, 3, 200.0)


def _old_model(conn: sa.Connection, receiver_id: int, validation_day: date, keras: bytes) -> int:
    """A model row as 0003 stored it (no detector; the autoencoder's own threshold)."""
    return int(
        conn.execute(
            sa.insert(ModelRow.__table__)
            .values(
                receiver_id=receiver_id,
                created_at=datetime(2026, 1, 10, tzinfo=UTC),
                train_from=D0,
                train_to=validation_day,
                validation_days=[validation_day.isoformat()],
                config={**TINY.to_dict(), "pos_weight_used": 1.0},
                raster=RASTER.to_dict(),
                metrics={},
                threshold=0.123,
                calibration={"threshold": 0.123, "percentile": 98.0, "score_fn": "bce", "n": 80},
                versions={},
                seed=7,
                status="ready",
                keras=keras,
            )
            .returning(ModelRow.id)
        ).scalar_one()
    )


def test_migration_0004_fits_detectors_of_stored_models(db_url: str, trained) -> None:
    eng = create_engine(db_url)
    try:
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0003")
            conn.execute(
                sa.insert(ReceiverRow),
                [
                    dict(
                        name="old",
                        lat=52.0,
                        lon=4.5,
                        range_km=200.0,
                        timezone="UTC",
                        created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    )
                ],
            )
            rid = conn.execute(sa.select(ReceiverRow.id)).scalar_one()
        days = [D0 + timedelta(days=i) for i in range(3)]
        store_route_days(eng, rid, days, 80)
        keras = model_bytes(trained.model)
        with eng.begin() as conn:
            converted = _old_model(conn, rid, days[-1], keras)
            # Its validation day holds no flights (deleted since): it cannot be converted.
            orphan = _old_model(conn, rid, D0 + timedelta(days=9), keras)

        upgrade_to_head(eng)
        assert current_revision(eng) == head_revision()

        info = get_model(eng, converted)
        data = get_detector_bytes(eng, converted)
        assert info.has_detector and data is not None
        det = Detector.from_bytes(data)
        # What training would have fitted from the same weights and validation flights.
        rs = read_rasters(eng, rid, [days[-1]], RASTER)
        turn = list_flights(eng, rid, days[-1]).set_index("flight_id").loc[rs.flight_ids]
        want = fit_detector(
            trained.detector.autoencoder,
            RASTER,
            rs.images,
            turn["turn_cum_deg"].to_numpy(dtype=np.float64),
            score_fn="bce",
            percentile=98.0,
            combine="ae_turn",
        )
        for name in ("encoder_kernel", "encoder_bias", "decoder_kernel", "decoder_bias"):
            np.testing.assert_array_equal(
                getattr(det.autoencoder, name), getattr(want.autoencoder, name)
            )
        assert det.raster == RASTER and det.n_validation == 80
        assert (det.ae_scale, det.turn_scale) == (want.ae_scale, want.turn_scale)
        assert det.combine == "ae_turn" and det.threshold == want.threshold
        # The model's threshold is now the detector's, and its config names the combination.
        assert info.threshold == det.threshold != 0.123
        assert info.config.combine == "ae_turn"

        assert not get_model(eng, orphan).has_detector
        assert get_detector_bytes(eng, orphan) is None
        assert get_model(eng, orphan).threshold == 0.123

        with eng.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
        columns = {c["name"] for c in sa.inspect(eng).get_columns("models")}
        assert "detector" not in columns and "keras" in columns
    finally:
        eng.dispose()
