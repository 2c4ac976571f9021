"""The fitted Detector: numpy reconstructions equal Keras', the stored bytes round-trip, the
weights read from a .keras file without Keras, and the combined score's scaling."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest

from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import (
    Autoencoder,
    Detector,
    DetectorError,
    Scale,
    fit_detector,
)
from oddflights.model.registry import model_bytes
from oddflights.model.score import reconstruct, reconstruction_scores
from oddflights.model.synthetic import odd_images, route_images
from oddflights.model.threshold import false_alarm_threshold


def test_numpy_reconstruction_equals_keras(trained, val_images) -> None:
    images = np.concatenate([val_images, odd_images(20, width=3), np.zeros((3, 64, 64))])
    keras_out = reconstruct(trained.model, images)
    numpy_out = trained.detector.reconstruct(images)
    assert numpy_out.shape == keras_out.shape == (len(images), 64, 64, 1)
    assert numpy_out.dtype == np.float32
    assert float(np.abs(numpy_out - keras_out).max()) <= 1e-5


def test_equal_images_get_equal_scores_wherever_they_are(trained) -> None:
    # Equal rasters (two flights drawn alike) must tie exactly, as they did under Keras:
    # ties are then ranked by flight id, the same way every run.
    base = route_images(40, width=3, seed=5)
    images = np.concatenate([base, base[::-1], base[:7]])
    scores = trained.detector.reconstruction_scores(images)
    np.testing.assert_array_equal(scores[:40], scores[40:80][::-1])
    np.testing.assert_array_equal(scores[:7], scores[80:])


def test_trained_detector_is_calibrated_on_the_validation_images(trained, val_images) -> None:
    det = trained.detector
    # Synthetic images carry no turns: the reconstruction error alone decides.
    assert det.combine == "ae" and det.threshold == det.ae_threshold == trained.threshold
    assert det.threshold == trained.calibration["threshold"]
    assert det.n_validation == 100 and det.threshold_method == "false_alarm_rate"
    assert (det.false_alarms_per_1000, det.presumed_odd_percent) == (5.0, 2.0)
    scores = det.decision_function(val_images)
    assert det.threshold == false_alarm_threshold(scores, 5.0, 2.0).threshold
    np.testing.assert_allclose(
        scores, reconstruction_scores(trained.model, val_images, det.score_fn), rtol=1e-5
    )
    assert det.predict(val_images).tolist() == (scores > det.threshold).tolist()
    assert det.predict(odd_images(20, width=3)).mean() > 0.5


def test_bytes_round_trip(trained, val_images) -> None:
    det = trained.detector.using("ae_turn")
    back = Detector.from_bytes(det.to_bytes())
    assert back.raster == det.raster and back.combine == "ae_turn"
    for name in ("encoder_kernel", "encoder_bias", "decoder_kernel", "decoder_bias"):
        np.testing.assert_array_equal(
            getattr(back.autoencoder, name), getattr(det.autoencoder, name)
        )
    assert (back.ae_scale, back.turn_scale) == (det.ae_scale, det.turn_scale)
    assert back.threshold == det.threshold == det.combined_threshold
    turns = np.linspace(0, 900, len(val_images))
    np.testing.assert_array_equal(
        back.decision_function(val_images, turns), det.decision_function(val_images, turns)
    )


def test_a_version_1_detector_still_loads_with_the_percentile_rule(trained) -> None:
    # Detectors stored before the threshold rule was: header without it, format version 1.
    data = dict(np.load(io.BytesIO(trained.detector.to_bytes())))
    header = json.loads(data["header"].tobytes().decode())
    for key in ("threshold_method", "false_alarms_per_1000", "presumed_odd_percent"):
        del header[key]
    header["format_version"] = 1
    data["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **data)
    old = Detector.from_bytes(buf.getvalue())
    assert old.threshold_method == "percentile" and old.false_alarms_per_1000 is None
    assert old.threshold == trained.detector.threshold
    assert trained.detector.format_version == 3
    back = Detector.from_bytes(trained.detector.to_bytes())
    assert (back.threshold_method, back.false_alarms_per_1000) == ("false_alarm_rate", 5.0)


def test_unreadable_or_newer_bytes_are_a_clear_error(trained) -> None:
    with pytest.raises(DetectorError, match="unreadable"):
        Detector.from_bytes(b"not a detector")
    newer = dataclasses.replace(trained.detector, format_version=9).to_bytes()
    with pytest.raises(DetectorError, match=r"format version 9.*retrain"):
        Detector.from_bytes(newer)


def test_weights_are_read_from_a_keras_file_without_keras(trained) -> None:
    from_file = Autoencoder.from_keras_file(model_bytes(trained.model))
    for name in ("encoder_kernel", "encoder_bias", "decoder_kernel", "decoder_bias"):
        np.testing.assert_array_equal(
            getattr(from_file, name), getattr(trained.detector.autoencoder, name)
        )


def test_combined_score_is_the_larger_scaled_part(trained, val_images) -> None:
    rng = np.random.default_rng(0)
    n = len(val_images)
    turn = rng.gamma(2.0, 60.0, n)
    det = fit_detector(
        trained.detector.autoencoder,
        RasterSettings(64),
        val_images,
        turn,
        score_fn="bce",
        percentile=99.0,
        combine="ae_turn",
    )
    ae = det.reconstruction_scores(val_images)
    z_ae, z_turn = Scale.fit(ae)(ae), Scale.fit(turn)(turn)
    assert np.median(z_ae) == pytest.approx(0.0, abs=1e-9)
    assert np.percentile(z_turn, 99) == pytest.approx(1.0)
    combined = det.decision_function(val_images, turn)
    np.testing.assert_array_equal(combined, np.maximum(z_ae, z_turn))
    assert det.threshold == np.percentile(combined, 99.0)
    # A circling flight with an ordinary picture stands out through its turn alone; an
    # unknown turn (NaN) counts as the median, never as odd.
    typical = val_images[[int(np.argsort(ae)[n // 2])]]
    assert det.decision_function(typical, [3000.0])[0] > 5 * det.threshold
    assert det.decision_function(typical, [np.nan])[0] < det.threshold
    # A constant part has no spread: scaled by 1 instead of dividing by zero.
    assert Scale.fit(np.zeros(5)).span == 1.0
    with pytest.raises(ValueError, match="cumulative turn"):
        det.decision_function(typical)
