"""A small simulated receiver in a real database, shared by the scoring and scheduler tests."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.positions import write_positions
from oddflights.db.receivers import add_receiver
from oddflights.model.train_config import TrainConfig
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, Simulation, simulate

D0 = date(2026, 5, 1)
RECEIVER = Receiver("sim", lat=52.0, lon=5.0, range_km=200.0, timezone="UTC")
# Small and quick, yet a real model that beats the trivial predictors: ~10 s on two cores.
TINY = TrainConfig(
    hidden=128, learning_rate=3e-3, epochs=5, batch_size=32, shift_px=1, patience=5, seed=7
)
# Every THIN-th position is kept: flights stay well drawn at a fraction of the write cost.
THIN = 5


def simulation(days: int, flights_per_day: int, seed: int = 3) -> Simulation:
    """A seeded simulation starting on D0, 5 % labelled anomalies (every kind appears)."""
    return simulate(
        SimConfig(
            lat=RECEIVER.lat,
            lon=RECEIVER.lon,
            days=days,
            flights_per_day=flights_per_day,
            start_day=D0,
            seed=seed,
            anomaly_share=0.05,
        )
    )


def load(engine: Engine, sim: Simulation, receiver: Receiver = RECEIVER) -> Receiver:
    """Store the receiver and the simulation's (thinned) positions."""
    rec = add_receiver(engine, receiver)
    assert rec.id is not None
    write_positions(engine, rec.id, sim.positions.iloc[::THIN].reset_index(drop=True))
    return rec


def labels_of(sim: Simulation, day: date) -> pd.DataFrame:
    """The labels of flights starting on ``day`` (UTC)."""
    lab = sim.labels
    start = pd.Timestamp(day, tz="UTC")
    return lab[(lab["start"] >= start) & (lab["start"] < start + timedelta(days=1))]
