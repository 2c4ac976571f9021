"""The track facts (shape tags, low_slow, go-around, circuit and low-approach places) of built
and constructed tracks, bit for bit equal to a plain reference: the facts as first written,
flight by flight and window by window (per-window medians, run-by-run turn sums, leg-by-leg
survey counts, window-by-window circling gains). The fast code must not change a single fact."""

from __future__ import annotations

import datetime as dt
import itertools
import statistics

import numpy as np
import pytest

from oddflights.flights.geo import step_marks, turns_deg
from oddflights.flights.raster import project
from oddflights.flights.segment import make_flights
from oddflights.scoring.airports import unproject
from oddflights.scoring.tags import (
    PARAMS,
    TRACK_TAGS,
    TagParams,
    TrackFacts,
    _centred_median,
    facts_key,
    facts_of,
    hold_place,
    track_facts,
)
from oddflights.scoring.tracks import Tracks, track_slice, tracks_of_set
from oddflights.simulate import SimConfig, simulate

CENTRE = (52.0, 5.0)
Arr = np.ndarray

# --- The reference: plain loops, one flight at a time ---------------------------------------


def _ref_centred_median(values: Arr, window: int) -> Arr:
    """The median of each centred window (fewer values at the ends), window by window."""
    half = window // 2
    return np.array(
        [
            statistics.median(values[max(i - half, 0) : i + half + 1].tolist())
            for i in range(len(values))
        ],
        dtype=np.float64,
    )


def _ref_centred_mean(values: Arr, window: int) -> Arr:
    n, half = len(values), window // 2
    cs = np.concatenate(([0.0], np.cumsum(values)))
    i = np.arange(n)
    lo, hi = np.maximum(i - half, 0), np.minimum(i + half + 1, n)
    return (cs[hi] - cs[lo]) / (hi - lo)


