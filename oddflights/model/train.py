"""Training: the seeded fit with augmentation and early stopping, honest metrics beside the
trivial baselines, the collapse guard, and the threshold calibrated on the validation days."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from oddflights.model.tf_quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import keras
import numpy as np
from numpy.typing import NDArray

from oddflights.flights.raster import RasterSettings
from oddflights.model.augment import VARIATIONS, Variation, augment_batch
from oddflights.model.autoencoder import build_augmenter, build_autoencoder
from oddflights.model.detector import Autoencoder, Detector, fit_detector_calibrated
from oddflights.model.keras_metrics import keras_metrics
from oddflights.model.metrics import baselines, lit_share, pixel_report
from oddflights.model.score import as_model_input, score_images
from oddflights.model.threshold import calibrate
from oddflights.model.train_config import TrainConfig

__all__ = [
    "READY",
    "REJECTED",
    "TrainConfig",
    "TrainResult",
    "judge_model",
    "train_model",
    "training_batches",
]

READY = "ready"
REJECTED = "rejected"
# weighted_bce's automatic lit-pixel weight is the inverse lit share, capped so that an
# almost-empty training set cannot make the weight absurd.
_MAX_POS_WEIGHT = 100.0
# A model must beat every trivial predictor's F1 by this much: 0.004 against 0.0 is a collapse
# that happened to light a handful of pixels, not a model.
MIN_F1_MARGIN = 0.01


@dataclass
class TrainResult:
    """A trained model, the detector fitted from it, and how it did on the validation images.
    ``threshold`` is the detector's (the one scoring uses)."""

    model: keras.Model
    detector: Detector
    history: dict[str, list[float]]
    # {"model", "all_black", "mean_image"}: pixel_report()s; "guard": the collapse guard's figures.
    metrics: dict[str, Any]
    threshold: float
    calibration: dict[str, Any]
    seconds: float
    status: str
    config: TrainConfig
    pos_weight: float = 1.0
    collapse: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class _Batches(keras.utils.PyDataset):
    """Shuffled training batches, augmented per batch; the augmented image is input and target.

    ``variation`` (day-to-day variation, oddflights.model.augment) draws from a generator
    seeded by (seed, epoch, batch), so a batch's images do not depend on the order in which
    Keras asks for batches."""

    def __init__(
        self,
        images: NDArray[np.float32],
        batch_size: int,
        augmenter: keras.Model | None,
        seed: int,
        variation: Variation | None = None,
        batch_rng: random.Random | None = None,
    ) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.images = images
        self.batch_size = batch_size
        self.augmenter = augmenter
        self.variation = variation
        self.seed = seed
        self.epoch = 0
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(images))
        # The order of the batches in an epoch: Keras's shuffle (fit(shuffle=False)), drawn
        # here from ``batch_rng`` as Keras draws it from Python's global `random`: at each
        # epoch's start, which Keras also marks with an on_epoch_end before the first.
        self.batch_rng = batch_rng
        self.batch_order = None if batch_rng is None else list(range(len(self)))

    def _batch_order(self) -> list[int] | None:
        if self.batch_rng is None:
            return None
        order = list(range(len(self)))
        self.batch_rng.shuffle(order)
        return order

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, idx: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        if self.batch_order is not None:
            idx = self.batch_order[idx]
        x = self.images[self.order[idx * self.batch_size : (idx + 1) * self.batch_size]]
        if self.variation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, idx])
            x = augment_batch(x, rng, self.variation)
        if self.augmenter is not None:
            x = np.asarray(self.augmenter(x, training=True), dtype=np.float32)
        return x, x

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self.rng.permutation(len(self.images))
        self.batch_order = self._batch_order()


def training_batches(
    x_train: NDArray[np.float32], config: TrainConfig, batch_rng: random.Random | None = None
) -> _Batches:
    """The batches ``train_model`` fits on: shuffled, with ``config``'s augmentation (day-to-day
    variation, then the seed's shift and flip when set), seeded by ``config.seed``."""
    size = int(x_train.shape[1])
    return _Batches(
        x_train,
        config.batch_size,
        build_augmenter(size, config.shift_px, config.flip, seed=config.seed),
        config.seed,
        VARIATIONS.get(config.augment),
        batch_rng,
    )


def collapse_reason(metrics: dict[str, dict[str, float]], all_lit_f1: float = 0.0) -> str | None:
    """Why the model is no better than a trivial predictor (None when it beats them all).

    Its validation F1 must beat the all-black and mean-image predictors by ``MIN_F1_MARGIN``,
    and also the all-lit predictor (F1 = 2p/(1+p) at lit share p), which an untrained model
    painting everything grey-above-0.5 would otherwise "beat" the others with.
    """
    f1 = metrics["model"]["f1"]
    black, mean = metrics["all_black"]["f1"], metrics["mean_image"]["f1"]
    if f1 >= max(black, mean, all_lit_f1) + MIN_F1_MARGIN:
        return None
    return (
        f"the model collapsed: validation F1 {f1:.4f} does not beat the trivial predictors "
        f"(all black {black:.4f}, mean image {mean:.4f}, all lit {all_lit_f1:.4f})"
    )


