"""Training a receiver's model from the flights of a range of days (whole days held out for
validation) and storing it: its fitted Detector, its ``.keras`` file and its metadata.

This is the training path and imports TensorFlow; scoring reads the stored Detector with
``oddflights.db.registry`` and numpy only.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from oddflights.errors import OddflightsError
from oddflights.model.tf_quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sqlalchemy.engine import Engine

import oddflights
from oddflights import config as settings
from oddflights.db.flights import list_flights, read_rasters
from oddflights.db.labels import label_sets, read_rasters_by_id
from oddflights.db.registry import (
    ModelInfo,
    ModelNotFound,
    get_model_row,
    insert_model,
    list_models,
    newest_ready_model,
)
from oddflights.labels import split_by_labels
from oddflights.model import autoencoder as _autoencoder  # noqa: F401  (registers WeightedBCE)
from oddflights.model import keras_metrics as _keras_metrics  # noqa: F401  (registers metrics)
from oddflights.model.train import TrainConfig, TrainResult, train_model
from oddflights.receivers import Receiver

__all__ = [
    "ModelInfo",
    "ModelNotFound",
    "TrainingDataError",
    "list_models",
    "load_model",
    "newest_ready_model",
    "save_model",
    "train_from_db",
]

# Fewer flights than this make neither a model nor a threshold worth storing.
MIN_TRAIN_FLIGHTS = 20
MIN_VALIDATION_FLIGHTS = 5


class TrainingDataError(OddflightsError, ValueError):
    """The requested days do not hold enough flights to train or validate on."""


def library_versions() -> dict[str, str]:
    """The versions a model was made with (stored beside it)."""
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "oddflights": oddflights.__version__,
        "python": platform.python_version(),
    }


def model_bytes(model: keras.Model) -> bytes:
    """The model as the bytes of a ``.keras`` file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


def model_from_bytes(data: bytes) -> keras.Model:
    """A model from ``.keras`` bytes, loaded in Keras safe mode (no arbitrary code)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, safe_mode=True)


def save_model(
    engine: Engine,
    receiver_id: int,
    result: TrainResult,
    *,
    train_from: date,
    train_to: date,
    validation_days: Sequence[date],
) -> int:
    """Store a trained model (ready or rejected) with its fitted detector and metadata;
    returns its id. The stored threshold is the detector's."""
    config = {**result.config.to_dict(), "pos_weight_used": result.pos_weight}
    metrics = {**result.metrics, "history": result.history, **result.extra}
    return insert_model(
        engine,
        receiver_id=receiver_id,
        train_from=train_from,
        train_to=train_to,
        validation_days=list(validation_days),
        config=config,
        raster=result.detector.raster.to_dict(),
        metrics=metrics,
        threshold=result.detector.threshold,
        calibration=result.calibration,
        versions=library_versions(),
        seed=result.config.seed,
        status=result.status,
        keras_bytes=model_bytes(result.model),
        detector_bytes=result.detector.to_bytes(),
    )


def load_model(engine: Engine, model_id: int) -> tuple[keras.Model, ModelInfo]:
    """A stored model (safe-mode load) and its metadata; ModelNotFound if there is none."""
    info, data = get_model_row(engine, model_id)
    if data is None:
        raise ModelNotFound(f"model {model_id} has no stored weights")
    return model_from_bytes(data), info


