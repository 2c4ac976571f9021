"""Tags in words, naming the airport of a go-around, a low approach, circuits or a hold:
"go-around at EHAM (Amsterdam Airport Schiphol)", "circuits at EHLE (Lelystad Airport)".
The stored tags keep their plain names (for scripts and filters); the CLI, the JSON API, the
pages and the alerts show these texts beside them.

The airport is the nearest fitting listed one (``airportsdata``, read once per process by
oddflights.scoring.airports.known_airports), else the airport found in the data (a private
strip). Only tags that need a place cost anything: rows without one of those tags never
read airportsdata, the positions or the low points.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.flights import read_track_tags
from oddflights.db.registry import ModelNotFound, get_model
from oddflights.flights.raster import project
from oddflights.flights.segment import seconds
from oddflights.flights.track import read_flight_track
from oddflights.receivers import Receiver
from oddflights.scoring.airports import (
    FloatArray,
    airport_text,
    day_airports,
    holding_text,
    known_airports,
    training_airports,
)
from oddflights.scoring.tags import airport_places, go_around_points, hold_place

# How the other tags read.
TAG_WORDS = {
    "off_route": "off-route",
    "low_slow": "low and slow",
    "go_around": "go-around",
    "low_approach": "low approach",
}
# The tags named after an airport, by the TrackFacts field that holds their places.
AIRPORT_TAGS = {"go_around": "low_xy", "circuits": "circuit_xy", "low_approach": "approach_xy"}
# The tags whose text names a place.
PLACE_TAGS = frozenset({"holding", *AIRPORT_TAGS})

# A track as the texts need it: x, y (km from the receiver), t (s), alt (ft) arrays.
Track = Mapping[str, Any]


def inferred_airports(
    engine: Engine, receiver: Receiver, model_id: int | None, day: date
) -> FloatArray:
    """Airports ((x, y) km) seen low in the data: in the training days of ``model_id`` when
    given (and still stored), else on ``day``."""
    if model_id is not None:
        try:
            return training_airports(engine, receiver, get_model(engine, model_id))
        except ModelNotFound:
            pass
    return day_airports(engine, receiver, day)


def read_track(engine: Engine, flight_id: int, receiver: Receiver) -> dict[str, Any]:
    """The flight's cleaned track as the texts need it (see Track)."""
    track = read_flight_track(engine, flight_id)
    x, y = project(
        track["lat"].to_numpy(dtype=np.float64),
        track["lon"].to_numpy(dtype=np.float64),
        receiver.lat,
        receiver.lon,
    )
    return {
        "x": np.asarray(x, dtype=np.float64),
        "y": np.asarray(y, dtype=np.float64),
        "t": seconds(track["ts"]) if len(track) else np.zeros(0),
        "alt": pd.to_numeric(track["altitude_ft"], errors="coerce").to_numpy(np.float64),
        "speed": pd.to_numeric(track["groundspeed_kt"], errors="coerce").to_numpy(np.float64),
    }


def _once(v: Any) -> Callable[[], Any]:
    """``v``, or what the function ``v`` returns, computed at most once."""
    memo: list[Any] = []

    def get() -> Any:
        if not memo:
            memo.append(v() if callable(v) else v)
        return memo[0]

    return get


def tag_texts(
    tags: Iterable[str],
    receiver: Receiver,
    inferred: FloatArray | Callable[[], FloatArray],
    *,
    low_xy: Any = None,
    track: Track | Callable[[], Track] | None = None,
    places: Mapping[str, Any] | None = None,
) -> list[str]:
    """Each tag in words. A go-around, a low approach or circuits name the listed airport
    nearest their places (go-around: ``low_xy``, (k, 2) km, as stored with the flight; the
    others: ``places``, the stored TrackFacts' ``approach_xy`` and ``circuit_xy``; else found
    in ``track``), else the nearest of ``inferred`` (airports found in the data, (k, 2) km);
    a hold names the airport it serves (its place found in ``track``). ``inferred`` and
    ``track`` may be functions, called only when needed."""
    centre = (receiver.lat, receiver.lon)
    get_track, get_inferred = _once(track), _once(inferred)
    stored = dict(places) if isinstance(places, Mapping) else {}
    if low_xy is not None:
        stored["low_xy"] = low_xy
    out = []
    for tag in tags:
        if tag not in PLACE_TAGS:
            out.append(TAG_WORDS.get(tag, tag))
            continue
        known = known_airports(receiver.lat, receiver.lon, receiver.range_km)
        if tag == "holding":
            tr = get_track()
            place = hold_place(tr["x"], tr["y"], tr["t"]) if tr is not None else None
            out.append(holding_text(place, known, centre))
            continue
        pts = stored.get(AIRPORT_TAGS[tag])
        if pts is None:
            pts = _places_of(get_track(), tag)
        low = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        what = TAG_WORDS.get(tag, tag)
        text = airport_text(what, low, known, np.zeros((0, 2)), centre)
        if text == what and len(low):
            # No listed airport near: the airports found in the data (a query, so only now).
            text = airport_text(what, low, known, get_inferred(), centre)
        out.append(text)
    return out


def _places_of(track: Track | None, tag: str) -> FloatArray:
    """The places of an airport tag found in ``track`` ((k, 2) km; none without a track)."""
    if track is None:
        return np.zeros((0, 2))
    if tag == "go_around":
        pts = go_around_points(track["x"], track["y"], track["alt"])
    else:
        speed = track.get("speed")
        circuit_xy, approach_xy = airport_places(track["x"], track["y"], track["alt"], speed)
        pts = circuit_xy if tag == "circuits" else approach_xy
    return np.asarray(pts, dtype=np.float64)


def add_tag_text(
    engine: Engine,
    receiver: Receiver,
    rows: Iterable[MutableMapping[str, Any]],
    *,
    inferred: FloatArray | Callable[[], FloatArray] | None = None,
    key: str = "tag_text",
) -> None:
    """Set each row's ``key`` to its tags in words (see tag_texts). Rows are
    query_anomalies rows (flight_id, day, model_id, tags); the go-around low points come
    from the facts stored with the flights, so only a hold reads a track. ``inferred``
    defaults to the airports found in the training days of the rows' model."""
    rows = list(rows)
    for r in rows:
        r[key] = [TAG_WORDS.get(t, t) for t in (r["tags"] or [])]
    todo = [r for r in rows if PLACE_TAGS.intersection(r["tags"] or [])]
    if not todo:
        return
    assert receiver.id is not None
    by_day: dict[date, dict[int, Any]] = {}
    data_airports: dict[tuple[int | None, date], Callable[[], FloatArray]] = {}
    for r in todo:
        day = pd.Timestamp(r["day"]).date()
        if day not in by_day:
            by_day[day] = read_track_tags(engine, receiver.id, day)
        facts = by_day[day].get(int(r["flight_id"]))
        low = facts.get("low_xy") if isinstance(facts, Mapping) else None
        model_id = None if r.get("model_id") is None else int(r["model_id"])
        found = inferred
        if found is None:
            if (model_id, day) not in data_airports:
                data_airports[model_id, day] = _once(
                    functools.partial(inferred_airports, engine, receiver, model_id, day)
                )
            found = data_airports[model_id, day]
        r[key] = tag_texts(
            r["tags"],
            receiver,
            found,
            low_xy=None if low is None else np.asarray(low, dtype=np.float64).reshape(-1, 2),
            track=functools.partial(read_track, engine, int(r["flight_id"]), receiver),
            places=facts if isinstance(facts, Mapping) else None,
        )
