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


@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, st.integers(1, 9), elements=st.floats(-5e4, 5e4)))
def test_small_median_is_numpys_bit_for_bit(values: np.ndarray) -> None:
    from oddflights.scoring.tags import _median

    assert _median(values) == float(np.median(values))


def test_track_facts_keep_every_bit_and_refuse_another_key() -> None:
    """What the build stores for the tags comes back exactly (JSON floats), and only under
    the key it was worked out with."""
    import json

    from oddflights.scoring.tags import TrackFacts, facts_key

    low = np.array([[0.1 + 0.2, -1 / 3], [123.456789012345678, 2.0**-40]])
    facts = TrackFacts(("holding", "low_slow"), low, low[:1] * 3.0, low[1:] / 7.0)
    key = facts_key((52.0, 4.5))
    stored = json.loads(json.dumps(facts.to_json(key)))
    back = TrackFacts.from_json(stored, key)
    assert back is not None and back.tags == facts.tags
    assert back.low_xy.tobytes() == low.tobytes()
    assert back.circuit_xy.tobytes() == (low[:1] * 3.0).tobytes()
    assert back.approach_xy.tobytes() == (low[1:] / 7.0).tobytes()
    # Facts stored before circuits and low approaches were kept are worked out again.
    assert TrackFacts.from_json({k: v for k, v in stored.items() if k != "circuit_xy"}, key) is None
    assert TrackFacts.from_json(stored, facts_key((52.0, 4.6))) is None  # receiver moved
    assert TrackFacts.from_json({**stored, "tags": ["go_around"]}, key) is None
    assert TrackFacts.from_json({**stored, "low_xy": "x"}, key) is None
    assert TrackFacts.from_json(None, key) is None
    assert facts_key((52.0, 4.5), PARAMS.__class__(circling_deg=700.0)) != key
    # The parameters only scoring uses do not make stored facts stale.
    assert facts_key((52.0, 4.5), PARAMS.__class__(off_route_share=0.5)) == key


def test_go_around_is_its_low_points_near_an_airport() -> None:
    from oddflights.scoring.tags import go_around, go_around_points, near_airport

    t = np.linspace(0.0, 1.0, 200)
    x, y = 40.0 * t, np.zeros_like(t)
    # Down to 500 ft half-way, climbing back to 3,000 ft: a go-around at x = 20 km.
    alt = 500.0 + 2500.0 * np.abs(2.0 * t - 1.0)
    pts = go_around_points(x, y, alt)
    assert len(pts) > 0 and np.all(np.abs(pts[:, 0] - 20.0) < 13.0)
    for airports, want in ((np.array([[21.0, 3.0]]), True), (np.array([[60.0, 0.0]]), False)):
        assert go_around(x, y, alt, airports) is want
        assert near_airport(pts, airports) is want
    assert not go_around(x, y, alt, np.zeros((0, 2)))
    assert len(go_around_points(x[:4], y[:4], alt[:4])) == 0  # too few altitudes


def test_taking_tracks_of_flights_without_any_gives_empty_tracks() -> None:
    """Scoring falls back to the positions for flights without stored facts; when the day has
    none left (no positions, as for flights stored without them), each flight gets an empty
    track, not an IndexError."""
    from oddflights.scoring.tracks import Tracks, empty_tracks

    taken = empty_tracks().take(np.array([7, 3], dtype=np.int64))
    assert taken.flight_ids.tolist() == [7, 3] and taken.offsets.tolist() == [0, 0, 0]
    one = Tracks(np.array([5]), np.array([0, 2]), *(np.array([1.0, 2.0]) for _ in range(5)))
    both = one.take(np.array([9, 5], dtype=np.int64))
    assert both.offsets.tolist() == [0, 0, 2] and both.lat.tolist() == [1.0, 2.0]


# Constructed tracks near an airfield at (0, 0) km, runway along x (circuits, low approaches).
AIRFIELD = np.array([[0.5, 0.0]])
FAR_FIELD = np.array([[60.0, 0.0]])


def _leg(x0: float, y0: float, x1: float, y1: float, a0: float, a1: float, kt: float) -> list:
    """Points every ~100 m from (x0, y0) to (x1, y1), altitude a0 -> a1, at kt knots."""
    n = max(int(np.hypot(x1 - x0, y1 - y0) / 0.1), 2)
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    return [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, a0 + (a1 - a0) * t, np.full(n, kt)]


def _lap(kt: float = 75.0, low_ft: float = 0.0) -> list[list]:
    """One left-hand circuit from the runway's threshold back to it: up to 1,000 ft on
    upwind, downwind at 1,000 ft, down to ``low_ft`` at the threshold."""
    return [
        _leg(0, 0, 4, 0, low_ft, 1000, kt),
        _leg(4, 0, 4, 2.5, 1000, 1000, kt),
        _leg(4, 2.5, -3, 2.5, 1000, 1000, kt),
        _leg(-3, 2.5, -3, 0, 1000, 1000, kt),
        _leg(-3, 0, 0, 0, 1000, low_ft, kt),
    ]


