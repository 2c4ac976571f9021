"""Score a receiver day: the right model, its raster settings, reconstruction errors, ranks,
the model's threshold, tags, and one idempotent write per (day, model).

Ranks: 1 is the most abnormal (highest score); equal scores are ranked by flight id, lowest
first, so that a rerun always gives the same ranks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.flights.raster import RasterSettings
from oddflights.flights.segment import FlightSet
from oddflights.receivers import Receiver
from oddflights.scoring.combine import Combiner
from oddflights.scoring.tracks import (
    Tracks,
    empty_tracks,
    tracks_from_build,
    tracks_from_positions,
)

_log = logging.getLogger(__name__)

# The airports a receiver sees are looked for in the positions of this many of the model's
# last training days (below this altitude): enough to find every runway in use.
AIRPORT_DAYS = 3
AIRPORT_MAX_ALT_FT = 2000.0


class ScoringError(ValueError):
    """A day cannot be scored (no model, a rejected model, no flights); the message says why."""


@dataclass
class ScoreSummary:
    """What scoring one day did."""

    day: date
    model_id: int
    flights: int
    anomalies: int
    threshold: float
    seconds: float


def pick_model(engine: Engine, receiver: Receiver, day: date, model_id: int | None = None) -> Any:
    """The ModelInfo to score ``day`` with: ``model_id`` if given (it must be the receiver's
    and not rejected), else the newest ``ready`` model trained only on days before ``day``."""
    from oddflights.db.registry import ModelNotFound, get_model_row, newest_ready_model

    assert receiver.id is not None, "receiver must come from the database"
    if model_id is None:
        info = newest_ready_model(engine, receiver.id, day)
        if info is None:
            raise ScoringError(
                f"no ready model of receiver {receiver.name} trained before {day} "
                "(train one with `oddflights train`)"
            )
        return info
    try:
        info, _ = get_model_row(engine, model_id)
    except ModelNotFound as exc:
        raise ScoringError(str(exc)) from None
    if info.receiver_id != receiver.id:
        raise ScoringError(
            f"model {model_id} belongs to receiver {info.receiver}, not {receiver.name}"
        )
    if info.status != "ready":
        raise ScoringError(
            f"model {model_id} is {info.status}, not ready: it is never used to score"
        )
    if info.threshold is None:
        raise ScoringError(f"model {model_id} has no threshold")
    return info


def rank_scores(
    flight_ids: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Rank of each flight: 1 = highest score; ties broken by flight id (lowest first)."""
    order = np.lexsort((np.asarray(flight_ids), -np.asarray(scores)))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def image_from_track(
    engine: Engine, flight_id: int, settings: RasterSettings
) -> npt.NDArray[np.uint8]:
    """A flight redrawn from its cleaned track with ``settings``."""
    from oddflights.db.flights import get_flight, read_flight_track
    from oddflights.db.receivers import list_receivers
    from oddflights.flights.raster import rasterize

    flight = get_flight(engine, flight_id)
    track = read_flight_track(engine, flight_id)
    rec = next(r for r in list_receivers(engine) if r.id == flight["receiver_id"])
    return rasterize(track["lat"].to_numpy(), track["lon"].to_numpy(), (rec.lat, rec.lon), settings)


