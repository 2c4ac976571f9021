"""Augmentation by day-to-day variation: pixels stay exactly 0 or 1, the frame stays fixed
(no flips, no shift beyond one pixel) by default, it is seeded, and each transform does what
it says."""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
import pytest

from oddflights.model.augment import (
    AUGMENTS,
    VARIATION,
    VARIATIONS,
    augment_batch,
    centre_distance,
    cut_beyond,
    drop_runs,
    jitter,
    random_gaps,
    shift_images,
    truncate,
)
from oddflights.model.score import as_model_input
from oddflights.model.synthetic import route_images
from oddflights.model.train import READY, TrainConfig, train_model, training_batches
from tests.model.conftest import TINY

SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _images(n: int = 64, width: int = 1, seed: int = 3) -> np.ndarray:
    return as_model_input(route_images(n, width=width, seed=seed))


def _within_one_pixel(before: np.ndarray, after: np.ndarray) -> bool:
    """Whether every lit pixel of ``after`` is a lit pixel of ``before`` moved by the same
    (dy, dx), |dy|, |dx| <= 1: removing pixels is allowed, moving further or mirroring not."""
    for dy, dx in SHIFTS:
        moved = shift_images(before[None], np.array([dy]), np.array([dx]))[0]
        if not np.any((after > 0.5) & (moved < 0.5)):
            return True
    return False


