"""The seed's dense autoencoder: Flatten → Dense(relu) → Dense(sigmoid) → Reshape, Adam.

The seed's augmentation (random shift, optional horizontal flip) is a separate small Keras
model of preprocessing layers applied to training batches only (see ``build_augmenter`` for
why it is not inside the autoencoder); the day-to-day variation (gaps, truncation, ±1 px
jitter) is numpy, in ``oddflights.model.augment``, applied to the same batches before it.
"""

from __future__ import annotations

from typing import Any

from oddflights.model.tf_quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import keras
from keras import ops

from oddflights.model.train_config import LOSSES

__all__ = ["LOSSES", "WeightedBCE", "build_augmenter", "build_autoencoder", "make_loss"]
# Keras clips probabilities to this before taking logs; our metrics use the same.
EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="oddflights")
class WeightedBCE(keras.losses.Loss):
    """Binary cross-entropy with lit (positive) pixels weighted by ``pos_weight``.

    On ~2 %-lit images a plain loss is dominated by the black background; weighting the lit
    pixels (e.g. by the inverse lit share) makes missing a track as costly as painting one.
    """

    def __init__(self, pos_weight: float = 1.0, name: str = "weighted_bce", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.pos_weight = float(pos_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, y_pred.dtype)
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        per_pixel = -(self.pos_weight * y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        return ops.mean(per_pixel, axis=(1, 2, 3))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pos_weight": self.pos_weight}


def make_loss(loss: str, pos_weight: float = 1.0) -> keras.losses.Loss:
    """The Keras loss called ``loss`` (one of LOSSES); ValueError names an unknown one."""
    if loss == "bce":
        return keras.losses.BinaryCrossentropy()
    if loss == "mse":
        return keras.losses.MeanSquaredError()
    if loss == "weighted_bce":
        return WeightedBCE(pos_weight)
    if loss == "focal":
        return keras.losses.BinaryFocalCrossentropy()
    if loss == "dice":
        return keras.losses.Dice()
    raise ValueError(f"unknown loss {loss!r} (choose from {', '.join(LOSSES)})")


def build_autoencoder(
    size: int = 64,
    hidden: int | None = None,
    loss: str = "bce",
    learning_rate: float = 1e-3,
    pos_weight: float = 1.0,
    metrics: list[keras.metrics.Metric] | None = None,
    init_seeds: tuple[int, int] | None = None,
) -> keras.Model:
    """The seed model, compiled: size×size×1 images in [0, 1] in, reconstructions out.
    ``init_seeds``: the seeds of the encoder's and decoder's initial weights (default: drawn
    by Keras from Python's global ``random``)."""
    enc_init, dec_init = (
        ("glorot_uniform", "glorot_uniform")
        if init_seeds is None
        else tuple(keras.initializers.GlorotUniform(seed=s) for s in init_seeds)
    )
    hidden = hidden or size * size // 10  # the seed's 409 units for 64×64
    inputs = keras.Input(shape=(size, size, 1), name="image")
    # Encoder
    x = keras.layers.Flatten(name="flatten")(inputs)
    code = keras.layers.Dense(
        hidden, activation="relu", kernel_initializer=enc_init, name="encoder"
    )(x)
    # Decoder
    x = keras.layers.Dense(
        size * size, activation="sigmoid", kernel_initializer=dec_init, name="decoder"
    )(code)
    outputs = keras.layers.Reshape((size, size, 1), name="reconstruction")(x)
    model = keras.Model(inputs, outputs, name="autoencoder")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=make_loss(loss, pos_weight),
        metrics=metrics or [],
    )
    return model


def build_augmenter(
    size: int = 64, shift_px: int = 0, flip: bool = False, seed: int | None = None
) -> keras.Sequential | None:
    """The seed's augmentation (random shift up to ``shift_px``, horizontal flip), or None.

    It is applied to each training batch *before* the autoencoder, and the augmented image is
    both input and target. Inside the autoencoder it would be wrong: the target would stay
    unshifted and the model would learn to undo a random shift, i.e. to blur. Nearest
    interpolation and a constant 0 fill keep every pixel exactly 0 or 1; with
    ``training=False`` both layers are the identity.
    """
    layers: list[keras.layers.Layer] = []
    if shift_px > 0:
        factor = shift_px / size
        layers.append(
            keras.layers.RandomTranslation(
                height_factor=factor,
                width_factor=factor,
                fill_mode="constant",
                fill_value=0.0,
                interpolation="nearest",
                seed=seed,
                name="shift",
            )
        )
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="flip"))
    if not layers:
        return None
    return keras.Sequential([keras.Input(shape=(size, size, 1)), *layers], name="augment")
