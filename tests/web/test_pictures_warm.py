"""The web process loads each receiver's newest ready detector as it starts, so that the
first picture does not wait for it; one that cannot be loaded is logged, never a failed
start, and its pictures fail as before."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from oddflights.db.web_queries import open_readonly
from oddflights.scoring.score import ScoringError
from oddflights.web.app import create_app
from oddflights.web.pictures import PictureMaker
from tests.model.routes import made_up_detector
from tests.stub_models import stub_model
from tests.web.conftest import SmallDb


def _model(db: SmallDb, seed: int, **fields: Any) -> int:
    return stub_model(
        db.engine, db.receiver_id, date(2026, 5, 1), date(2026, 5, 3), seed=seed, **fields
    )


def test_warm_loads_each_receivers_newest_ready_detector(small_db: SmallDb) -> None:
    detector = made_up_detector(np.zeros((5, 64, 64), dtype=np.uint8)).to_bytes()
    _model(small_db, 2, detector_bytes=detector)
    newest = _model(small_db, 3, detector_bytes=detector)
    _model(small_db, 4, detector_bytes=detector, status="rejected")  # never used to score
    _model(small_db, 5)  # no detector: nothing to load
    engine = open_readonly(small_db.url)
    try:
        assert PictureMaker(engine).warm() == [newest]
    finally:
        engine.dispose()


def test_a_detector_that_cannot_be_loaded_is_logged_not_a_failed_start(
    small_db: SmallDb, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _model(small_db, 2, detector_bytes=b"not an npz file")
    engine = open_readonly(small_db.url)
    try:
        with TestClient(create_app(engine), raise_server_exceptions=False) as client:
            assert client.get("/healthz").status_code == 200
            r = client.get(f"/img/residual/{small_db.flight_ids[0]}.png?model={broken}")
    finally:
        engine.dispose()
    assert f"model {broken}'s detector not loaded at start" in caplog.text
    # As without the start's attempt: the picture's request reads it and says what is wrong.
    assert r.status_code == ScoringError.http_status and f"model {broken}" in r.text, r.text