@dataclass(frozen=True)
class Judgement:
    """A model judged on the validation images: metrics beside baselines, threshold, status."""

    metrics: dict[str, Any]
    calibration: dict[str, Any]
    status: str
    collapse: str | None


def judge_model(
    model: keras.Model, train_images: NDArray[Any], val_images: NDArray[Any], config: TrainConfig
) -> Judgement:
    """Honest metrics of ``model`` and both baselines on ``val_images``, its threshold, and
    the collapse guard's verdict (``rejected`` when it does not beat the trivial predictors)."""
    x_train, x_val = as_model_input(train_images), as_model_input(val_images)
    # numpy, as scoring does: the calibration's scores are the ones scoring will compute.
    predictions = Autoencoder.from_keras(model).reconstruct(x_val)
    reports = {"model": pixel_report(x_val, predictions), **baselines(x_train, x_val)}
    share = lit_share(x_val)
    all_lit_f1 = 2 * share / (1 + share)
    reason = collapse_reason(reports, all_lit_f1)
    calibration = calibrate(
        score_images(x_val, predictions, config.score_fn), config.threshold_rule(), config.score_fn
    )
    metrics: dict[str, Any] = {
        **reports,
        "guard": {"all_lit_f1": all_lit_f1, "margin": MIN_F1_MARGIN, "passed": reason is None},
    }
    return Judgement(
        metrics=metrics,
        calibration=calibration.to_dict(),
        status=READY if reason is None else REJECTED,
        collapse=reason,
    )


def resolve_pos_weight(config: TrainConfig, train_images: NDArray[Any]) -> float:
    """weighted_bce's lit-pixel weight: the setting, or (when 0) the inverse lit share."""
    if config.pos_weight > 0:
        return float(config.pos_weight)
    share = lit_share(train_images)
    return float(min(_MAX_POS_WEIGHT, (1.0 - share) / share)) if share > 0 else 1.0


def train_model(
    train_images: NDArray[Any],
    val_images: NDArray[Any],
    config: TrainConfig,
    callbacks: list[keras.callbacks.Callback] | None = None,
    *,
    raster: RasterSettings | None = None,
    val_turn_cum_deg: NDArray[np.float64] | None = None,
    val_known_normal: NDArray[np.bool_] | None = None,
) -> TrainResult:
    """Train the autoencoder on ``train_images``, judge it on ``val_images`` (held-out days),
    and fit its Detector on them.

    Seeded: the same images, config and seed give the same weights and metrics on CPU.
    ``callbacks`` (e.g. the CLI's per-epoch printer) see Keras' logs with lit-pixel
    precision/recall/F1/IoU for training and validation. ``raster``: the settings the images
    were drawn with (default: their size, 1 px lines, 200 km). ``val_turn_cum_deg``: the
    validation flights' cumulative turns; without them (synthetic images) the detector
    decides by the reconstruction error alone (``ae``). ``val_known_normal``: which
    validation flights the owner labelled normal (the threshold counts them as normal; see
    oddflights.labels).
    """
    started = time.perf_counter()
    x_train = as_model_input(train_images)
    x_val = as_model_input(val_images)
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError(
            f"need training and validation images (got {len(x_train)} and {len(x_val)})"
        )
    size = int(x_train.shape[1])
    keras.utils.set_random_seed(config.seed)
    # Keras's unseeded draws (initial weights, the batch order) come from Python's global
    # `random`, which other threads of the process draw from too (a Dask worker's event
    # loop): they come from a private generator instead, the numbers random.seed(seed) gives.
    own = random.Random(config.seed)
    init_seeds = (own.randint(1, int(1e9)), own.randint(1, int(1e9)))
    pos_weight = resolve_pos_weight(config, x_train)
    model = build_autoencoder(
        size=size,
        hidden=config.hidden or None,
        loss=config.loss,
        learning_rate=config.learning_rate,
        pos_weight=pos_weight,
        metrics=keras_metrics(),
        init_seeds=init_seeds,
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, restore_best_weights=True
    )
    fit = model.fit(
        training_batches(x_train, config, own),
        validation_data=(x_val, x_val),
        shuffle=False,
        epochs=config.epochs,
        callbacks=[stop, *(callbacks or [])],
        verbose=0,
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}

    verdict = judge_model(model, x_train, x_val, config)
    # The calibration stored with the model is the deciding threshold's (the combination's).
    detector, calibration = fit_detector_calibrated(
        Autoencoder.from_keras(model),
        raster or RasterSettings(size=size),
        x_val,
        val_turn_cum_deg,
        score_fn=config.score_fn,
        percentile=config.threshold_percentile,
        rule=config.threshold_rule(),
        combine=config.combine if val_turn_cum_deg is not None else "ae",
        known_normal=val_known_normal,
        train_images=x_train,  # the pixel rarity part counts the fitted days' pixels
    )
    return TrainResult(
        model=model,
        detector=detector,
        history=history,
        metrics=verdict.metrics,
        threshold=detector.threshold,
        calibration=calibration.to_dict(),
        seconds=time.perf_counter() - started,
        status=verdict.status,
        config=config,
        pos_weight=pos_weight,
        collapse=verdict.collapse,
        extra={
            "epochs_run": len(history.get("loss", [])),
            "n_train": len(x_train),
            "n_val": len(x_val),
        },
    )
