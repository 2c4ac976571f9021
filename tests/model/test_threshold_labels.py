"""Labelled-normal flights in the threshold's calibration (plain arrays): never set aside as
presumed odd, counted among the normal flights."""

from __future__ import annotations

import numpy as np
import pytest

from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import Autoencoder, fit_detector_calibrated
from oddflights.model.synthetic import route_images
from oddflights.model.threshold import ThresholdRule, calibrate, false_alarm_threshold


def _scores(n: int = 300, seed: int = 0) -> np.ndarray:
    """``n`` normal-looking scores and, on top, 6 far higher ones (indices 0..5)."""
    rng = np.random.default_rng(seed)
    s = rng.normal(1.0, 0.1, n)
    s[:6] = 5.0 + np.arange(6)  # 5, 6, 7, 8, 9, 10
    return s


def test_labelled_normal_flights_are_not_set_aside() -> None:
    s = _scores()
    rule = ThresholdRule("false_alarm_rate", 5.0, 2.0)  # 300 flights: the top 6 set aside
    plain = calibrate(s, rule)
    assert plain.n_presumed_odd == 6 and plain.threshold < 2.0
    assert plain.n_labelled_normal == 0
    # The owner says the two highest are normal: they stay among the normal flights, the
    # share set aside is taken from the next unlabelled ones, and the threshold rises over
    # them (the k-th largest normal score is now one of theirs).
    known = np.zeros(s.size, dtype=bool)
    known[[4, 5]] = True  # scores 9 and 10
    cal = calibrate(s, rule, known_normal=known)
    assert cal.n_presumed_odd == 6 and cal.n_labelled_normal == 2
    assert cal.rank == plain.rank
    assert cal.threshold > plain.threshold
    # The same as leaving them in and setting aside the next six unlabelled by hand.
    rest = np.delete(s, [4, 5])
    order = np.sort(rest)[::-1]
    normal = np.sort(np.concatenate([order[6:], [9.0, 10.0]]))[::-1]
    assert cal.threshold == normal[cal.rank - 1]


def test_labels_below_the_set_aside_top_change_nothing() -> None:
    s = _scores()
    rule = ThresholdRule("false_alarm_rate", 5.0, 2.0)
    known = np.zeros(s.size, dtype=bool)
    known[100:110] = True  # ordinary flights
    assert calibrate(s, rule, known_normal=known).threshold == calibrate(s, rule).threshold


def test_every_flight_labelled_normal_sets_nothing_aside() -> None:
    s = _scores(50)
    cal = false_alarm_threshold(s, 5.0, 2.0, known_normal=np.ones(s.size, dtype=bool))
    assert cal.n_presumed_odd == 0 and cal.threshold == s.max()


def test_percentile_rule_counts_every_flight_anyway() -> None:
    s = _scores()
    rule = ThresholdRule("percentile", percentile=98.0)
    known = np.zeros(s.size, dtype=bool)
    known[:3] = True
    cal = calibrate(s, rule, known_normal=known)
    assert cal.threshold == calibrate(s, rule).threshold and cal.n_labelled_normal == 3


def test_mask_must_fit_the_scores() -> None:
    with pytest.raises(ValueError, match="3 known-normal marks for 4 scores"):
        calibrate([1.0, 2.0, 3.0, 4.0], ThresholdRule(), known_normal=[True, False, False])


def test_the_detector_threshold_counts_labelled_normal_flights() -> None:
    rng = np.random.default_rng(0)
    d, hidden = 64 * 64, 8
    weights = Autoencoder(
        rng.normal(0, 0.05, (d, hidden)).astype(np.float32),
        np.zeros(hidden, dtype=np.float32),
        rng.normal(0, 0.05, (hidden, d)).astype(np.float32),
        np.full(d, -3.0, dtype=np.float32),
    )
    images = route_images(300, width=3, seed=1)
    turns = np.full(len(images), 5.0)
    turns[:4] = [3000.0, 4000.0, 5000.0, 6000.0]  # four circling flights: the top scores
    args = dict(score_fn="bce", percentile=98.0, combine="ae_turn", rule=ThresholdRule())
    raster = RasterSettings(64, 3, 200.0)
    plain, plain_cal = fit_detector_calibrated(weights, raster, images, turns, **args)
    known = np.zeros(len(images), dtype=bool)
    known[:4] = True  # the owner says the circling is normal here
    det, cal = fit_detector_calibrated(weights, raster, images, turns, known_normal=known, **args)
    assert cal.n_labelled_normal == 4 and plain_cal.n_labelled_normal == 0
    assert det.combined_threshold > plain.combined_threshold
    assert det.threshold == cal.threshold
