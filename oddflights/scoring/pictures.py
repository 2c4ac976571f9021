"""The three-panel picture of a flight under a model (input | reconstruction | |difference|),
made on demand with the model's stored Detector (numpy)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Engine

from oddflights.db.flights import get_flight
from oddflights.db.receivers import list_receivers
from oddflights.flights.raster import RasterSettings, rasterize, unpack
from oddflights.flights.render import three_panel_png
from oddflights.flights.track import read_flight_track
from oddflights.model.detector import Detector
from oddflights.scoring.score import load_detector


def image_from_track(
    engine: Engine, flight_id: int, settings: RasterSettings
) -> npt.NDArray[np.uint8]:
    """A flight redrawn from its cleaned track with ``settings``."""
    flight = get_flight(engine, flight_id)
    track = read_flight_track(engine, flight_id)
    rec = next(r for r in list_receivers(engine) if r.id == flight["receiver_id"])
    return rasterize(track["lat"].to_numpy(), track["lon"].to_numpy(), (rec.lat, rec.lon), settings)


def residual_png(
    engine: Engine,
    flight_id: int,
    model_id: int,
    scale: int = 4,
    loader: Callable[[int], Detector] | None = None,
) -> bytes:
    """The three-panel picture of a flight under a model, from the stored raster (redrawn from
    the track when the model used other raster settings). ``loader`` (model id → Detector;
    default: read it from the database) lets a caller keep detectors loaded. FlightNotFound /
    ModelNotFound name what is missing; ScoringError a model that must be retrained."""
    flight = get_flight(engine, flight_id)
    detector = load_detector(engine, model_id) if loader is None else loader(model_id)
    settings = detector.raster
    if flight["raster_key"] == settings.key:
        image = unpack(flight["raster"], settings.size)
    else:
        image = image_from_track(engine, flight_id, settings)
    recon = detector.reconstruct(image[None])[0]
    return three_panel_png(image, np.squeeze(recon), scale)
