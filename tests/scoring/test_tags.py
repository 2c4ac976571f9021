"""The vectorised pieces of the shape tags against plain reference versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oddflights.scoring.tags import (
    PARAMS,
    _centred_mean,
    _centred_median,
    _parallel_legs,
    _window_gain,
    shape_tags,
)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 60), elements=st.floats(-50, 50)),
    st.sampled_from([1, 3, 5, 9]),
)
def test_centred_mean_is_pandas_centred_rolling_mean(values: np.ndarray, window: int) -> None:
    want = pd.Series(values).rolling(window, center=True, min_periods=1).mean().to_numpy()
    assert np.allclose(_centred_mean(values, window), want, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 60), elements=st.floats(-5e4, 5e4)),
    st.sampled_from([1, 3, 5, 7]),
)
def test_centred_median_is_pandas_centred_rolling_median(values: np.ndarray, window: int) -> None:
    want = pd.Series(values).rolling(window, center=True, min_periods=1).median().to_numpy()
    np.testing.assert_array_equal(_centred_median(values, window), want)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 80), elements=st.floats(-400, 400)),
    arrays(np.int64, st.integers(1, 80), elements=st.integers(1, 600)),
)
def test_window_gain_is_pandas_time_window_min_max(turns: np.ndarray, gaps: np.ndarray) -> None:
    """The circling test's windowed search, as it was written with a pandas 30-minute
    rolling window (whole-second times: no rounding question at the window's edge)."""
    n = min(len(turns), len(gaps))
    cum = np.cumsum(turns[:n])
    t = np.cumsum(gaps[:n]).astype(np.float64)
    total = pd.Series(cum, index=pd.to_datetime(t, unit="s"))
    window = total.rolling("30min")
    want = np.maximum((total - window.min()).to_numpy(), (window.max() - total).to_numpy())
    assert _window_gain(cum, t, 1800.0) == float(np.nanmax(want, initial=0.0))


def _reference_parallel_legs(legs: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """Leg by leg, as first written."""
    best = 0
    for r0, r1 in legs:
        axis = (r1 - r0) / np.hypot(*(r1 - r0))
        normal = np.array([axis[1], -axis[0]])
        lo, hi = sorted((float(r0 @ axis), float(r1 @ axis)))
        offsets = []
        for p0, p1 in legs:
            d = (p1 - p0) / np.hypot(*(p1 - p0))
            if abs(float(d @ axis)) < np.cos(np.radians(PARAMS.survey_axis_deg)):
                continue
            a, b = sorted((float(p0 @ axis), float(p1 @ axis)))
            if min(hi, b) - max(lo, a) < 0.5 * min(hi - lo, b - a):
                continue
            offsets.append(float(((p0 + p1) / 2) @ normal))
        if offsets:
            distinct = 1 + int((np.diff(np.sort(offsets)) >= PARAMS.survey_leg_spacing_km).sum())
            best = max(best, distinct)
    return best


def test_parallel_legs_matches_the_leg_by_leg_count() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        k = int(rng.integers(0, 9))
        p0 = rng.uniform(-30, 30, (k, 2))
        # Mostly near-parallel legs (a survey), some at random angles.
        angle = np.where(rng.random(k) < 0.7, rng.normal(0.3, 0.05, k), rng.uniform(0, 6.3, k))
        angle = angle + np.where(rng.random(k) < 0.5, np.pi, 0.0)  # flown both ways
        length = rng.uniform(5, 20, k)
        p1 = p0 + np.c_[np.sin(angle), np.cos(angle)] * length[:, None]
        legs = list(zip(p0, p1, strict=True))
        assert _parallel_legs(p0, p1) == _reference_parallel_legs(legs)


def test_a_lawnmower_is_a_survey_and_a_straight_line_is_nothing() -> None:
    xs, ys = [], []
    for i in range(5):  # 5 legs of 20 km, 2 km apart, flown alternately north and south
        y = np.linspace(0, 20, 400)
        xs.append(np.full(400, 2.0 * i))
        ys.append(y if i % 2 == 0 else y[::-1])
    x, y = np.concatenate(xs), np.concatenate(ys)
    t = np.arange(len(x), dtype=np.float64) * 2.0
    assert shape_tags(x, y, t) == ["survey"]
    line = np.linspace(0, 100, 2000)
    assert shape_tags(line, line * 0.5, np.arange(2000, dtype=np.float64)) == []
