"""The seed model's shape, its losses, and augmentation that only acts in training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from oddflights.model.autoencoder import LOSSES, WeightedBCE, build_augmenter, build_autoencoder
from oddflights.model.synthetic import route_images


def test_the_seed_model() -> None:
    model = build_autoencoder()
    assert model.input_shape == (None, 64, 64, 1)
    assert model.output_shape == (None, 64, 64, 1)
    assert model.get_layer("encoder").units == 409
    assert model.get_layer("decoder").units == 4096
    assert model.count_params() == (4096 * 409 + 409) + (409 * 4096 + 4096)
    assert isinstance(model.optimizer, keras.optimizers.Adam)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_builds_and_steps(loss: str) -> None:
    x = route_images(8, size=16, seed=1).astype(np.float32)[..., None]
    model = build_autoencoder(size=16, hidden=8, loss=loss, pos_weight=5.0)
    value = model.train_on_batch(x, x)
    assert np.isfinite(value)


def test_unknown_loss_is_named() -> None:
    with pytest.raises(ValueError, match="'hinge'"):
        build_autoencoder(size=8, loss="hinge")


def test_weighted_bce_weights_lit_pixels() -> None:
    y = np.array([[[[1.0], [0.0]]]], dtype=np.float32)
    p = np.array([[[[0.2], [0.2]]]], dtype=np.float32)
    plain = -(np.log(0.2) + np.log(0.8)) / 2
    weighted = -(4 * np.log(0.2) + np.log(0.8)) / 2
    assert float(WeightedBCE(1.0)(y, p)) == pytest.approx(plain, rel=1e-5)
    assert float(WeightedBCE(4.0)(y, p)) == pytest.approx(weighted, rel=1e-5)


def test_augmentation_shifts_and_flips_in_training_only() -> None:
    images = route_images(32, seed=2).astype(np.float32)[..., None]
    augmenter = build_augmenter(64, shift_px=3, flip=True, seed=1)
    assert augmenter is not None
    # Inference: the identity.
    np.testing.assert_array_equal(np.asarray(augmenter(images, training=False)), images)
    np.testing.assert_array_equal(np.asarray(augmenter.predict(images, verbose=0)), images)
    # Training: moved, yet still exactly 0/1 (nearest interpolation, 0 fill).
    out = np.asarray(augmenter(images, training=True))
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert not np.array_equal(out, images)
    # A shift of ≤ 3 px moves pixels, never invents many: lit counts stay close.
    assert out.sum() <= images.sum() * 1.01


def test_no_augmentation_means_no_augmenter() -> None:
    assert build_augmenter(64, shift_px=0, flip=False) is None


def test_the_trained_model_has_no_random_layers(trained) -> None:
    # Augmentation is applied to batches before the model, so scoring can never see it.
    kinds = {type(layer).__name__ for layer in trained.model.layers}
    assert kinds == {"InputLayer", "Flatten", "Dense", "Reshape"}
    x = route_images(10, width=3, seed=9).astype(np.float32)[..., None]
    a = trained.model(x, training=True)
    b = trained.model.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-6)