def _ref_runs(mask: Arr) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, on in enumerate([*mask.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _ref_resample(x: Arr, y: Arr, t: Arr, p: TagParams) -> tuple[Arr, Arr, Arr]:
    step = np.hypot(np.diff(x), np.diff(y))
    first = step_marks(np.concatenate(([0.0], np.cumsum(step))), p.step_km)
    return x[first], y[first], t[first]


def _ref_hold(turn: Arr, rx: Arr, ry: Arr, p: TagParams) -> tuple[float, float] | None:
    smooth = _ref_centred_mean(turn, p.smooth_steps)
    turns = []
    for sign in (1.0, -1.0):
        for a, b in _ref_runs(smooth * sign >= p.turn_deg_per_step):
            angle = float(turn[a:b].sum()) * sign
            if p.hold_turn_deg[0] <= angle <= p.hold_turn_deg[1]:
                turns.append(
                    (sign, float(rx[a + 1 : b + 2].mean()), float(ry[a + 1 : b + 2].mean()))
                )
    best: list[tuple[float, float]] = []
    for s_i, x_i, y_i in turns:
        group = [
            (x_j, y_j)
            for s_j, x_j, y_j in turns
            if s_j == s_i and np.hypot(x_i - x_j, y_i - y_j) <= p.hold_same_place_km
        ]
        if len(group) > len(best):
            best = group
    if len(best) < p.hold_min_turns:
        return None
    return float(np.mean([g[0] for g in best])), float(np.mean([g[1] for g in best]))


def _ref_window_gain(cum: Arr, t_s: Arr, window_s: float) -> float:
    best = 0.0
    for i in range(len(cum)):
        span = cum[int(np.searchsorted(t_s, t_s[i] - window_s, side="right")) : i + 1]
        best = max(best, float(cum[i] - span.min()), float(span.max() - cum[i]))
    return best


def _ref_parallel_legs(p0: Arr, p1: Arr, p: TagParams) -> int:
    if len(p0) == 0:
        return 0
    d = p1 - p0
    axis = d / np.hypot(d[:, 0], d[:, 1])[:, None]
    normal = np.column_stack((axis[:, 1], -axis[:, 0]))
    aligned = np.abs(axis @ axis.T) >= np.cos(np.radians(p.survey_axis_deg))
    a0, a1 = axis @ p0.T, axis @ p1.T
    lo, hi = np.minimum(a0, a1), np.maximum(a0, a1)
    ref_lo, ref_hi = np.diag(lo)[:, None], np.diag(hi)[:, None]
    overlap = np.minimum(ref_hi, hi) - np.maximum(ref_lo, lo)
    beside = aligned & (overlap >= 0.5 * np.minimum(ref_hi - ref_lo, hi - lo))
    offsets = normal @ ((p0 + p1) / 2).T
    best = 0
    for r in range(len(p0)):
        o = np.sort(offsets[r][beside[r]])
        if len(o):
            best = max(best, 1 + int((np.diff(o) >= p.survey_leg_spacing_km).sum()))
    return best


def _ref_shape_tags(x: Arr, y: Arr, t_s: Arr, p: TagParams) -> tuple[list[str], object]:
    """The shape tags and the hold's place."""
    rx, ry, rt = _ref_resample(x, y, t_s, p)
    if len(rx) < 4:
        return [], None
    turn = turns_deg(np.diff(rx), np.diff(ry))
    tags = []
    place = _ref_hold(turn, rx, ry, p)
    if place is not None:
        tags.append("holding")
    cum = np.cumsum(turn)
    if place is None and _ref_window_gain(cum, rt[1:-1], p.circling_window_s) >= p.circling_deg:
        tags.append("circling")
    runs = np.array(
        _ref_runs(
            np.abs(_ref_centred_mean(turn, p.straight_smooth_steps)) < p.straight_deg_per_step
        )
    )
    if len(runs):
        p0 = np.column_stack((rx[runs[:, 0] + 1], ry[runs[:, 0] + 1]))
        p1 = np.column_stack((rx[runs[:, 1]], ry[runs[:, 1]]))
        long = np.hypot(*(p1 - p0).T) >= p.survey_min_leg_km
        if _ref_parallel_legs(p0[long], p1[long], p) >= p.survey_min_legs:
            tags.append("survey")
    return tags, place


def _ref_dips(a: Arr, low_ft: float, climb_ft: float) -> list[int]:
    out: list[int] = []
    for i in range(1, len(a) - 1):
        if not (a[i - 1] > a[i] <= a[i + 1] and a[i] < low_ft):
            continue
        lower = np.flatnonzero(a[:i] < a[i])
        left = float(a[(lower[-1] + 1 if len(lower) else 0) : i].max())
        lower = np.flatnonzero(a[i + 1 :] < a[i])
        right = a[i + 1 : i + 1 + lower[0]] if len(lower) else a[i + 1 :]
        if left - a[i] < climb_ft or len(right) == 0 or float(right.max()) - a[i] < climb_ft:
            continue
        if out and float(a[out[-1] : i + 1].max()) - max(a[out[-1]], a[i]) < climb_ft:
            continue
        out.append(i)
    return out


def _ref_places(px: Arr, py: Arr, alt: Arr, speed: Arr, p: TagParams) -> tuple[Arr, Arr]:
    bottoms = _ref_dips(alt, p.go_around_low_ft, p.go_around_climb_ft)
    n = len(alt)
    circuit, in_circuits, todo = [], set(), list(bottoms)
    while todo:
        cx, cy = float(px[todo[0]]), float(py[todo[0]])
        here = [i for i in todo if np.hypot(px[i] - cx, py[i] - cy) <= p.circuit_place_km]
        todo = [i for i in todo if i not in here]
        ends = [
            e
            for e in (0, n - 1)
            if alt[e] < p.go_around_low_ft
            and np.hypot(px[e] - cx, py[e] - cy) <= p.circuit_place_km
        ]
        laps = 0
        for a, b in itertools.pairwise(sorted({*here, *ends})):
            d = np.hypot(px[a : b + 1] - cx, py[a : b + 1] - cy)
            if (
                p.circuit_min_lap_km <= float(d.max()) <= p.circuit_max_km
                and float(alt[a : b + 1].max()) <= p.circuit_max_ft
            ):
                laps += 1
        if laps >= p.circuit_min_laps:
            circuit.append((float(px[here].mean()), float(py[here].mean())))
            in_circuits.update(here)
    approach = []
    for k, i in enumerate(bottoms):
        if i in in_circuits:
            continue
        later = bottoms[k + 1 :] + ([n - 1] if alt[-1] < p.go_around_low_ft else [])
        if any(np.hypot(px[j] - px[i], py[j] - py[i]) <= p.low_approach_back_km for j in later):
            continue
        above = np.flatnonzero(alt > alt[i] + p.low_approach_floor_ft)
        lo = int(above[above < i].max()) + 1 if (above < i).any() else 0
        hi = int(above[above > i].min()) if (above > i).any() else n
        floor = speed[lo:hi]
        floor = floor[np.isfinite(floor)]
        if floor.size and float(floor.min()) < p.low_approach_min_kt:
            continue
        approach.append((float(px[i]), float(py[i])))
    return np.array(circuit).reshape(-1, 2), np.array(approach).reshape(-1, 2)


def _ref_facts(x: Arr, y: Arr, t_s: Arr, alt: Arr, speed: Arr, p: TagParams = PARAMS) -> TrackFacts:
    tags, _ = _ref_shape_tags(x, y, t_s, p)
    a, s = alt[np.isfinite(alt)], speed[np.isfinite(speed)]
    if a.size and s.size and np.median(a) < p.low_ft and np.median(s) < p.slow_kt:
        tags.append("low_slow")
    ok = np.isfinite(alt)
    if ok.sum() < 5:
        return TrackFacts(tuple(t for t in TRACK_TAGS if t in tags))
    smooth = _ref_centred_median(alt[ok], p.go_around_median_points)
    px, py = x[ok], y[ok]
    low = (
        (smooth < p.go_around_low_ft)
        & (np.maximum.accumulate(smooth) - smooth >= p.go_around_climb_ft)
        & (np.maximum.accumulate(smooth[::-1])[::-1] - smooth >= p.go_around_climb_ft)
    )
    circuit, approach = _ref_places(px, py, smooth, speed[ok], p)
    return TrackFacts(
        tuple(t for t in TRACK_TAGS if t in tags),
        np.column_stack((px[low], py[low])).reshape(-1, 2),
        circuit,
        approach,
    )


# --- The tracks: a simulated day rich in odd flights, and constructed airfield work ----------


def _leg(x0: float, y0: float, x1: float, y1: float, a0: float, a1: float, kt: float) -> list:
    """Points every ~100 m from (x0, y0) to (x1, y1) km, altitude a0 -> a1 ft, at kt knots."""
    n = max(int(np.hypot(x1 - x0, y1 - y0) / 0.1), 2)
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    return [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, a0 + (a1 - a0) * t, np.full(n, float(kt))]


def _lap() -> list[list]:
    """A left-hand circuit from the threshold at (0, 0) km back to it (a touch-and-go)."""
    return [
        _leg(0, 0, 4, 0, 0, 1000, 75),
        _leg(4, 0, 4, 2.5, 1000, 1000, 75),
        _leg(4, 2.5, -3, 2.5, 1000, 1000, 75),
        _leg(-3, 2.5, -3, 0, 1000, 1000, 75),
        _leg(-3, 0, 0, 0, 1000, 0, 75),
    ]


CONSTRUCTED = {
    "circuits": [*(leg for _ in range(3) for leg in _lap()), _leg(0, 0, 1, 0, 0, 0, 15)],
    "low_approach": [_leg(-30, 0, 0, 0, 3000, 150, 130), _leg(0, 0, 30, 10, 150, 4000, 140)],
    "stop_and_go": [
        _leg(-30, 0, 0, 0, 3000, 0, 160),
        _leg(0, 0, 1.5, 0, 0, 0, 60),
        _leg(1.5, 0, 1.6, 0, 0, 0, 5),
        _leg(1.6, 0, 30, 10, 0, 4000, 140),
    ],
    "go_around": [
        _leg(-30, 0, -1.5, 0, 3000, 300, 140),
        _leg(-1.5, 0, 8, 0, 300, 2000, 150),
        _leg(8, 0, 8, 5, 2000, 2000, 150),
        _leg(8, 5, -10, 5, 2000, 2000, 150),
        _leg(-10, 5, -10, 0, 2000, 2000, 150),
        _leg(-10, 0, 0, 0, 2000, 0, 140),
        _leg(0, 0, 1.5, 0, 0, 0, 15),
    ],
}


def _constructed() -> Tracks:
    """The CONSTRUCTED flights (some altitudes and speeds unknown, as in real data)."""
    cols: dict[str, list[Arr]] = {k: [] for k in ("lat", "lon", "t", "alt", "kt")}
    counts = []
    for k, legs in enumerate(CONSTRUCTED.values()):
        x, y, alt, kt = (np.concatenate([leg[j] for leg in legs]) for j in range(4))
        alt[7::41] = np.nan
        kt[5::37] = np.nan
        lat, lon = unproject(x + 20.0 * k, y - 10.0, *CENTRE)
        for name, v in zip(cols, (lat, lon, np.arange(len(x)) * 2.5, alt, kt), strict=True):
            cols[name].append(np.asarray(v, dtype=np.float64))
        counts.append(len(x))
    lat, lon, t, alt, kt = (np.concatenate(v) for v in cols.values())
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return Tracks(np.arange(len(counts), dtype=np.int64), offsets, lat, lon, t, alt, kt)


@pytest.fixture(scope="module")
def tracks() -> list[Tracks]:
    sim = simulate(
        SimConfig(
            lat=CENTRE[0],
            lon=CENTRE[1],
            days=1,
            flights_per_day=40,
            start_day=dt.date(2026, 5, 1),
            seed=5,
            anomaly_share=0.5,
        )
    )
    return [tracks_of_set(make_flights(sim.positions)), _constructed()]


def test_track_facts_are_the_references_bit_for_bit(tracks: list[Tracks]) -> None:
    key = facts_key(CENTRE)
    seen: dict[str, int] = {}
    for batch in tracks:
        x_all, y_all = (
            np.asarray(v, dtype=np.float64) for v in project(batch.lat, batch.lon, *CENTRE)
        )
        got = facts_of(batch, CENTRE)
        assert len(got) == len(batch)
        for i, (a, b) in enumerate(itertools.pairwise(batch.offsets.tolist())):
            args = (
                x_all[a:b],
                y_all[a:b],
                batch.t_s[a:b],
                batch.altitude_ft[a:b],
                batch.groundspeed_kt[a:b],
            )
            want = _ref_facts(*args).to_json(key)
            assert got[i].to_json(key) == want, i
            # The one-flight entry points agree (the build's and the tag texts').
            assert track_facts(track_slice(batch, i), CENTRE).to_json(key) == want
            assert hold_place(*args[:3]) == _ref_shape_tags(*args[:3], PARAMS)[1]
            for tag in want["tags"]:
                seen[tag] = seen.get(tag, 0) + 1
            for name in ("low_xy", "circuit_xy", "approach_xy"):
                seen[name] = seen.get(name, 0) + bool(want[name])
    # Every kind of fact was exercised (and found), not only empty ones.
    for name in (
        "holding",
        "circling",
        "survey",
        "low_slow",
        "low_xy",
        "circuit_xy",
        "approach_xy",
    ):
        assert seen.get(name, 0) >= 1, (name, seen)


@pytest.mark.parametrize("window", [1, 3, 5, 7])
def test_centred_median_is_the_window_by_window_median(window: int) -> None:
    rng = np.random.default_rng(window)
    for n in range(0, 25):
        # Altitudes in steps of 25 ft: many ties, as in real data.
        values = rng.integers(-4, 200, n).astype(np.float64) * 25.0
        got = _centred_median(values, window)
        assert got.tobytes() == _ref_centred_median(values, window).tobytes()


def test_low_slow_is_the_medians_below_the_limits() -> None:
    """Counting below the limits decides as np.median does, ties at the middle included."""
    from oddflights.scoring.tags import low_slow

    rng = np.random.default_rng(11)
    for n in range(1, 40):
        for _ in range(20):
            # Around the limits, on a coarse grid: medians often on them, or straddling them.
            alt = PARAMS.low_ft + rng.integers(-3, 4, n) * 500.0
            kt = PARAMS.slow_kt + rng.integers(-2, 3, n) * 10.0
            alt[rng.random(n) < 0.1] = np.nan
            a, s = alt[np.isfinite(alt)], kt
            want = bool(a.size and np.median(a) < PARAMS.low_ft and np.median(s) < PARAMS.slow_kt)
            assert low_slow(alt, kt) is want