def _tags(legs: list[list], airports: np.ndarray = AIRFIELD) -> list[str]:
    """flight_tags of the track made of ``legs``, with ``airports`` seen in training."""
    from oddflights.scoring.airports import unproject
    from oddflights.scoring.tags import Context, flight_tags

    x, y, alt, kt = (np.concatenate([leg[k] for leg in legs]) for k in range(4))
    centre = (52.5, 5.5)
    lat, lon = unproject(x, y, *centre)
    # ~1 s per 100 m at 75 kt is near enough for the tags that use time.
    track = {
        "lat": lat,
        "lon": lon,
        "t_s": np.arange(len(x), dtype=np.float64) * 2.5,
        "altitude_ft": alt,
        "groundspeed_kt": kt,
    }
    ctx = Context(centre, None, airports)
    return flight_tags(track, np.zeros((64, 64), dtype=np.uint8), ctx)


def _landing(kt: float = 160.0) -> list[list]:
    """From 30 km out at 3,000 ft down to the runway, then the roll to 15 kt."""
    return [_leg(-30, 0, 0, 0, 3000, 0, kt), _leg(0, 0, 1.5, 0, 0, 0, 15.0)]


def test_touch_and_goes_at_an_airfield_are_circuits() -> None:
    from oddflights.scoring.tags import airport_places

    laps = [leg for _ in range(3) for leg in _lap()]
    landed = [*laps, _leg(0, 0, 1.0, 0, 0, 0, 15.0)]
    # Not circling too, nor a go-around (and a light aircraft's laps are low and slow).
    assert _tags(landed) == ["circuits", "low_slow"]
    # Three laps then away to the north-east, climbing: still circuits.
    away = [*laps, _leg(0, 0, 30, 30, 0, 3500, 90.0)]
    assert _tags(away) == ["circuits", "low_slow"]
    x, y, alt, kt = (np.concatenate([leg[k] for leg in landed]) for k in range(4))
    circuit_xy, approach_xy = airport_places(x, y, alt, kt)
    assert circuit_xy.shape == (1, 2) and np.hypot(*circuit_xy[0]) < 1.0
    assert approach_xy.shape == (0, 2)
    # Far from any airport the training traffic uses, the laps are only circling.
    assert "circuits" not in _tags(landed, FAR_FIELD)
    # One lap (take-off, circuit, landing) is a local flight, not circuits.
    assert "circuits" not in _tags([*_lap(), _leg(0, 0, 1.0, 0, 0, 0, 15.0)])
    # Laps flown at 6,000 ft over the field are not circuits either.
    high = [[x, y, a + 6000.0, k] for x, y, a, k in laps]
    assert "circuits" not in _tags([_leg(-30, 0, 0, 0, 9000, 6000, 90.0), *high])


def test_a_pass_low_over_the_runway_then_away_is_a_low_approach() -> None:
    approach = [_leg(-30, 0, 0, 0, 3000, 150, 130.0), _leg(0, 0, 30, 10, 150, 4000, 140.0)]
    assert _tags(approach) == ["low_approach"]  # not also a go-around
    assert _tags(approach, FAR_FIELD) == []  # nowhere near an airport
    # An ordinary landing is neither.
    assert _tags(_landing()) == []
    # Landing, stopping and taking off again in one track: not a low approach.
    # (Touchdown at 120 kt; the stop comes 1.5 km down the runway, on the dip's floor.)
    stop = [
        _leg(-30, 0, 0, 0, 3000, 0, 160.0),
        _leg(0, 0, 0.8, 0, 0, 0, 120.0),
        _leg(0.8, 0, 1.5, 0, 0, 0, 60.0),
        _leg(1.5, 0, 1.6, 0, 0, 0, 5.0),
        _leg(1.6, 0, 30, 10, 0, 4000, 140.0),
    ]
    assert "low_approach" not in _tags(stop)
    # A go-around that comes back and lands (the simulator's) stays a go-around.
    around = [
        _leg(-30, 0, -1.5, 0, 3000, 300, 140.0),
        _leg(-1.5, 0, 8, 0, 300, 2000, 150.0),
        _leg(8, 0, 8, 5, 2000, 2000, 150.0),
        _leg(8, 5, -10, 5, 2000, 2000, 150.0),
        _leg(-10, 5, -10, 0, 2000, 2000, 150.0),
        _leg(-10, 0, 0, 0, 2000, 0, 140.0),
        _leg(0, 0, 1.5, 0, 0, 0, 15.0),
    ]
    assert _tags(around) == ["go_around"]


def test_dips_are_valleys_deep_enough_on_both_sides() -> None:
    from oddflights.scoring.tags import dips

    alt = np.array([3000, 1500, 200, 200, 1200, 1100, 0, 900, 1000, 3000], dtype=np.float64)
    # Two valleys: the flat one at 200 ft (counted once) and the one at 0 ft; the 1100 ft
    # step between them is too shallow, and the ends are never bottoms.
    assert dips(alt, 2000.0, 800.0) == [2, 6]
    assert dips(alt, 2000.0, 1100.0) == [6]  # 200 ft: only 1,000 ft up to 1,200 before 0
    assert dips(np.array([0.0, 1000, 0.0]), 2000.0, 800.0) == []  # a take-off and landing
