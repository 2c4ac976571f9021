"""Per-flight anomaly scores: how badly the model reconstructs each image (higher = odder)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oddflights.model.metrics import EPSILON, THRESHOLD

# Images scored at a time by score_images (a 64×64 batch's float64 copies: ~2 MB each).
SCORE_BATCH = 64

ScoreFn = Callable[[NDArray[np.float32], NDArray[np.float32]], NDArray[np.float64]]


def _bce(y: NDArray[np.float32], p: NDArray[np.float32]) -> NDArray[np.float64]:
    pc = np.clip(p.astype(np.float64), EPSILON, 1.0 - EPSILON)
    per_pixel = -(y * np.log(pc) + (1.0 - y) * np.log(1.0 - pc))
    return per_pixel.reshape(len(y), -1).mean(axis=1)


def _mse(y: NDArray[np.float32], p: NDArray[np.float32]) -> NDArray[np.float64]:
    return ((y.astype(np.float64) - p) ** 2).reshape(len(y), -1).mean(axis=1)


def _recall_loss(y: NDArray[np.float32], p: NDArray[np.float32]) -> NDArray[np.float64]:
    # Share of the flight's own lit pixels the model failed to draw: the track is odd when the
    # model cannot reproduce it, whatever it paints elsewhere. An empty image scores 0.
    lit = (y > 0.5).reshape(len(y), -1)
    hit = lit & (p > THRESHOLD).reshape(len(y), -1)
    n = lit.sum(axis=1)
    return np.where(n > 0, 1.0 - hit.sum(axis=1) / np.maximum(n, 1), 0.0)


def _lit_bce(y: NDArray[np.float32], p: NDArray[np.float32]) -> NDArray[np.float64]:
    # One-sided: -log p over the flight's own lit pixels only, a soft recall_loss. A track the
    # model cannot draw is odd; pixels it draws where this flight was not heard (a track cut
    # short by range or an outage, a gap) cost nothing. An empty image scores 0.
    lit = (y > 0.5).reshape(len(y), -1)
    pc = np.clip(p.astype(np.float64).reshape(len(y), -1), EPSILON, 1.0)
    n = lit.sum(axis=1)
    return np.where(n > 0, -(np.log(pc) * lit).sum(axis=1) / np.maximum(n, 1), 0.0)


# track_bce's weight of the pixels the model draws where the flight was not heard: small, so
# that a track cut short (range, outage, gaps) costs little, not 0, so that a picture the
# model would paint very differently (a short local track beside an airway) still costs.
# Measured (`bench ablation --grid detector`, BENCHMARKS.md): 0.03–0.2 alike, 0 (lit_bce)
# loses recall and AP on the coverage day.
UNLIT_WEIGHT = 0.1


def _track_bce(y: NDArray[np.float32], p: NDArray[np.float32]) -> NDArray[np.float64]:
    # Per pixel of the flight's own track, not per pixel of the frame: BCE summed over its
    # lit pixels plus UNLIT_WEIGHT × over the rest, divided by its lit count. A short track is
    # not drowned in 4,096 empty pixels, and a truncated or gappy one is not odd for the
    # airway the model draws beyond it. An empty image scores 0.
    lit = (y > 0.5).reshape(len(y), -1)
    pc = np.clip(p.astype(np.float64).reshape(len(y), -1), EPSILON, 1.0 - EPSILON)
    on = -(np.log(pc) * lit).sum(axis=1)
    off = -(np.log1p(-pc) * ~lit).sum(axis=1)
    n = lit.sum(axis=1)
    return np.where(n > 0, (on + UNLIT_WEIGHT * off) / np.maximum(n, 1), 0.0)


def _iou_loss(y: NDArray[np.float32], p: NDArray[np.float32]) -> NDArray[np.float64]:
    truth = (y > 0.5).reshape(len(y), -1)
    pred = (p > THRESHOLD).reshape(len(y), -1)
    union = (truth | pred).sum(axis=1)
    return np.where(union > 0, 1.0 - (truth & pred).sum(axis=1) / np.maximum(union, 1), 0.0)


SCORE_FNS: dict[str, ScoreFn] = {
    "bce": _bce,
    "mse": _mse,
    "recall_loss": _recall_loss,
    "iou_loss": _iou_loss,
    "lit_bce": _lit_bce,
    "track_bce": _track_bce,
}


def score_images(
    images: NDArray[Any], reconstructions: NDArray[Any], fn: str = "bce"
) -> NDArray[np.float64]:
    """One score per image from its reconstruction, by the score function called ``fn``."""
    try:
        func = SCORE_FNS[fn]
    except KeyError:
        raise ValueError(
            f"unknown score function {fn!r} (choose from {', '.join(SCORE_FNS)})"
        ) from None
    y = np.asarray(images, dtype=np.float32)
    p = np.asarray(reconstructions, dtype=np.float32).reshape(y.shape)
    if len(y) == 0:
        return np.zeros(0, dtype=np.float64)
    # A batch of images at a time: the functions make several float64 copies of what they
    # are given (~170 MB for a 1,000-flight day at once). Each image's score is a reduction
    # over its own row, so batching does not change a bit of it.
    out = np.empty(len(y), dtype=np.float64)
    for i in range(0, len(y), SCORE_BATCH):
        out[i : i + SCORE_BATCH] = func(y[i : i + SCORE_BATCH], p[i : i + SCORE_BATCH])
    return out


def as_model_input(images: NDArray[Any]) -> NDArray[np.float32]:
    """uint8/bool N×H×W (or N×H×W×1) images as float32 N×H×W×1 in {0, 1}."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    return (arr > 0).astype(np.float32) if arr.dtype != np.float32 else arr


def reconstruct(model: Any, images: NDArray[Any], batch_size: int = 256) -> NDArray[np.float32]:
    """The model's reconstructions (inference mode: augmentation is never applied here)."""
    x = as_model_input(images)
    if len(x) == 0:
        return x
    # Direct calls rather than model.predict: predict builds a tf.function per model object,
    # and scoring loads models day after day, which made TensorFlow warn about retracing.
    parts = [
        np.asarray(model(x[i : i + batch_size], training=False), dtype=np.float32)
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


def reconstruction_scores(
    model: Any, images: NDArray[Any], fn: str = "bce", batch_size: int = 256
) -> NDArray[np.float64]:
    """Per-flight reconstruction error of ``images`` under ``model`` (higher = odder)."""
    x = as_model_input(images)
    return score_images(x, reconstruct(model, x, batch_size), fn)
