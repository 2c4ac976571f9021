"""What each page shows, as plain data: the web app renders it, the report embeds it.

Lookups that fail raise NotFound (a missing day or model; the database layer's
ReceiverNotFound and FlightNotFound pass through) or BadRequest (a malformed value): all
OddflightsErrors, which the app turns into 404 and 400 pages in one handler.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights import rows
from oddflights.db.flights import get_flight, list_flights
from oddflights.db.receivers import get_receiver, list_receivers
from oddflights.db.registry import ModelNotFound, get_model
from oddflights.db.scores import query_anomalies, scoring_models
from oddflights.db.web_queries import day_summaries, flight_scores, receiver_day_counts
from oddflights.errors import NotFoundError, OddflightsError
from oddflights.flights.raster import project
from oddflights.flights.segment import seconds
from oddflights.flights.track import read_flight_track
from oddflights.receivers import Receiver
from oddflights.scoring.airports import day_airports, training_airports
from oddflights.web.pictures import PictureMaker
from oddflights.web.svg import altitude_svg, track_svg


class NotFound(NotFoundError):
    """Nothing at that address (the message names what is missing)."""


class BadRequest(OddflightsError, ValueError):
    """A malformed value in the address (the message names it)."""


# int() takes " 7", "+7", "7_0" and other scripts' digits: an address has one spelling of a
# number (and of a day: oddflights.days.parse_day).
_WHOLE = re.compile(r"[0-9]+")


def parse_int(text: str | None, what: str, minimum: int = 1) -> int | None:
    """An optional whole number ≥ ``minimum`` in plain digits; BadRequest names anything
    else."""
    if text is None or text == "":
        return None
    if not _WHOLE.fullmatch(text):
        raise BadRequest(f"{what} {text!r} is not a whole number")
    value = int(text) if len(text) <= 19 else 2**63  # int() refuses over 4300 digits
    if value < minimum or value > 2**62:
        raise BadRequest(f"{what} {text if len(text) <= 19 else text[:19] + '…'} is out of range")
    return value


def local_time(value: Any, zone: ZoneInfo) -> str:
    """``HH:MM`` in the receiver's zone, with the zone's abbreviation."""
    ts = pd.Timestamp(value).to_pydatetime() if not isinstance(value, datetime) else value
    return ts.astimezone(zone).strftime("%H:%M %Z")


@dataclass
class Site:
    """The read-only site over one engine: page data, pictures, and a few caches."""

    engine: Engine

    def __post_init__(self) -> None:
        self.pictures = PictureMaker(self.engine)
        self._airports: dict[tuple[int, str], Any] = {}
        self._lock = threading.Lock()

    # Receivers and days

    def receivers(self) -> list[Receiver]:
        """Every receiver, by name."""
        return list_receivers(self.engine)

    def receiver(self, name: str) -> Receiver:
        """The receiver called ``name``; NotFound otherwise."""
        return get_receiver(self.engine, name)  # ReceiverNotFound is a 404 itself

    def receivers_page(self) -> list[dict[str, Any]]:
        """Each receiver with its counts of days and flights and its last day."""
        counts = receiver_day_counts(self.engine)
        out = []
        for r in self.receivers():
            c = counts.get(int(r.id or 0), {"days": 0, "flights": 0, "last_day": None})
            out.append({**rows.receiver_row(r), **c})
        return out

    def days(self, receiver: Receiver) -> list[dict[str, Any]]:
        """The receiver's days, newest first (the JSON of /api/days)."""
        assert receiver.id is not None
        return rows.day_rows(day_summaries(self.engine, receiver.id))

    # A day

    def anomalies(
        self,
        receiver: Receiver,
        day: date,
        *,
        model_id: int | None = None,
        include_all: bool = False,
        top: int | None = None,
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """The day's scored rows as `oddflights anomalies --format json` gives them, and the
        models that scored the day (newest first). NotFound for a day with no flights, no
        scores, or a model that did not score it."""
        assert receiver.id is not None
        models = scoring_models(self.engine, receiver.id, day)
        if not models:
            if list_flights(self.engine, receiver.id, day).empty:
                raise NotFound(f"receiver {receiver.name} has no flights on {day}")
            raise NotFound(f"no scores for receiver {receiver.name} on {day}")
        if model_id is not None and model_id not in models:
            raise NotFound(
                f"model {model_id} has not scored {receiver.name} on {day} "
                f"(models that did: {', '.join(map(str, models))})"
            )
        df = query_anomalies(
            self.engine,
            receiver.id,
            day,
            model_id=model_id,
            include_all=include_all,
            top=top,
        )
        return rows.anomaly_rows(df), models

    def day_page(
        self,
        receiver: Receiver,
        day: date,
        *,
        model_id: int | None = None,
        include_all: bool = False,
    ) -> dict[str, Any]:
        """Everything the day page shows: the flagged (or all scored) flights by rank with
        local times, or the unscored flights when no model scored the day."""
        assert receiver.id is not None
        flights = list_flights(self.engine, receiver.id, day)
        if flights.empty:
            raise NotFound(f"receiver {receiver.name} has no flights on {day}")
        summary = next((d for d in self.days(receiver) if d["day"] == day.isoformat()), None)
        zone = receiver.zone
        try:
            scored, models = self.anomalies(
                receiver, day, model_id=model_id, include_all=include_all
            )
        except NotFound:
            if model_id is not None:
                raise
            scored, models = [], []
        for r in scored:
            r["start_local"] = local_time(pd.Timestamp(r["start"]), zone)
            r["end_local"] = local_time(pd.Timestamp(r["end"]), zone)
        unscored = []
        if not models:
            for f in flights.to_dict("records"):
                row = rows.flight_row(f)
                row["start_local"] = local_time(f["start_ts"], zone)
                row["end_local"] = local_time(f["end_ts"], zone)
                unscored.append(row)
        shown_model = model_id if model_id is not None else (models[0] if models else None)
        threshold = scored[0]["threshold"] if scored else None
        return {
            "receiver": receiver,
            "day": day,
            "summary": summary,
            "n_flights": len(flights),
            "models": models,
            "model_id": shown_model,
            "threshold": threshold,
            "include_all": include_all,
            "rows": scored,
            "unscored": unscored,
        }

    # A flight

    def flight(self, flight_id: int) -> dict[str, Any]:
        """The stored flight row; NotFound otherwise."""
        return get_flight(self.engine, flight_id)  # FlightNotFound is a 404 itself

    def receiver_by_id(self, receiver_id: int) -> Receiver:
        """The receiver with that id; NotFound otherwise."""
        found = [r for r in self.receivers() if r.id == receiver_id]
        if not found:
            raise NotFound(f"no receiver with id {receiver_id}")
        return found[0]

    def flight_json(self, flight_id: int) -> dict[str, Any]:
        """The flight as `flights list` JSON gives it, plus receiver, day and its scores
        under every model (the JSON of /api/flights/{id})."""
        flight = self.flight(flight_id)
        receiver = self.receiver_by_id(int(flight["receiver_id"]))
        return {
            **rows.flight_row(flight),
            "receiver": receiver.name,
            "day": flight["day"].isoformat(),
            "scores": rows.score_rows(flight_scores(self.engine, flight_id)),
        }

    def airports(self, receiver: Receiver, model_id: int | None, day: date) -> Any:
        """Airports ((x, y) km) seen low in the data: in the training days of ``model_id``
        when given, else on ``day``."""
        assert receiver.id is not None
        key = (receiver.id, f"model {model_id}" if model_id is not None else day.isoformat())
        with self._lock:
            if key in self._airports:
                return self._airports[key]
        found: Any = None
        if model_id is not None:
            try:
                info = get_model(self.engine, model_id)
                found = training_airports(self.engine, receiver, info)
            except ModelNotFound:
                found = None
        if found is None:
            found = day_airports(self.engine, receiver, day)
        with self._lock:
            self._airports[key] = found
        return found

    def track_drawings(
        self, flight: dict[str, Any], receiver: Receiver, airports: Any, clip_id: str = "frame"
    ) -> tuple[str, str]:
        """The flight's track SVG over the frame and its altitude profile SVG."""
        track = read_flight_track(self.engine, int(flight["flight_id"]))
        lat = track["lat"].to_numpy(dtype=np.float64)
        lon = track["lon"].to_numpy(dtype=np.float64)
        x, y = project(lat, lon, receiver.lat, receiver.lon)
        label = f"flight {flight['flight_id']} ({flight['callsign'] or flight['icao24']})"
        track_svg_text = track_svg(
            np.asarray(x), np.asarray(y), receiver.range_km, airports, title=label, clip_id=clip_id
        )
        t = seconds(track["ts"]) if len(track) else np.zeros(0)
        alt = pd.to_numeric(track["altitude_ft"], errors="coerce").to_numpy(dtype=np.float64)
        return track_svg_text, altitude_svg(t, alt)

    def flight_page(self, flight_id: int) -> dict[str, Any]:
        """Everything the flight page shows."""
        data = self.flight_json(flight_id)
        flight = self.flight(flight_id)
        receiver = self.receiver_by_id(int(flight["receiver_id"]))
        newest = data["scores"][0]["model_id"] if data["scores"] else None
        airports = self.airports(receiver, newest, flight["day"])
        track, altitude = self.track_drawings(flight, receiver, airports)
        zone = receiver.zone
        return {
            "flight": data,
            "receiver": receiver,
            "day": flight["day"],
            "start_local": local_time(flight["start_ts"], zone),
            "end_local": local_time(flight["end_ts"], zone),
            "track_svg": track,
            "altitude_svg": altitude,
            "n_airports": len(airports),
        }
