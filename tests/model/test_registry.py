"""Models in the database (SQLite and PostgreSQL): round trip in safe mode, rejected models
kept but never offered for scoring, and training from stored flights by whole days."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from oddflights.db.receivers import add_receiver
from oddflights.flights.raster import RasterSettings
from oddflights.model.autoencoder import build_autoencoder
from oddflights.model.detector import Autoencoder, fit_detector
from oddflights.model.registry import (
    ModelNotFound,
    TrainingDataError,
    list_models,
    load_model,
    newest_ready_model,
    pick_validation_days,
    save_model,
    train_from_db,
)
from oddflights.model.synthetic import route_images
from oddflights.model.train import REJECTED, TrainConfig, TrainResult, judge_model
from oddflights.receivers import Receiver
from tests.model.conftest import TINY, store_route_days

D0 = date(2026, 1, 1)


def _receiver(engine) -> Receiver:
    return add_receiver(engine, Receiver("roof", 52.0, 4.5))


def _all_black_result(train_images, val_images) -> TrainResult:
    model = build_autoencoder(hidden=8)
    decoder = model.get_layer("decoder")
    kernel, bias = decoder.get_weights()
    decoder.set_weights([np.zeros_like(kernel), np.full_like(bias, -20.0)])
    verdict = judge_model(model, train_images, val_images, TINY)
    detector = fit_detector(
        Autoencoder.from_keras(model),
        RasterSettings(64, 3, 200.0),
        val_images,
        None,
        score_fn=TINY.score_fn,
        percentile=TINY.threshold_percentile,
        combine="ae",
    )
    return TrainResult(
        model=model,
        detector=detector,
        history={},
        metrics=verdict.metrics,
        threshold=float(verdict.calibration["threshold"]),
        calibration=verdict.calibration,
        seconds=0.0,
        status=verdict.status,
        config=TINY,
        collapse=verdict.collapse,
    )


def test_round_trip_and_rejected_models(engine, trained, train_images, val_images) -> None:
    rec = _receiver(engine)
    assert rec.id is not None
    ready_id = save_model(
        engine,
        rec.id,
        trained,
        train_from=D0,
        train_to=D0 + timedelta(days=6),
        validation_days=[D0 + timedelta(days=6)],
    )
    model, info = load_model(engine, ready_id)
    x = route_images(20, width=3, seed=11).astype(np.float32)[..., None]
    np.testing.assert_array_equal(model.predict(x, verbose=0), trained.model.predict(x, verbose=0))
    assert info.status == "ready" and info.receiver == "roof" and info.seed == TINY.seed
    assert info.validation_days == [D0 + timedelta(days=6)]
    assert info.threshold == pytest.approx(trained.threshold)
    assert info.metrics["model"] == pytest.approx(trained.metrics["model"])
    assert info.config == TINY and info.raster == trained.detector.raster
    assert info.has_detector and info.threshold == trained.detector.threshold
    assert set(info.versions) == {"tensorflow", "keras", "numpy", "oddflights", "python"}
    assert info.calibration["n"] == 100

    black = _all_black_result(train_images, val_images)
    assert black.status == REJECTED
    rejected_id = save_model(
        engine,
        rec.id,
        black,
        train_from=D0 + timedelta(days=1),
        train_to=D0 + timedelta(days=7),
        validation_days=[D0 + timedelta(days=7)],
    )
    assert [m.status for m in list_models(engine)] == ["ready", "rejected"]
    assert list_models(engine, rec.id)[1].id == rejected_id
    assert list_models(engine, rec.id + 1) == []
    # The rejected model is newer, but never offered for scoring.
    newest = newest_ready_model(engine, rec.id, D0 + timedelta(days=30))
    assert newest is not None and newest.id == ready_id
    # A model is only used on days after everything it saw.
    assert newest_ready_model(engine, rec.id, D0 + timedelta(days=6)) is None
    with pytest.raises(ModelNotFound, match="no model with id 999"):
        load_model(engine, 999)


def test_train_from_db_holds_out_whole_days(engine) -> None:
    rec = _receiver(engine)
    assert rec.id is not None
    days = [D0 + timedelta(days=i) for i in range(4)]
    store_route_days(engine, rec.id, days, per_day=80)
    model_id, result = train_from_db(engine, rec, days[0], days[-1], TINY, 1)
    assert result.status == "ready"
    assert (result.extra["n_train"], result.extra["n_val"]) == (240, 80)
    info = list_models(engine, rec.id)[0]
    assert info.id == model_id
    assert info.validation_days == [days[-1]]
    assert (info.train_from, info.train_to) == (days[0], days[-1])
    assert info.raster == RasterSettings(64, 3, 200.0) == result.detector.raster
    # The detector is fitted on the held-out day with its flights' turns: the combined score.
    assert result.detector.combine == "ae_turn" and result.detector.n_validation == 80
    assert info.threshold == result.threshold == result.detector.combined_threshold
    assert info.metrics["n_val"] == 80 and len(info.metrics["history"]["loss"]) == TINY.epochs

    # Two validation days; an empty range, and a range with too few training flights.
    _, two = train_from_db(
        engine, rec, days[0], days[-1], TrainConfig(**{**TINY.to_dict(), "epochs": 1}), 2
    )
    assert two.extra["n_val"] == 160
    with pytest.raises(TrainingDataError, match="no flights"):
        train_from_db(engine, rec, D0 + timedelta(days=10), D0 + timedelta(days=12), TINY)
    store_route_days(engine, rec.id, [D0 + timedelta(days=20), D0 + timedelta(days=21)], 10)
    with pytest.raises(TrainingDataError, match="only 10 training flights"):
        train_from_db(engine, rec, D0 + timedelta(days=20), D0 + timedelta(days=21), TINY)


def test_validation_days_are_checked() -> None:
    last = D0 + timedelta(days=4)
    # By default the validation_days setting (3), at most half of the range.
    assert pick_validation_days(D0, last, None) == [last - timedelta(days=1), last]
    two_weeks = D0 + timedelta(days=13)
    assert pick_validation_days(D0, two_weeks, None) == [
        two_weeks - timedelta(days=i) for i in (2, 1, 0)
    ]
    assert pick_validation_days(D0, D0 + timedelta(days=1), None) == [D0 + timedelta(days=1)]
    assert pick_validation_days(D0, last, 2) == [last - timedelta(days=1), last]
    assert pick_validation_days(D0, last, [D0]) == [D0]
    with pytest.raises(TrainingDataError, match="leave no training day"):
        pick_validation_days(D0, last, 5)
    with pytest.raises(TrainingDataError, match="must be some, not all"):
        pick_validation_days(D0, last, [D0 + timedelta(days=9)])
    with pytest.raises(TrainingDataError, match="after"):
        pick_validation_days(last, D0, None)
