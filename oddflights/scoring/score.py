"""Score a receiver day: the right model and its stored Detector, the day's images, scores,
ranks, the detector's threshold, tags, and one idempotent write per (day, model).

Ranks: 1 is the most abnormal (highest score); equal scores are ranked by flight id, lowest
first, so that a rerun always gives the same ranks. Scoring runs the Detector with numpy:
it never imports TensorFlow. It reads no positions either: the build stores each flight's
raster and what its tags need of the track (oddflights.scoring.tags.TrackFacts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.columns import TRACK_COLUMNS
from oddflights.db.flights import RasterMismatch, list_flights, read_rasters, read_track_tags
from oddflights.db.positions import read_positions
from oddflights.db.registry import (
    ModelInfo,
    ModelNotFound,
    get_detector_bytes,
    get_model,
    newest_ready_model,
)
from oddflights.db.scores import replace_scores
from oddflights.errors import OddflightsError
from oddflights.flights.raster import RasterSettings, rasterize_many
from oddflights.flights.segment import FlightSet
from oddflights.model.detector import COMBINATIONS, Detector, DetectorError
from oddflights.receivers import Receiver
from oddflights.scoring.airports import training_airports
from oddflights.scoring.tags import Context, TrackFacts, facts_key, facts_of, tags_from_facts
from oddflights.scoring.tracks import (
    Tracks,
    empty_tracks,
    tracks_from_build,
    tracks_from_positions,
)


class ScoringError(OddflightsError, ValueError):
    """A day cannot be scored (no model, a rejected model, a model to retrain, no flights);
    the message says why."""

    # On the web: the model's scores or picture that was asked for is not there.
    http_status = 404


@dataclass
class ScoreSummary:
    """What scoring one day did."""

    day: date
    model_id: int
    flights: int
    anomalies: int
    threshold: float
    seconds: float


def _retrain_message(info: ModelInfo) -> str:
    return (
        f"model {info.id} has no stored detector (saved before detectors and its validation "
        f"days' rasters are gone): retrain it with `oddflights train --receiver {info.receiver}`"
    )


def pick_model(
    engine: Engine, receiver: Receiver, day: date, model_id: int | None = None
) -> ModelInfo:
    """The ModelInfo to score ``day`` with: ``model_id`` if given (it must be the receiver's
    and not rejected), else the newest ``ready`` model trained only on days before ``day``.
    ScoringError also when the model has no detector (it must be retrained)."""
    assert receiver.id is not None, "receiver must come from the database"
    if model_id is None:
        info = newest_ready_model(engine, receiver.id, day)
        if info is None:
            raise ScoringError(
                f"no ready model of receiver {receiver.name} trained before {day} "
                "(train one with `oddflights train`)"
            )
    else:
        try:
            info = get_model(engine, model_id)
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
    if not info.has_detector:
        raise ScoringError(_retrain_message(info))
    return info


def load_detector(engine: Engine, model_id: int) -> Detector:
    """A model's stored Detector. ModelNotFound when there is no such model; ScoringError
    when it has none or an unreadable one (it must be retrained)."""
    data = get_detector_bytes(engine, model_id)
    if data is None:
        raise ScoringError(_retrain_message(get_model(engine, model_id)))
    try:
        return Detector.from_bytes(data)
    except DetectorError as exc:
        raise ScoringError(f"model {model_id}: {exc}") from None


def rank_scores(
    flight_ids: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Rank of each flight: 1 = highest score; ties broken by flight id (lowest first)."""
    order = np.lexsort((np.asarray(flight_ids), -np.asarray(scores)))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def _day_images(
    engine: Engine,
    receiver: Receiver,
    flights: pd.DataFrame,
    tracks: Tracks | None,
    settings: RasterSettings,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The day's flight ids and images drawn with ``settings``: the stored rasters when they
    match, else redrawn from ``tracks`` (stored flights and other models' scores are kept)."""
    assert receiver.id is not None
    if tracks is None:
        rs = read_rasters(engine, receiver.id, [flights["day"].iloc[0]], settings)
        return rs.flight_ids, rs.images
    ids = flights["flight_id"].to_numpy(dtype=np.int64)
    ordered = tracks.take(ids)
    images = rasterize_many(
        ordered.lat, ordered.lon, ordered.offsets, (receiver.lat, receiver.lon), settings
    )
    return ids, images


def training_mean_image(engine: Engine, info: ModelInfo) -> npt.NDArray[np.float64] | None:
    """The mean raster of a model's training days (pixel occupancy of their traffic), from
    the stored rasters (a 14-day window reads in well under a second); None when those days'
    rasters were redrawn with other settings or are gone."""
    n_days = (info.train_to - info.train_from).days + 1
    days = [info.train_from + timedelta(days=i) for i in range(n_days)]
    try:
        rs = read_rasters(engine, info.receiver_id, days, info.raster)
    except RasterMismatch:
        return None
    return rs.images.mean(axis=0, dtype=np.float64) if len(rs.images) else None


def validation_scores(
    engine: Engine, info: ModelInfo, detector: Detector
) -> npt.NDArray[np.float64] | None:
    """The detector's scores of its model's validation flights, from their stored rasters
    (None when those rasters are gone or were redrawn): what its threshold is a percentile
    of."""
    try:
        rs = read_rasters(engine, info.receiver_id, info.validation_days, detector.raster)
    except RasterMismatch:
        return None
    if len(rs.flight_ids) == 0:
        return None
    table = pd.concat([list_flights(engine, info.receiver_id, d) for d in info.validation_days])
    turn = table.set_index("flight_id").loc[rs.flight_ids, "turn_cum_deg"]
    return detector.decision_function(rs.images, turn.to_numpy(dtype=np.float64, na_value=np.nan))


def day_tracks(
    engine: Engine, receiver: Receiver, flights: pd.DataFrame, built: FlightSet | None = None
) -> Tracks:
    """Every flight's cleaned track: from ``built`` (the build of this day, still in memory)
    when given, else from one read of the day's positions."""
    assert receiver.id is not None
    if flights.empty:
        return empty_tracks()
    if built is not None:
        return tracks_from_build(built, flights)
    start = flights["start_ts"].min().to_pydatetime()
    end = flights["end_ts"].max().to_pydatetime() + timedelta(microseconds=1)
    positions = read_positions(engine, receiver.id, start, end, columns=TRACK_COLUMNS)
    return tracks_from_positions(positions, flights)


def day_facts(
    engine: Engine,
    receiver: Receiver,
    flights: pd.DataFrame,
    built: FlightSet | None = None,
    tracks: Tracks | None = None,
) -> dict[int, TrackFacts]:
    """Each flight's TrackFacts: as stored with it at build, else worked out from its track
    (from ``tracks``, else ``built``, else one read of those flights' positions: rows built
    before the facts were stored, or under other tag parameters)."""
    assert receiver.id is not None
    if flights.empty:
        return {}
    centre = (receiver.lat, receiver.lon)
    key = facts_key(centre)
    stored = read_track_tags(engine, receiver.id, flights["day"].iloc[0])
    out: dict[int, TrackFacts] = {}
    for fid in flights["flight_id"].tolist():
        facts = TrackFacts.from_json(stored.get(int(fid)), key)
        if facts is not None:
            out[int(fid)] = facts
    missing = flights[~flights["flight_id"].isin(list(out))]
    if not missing.empty:
        if tracks is None:
            tracks = day_tracks(engine, receiver, missing, built)
        mine = tracks.take(missing["flight_id"].to_numpy(dtype=np.int64))
        for fid, facts in zip(mine.flight_ids.tolist(), facts_of(mine, centre), strict=True):
            out[int(fid)] = facts
    return out


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
    day has no flights. The model's stored Detector decides, with its own combination and
    threshold; ``combine`` (``ae``: the reconstruction error alone, ``ae_turn``: combined
    with the cumulative turn; see oddflights.model.detector) overrides the combination.
    The day's stored rasters and track facts (worked out at build) are all it reads of the
    flights: no positions, unless the model draws with other raster settings or flights
    were built without facts (then ``built``, this day's build still in memory, saves
    reading their positions)."""
    if combine is not None and combine not in COMBINATIONS:
        raise ScoringError(
            f"unknown score combination {combine!r} (choose from {', '.join(COMBINATIONS)})"
        )

    t0 = time.perf_counter()
    assert receiver.id is not None, "receiver must come from the database"
    info = pick_model(engine, receiver, day, model_id)
    flights = list_flights(engine, receiver.id, day)
    if flights.empty:
        raise ScoringError(
            f"receiver {receiver.name} has no flights on {day} (run `oddflights flights build`)"
        )
    detector = load_detector(engine, info.id)
    if combine is not None:
        detector = detector.using(combine)
    # The stored rasters and track facts are all scoring needs, unless the model draws with
    # other raster settings than the day was built with: then every track is redrawn.
    redraw = set(flights["raster_key"]) != {detector.raster.key}
    tracks = day_tracks(engine, receiver, flights, built) if redraw else None
    ids, images = _day_images(engine, receiver, flights, tracks, detector.raster)
    facts = day_facts(engine, receiver, flights, built, tracks)
    del built, tracks  # their points can go
    turn = flights.set_index("flight_id").loc[ids, "turn_cum_deg"]
    scores = detector.decision_function(images, turn.to_numpy(dtype=np.float64, na_value=np.nan))
    threshold = detector.threshold
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
            "tags": [
                tags_from_facts(facts.get(int(fid)), img, ctx)
                for fid, img in zip(ids.tolist(), images, strict=True)
            ],
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
