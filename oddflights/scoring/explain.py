"""Why a flight is odd, in words: tags from the flight's shape and the training traffic, and
the three-panel picture (input | reconstruction | |difference|) made on demand.

Tags (a flight may carry several, or none):

- ``circling``: turning the same way through ≥ 720° within 30 minutes (orbits, thermals).
  A racetrack's turns are same-way too, so a flight tagged ``holding`` is not also ``circling``.
- ``holding``: repeated ~180° turns, the same way, at the same place (a racetrack).
- ``survey``: ≥ 3 parallel straight legs side by side (a lawnmower pattern).
- ``go_around``: a descent below ~2,000 ft near an airport the receiver's training traffic
  uses, then a climb of ≥ 800 ft.
- ``off_route``: a good share of the flight's pixels lie where training traffic almost never
  flies (the training rasters' mean image is below a small occupancy).
- ``low_slow``: mostly low (median < 5,000 ft) and slow (median < 140 kt).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from oddflights.flights.raster import project
from oddflights.scoring.tracks import Tracks, track_slice

FloatArray = npt.NDArray[np.floating[Any]]

TAGS = ("circling", "holding", "survey", "go_around", "off_route", "low_slow")

# Headings are taken between points resampled this far apart along the track: position noise
# between raw points would add up to hundreds of degrees of "turning"; a glider's thermal
# (radius ~200 m) still gets ~5 points per circle.
STEP_KM = 0.25
# A step belongs to a turn when the turn rate, averaged over SMOOTH_STEPS, exceeds this
# (a standard-rate airliner turn of radius ~2.3 km turns ~6° per 0.25 km).
TURN_DEG_PER_STEP = 3.0
STRAIGHT_DEG_PER_STEP = 2.0
SMOOTH_STEPS = 5
# Straight legs are judged on a longer average (~2 km): noise breaks them up otherwise.
STRAIGHT_SMOOTH_STEPS = 9
CIRCLING_DEG = 720.0
CIRCLING_WINDOW = "30min"
HOLD_TURN_DEG = (140.0, 220.0)
HOLD_SAME_PLACE_KM = 3.0
# Turns at one place that make a hold (3 laps): two could be an approach flown twice.
HOLD_MIN_TURNS = 3
SURVEY_MIN_LEG_KM = 5.0
SURVEY_AXIS_DEG = 10.0
SURVEY_MIN_LEGS = 3
SURVEY_LEG_SPACING_KM = 1.0
GO_AROUND_LOW_FT = 2000.0
GO_AROUND_CLIMB_FT = 800.0
AIRPORT_NEAR_KM = 8.0
AIRPORT_CELL_KM = 2.0
AIRPORT_MIN_AIRCRAFT = 3
OFF_ROUTE_OCCUPANCY = 0.002
OFF_ROUTE_SHARE = 0.3
OFF_ROUTE_MIN_PIXELS = 3
LOW_FT = 5000.0
SLOW_KT = 140.0


@dataclass(frozen=True)
class Context:
    """What the tags compare a flight with: the receiver, the training traffic's mean image
    (None when unknown) and the airports seen in training ((x, y) km, may be empty)."""

    centre: tuple[float, float]
    mean_image: npt.NDArray[np.floating[Any]] | None
    airports_xy: FloatArray


def airports_from_low_points(
    low: pd.DataFrame, centre: tuple[float, float], cell_km: float = AIRPORT_CELL_KM
) -> FloatArray:
    """Airport locations ((x, y) km from the receiver): cells of ``cell_km`` where at least
    AIRPORT_MIN_AIRCRAFT aircraft were seen low (``low``: icao24, lat, lon)."""
    if low.empty:
        return np.zeros((0, 2))
    x, y = project(low["lat"].to_numpy(), low["lon"].to_numpy(), centre[0], centre[1])
    cells = pd.DataFrame(
        {
            "cx": np.floor(np.asarray(x) / cell_km).astype(np.int64),
            "cy": np.floor(np.asarray(y) / cell_km).astype(np.int64),
            "icao24": low["icao24"].to_numpy(),
        }
    )
    counts = cells.groupby(["cx", "cy"])["icao24"].nunique()
    busy = counts[counts >= AIRPORT_MIN_AIRCRAFT].index.to_frame(index=False)
    return ((busy[["cx", "cy"]].to_numpy(dtype=np.float64) + 0.5) * cell_km).reshape(-1, 2)


def _resample(x: FloatArray, y: FloatArray, t: FloatArray) -> tuple[FloatArray, ...]:
    """Points about STEP_KM apart along the track (the first point of each step)."""
    step = np.hypot(np.diff(x), np.diff(y))
    along = np.r_[0.0, np.cumsum(step)]
    bucket = np.floor(along / STEP_KM).astype(np.int64)
    first = np.r_[True, bucket[1:] != bucket[:-1]]
    return x[first], y[first], t[first]


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return [(int(a), int(b)) for a, b in edges.reshape(-1, 2)]


def _wrap(deg: FloatArray) -> FloatArray:
    return (deg + 180.0) % 360.0 - 180.0


def shape_tags(x: FloatArray, y: FloatArray, t_s: FloatArray) -> list[str]:
    """circling / holding / survey from a track in km (x east, y north) and seconds."""
    rx, ry, rt = _resample(x, y, t_s)
    if len(rx) < 4:
        return []
    heading = np.degrees(np.arctan2(np.diff(rx), np.diff(ry)))
    turn = _wrap(np.diff(heading))  # turn at points 1..n-2, signed (+ = right)
    when = rt[1:-1]
    tags: list[str] = []
    smooth = _centred_mean(turn, SMOOTH_STEPS)

    # Holding: same-way ~180° turns whose centres repeat at one place.
    turns = []
    for sign in (1.0, -1.0):
        for a, b in _runs(smooth * sign >= TURN_DEG_PER_STEP):
            angle = float(turn[a:b].sum()) * sign
            if HOLD_TURN_DEG[0] <= angle <= HOLD_TURN_DEG[1]:
                turns.append(
                    (sign, float(rx[a + 1 : b + 2].mean()), float(ry[a + 1 : b + 2].mean()))
                )
    holding = any(
        sum(
            1
            for s_j, x_j, y_j in turns
            if s_j == s_i and np.hypot(x_i - x_j, y_i - y_j) <= HOLD_SAME_PLACE_KM
        )
        >= HOLD_MIN_TURNS
        for s_i, x_i, y_i in turns
    )
    if holding:
        tags.append("holding")

    # Circling: the signed turn gained within any 30-minute window. Most flights never turn
    # CIRCLING_DEG net in all, which settles it without the windowed search.
    cum = np.cumsum(turn)
    if not holding and float(cum.max() - cum.min()) >= CIRCLING_DEG:
        total = pd.Series(cum, index=pd.to_datetime(when, unit="s"))
        window = total.rolling(CIRCLING_WINDOW)
        gained = np.maximum((total - window.min()).to_numpy(), (window.max() - total).to_numpy())
        if np.nanmax(gained, initial=0.0) >= CIRCLING_DEG:
            tags.append("circling")

    # Survey: straight legs sharing an axis, side by side (overlapping along the axis) at
    # distinct offsets. Overlap matters: legs of one long route differ by a few degrees and
    # would otherwise sit "side by side" 100 km apart.
    runs = np.array(
        _runs(np.abs(_centred_mean(turn, STRAIGHT_SMOOTH_STEPS)) < STRAIGHT_DEG_PER_STEP)
    )
    if len(runs) >= SURVEY_MIN_LEGS:  # fewer legs than that can never make a survey
        p0 = np.c_[rx[runs[:, 0] + 1], ry[runs[:, 0] + 1]]
        p1 = np.c_[rx[runs[:, 1]], ry[runs[:, 1]]]
        long = np.hypot(*(p1 - p0).T) >= SURVEY_MIN_LEG_KM
        if _parallel_legs(p0[long], p1[long]) >= SURVEY_MIN_LEGS:
            tags.append("survey")
    return tags


def _centred_mean(values: FloatArray, window: int) -> FloatArray:
    """Centred moving average over ``window`` (odd) values, over fewer at the ends (as pandas'
    ``rolling(window, center=True, min_periods=1).mean()``), vectorised."""
    n = len(values)
    half = window // 2
    cs = np.r_[0.0, np.cumsum(values)]
    i = np.arange(n)
    lo, hi = np.maximum(i - half, 0), np.minimum(i + half + 1, n)
    return (cs[hi] - cs[lo]) / (hi - lo)


def _parallel_legs(p0: FloatArray, p1: FloatArray) -> int:
    """The most legs (leg i from ``p0[i]`` to ``p1[i]``, km) found side by side: within
    SURVEY_AXIS_DEG of one leg's axis, overlapping it along the axis by half their length, at
    offsets SURVEY_LEG_SPACING_KM apart."""
    if len(p0) == 0:
        return 0
    d = p1 - p0
    axis = d / np.hypot(d[:, 0], d[:, 1])[:, None]  # (k, 2)
    normal = np.c_[axis[:, 1], -axis[:, 0]]
    # Row r: every leg seen in the frame of reference leg r.
    aligned = np.abs(axis @ axis.T) >= np.cos(np.radians(SURVEY_AXIS_DEG))
    a0, a1 = axis @ p0.T, axis @ p1.T  # along-axis ends, (ref, leg)
    lo, hi = np.minimum(a0, a1), np.maximum(a0, a1)
    ref_lo, ref_hi = np.diag(lo)[:, None], np.diag(hi)[:, None]
    overlap = np.minimum(ref_hi, hi) - np.maximum(ref_lo, lo)
    beside = aligned & (overlap >= 0.5 * np.minimum(ref_hi - ref_lo, hi - lo))
    offsets = normal @ ((p0 + p1) / 2).T
    best = 0
    for r in range(len(p0)):
        o = np.sort(offsets[r][beside[r]])
        if len(o):
            best = max(best, 1 + int((np.diff(o) >= SURVEY_LEG_SPACING_KM).sum()))
    return best


def go_around(
    x: FloatArray, y: FloatArray, altitude_ft: FloatArray, airports_xy: FloatArray
) -> bool:
    """A descent below GO_AROUND_LOW_FT near a known airport, then a climb."""
    ok = np.isfinite(altitude_ft)
    if ok.sum() < 5 or len(airports_xy) == 0:
        return False
    alt = pd.Series(altitude_ft[ok]).rolling(5, center=True, min_periods=1).median().to_numpy()
    px, py = x[ok], y[ok]
    before = np.maximum.accumulate(alt)
    after = np.maximum.accumulate(alt[::-1])[::-1]
    low = (
        (alt < GO_AROUND_LOW_FT)
        & (before - alt >= GO_AROUND_CLIMB_FT)
        & (after - alt >= GO_AROUND_CLIMB_FT)
    )
    if not low.any():
        return False
    pts = np.c_[px[low], py[low]]
    dist = np.hypot(
        pts[:, None, 0] - airports_xy[None, :, 0], pts[:, None, 1] - airports_xy[None, :, 1]
    )
    return bool((dist <= AIRPORT_NEAR_KM).any())


def off_route(image: npt.NDArray[Any], mean_image: npt.NDArray[Any] | None) -> bool:
    """Whether enough of the flight's lit pixels lie where training traffic rarely flies."""
    if mean_image is None:
        return False
    lit = np.asarray(image).reshape(mean_image.shape) > 0
    n_lit = int(lit.sum())
    rare = int((lit & (mean_image < OFF_ROUTE_OCCUPANCY)).sum())
    return n_lit > 0 and rare >= OFF_ROUTE_MIN_PIXELS and rare / n_lit >= OFF_ROUTE_SHARE


