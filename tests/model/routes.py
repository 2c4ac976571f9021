"""Stored synthetic route flights and a detector with made-up weights: test data that needs
no TensorFlow (the no-TensorFlow test runs them in a fresh interpreter)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pandas as pd

from oddflights.db.flights import FLIGHT_COLUMNS, replace_day_flights
from oddflights.flights.raster import RasterSettings, pack_many
from oddflights.model.detector import Autoencoder, Detector, fit_detector
from oddflights.model.synthetic import route_images


def store_route_days(engine, receiver_id: int, days, per_day: int, seed: int = 0) -> None:
    """Store ``per_day`` synthetic route flights on each of ``days`` as real flights rows
    (drawn 64px/3w/200km; no positions)."""
    key = RasterSettings(64, 3, 200.0).key
    for i, day in enumerate(days):
        images = route_images(per_day, width=3, seed=seed + i)
        start = datetime.combine(day, time(0), tzinfo=UTC)
        rows = [
            {
                "icao24": f"{n:06x}",
                "callsign": None,
                "start_ts": start + timedelta(minutes=n),
                "end_ts": start + timedelta(minutes=n + 20),
                "n_points": 100,
                "path_km": 150.0,
                "turn_cum_deg": 5.0,
                "turn_net_deg": 0.0,
                "alt_min_ft": 30000.0,
                "alt_max_ft": 36000.0,
                "min_dist_km": 20.0,
                "lat_min": 51.0,
                "lat_max": 53.0,
                "lon_min": 4.0,
                "lon_max": 6.0,
                "lit_pixels": int(img.sum()),
                "raster_key": key,
            }
            for n, img in enumerate(images)
        ]
        df = pd.DataFrame(rows, columns=list(FLIGHT_COLUMNS))
        replace_day_flights(engine, receiver_id, day, df, pack_many(images))


def made_up_detector(val_images: np.ndarray, hidden: int = 16, seed: int = 0) -> Detector:
    """A detector with random weights, calibrated on ``val_images`` (64 px, 3 px lines)."""
    rng = np.random.default_rng(seed)
    d = 64 * 64
    weights = Autoencoder(
        rng.normal(0, 0.05, (d, hidden)).astype(np.float32),
        np.zeros(hidden, dtype=np.float32),
        rng.normal(0, 0.05, (hidden, d)).astype(np.float32),
        np.full(d, -3.0, dtype=np.float32),
    )
    return fit_detector(
        weights,
        RasterSettings(64, 3, 200.0),
        val_images,
        np.full(len(val_images), 5.0),
        score_fn="bce",
        percentile=98.0,
        combine="ae_turn",
    )