def _day_images(
    engine: Engine,
    receiver: Receiver,
    flights: pd.DataFrame,
    tracks: Tracks,
    settings: RasterSettings,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The day's flight ids and images drawn with ``settings``: the stored rasters when they
    match, else redrawn from the tracks (stored flights and other models' scores are kept)."""
    from oddflights.db.flights import read_rasters
    from oddflights.flights.raster import rasterize_many

    assert receiver.id is not None
    if set(flights["raster_key"]) == {settings.key}:
        rs = read_rasters(engine, receiver.id, [flights["day"].iloc[0]], settings)
        return rs.flight_ids, rs.images
    ids = flights["flight_id"].to_numpy(dtype=np.int64)
    ordered = tracks.take(ids)
    images = rasterize_many(
        ordered.lat, ordered.lon, ordered.offsets, (receiver.lat, receiver.lon), settings
    )
    return ids, images


def training_mean_image(engine: Engine, info: Any) -> npt.NDArray[np.float64] | None:
    """The mean raster of a model's training days (pixel occupancy of their traffic), from
    the stored rasters (a 14-day window reads in well under a second); None when those days'
    rasters were redrawn with other settings or are gone."""
    from oddflights.db.flights import RasterMismatch, read_rasters

    n_days = (info.train_to - info.train_from).days + 1
    days = [info.train_from + timedelta(days=i) for i in range(n_days)]
    try:
        rs = read_rasters(engine, info.receiver_id, days, RasterSettings.from_dict(info.raster))
    except RasterMismatch:
        return None
    return rs.images.mean(axis=0, dtype=np.float64) if len(rs.images) else None


def training_airports(engine: Engine, receiver: Receiver, info: Any) -> npt.NDArray[Any]:
    """Airports ((x, y) km) seen low in the model's last AIRPORT_DAYS training days."""
    from oddflights.db.scores import low_points
    from oddflights.scoring.explain import airports_from_low_points

    assert receiver.id is not None
    first = max(info.train_from, info.train_to - timedelta(days=AIRPORT_DAYS - 1))
    start, _ = receiver.day_bounds(first)
    _, end = receiver.day_bounds(info.train_to)
    low = low_points(engine, receiver.id, start, end, AIRPORT_MAX_ALT_FT)
    return airports_from_low_points(low, (receiver.lat, receiver.lon))


def day_tracks(
    engine: Engine, receiver: Receiver, flights: pd.DataFrame, built: FlightSet | None = None
) -> Tracks:
    """Every flight's cleaned track: from ``built`` (the build of this day, still in memory)
    when given, else from one read of the day's positions."""
    from datetime import timedelta as td

    from oddflights.columns import TRACK_COLUMNS
    from oddflights.db.positions import read_positions

    assert receiver.id is not None
    if flights.empty:
        return empty_tracks()
    if built is not None:
        return tracks_from_build(built, flights)
    start = flights["start_ts"].min().to_pydatetime()
    end = flights["end_ts"].max().to_pydatetime() + td(microseconds=1)
    positions = read_positions(engine, receiver.id, start, end, columns=TRACK_COLUMNS)
    return tracks_from_positions(positions, flights)


def validation_parts(
    engine: Engine, info: Any, model: Any, fn: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """The model's validation day(s) flights' reconstruction scores and cumulative turns (the
    two parts of the combined score), from their stored rasters; None when those rasters are
    gone or were redrawn with other settings."""
    from oddflights.db.flights import RasterMismatch, list_flights, read_rasters
    from oddflights.model.score import reconstruct, score_images

    days = list(info.validation_days)
    try:
        rs = read_rasters(engine, info.receiver_id, days, RasterSettings.from_dict(info.raster))
    except RasterMismatch:
        return None
    if len(rs.flight_ids) == 0:
        return None
    table = pd.concat([list_flights(engine, info.receiver_id, d) for d in days])
    turn = table.set_index("flight_id").loc[rs.flight_ids, "turn_cum_deg"]
    ae = score_images(rs.images, reconstruct(model, rs.images), fn)
    return np.asarray(ae, dtype=np.float64), turn.to_numpy(dtype=np.float64, na_value=np.nan)


def validation_combiner(engine: Engine, info: Any, model: Any, fn: str) -> Combiner | None:
    """The Combiner (oddflights.scoring.combine) calibrated on the model's validation day(s):
    their stored rasters' reconstruction scores and cumulative turns. None when those days'
    rasters are gone or were redrawn with other settings."""
    from oddflights.scoring.combine import fit_combiner

    parts = validation_parts(engine, info, model, fn)
    if parts is None:
        return None
    percentile = float(info.calibration.get("percentile") or config.get("threshold_percentile"))
    return fit_combiner(*parts, percentile)


def score_day(
    engine: Engine,
    receiver: Receiver,
    day: date,
    model_id: int | None = None,
    combine: str | None = None,
    built: FlightSet | None = None,
) -> ScoreSummary:
    """Score every flight of a receiver day and store the rows (replacing that model's rows
    for the day; other models' rows stay). ScoringError when there is no usable model or the
    day has no flights. ``combine`` (default: the ``score_combine`` setting) is ``ae`` for
    the reconstruction error alone or ``ae_turn`` for the combined score (see
    oddflights.scoring.combine). ``built``: this day's build, when the caller has just made
    it (the nightly): its cleaned tracks are tagged without reading the positions again."""
    from oddflights.db.flights import list_flights
    from oddflights.db.scores import replace_scores
    from oddflights.model.registry import load_model
    from oddflights.model.score import reconstruct, score_images
    from oddflights.scoring.combine import COMBINE_MODES
    from oddflights.scoring.explain import Context, tags_for

    mode = str(config.get("score_combine", combine))
    if mode not in COMBINE_MODES:
        raise ScoringError(
            f"unknown score combination {mode!r} (choose from {', '.join(COMBINE_MODES)})"
        )

    t0 = time.perf_counter()
    assert receiver.id is not None, "receiver must come from the database"
    info = pick_model(engine, receiver, day, model_id)
    flights = list_flights(engine, receiver.id, day)
    if flights.empty:
        raise ScoringError(
            f"receiver {receiver.name} has no flights on {day} (run `oddflights flights build`)"
        )
    settings = RasterSettings.from_dict(info.raster)
    tracks = day_tracks(engine, receiver, flights, built)
    del built  # the tracks are all scoring needs of it; its points can go
    ids, images = _day_images(engine, receiver, flights, tracks, settings)

    model, _ = load_model(engine, info.id)
    # The model's own score function: its threshold was calibrated with it.
    fn = str(info.calibration.get("score_fn") or info.config.get("score_fn") or "bce")
    recon = reconstruct(model, images)
    scores = score_images(images, recon, fn)
    threshold = float(info.threshold)
    combiner = validation_combiner(engine, info, model, fn) if mode == "ae_turn" else None
    if combiner is not None:
        turn = flights.set_index("flight_id").loc[ids, "turn_cum_deg"]
        scores = combiner.score(scores, turn.to_numpy(dtype=np.float64, na_value=np.nan))
        threshold = combiner.threshold
    elif mode == "ae_turn":
        _log.warning(
            "model %s: validation days' rasters unavailable; scoring by reconstruction only",
            info.id,
        )
    ctx = Context(
        centre=(receiver.lat, receiver.lon),
        mean_image=training_mean_image(engine, info),
        airports_xy=training_airports(engine, receiver, info),
    )
    rows = pd.DataFrame(
        {
            "flight_id": ids,
            "score": scores,
            "rank": rank_scores(ids, scores),
            "threshold": threshold,
            "is_anomaly": scores > threshold,
            "tags": tags_for(ids, images, tracks, ctx),
        }
    )
    replace_scores(engine, receiver.id, day, info.id, rows)
    return ScoreSummary(
        day=day,
        model_id=info.id,
        flights=len(rows),
        anomalies=int(rows["is_anomaly"].sum()),
        threshold=threshold,
        seconds=time.perf_counter() - t0,
    )
