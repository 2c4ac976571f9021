"""What each page shows, as plain data: the web app renders it, the report embeds it.

Lookups that fail raise NotFound (a missing day or model; the database layer's
ReceiverNotFound and FlightNotFound pass through) or BadRequest (a malformed value): all
OddflightsErrors, which the app turns into 404 and 400 pages in one handler.
"""

from __future__ import annotations

import functools
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
from oddflights.db.aircraft import read_aircraft
from oddflights.db.flights import get_flight, list_flights
from oddflights.db.receivers import get_receiver, list_receivers
from oddflights.db.scores import query_anomalies, scoring_models
from oddflights.db.web_queries import day_summaries, flight_scores, receiver_day_counts
from oddflights.errors import NotFoundError, OddflightsError
from oddflights.flights.raster import project
from oddflights.flights.segment import seconds
from oddflights.flights.track import read_flight_track
from oddflights.receivers import Receiver
from oddflights.scoring import tag_text
from oddflights.scoring.airports import KnownAirports, known_airports
from oddflights.web.links import flight_links, registration_country
from oddflights.web.maps import DayTrack, day_map_svg, flight_map_svg, profile_svg
from oddflights.web.pictures import PictureMaker
from oddflights.web.tiles import map_data, tile_settings


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


# The day map shows at most this many flagged flights (by rank): more would be a tangle.
DAY_MAP_FLIGHTS = 30


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
        # With a tile URL the maps are Leaflet's (oddflights.web.tiles), else inline SVG.
        self.tiles = tile_settings()
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
        include_known: bool = False,
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
            include_known=include_known,
            top=top,
        )
        found = rows.anomaly_rows(df)
        # The tags in words (tag_text): the airports found in the data are the shown model's.
        shown = model_id if model_id is not None else models[0]
        inferred = functools.partial(self.airports, receiver, shown, day)
        tag_text.add_tag_text(self.engine, receiver, found, inferred=inferred)
        return found, models

    def day_page(
        self,
        receiver: Receiver,
        day: date,
        *,
        model_id: int | None = None,
        include_all: bool = False,
        include_known: bool = False,
    ) -> dict[str, Any]:
        """Everything the day page shows: the flagged (or all scored) flights by rank with
        local times, or the unscored flights when no model scored the day. With
        ``include_known``, the known flights that scored above the threshold too (``known``
        True, with the rule's reason; never ``is_anomaly``)."""
        assert receiver.id is not None
        flights = list_flights(self.engine, receiver.id, day)
        if flights.empty:
            raise NotFound(f"receiver {receiver.name} has no flights on {day}")
        summary = next((d for d in self.days(receiver) if d["day"] == day.isoformat()), None)
        zone = receiver.zone
        try:
            scored, models = self.anomalies(
                receiver,
                day,
                model_id=model_id,
                include_all=include_all,
                include_known=include_known,
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
        flagged = [r for r in scored if r["is_anomaly"]][:DAY_MAP_FLIGHTS]
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
            "day_map_svg": self.day_map(receiver, flagged) if flagged and not self.tiles else "",
            "map_data": self.day_map_data(receiver, flagged) if flagged and self.tiles else None,
            "n_mapped": len(flagged),
        }

    def known(self, receiver: Receiver) -> KnownAirports:
        """The listed airports in the receiver's frame (airportsdata)."""
        return known_airports(receiver.lat, receiver.lon, receiver.range_km)

    def track_arrays(self, flight_id: int, receiver: Receiver) -> dict[str, Any]:
        """The flight's cleaned track: x, y (km from the receiver), t (s), altitude, speed."""
        track = read_flight_track(self.engine, flight_id)
        lat = track["lat"].to_numpy(dtype=np.float64)
        lon = track["lon"].to_numpy(dtype=np.float64)
        x, y = project(lat, lon, receiver.lat, receiver.lon)
        return {
            "lat": lat,
            "lon": lon,
            "x": np.asarray(x, dtype=np.float64),
            "y": np.asarray(y, dtype=np.float64),
            "t": seconds(track["ts"]) if len(track) else np.zeros(0),
            "alt": pd.to_numeric(track["altitude_ft"], errors="coerce").to_numpy(np.float64),
            "speed": pd.to_numeric(track["groundspeed_kt"], errors="coerce").to_numpy(np.float64),
            "start": track["ts"].iloc[0] if len(track) else None,
        }

    def tag_texts(
        self,
        tags: list[str],
        receiver: Receiver,
        inferred: Any,
        track: dict[str, Any] | None = None,
        low_xy: Any = None,
        flight_id: int | None = None,
        places: dict[str, Any] | None = None,
    ) -> list[str]:
        """The tags in words (oddflights.scoring.tag_text.tag_texts); the track is read only
        when a tag needs it and none is given. ``places``: the flight's stored TrackFacts."""
        read: Any = track
        if track is None and flight_id is not None:
            read = functools.partial(self.track_arrays, flight_id, receiver)
        return tag_text.tag_texts(
            tags, receiver, inferred, low_xy=low_xy, track=read, places=places
        )

    def day_map_data(self, receiver: Receiver, flagged: list[dict[str, Any]]) -> dict[str, Any]:
        """What the tile map of the day draws (oddflights.web.tiles.map_data)."""
        assert self.tiles is not None
        flights = []
        for r in flagged:
            t = self.track_arrays(int(r["flight_id"]), receiver)
            label = f"{r['callsign'] or 'no callsign'} ({r['icao24']})"
            href = f"/flights/{r['flight_id']}"
            flights.append({"rank": r["rank"], "href": href, "label": label, **t})
        return map_data(receiver, self.known(receiver), self.tiles, flights)

    def day_map(
        self, receiver: Receiver, flagged: list[dict[str, Any]], link: str = "/flights/{}"
    ) -> str:
        """The day's flagged flights on the basemap, numbered by rank."""
        tracks = []
        for r in flagged:
            t = self.track_arrays(int(r["flight_id"]), receiver)
            label = f"{r['callsign'] or 'no callsign'} ({r['icao24']})"
            tracks.append(DayTrack(int(r["rank"]), int(r["flight_id"]), label, t["x"], t["y"]))
        return day_map_svg(
            tracks,
            (receiver.lat, receiver.lon),
            receiver.range_km,
            self.known(receiver),
            link=link,
        )

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
        found = tag_text.inferred_airports(self.engine, receiver, model_id, day)
        with self._lock:
            self._airports[key] = found
        return found

    def track_drawings(
        self,
        flight: dict[str, Any],
        receiver: Receiver,
        track: dict[str, Any] | None = None,
        clip_id: str = "map",
        width: int = 640,
        strips: Any = None,
    ) -> tuple[str, str]:
        """The flight's map (at its own scale, on the basemap) and its altitude and speed
        profile, as SVG."""
        if track is None:
            track = self.track_arrays(int(flight["flight_id"]), receiver)
        label = f"flight {flight['flight_id']} ({flight['callsign'] or flight['icao24']})"
        drawn = flight_map_svg(
            track["x"],
            track["y"],
            (receiver.lat, receiver.lon),
            receiver.range_km,
            self.known(receiver),
            title=label,
            clip_id=clip_id,
            width=width,
            height=width * 3 // 4,
            strips_xy=strips,
        )
        start = "" if track["start"] is None else local_time(track["start"], receiver.zone)
        profile = profile_svg(
            track["t"], track["alt"], track["speed"], width=width, start_label=start
        )
        return drawn, profile

    def flight_page(self, flight_id: int) -> dict[str, Any]:
        """Everything the flight page shows."""
        data = self.flight_json(flight_id)
        flight = self.flight(flight_id)
        receiver = self.receiver_by_id(int(flight["receiver_id"]))
        newest = data["scores"][0]["model_id"] if data["scores"] else None
        track = self.track_arrays(flight_id, receiver)
        inferred = self.airports(receiver, newest, flight["day"])
        drawn, profile = self.track_drawings(flight, receiver, track, strips=inferred)
        tile_map = None
        if self.tiles:
            label = f"{flight['callsign'] or flight['icao24']}"
            one = {"rank": None, "href": None, "label": label, **track}
            tile_map = map_data(receiver, self.known(receiver), self.tiles, [one])
            drawn = ""
        # The go-around's low points and the other airport tags' places as stored with the
        # flight (as the day page has them).
        facts = flight.get("track_tags")
        places = facts if isinstance(facts, dict) else None
        for s in data["scores"]:
            s["tag_text"] = self.tag_texts(
                list(s["tags"]), receiver, inferred, track=track, places=places
            )
        zone = receiver.zone
        return {
            "flight": data,
            "receiver": receiver,
            "day": flight["day"],
            "start_local": local_time(flight["start_ts"], zone),
            "end_local": local_time(flight["end_ts"], zone),
            "track_svg": drawn,
            "map_data": tile_map,
            "altitude_svg": profile,
            "links": flight_links(str(flight["icao24"]), flight["day"]),
            "country": registration_country(str(flight["icao24"])),
            "aircraft": self.aircraft(str(flight["icao24"])),
        }

    def aircraft(self, icao24: str) -> dict[str, Any] | None:
        """What readsb's database says of the aircraft (registration, type_code,
        description, operator, year; None for each it left out), or None when the
        aircraft table does not know it."""
        found = read_aircraft(self.engine, [icao24])
        if found.empty:
            return None
        row = found.iloc[0]
        out: dict[str, Any] = {
            c: (None if pd.isna(row[c]) else str(row[c]))
            for c in ("registration", "type_code", "description", "operator")
        }
        out["year"] = None if pd.isna(row["year"]) else int(row["year"])
        return out