def pick_validation_days(
    from_day: date, to_day: date, validation_days: int | Sequence[date] | None
) -> list[date]:
    """The held-out days: the last N days for an int, or a list; by default the last
    ``validation_days`` setting's days, at most half of the range (at least one)."""
    if to_day < from_day:
        raise TrainingDataError(f"--from {from_day} is after --to {to_day}")
    n_days = (to_day - from_day).days + 1
    if validation_days is None:
        validation_days = max(1, min(int(settings.get("validation_days")), n_days // 2))
    if isinstance(validation_days, int):
        if not 1 <= validation_days < n_days:
            raise TrainingDataError(
                f"{validation_days} validation day(s) leave no training day in "
                f"{from_day}..{to_day} ({n_days} days)"
            )
        return [to_day - timedelta(days=i) for i in reversed(range(validation_days))]
    days = sorted(set(validation_days))
    outside = [d for d in days if not from_day <= d <= to_day]
    if outside or not days or len(days) >= n_days:
        raise TrainingDataError(
            f"validation days {[d.isoformat() for d in days]} must be some, not all, of "
            f"{from_day}..{to_day}"
        )
    return days


def train_from_db(
    engine: Engine,
    receiver: Receiver,
    from_day: date,
    to_day: date,
    config: TrainConfig,
    validation_days: int | Sequence[date] | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> tuple[int, TrainResult]:
    """Train on the receiver's flights of ``from_day..to_day``, validate on whole held-out days
    (never a random per-flight split), and store the model; returns (model id, result).

    The owner's labels (oddflights.labels) of flights up to ``to_day`` count: flights
    labelled odd are left out of training and validation; flights labelled normal before the
    range join the training set (those drawn with other raster settings are left out and
    counted in ``extra["labels"]``), and those on validation days are counted as normal by
    the threshold.

    TrainingDataError when the range, the training days or the validation days hold too few
    flights.
    """
    assert receiver.id is not None, "receiver must come from the database"
    held_out = pick_validation_days(from_day, to_day, validation_days)
    all_days = [from_day + timedelta(days=i) for i in range((to_day - from_day).days + 1)]
    rasters = read_rasters(engine, receiver.id, all_days)
    if len(rasters.flight_ids) == 0:
        raise TrainingDataError(
            f"receiver {receiver.name} has no flights from {from_day} to {to_day} "
            "(run `oddflights flights build` first)"
        )
    is_val = np.isin(
        np.array([d.toordinal() for d in rasters.days]), [d.toordinal() for d in held_out]
    )
    normal_ids, odd_ids = label_sets(engine, receiver.id, to_day)
    split = split_by_labels(rasters.flight_ids, is_val, normal_ids, odd_ids)
    extra, redrawn = read_rasters_by_id(engine, split.extra_normal, rasters.settings)
    train_images = np.concatenate([rasters.images[split.train], extra.images])
    n_train, n_val = len(train_images), int(split.val.sum())
    if n_train < MIN_TRAIN_FLIGHTS:
        raise TrainingDataError(
            f"only {n_train} training flights on {from_day}..{to_day} outside the validation "
            f"days (need {MIN_TRAIN_FLIGHTS})"
        )
    if n_val < MIN_VALIDATION_FLIGHTS:
        raise TrainingDataError(
            f"only {n_val} flights on validation day(s) "
            f"{', '.join(d.isoformat() for d in held_out)} (need {MIN_VALIDATION_FLIGHTS})"
        )
    # The validation flights' cumulative turns, in raster order: the detector's second part.
    table = pd.concat([list_flights(engine, receiver.id, d) for d in held_out])
    turns = table.set_index("flight_id").loc[rasters.flight_ids[split.val], "turn_cum_deg"]
    result = train_model(
        train_images,
        rasters.images[split.val],
        config,
        callbacks,
        raster=rasters.settings,
        val_turn_cum_deg=turns.to_numpy(dtype=np.float64, na_value=np.nan),
        val_known_normal=split.val_known_normal,
    )
    result.extra.update(
        {
            "n_train": n_train,
            "n_val": n_val,
            "labels": {
                "odd_left_out": split.dropped_odd,
                "normal_added": len(extra.flight_ids),
                "normal_redrawn_left_out": len(redrawn),
                "normal_in_validation": int(split.val_known_normal.sum()),
            },
        }
    )
    model_id = save_model(
        engine,
        receiver.id,
        result,
        train_from=from_day,
        train_to=to_day,
        validation_days=held_out,
    )
    return model_id, result
