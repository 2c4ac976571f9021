"""Positions prepared apart from the write (as ingest does beside the previous chunk's write)."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from oddflights.db.positions import prepare_positions, read_positions, write_prepared
from oddflights.db.receivers import add_receiver
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate
from tests.ingest.helpers import DAY, LAT, LON


def test_prepared_positions_write_once_and_count_repeats(engine: Engine) -> None:
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=3, start_day=DAY, seed=5))
    rec = add_receiver(engine, Receiver("prep", LAT, LON, 250.0, "UTC"))
    assert rec.id is not None
    batch = pd.concat([sim.positions, sim.positions.iloc[:10]], ignore_index=True)
    prepared = prepare_positions(engine.dialect.name, rec.id, batch, "test")
    assert (prepared.given, prepared.rows) == (len(batch), len(sim.positions))
    assert prepared.span[0] == sim.positions["ts"].min().to_pydatetime()
    first = write_prepared(engine, prepared)
    assert (first.accepted, first.duplicates) == (len(sim.positions), 10)
    again = write_prepared(engine, prepared)  # a rerun adds nothing
    assert (again.accepted, again.duplicates) == (0, len(batch))
    assert len(read_positions(engine, rec.id)) == len(sim.positions)


def test_positions_prepared_for_another_database_are_refused(engine: Engine) -> None:
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=1, start_day=DAY, seed=5))
    other = "postgresql" if engine.dialect.name == "sqlite" else "sqlite"
    prepared = prepare_positions(other, 1, sim.positions)
    with pytest.raises(ValueError, match="prepared for"):
        write_prepared(engine, prepared)