def low_slow(altitude_ft: FloatArray, speed_kt: FloatArray) -> bool:
    """Mostly low and slow (medians below LOW_FT and SLOW_KT)."""
    alt = altitude_ft[np.isfinite(altitude_ft)]
    spd = speed_kt[np.isfinite(speed_kt)]
    if alt.size == 0 or spd.size == 0:
        return False
    return bool(np.median(alt) < LOW_FT and np.median(spd) < SLOW_KT)


def flight_tags(
    track: Mapping[str, FloatArray] | None, image: npt.NDArray[Any], ctx: Context
) -> list[str]:
    """The tags of one flight from its cleaned track (arrays lat, lon, t_s, altitude_ft,
    groundspeed_kt; None or empty when unknown: only the raster tags are then given) and its
    raster, in TAGS order."""
    tags: set[str] = set()
    if off_route(image, ctx.mean_image):
        tags.add("off_route")
    if track is not None and len(track["lat"]) >= 2:
        x, y = project(track["lat"], track["lon"], *ctx.centre)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        alt = np.asarray(track["altitude_ft"], dtype=np.float64)
        tags.update(shape_tags(x, y, np.asarray(track["t_s"], dtype=np.float64)))
        if go_around(x, y, alt, ctx.airports_xy):
            tags.add("go_around")
        if low_slow(alt, np.asarray(track["groundspeed_kt"], dtype=np.float64)):
            tags.add("low_slow")
    return [t for t in TAGS if t in tags]


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


def residual_png(
    engine: Any,
    flight_id: int,
    model_id: int,
    scale: int = 4,
    loader: Callable[[int], tuple[Any, Any]] | None = None,
) -> bytes:
    """The three-panel picture (input | reconstruction | |difference|) of a flight under a
    model, from the stored raster (redrawn from the track when the model used other raster
    settings). ``loader`` (model id → (model, info); default: load it from the database)
    lets a caller keep models loaded. FlightNotFound / ModelNotFound name what is missing."""
    from oddflights.db.flights import get_flight
    from oddflights.flights.raster import RasterSettings, unpack
    from oddflights.flights.render import three_panel_png
    from oddflights.model.score import reconstruct
    from oddflights.scoring.score import image_from_track

    flight = get_flight(engine, flight_id)
    if loader is None:
        from oddflights.model.registry import load_model

        model, info = load_model(engine, model_id)
    else:
        model, info = loader(model_id)
    settings = RasterSettings.from_dict(info.raster)
    if flight["raster_key"] == settings.key:
        image = unpack(flight["raster"], settings.size)
    else:
        image = image_from_track(engine, flight_id, settings)
    recon = reconstruct(model, image[None])[0]
    return three_panel_png(image, np.squeeze(recon), scale)
