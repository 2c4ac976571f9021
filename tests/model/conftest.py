"""Shared fixtures: synthetic route images and one small, seeded, really trained model."""

from __future__ import annotations

import numpy as np
import pytest

from oddflights.model.synthetic import route_images
from oddflights.model.train import TrainConfig, TrainResult, train_model

# Small and quick, yet enough to learn four routes: ~3 s on two cores.
TINY = TrainConfig(
    hidden=64, learning_rate=3e-3, epochs=5, batch_size=16, shift_px=1, patience=5, seed=7
)


@pytest.fixture(scope="session")
def train_images() -> np.ndarray:
    return route_images(300, width=3, seed=0)


@pytest.fixture(scope="session")
def val_images() -> np.ndarray:
    return route_images(100, width=3, seed=1)


@pytest.fixture(scope="session")
def trained(train_images: np.ndarray, val_images: np.ndarray) -> TrainResult:
    return train_model(train_images, val_images, TINY)


def store_route_days(engine, receiver_id: int, days, per_day: int, seed: int = 0) -> None:
    """Store ``per_day`` synthetic route flights on each of ``days`` as real flights rows."""
    from datetime import UTC, datetime, time, timedelta

    import pandas as pd

    from oddflights.db.flights import FLIGHT_COLUMNS, replace_day_flights
    from oddflights.flights.raster import RasterSettings, pack_many

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
