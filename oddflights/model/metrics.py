"""Honest metrics: lit-pixel precision, recall, F1 and IoU from TP/FP/FN counts, with baselines.

On flight images only ~2 % of pixels are lit, so per-pixel accuracy is useless: an all-black
output is "98 % accurate". Every figure here counts lit pixels only, and every report of a
model stands beside two trivial predictors (all black, the mean training image). The ranking
helpers count ties honestly: a know-nothing constant score ranks at chance, never at 100 %.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

THRESHOLD = 0.5  # a pixel is predicted lit when its reconstruction is > 0.5 (as Keras does)
EPSILON = 1e-7  # probabilities are clipped to [EPSILON, 1 - EPSILON] for BCE (as Keras does)
METRIC_NAMES = ("precision", "recall", "f1", "iou", "mse", "bce")


def _ratio(num: float, den: float) -> float:
    # 0/0 (nothing lit, nothing predicted) counts as 0: a metric that can only be earned.
    return float(num / den) if den > 0 else 0.0


def lit_counts(
    images: ArrayLike, predictions: ArrayLike, threshold: float = THRESHOLD
) -> tuple[int, int, int]:
    """(TP, FP, FN) of lit pixels: truly lit = image > 0.5, predicted = prediction > threshold."""
    truth = np.asarray(images, dtype=np.float32) > 0.5
    pred = np.asarray(predictions, dtype=np.float32) > threshold
    if truth.shape != pred.shape:
        raise ValueError(f"images {truth.shape} and predictions {pred.shape} differ in shape")
    tp = int(np.count_nonzero(truth & pred))
    fp = int(np.count_nonzero(~truth & pred))
    fn = int(np.count_nonzero(truth & ~pred))
    return tp, fp, fn


def scores_from_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall, F1 and IoU of lit pixels from the counts."""
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
    }


def pixel_report(images: ArrayLike, predictions: ArrayLike) -> dict[str, float]:
    """precision, recall, f1, iou (lit pixels at 0.5), mse and bce of predictions vs images."""
    y = np.asarray(images, dtype=np.float64)
    p = np.broadcast_to(np.asarray(predictions, dtype=np.float64), y.shape)
    report = scores_from_counts(*lit_counts(y, p))
    pc = np.clip(p, EPSILON, 1.0 - EPSILON)
    report["mse"] = float(np.mean((y - p) ** 2)) if y.size else 0.0
    report["bce"] = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))) if y.size else 0.0
    return report


def baselines(train_images: ArrayLike, eval_images: ArrayLike) -> dict[str, dict[str, float]]:
    """Reports of the two trivial predictors on ``eval_images``: all black, mean train image."""
    train = np.asarray(train_images, dtype=np.float32)
    evals = np.asarray(eval_images, dtype=np.float32)
    mean_image = train.mean(axis=0, keepdims=True)
    return {
        "all_black": pixel_report(evals, np.zeros_like(evals)),
        "mean_image": pixel_report(evals, np.broadcast_to(mean_image, evals.shape)),
    }


def lit_share(images: ArrayLike) -> float:
    """The share of lit pixels (for the positive weight of weighted BCE)."""
    arr = np.asarray(images)
    return float(np.count_nonzero(arr > 0.5) / arr.size) if arr.size else 0.0


# --- ranking with ties ------------------------------------------------------------------


def average_ranks(values: ArrayLike) -> NDArray[np.float64]:
    """1-based ranks, ties sharing their average rank (like scipy.stats.rankdata)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Start index of each run of equal values, and its length.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    lengths = np.diff(np.r_[starts, x.size])
    avg = starts + (lengths + 1) / 2.0
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, lengths)
    return ranks


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """ROC-AUC of ``scores`` (higher = more anomalous) for 0/1 ``labels``; ties count half.

    ValueError when only one class is present (the AUC is undefined then).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both anomalies and normal flights")
    ranks = average_ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def precision_at_k(scores: ArrayLike, labels: ArrayLike, k: int) -> float:
    """Share of anomalies among the ``k`` highest scores; ties at the cut-off count fractionally.

    The flights tied at the k-th score fill the remaining places in proportion, so that an
    all-equal score gives the anomaly share, not 1.0 (the ``in_top_k`` trap).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if not 1 <= k <= s.size:
        raise ValueError(f"k={k} must be between 1 and the number of flights ({s.size})")
    kth = np.sort(s)[::-1][k - 1]
    above = s > kth
    tied = s == kth
    places = k - int(above.sum())
    hits = float(y[above].sum()) + places * float(y[tied].sum()) / float(tied.sum())
    return hits / k


def report_table(reports: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Rows ``metric | model | all_black | mean_image`` for a side-by-side table."""
    names = list(reports)
    return [
        {"metric": m, **{n: round(float(reports[n].get(m, float("nan"))), 4) for n in names}}
        for m in METRIC_NAMES
    ]
