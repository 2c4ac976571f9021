"""The detector's newer score parts (issue 14 item 5): the one-sided and per-track
reconstruction scores, the pixel rarity, the three-part combination, and their storage."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest

from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import Detector, PixelRarity, Scale, fit_detector
from oddflights.model.score import score_images


def _truncated(images: np.ndarray, keep: float = 0.4) -> np.ndarray:
    """Each image with its track cut after the first ``keep`` of its lit columns, as a track
    heard only part of the way (the range cut, an outage)."""
    out = images.copy()
    for img in out:
        cols = np.flatnonzero(img.any(axis=0))
        img[:, cols[0] + max(1, int(len(cols) * keep)) :] = 0
    return out


def _off_airway(train_images: np.ndarray, n: int = 10, width: int = 3) -> np.ndarray:
    """Straight tracks along the rows that the training flights crossed least: where nobody
    flies (chosen from the training data, not hard-coded)."""
    rows = np.argsort(train_images.sum(axis=(0, 2)), kind="stable")
    size = train_images.shape[1]
    out = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        r = int(rows[i * width])
        out[i, r : r + width, size // 8 : size - size // 8] = 1
    return out


def test_one_sided_scores_cost_nothing_for_pixels_the_flight_left_dark() -> None:
    y = np.zeros((3, 4, 4, 1), dtype=np.float32)
    y[:, 0, :2] = 1.0
    p = np.full_like(y, 0.9)  # the model draws the track and a lot more
    p[2, 0, 1] = 0.1  # the third flight's track is half missing from the drawing
    lit = score_images(y, p, "lit_bce")
    assert lit[0] == pytest.approx(-np.log(0.9))
    assert lit[2] == pytest.approx(-(np.log(0.9) + np.log(0.1)) / 2)
    # bce charges the 14 dark pixels drawn at 0.9, lit_bce does not, track_bce a little
    bce, track = score_images(y, p, "bce"), score_images(y, p, "track_bce")
    assert bce[0] > lit[0] and lit[0] < track[0] < bce[0] * 16 / 2
    # an empty flight is not odd
    assert score_images(np.zeros_like(y), p, "lit_bce").tolist() == [0.0, 0.0, 0.0]
    assert score_images(np.zeros_like(y), p, "track_bce").tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("fn", ["lit_bce", "track_bce"])
def test_a_truncated_normal_track_scores_below_an_off_airway_one(
    trained, train_images, val_images, fn
) -> None:
    det = dataclasses.replace(trained.detector, score_fn=fn)
    cut = det.reconstruction_scores(_truncated(val_images))
    off = det.reconstruction_scores(_off_airway(train_images))
    assert np.median(cut) < np.median(off)
    if fn == "lit_bce":  # nothing but the track counts: almost every pair is ordered
        assert (cut[:, None] < off[None, :]).mean() > 0.95
    # and the cut costs these scores less than the two-sided bce, relative to the normal day
    whole = det.reconstruction_scores(val_images)
    bce = dataclasses.replace(det, score_fn="bce")
    bce_whole = bce.reconstruction_scores(val_images)
    bce_cut = bce.reconstruction_scores(_truncated(val_images))
    rise = np.median(cut) / np.median(whole)
    assert rise < np.median(bce_cut) / np.median(bce_whole)


def test_pixel_rarity_counts_the_training_flights_per_pixel(train_images) -> None:
    plain = PixelRarity.fit(train_images, k=5, dilate=0)
    assert plain.n == len(train_images)
    np.testing.assert_array_equal(plain.counts, train_images.sum(axis=0).ravel())
    wide = PixelRarity.fit(train_images, k=5, dilate=1)
    assert (wide.counts >= plain.counts).all() and wide.counts.sum() > plain.counts.sum()
    # a pixel no flight crossed is the rarest there is; one every flight crossed is not rare
    assert plain.surprise.max() == pytest.approx(-np.log(0.5 / (plain.n + 1)))
    assert plain.surprise.min() >= 0.0


def test_pixel_rarity_ranks_where_nobody_flies_above_a_cut_track(train_images, val_images):
    rarity = PixelRarity.fit(train_images)
    cut = rarity(_truncated(val_images))
    off = rarity(_off_airway(train_images))
    assert cut.max() < off.min()  # every pair ordered
    # a part of a track with at least k pixels is never rarer than the whole (its k rarest
    # pixels are among the whole's), so a truncated flight cannot become odd by the rarity
    whole = rarity(val_images)
    long_enough = _truncated(val_images).sum(axis=(1, 2)) >= rarity.k
    assert long_enough.sum() > len(val_images) // 2
    assert (cut[long_enough] <= whole[long_enough] + 1e-12).all()
    assert rarity(np.zeros((2, 64, 64), dtype=np.uint8)).tolist() == [0.0, 0.0]


def test_three_part_combination_is_the_largest_scaled_part(
    trained, train_images, val_images
) -> None:
    turn = np.random.default_rng(0).gamma(2.0, 60.0, len(val_images))
    det = fit_detector(
        trained.detector.autoencoder,
        RasterSettings(64),
        val_images,
        turn,
        score_fn="track_bce",
        percentile=99.0,
        combine="ae_turn_rarity",
        train_images=train_images,
    )
    assert det.has_rarity and det.combine == "ae_turn_rarity"
    ae = det.reconstruction_scores(val_images)
    rar = PixelRarity.fit(train_images)(val_images)
    want = np.max([Scale.fit(ae)(ae), Scale.fit(turn)(turn), Scale.fit(rar)(rar)], axis=0)
    scores = det.decision_function(val_images, turn)
    np.testing.assert_allclose(scores, want, rtol=1e-12)
    assert det.threshold == det.rarity_threshold == np.percentile(scores, 99.0)
    # the two-part threshold is still there for the ae_turn combination
    two = det.using("ae_turn")
    assert two.threshold == np.percentile(two.decision_function(val_images, turn), 99.0)
    off = _off_airway(train_images)
    assert (det.scaled_parts(off, np.full(len(off), 5.0))["rarity"] > det.threshold).all()


def test_a_detector_with_rarity_round_trips_and_older_ones_load_without(
    trained, train_images, val_images
) -> None:
    turn = np.linspace(0, 900, len(val_images))
    det = fit_detector(
        trained.detector.autoencoder,
        RasterSettings(64),
        val_images,
        turn,
        score_fn="track_bce",
        percentile=98.0,
        combine="ae_turn_rarity",
        train_images=train_images,
    )
    back = Detector.from_bytes(det.to_bytes())
    assert back.format_version == 3 and back.has_rarity and back.score_fn == "track_bce"
    assert back.rarity is not None and det.rarity is not None
    np.testing.assert_array_equal(back.rarity.counts, det.rarity.counts)
    assert (back.rarity.k, back.rarity.dilate, back.rarity.n) == (20, 1, len(train_images))
    assert (back.rarity_scale, back.rarity_threshold) == (det.rarity_scale, det.rarity_threshold)
    np.testing.assert_array_equal(
        back.decision_function(val_images, turn), det.decision_function(val_images, turn)
    )
    # A version 2 detector (no rarity in the header or arrays) loads and scores as before,
    # and cannot be switched to a combination it has no part for.
    data = dict(np.load(io.BytesIO(det.using("ae_turn").to_bytes())))
    header = json.loads(data["header"].tobytes().decode())
    del header["rarity"], data["pixel_counts"]
    header["format_version"] = 2
    data["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **data)
    old = Detector.from_bytes(buf.getvalue())
    assert not old.has_rarity and old.combine == "ae_turn"
    np.testing.assert_array_equal(
        old.decision_function(val_images, turn),
        det.using("ae_turn").decision_function(val_images, turn),
    )
    with pytest.raises(ValueError, match="rarity"):
        old.using("ae_turn_rarity")
    with pytest.raises(ValueError, match="training images"):
        fit_detector(
            trained.detector.autoencoder,
            RasterSettings(64),
            val_images,
            turn,
            score_fn="bce",
            percentile=98.0,
            combine="ae_turn_rarity",
        )
