"""Why a flight is odd, in words: tags from the flight's shape and the training traffic (numpy
only; every threshold is a field of ``TagParams``).

Tags (a flight may carry several, or none):

- ``circling``: turning the same way through ≥ 720° within 30 minutes (orbits, thermals).
  A racetrack's turns are same-way too, so a flight tagged ``holding`` is not also ``circling``.
- ``holding``: repeated ~180° turns, the same way, at the same place (a racetrack).
- ``survey``: ≥ 3 parallel straight legs side by side (a lawnmower pattern).
- ``circuits``: laps at low altitude around one airport, touching down (or passing low)
  between them: ≥ 2 laps, each below ~4,000 ft and within 15 km of the place (pattern work,
  touch-and-goes). A flight flying circuits is not also ``circling``, ``go_around`` or
  ``low_approach``.
- ``go_around``: a descent below ~2,000 ft near an airport the receiver's training traffic
  uses, then a climb of ≥ 800 ft (and the flight came back to that airport, or did more).
- ``low_approach``: a descent below ~2,000 ft near such an airport, a climb of ≥ 800 ft
  away, never slower than a landing roll, and the flight does not come back there (it is
  not a ``go_around`` then).
- ``off_route``: a good share of the flight's pixels lie where training traffic almost never
  flies (the training rasters' mean image is below a small occupancy).
- ``low_slow``: mostly low (median < 5,000 ft) and slow (median < 140 kt).

What depends on the track alone (the shape tags, ``low_slow`` and the points where a flight
dipped low between climbs) is worked out once, when the flight is built, as its
``TrackFacts``, and stored with it (``flights.track_tags``): rescoring a day then needs no
positions. ``off_route`` and ``go_around`` also depend on the scoring model's training days
(their mean image, their airports), so they are decided at scoring, from the image and the
stored low points; ``circuits`` and ``low_approach`` likewise, from the stored places of the
flight's dips (``TrackFacts.circuit_xy``, ``approach_xy``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from oddflights.flights.geo import step_marks, turns_deg
from oddflights.flights.raster import project
from oddflights.scoring.tracks import Tracks, track_slice

FloatArray = npt.NDArray[np.floating[Any]]

TAGS = (
    "circling",
    "holding",
    "survey",
    "circuits",
    "go_around",
    "low_approach",
    "off_route",
    "low_slow",
)
# The tags that depend on the track alone (stored with the flight as its TrackFacts).
TRACK_TAGS = ("circling", "holding", "survey", "low_slow")
# Bumped when the way TrackFacts are worked out changes (besides TagParams, which the key
# holds anyway): stored facts with another key are worked out again from the positions.
FACTS_VERSION = 2  # 2: circuit and low-approach places


@dataclass(frozen=True)
class TagParams:
    """Every threshold of the tags, in one place."""

    # Headings are taken between points resampled this far apart along the track: position
    # noise between raw points would add up to hundreds of degrees of "turning"; a glider's
    # thermal (radius ~200 m) still gets ~5 points per circle.
    step_km: float = 0.25
    # A step belongs to a turn when the turn rate, averaged over smooth_steps, exceeds this
    # (a standard-rate airliner turn of radius ~2.3 km turns ~6° per 0.25 km).
    turn_deg_per_step: float = 3.0
    straight_deg_per_step: float = 2.0
    smooth_steps: int = 5
    # Straight legs are judged on a longer average (~2 km): noise breaks them up otherwise.
    straight_smooth_steps: int = 9
    circling_deg: float = 720.0
    circling_window_s: float = 30 * 60.0
    hold_turn_deg: tuple[float, float] = (140.0, 220.0)
    hold_same_place_km: float = 3.0
    # Turns at one place that make a hold (3 laps): two could be an approach flown twice.
    hold_min_turns: int = 3
    survey_min_leg_km: float = 5.0
    survey_axis_deg: float = 10.0
    survey_min_legs: int = 3
    survey_leg_spacing_km: float = 1.0
    go_around_low_ft: float = 2000.0
    go_around_climb_ft: float = 800.0
    # Altitudes are smoothed by a centred running median over this many points.
    go_around_median_points: int = 5
    airport_near_km: float = 8.0
    # A dip: a low point (below go_around_low_ft) with a climb of go_around_climb_ft on both
    # sides before the altitude goes any lower (the valley's depth, so each touch-and-go of a
    # circuit is its own dip, however high the flight climbs afterwards).
    # A dip the flight leaves from (no later dip, nor its end low, within low_approach_back_km)
    # is a low approach, unless the flight was slower than low_approach_min_kt on the dip's
    # floor (within low_approach_floor_ft of its bottom): it stopped, a landing and a new
    # take-off in one track.
    low_approach_back_km: float = 8.0
    low_approach_min_kt: float = 40.0
    low_approach_floor_ft: float = 200.0
    # Circuits: visits to one place (dips, and the track's start and end when low there,
    # within circuit_place_km of the first dip), one after another joined by laps: between
    # them the flight went at least circuit_min_lap_km away (not a bounce), stayed within
    # circuit_max_km and below circuit_max_ft. At least circuit_min_laps laps.
    circuit_place_km: float = 4.0
    circuit_min_lap_km: float = 2.0
    circuit_max_km: float = 15.0
    circuit_max_ft: float = 4000.0
    circuit_min_laps: int = 2
    off_route_occupancy: float = 0.002
    off_route_share: float = 0.3
    off_route_min_pixels: int = 3
    low_ft: float = 5000.0
    slow_kt: float = 140.0


PARAMS = TagParams()


@dataclass(frozen=True)
class Context:
    """What the tags compare a flight with: the receiver, the training traffic's mean image
    (None when unknown) and the airports seen in training ((x, y) km, may be empty)."""

    centre: tuple[float, float]
    mean_image: npt.NDArray[np.floating[Any]] | None
    airports_xy: FloatArray
    params: TagParams = field(default=PARAMS)


def _resample(
    x: FloatArray, y: FloatArray, t: FloatArray, step_km: float
) -> tuple[FloatArray, ...]:
    """Points about ``step_km`` apart along the track (the first point of each step)."""
    along = np.concatenate(([0.0], np.cumsum(np.hypot(x[1:] - x[:-1], y[1:] - y[:-1]))))
    first = np.flatnonzero(step_marks(along, step_km))
    # ndarray.take: the same points as x[first], a good deal faster (most points are kept).
    return x.take(first), y.take(first), t.take(first)


def _runs(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """[start, end) of each run of True ((k, 2))."""
    padded = np.zeros(len(mask) + 2, dtype=bool)
    padded[1:-1] = mask
    return np.flatnonzero(padded[1:] != padded[:-1]).astype(np.int64).reshape(-1, 2)


def _window_gain(cum: FloatArray, t_s: FloatArray, window_s: float) -> float:
    """The most signed turn gained (either way) within any ``window_s`` seconds: for each
    point, against the least and most cumulative turn in the window (t - window_s, t]."""
    left = np.searchsorted(t_s, t_s - window_s, side="right")
    n = len(cum)
    at = np.arange(n)
    if n == 0 or bool((left > at).any()) or not bool(np.isfinite(cum).all()):
        # Not in time order, or not finite: window by window, as written first.
        best = 0.0
        for i, a in enumerate(left):
            span = cum[a : i + 1]
            best = max(best, float(cum[i] - span.min()), float(span.max() - cum[i]))
        return best
    # Every window's least and most at once, from the least and most of runs of 2^k points
    # (a sparse table): each window [a, i] is covered by two runs of the largest 2^k that
    # fits in it. Minima and maxima pick values, so the gains are the window-by-window ones.
    _, exp = np.frexp((at - left + 1).astype(np.float64))
    k = exp - 1  # floor(log2(window length)), exactly
    lows, highs = [cum], [cum]
    while (1 << len(lows)) <= n:
        h = 1 << (len(lows) - 1)
        lows.append(np.minimum(lows[-1][:-h], lows[-1][h:]))
        highs.append(np.maximum(highs[-1][:-h], highs[-1][h:]))
    low_t = np.full((len(lows), n), np.inf)
    high_t = np.full((len(lows), n), -np.inf)
    for j, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
        low_t[j, : len(lo)], high_t[j, : len(hi)] = lo, hi
    second = at - (1 << k) + 1
    least = np.minimum(low_t[k, left], low_t[k, second])
    most = np.maximum(high_t[k, left], high_t[k, second])
    return max(0.0, float((cum - least).max()), float((most - cum).max()))


def shape_tags(
    x: FloatArray, y: FloatArray, t_s: FloatArray, params: TagParams = PARAMS
) -> list[str]:
    """circling / holding / survey from a track in km (x east, y north) and seconds."""
    p = params
    rx, ry, rt = _resample(x, y, t_s, p.step_km)
    if len(rx) < 4:
        return []
    turn = turns_deg(rx[1:] - rx[:-1], ry[1:] - ry[:-1])  # at points 1..n-2, signed (+ = right)
    when = rt[1:-1]
    tags: list[str] = []
    cs = _cumulative(turn)  # shared by the running means, the hold and the circling
    cum = cs[1:]
    smooth = _centred_mean(turn, p.smooth_steps, cs)

    # Holding: same-way ~180° turns whose centres repeat at one place.
    holding = _hold_place(turn, smooth, rx, ry, p, cs) is not None
    if holding:
        tags.append("holding")

    # Circling: the signed turn gained within any 30-minute window. Most flights never turn
    # circling_deg net in all, which settles it without the windowed search.
    if (
        not holding
        and float(cum.max() - cum.min()) >= p.circling_deg
        and _window_gain(cum, when, p.circling_window_s) >= p.circling_deg
    ):
        tags.append("circling")

    # Survey: straight legs sharing an axis, side by side (overlapping along the axis) at
    # distinct offsets. Overlap matters: legs of one long route differ by a few degrees and
    # would otherwise sit "side by side" 100 km apart.
    runs = _runs(np.abs(_centred_mean(turn, p.straight_smooth_steps, cs)) < p.straight_deg_per_step)
    if len(runs) >= p.survey_min_legs:  # fewer legs than that can never make a survey
        p0, p1 = _points(rx, ry, runs[:, 0] + 1), _points(rx, ry, runs[:, 1])
        long = np.hypot(p1[:, 0] - p0[:, 0], p1[:, 1] - p0[:, 1]) >= p.survey_min_leg_km
        # Side by side legs are counted among the long ones: too few settle it.
        if (
            int(long.sum()) >= p.survey_min_legs
            and _parallel_legs(p0[long], p1[long], p, p.survey_min_legs) >= p.survey_min_legs
        ):
            tags.append("survey")
    return tags


def _points(x: FloatArray, y: FloatArray, at: npt.NDArray[np.int64]) -> FloatArray:
    """The points ``at`` as (k, 2) rows (np.column_stack((x[at], y[at])), less overhead)."""
    px, py = x.take(at), y.take(at)
    out = np.empty((len(px), 2), dtype=np.float64)
    out[:, 0], out[:, 1] = px, py
    return out


def _hold_place(
    turn: FloatArray,
    smooth: FloatArray,
    rx: FloatArray,
    ry: FloatArray,
    p: TagParams,
    cs: FloatArray | None = None,
) -> tuple[float, float] | None:
    """The mean centre of the most same-way ~180° turns at one place, when they are at least
    hold_min_turns (a hold); None otherwise. ``cs``: _cumulative(turn), when at hand."""
    # A turn's angle is the sum of its run (turn[a:b].sum(), numpy's order of adding). The
    # cumulative turn gives every run's angle at once, to within its rounding (at most
    # ~3·n·eps·Σ|turn|, and |turn| <= 180°: bounded generously by slack): only the runs it
    # puts near the hold's range are summed exactly, so the result is the run-by-run one, bit
    # for bit, for a fraction of the sums.
    if cs is None:
        cs = _cumulative(turn)
    n = len(turn)
    eps = float(np.finfo(turn.dtype if turn.dtype.kind == "f" else np.float64).eps)
    slack = 4.0 * n * eps * (180.0 * n + 1.0)
    turns = []
    for sign in (1.0, -1.0):
        runs = _runs(smooth * sign >= p.turn_deg_per_step)
        if len(runs) == 0:
            continue
        rough = (cs[runs[:, 1]] - cs[runs[:, 0]]) * sign
        near = (rough >= p.hold_turn_deg[0] - slack) & (rough <= p.hold_turn_deg[1] + slack)
        for a, b in runs[near].tolist():
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


def hold_place(
    x: FloatArray, y: FloatArray, t_s: FloatArray, params: TagParams = PARAMS
) -> tuple[float, float] | None:
    """Where a flight held ((x, y) km, the centre of its repeated turns), as the ``holding``
    tag finds it; None when it did not hold."""
    p = params
    rx, ry, _ = _resample(x, y, t_s, p.step_km)
    if len(rx) < 4:
        return None
    turn = turns_deg(rx[1:] - rx[:-1], ry[1:] - ry[:-1])
    return _hold_place(turn, _centred_mean(turn, p.smooth_steps), rx, ry, p)


def _cumulative(values: FloatArray) -> FloatArray:
    """0, then the cumulative sums of ``values`` (np.cumsum's, in their own precision)."""
    return np.concatenate(([0.0], np.cumsum(values)))


def _centred_mean(values: FloatArray, window: int, cs: FloatArray | None = None) -> FloatArray:
    """Centred moving average over ``window`` (odd) values, over fewer at the ends (as pandas'
    ``rolling(window, center=True, min_periods=1).mean()``), vectorised. ``cs``:
    _cumulative(values), when at hand."""
    n = len(values)
    half = window // 2
    if cs is None:
        cs = _cumulative(values)
    full = 2 * half + 1  # the window (an even one is taken one longer)
    if n < full:  # no full window
        i = np.arange(n)
        lo, hi = np.maximum(i - half, 0), np.minimum(i + half + 1, n)
        return (cs[hi] - cs[lo]) / (hi - lo)
    # The full windows by slices, the ends (fewer values) by their indices: the same sums
    # and divisions, without gathering every point.
    out = np.empty(n, dtype=np.float64)
    out[half : n - half] = (cs[full:] - cs[: n - full + 1]) / full
    i = np.concatenate((np.arange(half), np.arange(n - half, n)))
    lo, hi = np.maximum(i - half, 0), np.minimum(i + half + 1, n)
    out[i] = (cs[hi] - cs[lo]) / (hi - lo)
    return out


def _centred_median(values: FloatArray, window: int) -> FloatArray:
    """Centred running median over ``window`` (odd) values, over fewer at the ends (as pandas'
    ``rolling(window, center=True, min_periods=1).median()``)."""
    n, half = len(values), window // 2
    out = np.empty(n, dtype=np.float64)
    if n >= window:
        out[half : n - half] = _sliding_median(values, window)
    for i in [*range(min(half, n)), *range(max(n - half, half), n)]:
        out[i] = _median(values[max(i - half, 0) : i + half + 1])
    return out


def _median3(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    """Element by element, the middle one of three arrays (one of them: exact)."""
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _sliding_median(values: FloatArray, window: int) -> FloatArray:
    """np.median of each full ``window`` (odd, <= len(values)) of consecutive values, equal to
    it value for value (NaN where a window holds one). An odd window's median is one of its
    values, so windows of 3 and 5 pick it with a few element-wise min/max (a selection
    network) instead of partitioning every window."""
    n = len(values)
    cols = [values[k : n - window + 1 + k] for k in range(window)]
    if window == 1:
        return np.array(values, dtype=np.float64)
    if window == 3:
        return _median3(*cols)
    if window == 5:
        a, b, c, d, e = cols
        # The 3rd of 5: the middle of e, the larger of the pairs' minima and the smaller of
        # their maxima.
        low = np.maximum(np.minimum(a, b), np.minimum(c, d))
        high = np.minimum(np.maximum(a, b), np.maximum(c, d))
        return _median3(e, low, high)
    view = np.lib.stride_tricks.sliding_window_view(values, window)
    return np.asarray(np.median(view, axis=1), dtype=np.float64)


def _median(values: FloatArray) -> float:
    """np.median of a few finite values, bit for bit (the mean of the middle two when even),
    without its overhead (it runs for both ends of every flight)."""
    s = sorted(values.tolist())
    m = len(s) // 2
    return float(s[m]) if len(s) % 2 else float((s[m - 1] + s[m]) / 2.0)


def _parallel_legs(
    p0: FloatArray, p1: FloatArray, params: TagParams = PARAMS, at_least: int = 0
) -> int:
    """The most legs (leg i from ``p0[i]`` to ``p1[i]``, km) found side by side: within
    survey_axis_deg of one leg's axis, overlapping it along the axis by half their length, at
    offsets survey_leg_spacing_km apart. With ``at_least``, 0 when fewer than that many legs
    are beside any one (the count is then below it too: most flights, not a survey)."""
    if len(p0) == 0:
        return 0
    d = p1 - p0
    axis = d / np.hypot(d[:, 0], d[:, 1])[:, None]  # (k, 2)
    normal = np.column_stack((axis[:, 1], -axis[:, 0]))
    # Row r: every leg seen in the frame of reference leg r.
    aligned = np.abs(axis @ axis.T) >= np.cos(np.radians(params.survey_axis_deg))
    a0, a1 = axis @ p0.T, axis @ p1.T  # along-axis ends, (ref, leg)
    lo, hi = np.minimum(a0, a1), np.maximum(a0, a1)
    ref_lo, ref_hi = np.diag(lo)[:, None], np.diag(hi)[:, None]
    overlap = np.minimum(ref_hi, hi) - np.maximum(ref_lo, lo)
    beside = aligned & (overlap >= 0.5 * np.minimum(ref_hi - ref_lo, hi - lo))
    offsets = normal @ ((p0 + p1) / 2).T
    # Row by row, the sorted offsets of the legs beside the reference leg come first (the
    # others sort last, as +inf); the gaps counted are those between them only.
    count = beside.sum(axis=1)
    if not count.any() or int(count.max()) < at_least:
        return 0
    o = np.sort(np.where(beside, offsets, np.inf), axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf past the legs beside: not counted
        step = np.diff(o, axis=1)
    gaps = (step >= params.survey_leg_spacing_km) & (
        np.arange(len(p0) - 1)[None, :] < (count - 1)[:, None]
    )
    return int((1 + gaps.sum(axis=1))[count > 0].max())


def go_around_points(
    x: FloatArray, y: FloatArray, altitude_ft: FloatArray, params: TagParams = PARAMS
) -> FloatArray:
    """Where the flight was below go_around_low_ft with a climb of go_around_climb_ft both
    before and after ((k, 2) km; empty when never, or with fewer than 5 known altitudes)."""
    known = _known_altitudes(x, y, altitude_ft, params)
    if known is None:
        return _no_points()
    return _low_points(*known[:3], params)


def _known_altitudes(
    x: FloatArray, y: FloatArray, altitude_ft: FloatArray, params: TagParams
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]] | None:
    """The points with a known altitude (x, y, the altitudes smoothed by the centred running
    median, and which points they are); None with fewer than 5 of them."""
    ok = np.isfinite(altitude_ft)
    known = int(np.count_nonzero(ok))
    if known < 5:
        return None
    if known == len(ok):  # all of them (most flights): no copies
        return x, y, _centred_median(altitude_ft, params.go_around_median_points), ok
    alt = _centred_median(altitude_ft[ok], params.go_around_median_points)
    return x[ok], y[ok], alt, ok


def _low_points(px: FloatArray, py: FloatArray, alt: FloatArray, p: TagParams) -> FloatArray:
    """go_around_points of the points with a known altitude (``alt``: smoothed)."""
    low = alt < p.go_around_low_ft
    if not low.any():  # most flights: the climbs need not be looked at
        return _no_points()
    before = np.maximum.accumulate(alt)
    after = np.maximum.accumulate(alt[::-1])[::-1]
    low &= (before - alt >= p.go_around_climb_ft) & (after - alt >= p.go_around_climb_ft)
    return _points(px, py, np.flatnonzero(low))


def dips(altitude: FloatArray, low_ft: float, climb_ft: float) -> list[int]:
    """The bottoms of the valleys of ``altitude`` (finite, smoothed) that lie below ``low_ft``
    and are at least ``climb_ft`` deep on both sides (the climb before the altitude goes any
    lower), in order; a flat bottom counts once. The ends are never bottoms."""
    a = altitude
    n = len(a)
    if n < 3 or not (a < low_ft).any():
        return []
    # Candidates: the first point of each local minimum (a plateau counts at its start).
    prev_higher = np.zeros(n, dtype=bool)
    prev_higher[1:] = a[1:] < a[:-1]
    next_not_lower = np.zeros(n, dtype=bool)
    next_not_lower[:-1] = a[:-1] <= a[1:]
    # A valley that deep has a climb that high somewhere before and after it: that cheap
    # test leaves few candidates for the walk below (most flights have none).
    deep = (np.maximum.accumulate(a) - a >= climb_ft) & (
        np.maximum.accumulate(a[::-1])[::-1] - a >= climb_ft
    )
    cand = np.flatnonzero(prev_higher & next_not_lower & deep & (a < low_ft))
    out: list[int] = []
    for i in cand.tolist():
        lower = np.flatnonzero(a[:i] < a[i])
        left = float(a[(lower[-1] + 1 if len(lower) else 0) : i].max())
        lower = np.flatnonzero(a[i + 1 :] < a[i])
        right = a[i + 1 : i + 1 + lower[0]] if len(lower) else a[i + 1 :]
        if left - a[i] < climb_ft or len(right) == 0 or float(right.max()) - a[i] < climb_ft:
            continue
        # Two bottoms with no climb of climb_ft between them are one valley (flat bottom).
        if out and float(a[out[-1] : i + 1].max()) - max(a[out[-1]], a[i]) < climb_ft:
            continue
        out.append(i)
    return out


def airport_places(
    x: FloatArray,
    y: FloatArray,
    altitude_ft: FloatArray,
    speed_kt: FloatArray | None = None,
    params: TagParams = PARAMS,
) -> tuple[FloatArray, FloatArray]:
    """Where the flight flew circuits ((k, 2) km, one place per airport) and its low
    approaches ((k, 2) km, each dip's bottom), from a track in km and feet (and knots: without
    them no dip is taken for a stop). Empty when none, or with fewer than 5 known altitudes."""
    known = _known_altitudes(x, y, altitude_ft, params)
    if known is None:
        return _no_points(), _no_points()
    return _places(*known, speed_kt, params)


def _places(
    px: FloatArray,
    py: FloatArray,
    alt: FloatArray,
    ok: npt.NDArray[np.bool_],
    speed_kt: FloatArray | None,
    p: TagParams,
) -> tuple[FloatArray, FloatArray]:
    """airport_places of the points with a known altitude (``alt``: smoothed; ``ok``: which
    of the track's points they are)."""
    none = _no_points()
    bottoms = dips(alt, p.go_around_low_ft, p.go_around_climb_ft)
    if not bottoms:
        return none, none.copy()
    n = len(alt)

    # Circuits: the dips at one place, with the ends when low there, joined by laps.
    circuit: list[tuple[float, float]] = []
    in_circuits: set[int] = set()
    todo = list(bottoms)
    while todo:
        first = todo[0]
        cx, cy = float(px[first]), float(py[first])
        here = [i for i in todo if np.hypot(px[i] - cx, py[i] - cy) <= p.circuit_place_km]
        todo = [i for i in todo if i not in here]
        visits = sorted(
            {
                *here,
                *(
                    e
                    for e in (0, n - 1)
                    if alt[e] < p.go_around_low_ft
                    and np.hypot(px[e] - cx, py[e] - cy) <= p.circuit_place_km
                ),
            }
        )
        laps = 0
        for a, b in itertools.pairwise(visits):
            d = np.hypot(px[a : b + 1] - cx, py[a : b + 1] - cy)
            if (
                p.circuit_min_lap_km <= float(d.max()) <= p.circuit_max_km
                and float(alt[a : b + 1].max()) <= p.circuit_max_ft
            ):
                laps += 1
        if laps >= p.circuit_min_laps:
            circuit.append((float(px[here].mean()), float(py[here].mean())))
            in_circuits.update(here)

    # Low approaches: dips the flight left for good, without stopping.
    approach: list[tuple[float, float]] = []
    end_low = alt[-1] < p.go_around_low_ft
    for k, i in enumerate(bottoms):
        if i in in_circuits:
            continue
        later = np.array(bottoms[k + 1 :] + ([n - 1] if end_low else []), dtype=np.int64)
        if len(later) and bool(
            (np.hypot(px[later] - px[i], py[later] - py[i]) <= p.low_approach_back_km).any()
        ):
            continue  # it came back: a go-around
        if speed_kt is not None:
            # The floor: the points around the bottom within low_approach_floor_ft of it.
            above = np.flatnonzero(alt > alt[i] + p.low_approach_floor_ft)
            lo = int(above[above < i].max()) + 1 if (above < i).any() else 0
            hi = int(above[above > i].min()) if (above > i).any() else n
            floor = speed_kt[ok][lo:hi]
            floor = floor[np.isfinite(floor)]
            if floor.size and float(floor.min()) < p.low_approach_min_kt:
                continue  # it stopped: a landing and a new take-off
        approach.append((float(px[i]), float(py[i])))
    return (
        np.array(circuit, dtype=np.float64).reshape(-1, 2),
        np.array(approach, dtype=np.float64).reshape(-1, 2),
    )


def near_airport(points: FloatArray, airports_xy: FloatArray, params: TagParams = PARAMS) -> bool:
    """Whether any of ``points`` ((k, 2) km) lies within airport_near_km of an airport."""
    if len(points) == 0 or len(airports_xy) == 0:
        return False
    dist = np.hypot(
        points[:, None, 0] - airports_xy[None, :, 0], points[:, None, 1] - airports_xy[None, :, 1]
    )
    return bool((dist <= params.airport_near_km).any())


def go_around(
    x: FloatArray,
    y: FloatArray,
    altitude_ft: FloatArray,
    airports_xy: FloatArray,
    params: TagParams = PARAMS,
) -> bool:
    """A descent below go_around_low_ft near a known airport, then a climb."""
    if len(airports_xy) == 0:
        return False
    return near_airport(go_around_points(x, y, altitude_ft, params), airports_xy, params)


def off_route(
    image: npt.NDArray[Any], mean_image: npt.NDArray[Any] | None, params: TagParams = PARAMS
) -> bool:
    """Whether enough of the flight's lit pixels lie where training traffic rarely flies."""
    if mean_image is None:
        return False
    lit = np.asarray(image).reshape(mean_image.shape) > 0
    n_lit = int(lit.sum())
    rare = int((lit & (mean_image < params.off_route_occupancy)).sum())
    return (
        n_lit > 0 and rare >= params.off_route_min_pixels and rare / n_lit >= params.off_route_share
    )


def low_slow(altitude_ft: FloatArray, speed_kt: FloatArray, params: TagParams = PARAMS) -> bool:
    """Mostly low and slow (medians below low_ft and slow_kt)."""
    alt = altitude_ft[np.isfinite(altitude_ft)]
    spd = speed_kt[np.isfinite(speed_kt)]
    if alt.size == 0 or spd.size == 0:
        return False
    return _median_below(alt, params.low_ft) and _median_below(spd, params.slow_kt)


def _median_below(values: FloatArray, limit: float) -> bool:
    """np.median(values) < limit, for finite values (at least one), mostly by counting: the
    median is below the limit when more than half the values are (for an even count, the
    mean of the middle two when one is below and the other not)."""
    n, m = len(values), len(values) // 2
    below = int(np.count_nonzero(values < limit))
    if n % 2:
        return below > m
    if below != m:  # both middle values below the limit (their mean too), or neither
        return below > m
    return bool(np.median(values) < limit)


def _no_points() -> FloatArray:
    return np.zeros((0, 2), dtype=np.float64)


# The places TrackFacts keep, by their stored names.
PLACE_FIELDS = ("low_xy", "circuit_xy", "approach_xy")


@dataclass(frozen=True)
class TrackFacts:
    """What the tags need of a flight's track: the tags of the track alone (of TRACK_TAGS),
    its go-around low points ((k, 2) km, see go_around_points), and where it flew circuits
    and low approaches ((k, 2) km each, see airport_places)."""

    tags: tuple[str, ...] = ()
    low_xy: FloatArray = field(default_factory=_no_points)
    circuit_xy: FloatArray = field(default_factory=_no_points)
    approach_xy: FloatArray = field(default_factory=_no_points)

    def to_json(self, key: str) -> dict[str, Any]:
        """The stored form (JSON floats keep every bit of a float64)."""
        return {
            "key": key,
            "tags": list(self.tags),
            **{name: getattr(self, name).tolist() for name in PLACE_FIELDS},
        }

    @classmethod
    def from_json(cls, value: Any, key: str) -> TrackFacts | None:
        """The facts stored as ``value``; None when missing, malformed or worked out under
        another key (other parameters, another receiver position)."""
        if not isinstance(value, Mapping) or value.get("key") != key:
            return None
        tags = value.get("tags")
        if not isinstance(tags, list) or any(t not in TRACK_TAGS for t in tags):
            return None
        places = []
        for name in PLACE_FIELDS:
            got = value.get(name)
            if not isinstance(got, list):
                return None
            try:
                places.append(np.array(got, dtype=np.float64).reshape(-1, 2))
            except (TypeError, ValueError):
                return None
        return cls(tuple(tags), *places)


def facts_key(centre: tuple[float, float], params: TagParams = PARAMS) -> str:
    """What stored TrackFacts were worked out with: FACTS_VERSION, the receiver's position
    (the projection's centre) and the track tags' parameters."""
    used = {k: v for k, v in asdict(params).items() if not k.startswith("off_route")}
    used.pop("airport_near_km")
    digest = hashlib.sha256(repr(sorted(used.items())).encode()).hexdigest()[:12]
    return f"{FACTS_VERSION}/{float(centre[0])!r},{float(centre[1])!r}/{digest}"


def track_facts(
    track: Mapping[str, FloatArray] | None,
    centre: tuple[float, float],
    params: TagParams = PARAMS,
) -> TrackFacts:
    """The TrackFacts of one flight's cleaned track (arrays lat, lon, t_s, altitude_ft,
    groundspeed_kt; None or fewer than 2 points: none)."""
    if track is None or len(track["lat"]) < 2:
        return TrackFacts()
    x, y = project(track["lat"], track["lon"], *centre)
    return _facts(
        np.asarray(x, dtype=np.float64),
        np.asarray(y, dtype=np.float64),
        np.asarray(track["t_s"], dtype=np.float64),
        np.asarray(track["altitude_ft"], dtype=np.float64),
        np.asarray(track["groundspeed_kt"], dtype=np.float64),
        params,
    )


def _facts(
    x: FloatArray,
    y: FloatArray,
    t_s: FloatArray,
    alt: FloatArray,
    speed: FloatArray,
    params: TagParams,
) -> TrackFacts:
    tags = set(shape_tags(x, y, t_s, params))
    if low_slow(alt, speed, params):
        tags.add("low_slow")
    # go_around_points and airport_places, on one smoothing of the altitudes.
    known = _known_altitudes(x, y, alt, params)
    if known is None:
        return TrackFacts(tuple(t for t in TRACK_TAGS if t in tags))
    circuit_xy, approach_xy = _places(*known, speed, params)
    return TrackFacts(
        tuple(t for t in TRACK_TAGS if t in tags),
        _low_points(*known[:3], params),
        circuit_xy,
        approach_xy,
    )


def facts_of(
    tracks: Tracks,
    centre: tuple[float, float],
    params: TagParams = PARAMS,
    xy: tuple[FloatArray, FloatArray] | None = None,
) -> list[TrackFacts]:
    """The TrackFacts of every flight of ``tracks``, in its order (as track_facts of each).
    ``xy``: the points already projected (``project(tracks.lat, tracks.lon, *centre)``)."""
    # One projection for every point: element by element it is the per-flight one.
    x_all, y_all = xy if xy is not None else project(tracks.lat, tracks.lon, *centre)
    x_all = np.asarray(x_all, dtype=np.float64)
    y_all = np.asarray(y_all, dtype=np.float64)
    out = []
    bounds = tracks.offsets.tolist()
    for a, b in itertools.pairwise(bounds):
        if b - a < 2:
            out.append(TrackFacts())
            continue
        out.append(
            _facts(
                x_all[a:b],
                y_all[a:b],
                tracks.t_s[a:b],
                tracks.altitude_ft[a:b],
                tracks.groundspeed_kt[a:b],
                params,
            )
        )
    return out


def tags_from_facts(facts: TrackFacts | None, image: npt.NDArray[Any], ctx: Context) -> list[str]:
    """A flight's tags from its TrackFacts (None: no track, only the raster tags) and its
    raster, in TAGS order."""
    p = ctx.params
    tags: set[str] = set()
    if off_route(image, ctx.mean_image, p):
        tags.add("off_route")
    if facts is not None:
        tags.update(facts.tags)
        if near_airport(facts.circuit_xy, ctx.airports_xy, p):
            # The laps are same-way turns and the touch-and-goes dips: circuits say it all.
            tags.add("circuits")
            tags.discard("circling")
        elif near_airport(facts.approach_xy, ctx.airports_xy, p):
            tags.add("low_approach")
        elif near_airport(facts.low_xy, ctx.airports_xy, p):
            tags.add("go_around")
    return [t for t in TAGS if t in tags]


def flight_tags(
    track: Mapping[str, FloatArray] | None, image: npt.NDArray[Any], ctx: Context
) -> list[str]:
    """The tags of one flight from its cleaned track (arrays lat, lon, t_s, altitude_ft,
    groundspeed_kt; None or empty when unknown: only the raster tags are then given) and its
    raster, in TAGS order."""
    return tags_from_facts(track_facts(track, ctx.centre, ctx.params), image, ctx)


def tags_for(
    flight_ids: npt.NDArray[np.int64], images: npt.NDArray[Any], tracks: Tracks, ctx: Context
) -> list[list[str]]:
    """The tags of many flights (in the order of ``flight_ids``; a flight without a track gets
    only the raster tags)."""
    where = tracks.index()
    out = []
    for fid, img in zip(flight_ids, images, strict=True):
        i = where.get(int(fid))
        out.append(flight_tags(None if i is None else track_slice(tracks, i), img, ctx))
    return out
