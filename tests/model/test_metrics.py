"""Honest metrics: each trap of the seed is a test."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from oddflights.model.keras_metrics import LitF1, LitIoU, LitPrecision, LitRecall
from oddflights.model.metrics import (
    average_ranks,
    baselines,
    lit_counts,
    pixel_report,
    precision_at_k,
    roc_auc,
)
from oddflights.model.synthetic import route_images


def test_all_black_is_98_percent_accurate_and_worth_nothing() -> None:
    images = route_images(200, seed=3).astype(np.float32)
    black = np.zeros_like(images)
    report = pixel_report(images, black)
    assert report["f1"] == 0.0
    assert report["iou"] == 0.0
    assert report["recall"] == 0.0
    # The trap: Keras' binary accuracy (what compile(metrics=["accuracy"]) becomes) at 0.5.
    accuracy = keras.metrics.BinaryAccuracy()
    accuracy.update_state(images[..., None], black[..., None])
    assert float(accuracy.result()) > 0.98
    assert float(accuracy.result()) == pytest.approx(1 - images.mean(), abs=1e-6)


def test_counts_and_scores_by_hand() -> None:
    truth = np.array([[1, 1, 0, 0], [0, 1, 0, 0]], dtype=np.float32)
    pred = np.array([[0.9, 0.2, 0.6, 0.0], [0.0, 0.51, 0.5, 0.1]], dtype=np.float32)
    assert lit_counts(truth, pred) == (2, 1, 1)  # 0.5 itself is not lit (> 0.5, as Keras)
    r = pixel_report(truth, pred)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["iou"] == pytest.approx(2 / 4)
    assert r["mse"] == pytest.approx(np.mean((truth - pred) ** 2))
    p = np.clip(pred, 1e-7, 1 - 1e-7).astype(np.float64)
    assert r["bce"] == pytest.approx(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))


def test_flat_grey_reconstruction_is_not_a_picture() -> None:
    """A flat 0.5 output "looks perfect" under imshow's stretch; in numbers it is nothing."""
    images = route_images(50, seed=4).astype(np.float32)
    r = pixel_report(images, np.full_like(images, 0.5))
    assert r["f1"] == 0.0
    assert r["mse"] == pytest.approx(0.25)  # the seed's "MSE of 0.25" identity model


def test_keras_metrics_agree_with_the_numpy_report() -> None:
    rng = np.random.default_rng(0)
    images = route_images(40, seed=5).astype(np.float32)[..., None]
    pred = np.clip(images * 0.8 + rng.uniform(0, 0.6, images.shape), 0, 1).astype(np.float32)
    report = pixel_report(images, pred)
    for metric, name in [
        (LitPrecision(), "precision"),
        (LitRecall(), "recall"),
        (LitF1(), "f1"),
        (LitIoU(), "iou"),
    ]:
        # Two batches: the counts accumulate, they are not averaged per batch.
        metric.update_state(images[:13], pred[:13])
        metric.update_state(images[13:], pred[13:])
        assert float(metric.result()) == pytest.approx(report[name], rel=1e-5), name
    builtin = keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    builtin.update_state(images, pred)
    assert float(builtin.result()) == pytest.approx(report["iou"], rel=1e-5)


def test_baselines() -> None:
    train = route_images(200, seed=6)
    evals = route_images(50, seed=7)
    b = baselines(train, evals)
    assert set(b) == {"all_black", "mean_image"}
    assert b["all_black"]["f1"] == 0.0
    assert b["all_black"]["mse"] == pytest.approx(evals.mean())
    # The mean image is a blur of routes: rarely above 0.5, so its F1 is small.
    assert 0.0 <= b["mean_image"]["f1"] < 0.5
    assert b["mean_image"]["bce"] < b["all_black"]["bce"]


def test_ties_rank_at_chance() -> None:
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    same = np.ones(10)
    assert roc_auc(same, labels) == 0.5
    for k in (1, 3, 10):
        assert precision_at_k(same, labels, k) == pytest.approx(0.2)  # the anomaly share


def test_ranking_without_ties() -> None:
    labels = np.array([1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.1, 0.5, 0.8, 0.2])
    assert roc_auc(scores, labels) == 1.0
    assert roc_auc(-scores, labels) == 0.0
    assert precision_at_k(scores, labels, 2) == 1.0
    assert precision_at_k(scores, labels, 3) == pytest.approx(2 / 3)
    # A tie across the cut-off: one of the two 0.5s fits, each is an anomaly half the time.
    assert precision_at_k([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 0], 2) == pytest.approx(0.25)
    assert roc_auc([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 0]) == pytest.approx((1 + 0.5) / 3)


def test_average_ranks_match_scipy_convention() -> None:
    assert average_ranks([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_ranking_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="both"):
        roc_auc([1, 2], [0, 0])
    with pytest.raises(ValueError, match="k=5"):
        precision_at_k([1, 2], [0, 1], 5)