def _batch_images(config: TrainConfig, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every image of the first epoch's batches, with the original image of each."""
    batches = training_batches(images, config)
    xs, ys = zip(*(batches[i] for i in range(len(batches))), strict=True)
    for x, y in zip(xs, ys, strict=True):
        np.testing.assert_array_equal(x, y)  # the augmented image is input and target
    return images[batches.order], np.concatenate(xs)


def _components(mask: np.ndarray) -> int:
    """8-connected components of a 2-D boolean mask (a plain flood fill)."""
    seen = np.zeros_like(mask)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        count += 1
        queue = deque([start])
        seen[start] = True
        while queue:
            y, x = queue.popleft()
            for dy, dx in SHIFTS:
                q = (y + dy, x + dx)
                inside = 0 <= q[0] < mask.shape[0] and 0 <= q[1] < mask.shape[1]
                if inside and mask[q] and not seen[q]:
                    seen[q] = True
                    queue.append(q)
    return count


@pytest.mark.parametrize("width", [1, 2])
def test_pixels_stay_exactly_zero_or_one(width: int) -> None:
    x = _images(width=width)
    out = augment_batch(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.float32
    assert set(np.unique(out)) == {0.0, 1.0}
    assert not np.array_equal(out, x)  # it did something
    # It removes or moves pixels, never adds any.
    assert out.sum() <= x.sum()


@pytest.mark.parametrize(
    "config",
    [TrainConfig.from_settings(), *(TrainConfig(augment=a) for a in AUGMENTS)],
    ids=["default", *AUGMENTS],
)
def test_the_frame_stays_fixed(config: TrainConfig) -> None:
    images = _images(200)
    before, after = _batch_images(config, images)
    assert set(np.unique(after)) <= {0.0, 1.0}
    assert config.shift_px <= 1 and config.flip is False
    assert all(_within_one_pixel(b[..., 0], a[..., 0]) for b, a in zip(before, after, strict=True))


def test_the_frame_check_catches_the_seeds_shift_and_flip() -> None:
    # The check above can fail: the seed's ±10 px shift and flip move most images too far.
    images = _images(200)
    before, after = _batch_images(TrainConfig(shift_px=10, flip=True), images)
    moved = [
        not _within_one_pixel(b[..., 0], a[..., 0]) for b, a in zip(before, after, strict=True)
    ]
    assert np.mean(moved) > 0.5
    flipped = images[:, :, ::-1]
    assert not _within_one_pixel(images[0, ..., 0], flipped[0, ..., 0])


def test_augmentation_is_seeded() -> None:
    images = _images(100)
    config = TrainConfig(augment="variation", batch_size=32, seed=4)
    a, b = training_batches(images, config), training_batches(images, config)
    # Asked in any order, a batch is the same.
    np.testing.assert_array_equal(a[2][0], b[2][0])
    np.testing.assert_array_equal(a[0][0], b[0][0])
    other = training_batches(images, dataclasses.replace(config, seed=5))
    assert not np.array_equal(a[0][0], other[0][0])
    # The next epoch: new order and new variation, still the same for the same seed.
    first = a[0][0]
    a.on_epoch_end()
    b.on_epoch_end()
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert not np.array_equal(a[0][0], first)


def test_no_variation_means_the_images_as_stored() -> None:
    images = _images(40)
    before, after = _batch_images(TrainConfig(augment="none", shift_px=0, flip=False), images)
    np.testing.assert_array_equal(before, after)


def test_coverage_only_removes_and_jitter_only_moves() -> None:
    x = _images(64)
    rng = np.random.default_rng(6)
    covered = augment_batch(x, rng, VARIATIONS["coverage"])
    assert not np.any((covered > 0.5) & (x < 0.5))  # nothing moved or added
    assert covered.sum() < x.sum()
    jittered = augment_batch(x, rng, VARIATIONS["jitter"])
    # Moved whole, by at most one pixel: only pixels pushed off the frame can be lost.
    for before, after in zip(x[..., 0], jittered[..., 0], strict=True):
        assert _within_one_pixel(before, after)
        assert after.sum() >= before.sum() - before[[0, -1], :].sum() - before[:, [0, -1]].sum()


def test_a_gap_removes_one_contiguous_run_of_track() -> None:
    line = np.zeros((1, 64, 64, 1), dtype=np.float32)
    line[0, 30, 10:50] = 1.0  # a 40 px airway
    out = drop_runs(line, np.array([30 * 64 + 20]), np.array([5]))
    removed = (line - out)[0, ..., 0]
    assert np.flatnonzero(removed[30]).tolist() == list(range(15, 26))  # 20 ± 5
    assert removed.sum() == 11
    # No start: unchanged.
    np.testing.assert_array_equal(drop_runs(line, np.array([-1]), np.array([5])), line)
    # Drawn at random, on every image with a track: one connected run, nothing added.
    x = _images(50, width=2)
    gapped = random_gaps(x, np.random.default_rng(1), share=1.0, steps=(3, 12))
    for before, after in zip(x[..., 0], gapped[..., 0], strict=True):
        gone = (before > 0.5) & (after < 0.5)
        assert not np.any((after > 0.5) & (before < 0.5))
        if before.sum():
            assert gone.any() and _components(gone) == 1


def test_truncation_removes_only_pixels_beyond_the_radius() -> None:
    x = _images(50)
    dist = centre_distance(64)
    out = cut_beyond(x, np.full(50, 0.7))
    inside = dist <= 0.7
    np.testing.assert_array_equal(out[:, inside], x[:, inside])
    assert not out[:, ~inside].any() and x[:, ~inside].any()
    # Drawn at random: whatever was removed lies farther out than everything kept.
    cut = truncate(x, np.random.default_rng(2), share=1.0, radius=(0.7, 1.0))
    for before, after in zip(x[..., 0], cut[..., 0], strict=True):
        gone = (before > 0.5) & (after < 0.5)
        assert not np.any((after > 0.5) & (before < 0.5))
        if gone.any() and after.any():
            assert dist[after > 0.5].max() < dist[gone].min()
            assert dist[gone].min() > 0.7


def test_jitter_moves_whole_images_by_at_most_one_pixel() -> None:
    x = _images(64)
    out = jitter(x, np.random.default_rng(3), share=1.0, max_px=1)
    moved = 0
    for before, after in zip(x[..., 0], out[..., 0], strict=True):
        exact = [
            np.array_equal(after, shift_images(before[None], np.array([dy]), np.array([dx]))[0])
            for dy, dx in SHIFTS
        ]
        assert any(exact)
        moved += not np.array_equal(after, before)
    assert moved > 32  # 8 of 9 offsets move
    # Zero fill: a pixel pushed out of the frame is lost, not wrapped round.
    edge = np.zeros((1, 4, 4, 1), dtype=np.float32)
    edge[0, 0, 3] = 1.0
    assert shift_images(edge, np.array([0]), np.array([1])).sum() == 0.0


def test_training_with_variation_passes_the_honest_metrics_gate(train_images, val_images) -> None:
    config = dataclasses.replace(TINY, augment="variation", shift_px=0)
    result = train_model(train_images, val_images, config)
    m = result.metrics
    assert result.status == READY and m["guard"]["passed"] is True
    assert m["model"]["f1"] > m["all_black"]["f1"] + 0.3
    assert m["model"]["f1"] > m["mean_image"]["f1"] + 0.3
    # The stored model has no random layers: augmentation stays outside it.
    kinds = {type(layer).__name__ for layer in result.model.layers}
    assert kinds == {"InputLayer", "Flatten", "Dense", "Reshape"}
    assert result.config.to_dict()["augment"] == "variation"


def test_augment_setting_and_stored_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODDFLIGHTS_MODEL_AUGMENT", "variation")
    assert TrainConfig.from_settings().augment == "variation"
    with pytest.raises(ValueError, match="'mirror'"):
        TrainConfig(augment="mirror")
    # A model stored before the setting existed trained without it.
    old = {k: v for k, v in TrainConfig(augment="variation").to_dict().items() if k != "augment"}
    assert TrainConfig.from_dict(old).augment == "none"
    assert VARIATION.max_px == 1
