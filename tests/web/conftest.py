"""Fixtures of the web tests: a receiver taken through the real pipeline (SQLite), and a small
hand-filled database through the stages' own DB modules (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from oddflights.db import open_db
from oddflights.db.flights import FLIGHT_COLUMNS, list_flights, replace_day_flights
from oddflights.db.receivers import add_receiver
from oddflights.db.scores import replace_scores
from oddflights.flights.build import build_flights
from oddflights.flights.raster import pack_many
from oddflights.model.registry import train_from_db
from oddflights.receivers import Receiver
from oddflights.scoring.score import score_day
from tests.scoring.simdb import D0, TINY, load, simulation
from tests.stub_models import stub_flight, stub_model

DAYS = [D0 + timedelta(days=i) for i in range(4)]
SCORED = DAYS[-1]
UNSCORED = DAYS[0]


@dataclass
class PipelineDb:
    """A SQLite file: 4 simulated days of 150 flights built into flights, a model trained
    on days 1-3, and day 4 scored with it."""

    path: Path
    url: str
    receiver: Receiver
    model_id: int
    day: date


@pytest.fixture(scope="session")
def pipeline_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineDb]:
    path = tmp_path_factory.mktemp("web") / "pipeline.db"
    url = f"sqlite:///{path}"
    engine = open_db(url)
    rec = load(engine, simulation(4, 150))
    build_flights(engine, rec, DAYS)
    model_id, result = train_from_db(engine, rec, DAYS[0], DAYS[2], TINY)
    assert result.status == "ready", result.collapse
    score_day(engine, rec, SCORED, model_id)
    engine.dispose()
    yield PipelineDb(path, url, rec, model_id, SCORED)


SMALL_DAY = date(2026, 5, 4)


@dataclass
class SmallDb:
    """Two receivers; receiver ``r1`` has 6 flights on SMALL_DAY scored by two models (the
    newer flags flights 1 and 4) and 2 unscored flights the day after."""

    url: str
    engine: Engine
    receiver_id: int
    flight_ids: list[int]
    models: tuple[int, int]


def _flights(start: datetime, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            stub_flight(
                i,
                start,
                callsign=f"CS{i}" if i != 2 else None,
                n_points=100 + i,
                path_km=100.0 + i,
                turn_cum_deg=10.0 * i,
                alt_min_ft=1000.0 if i != 3 else None,
                alt_max_ft=30000.0 if i != 3 else None,
            )
            for i in range(n)
        ],
        columns=list(FLIGHT_COLUMNS),
    )


def _model(engine: Engine, receiver_id: int) -> int:
    return stub_model(engine, receiver_id, date(2026, 5, 1), date(2026, 5, 3), seed=1)


@pytest.fixture
def small_db(db_url: str) -> Iterator[SmallDb]:
    engine = open_db(db_url)
    rec = add_receiver(engine, Receiver("r1", 52.0, 5.0, timezone="Europe/Amsterdam"))
    add_receiver(engine, Receiver("empty", 48.0, 2.0))
    assert rec.id is not None
    images = np.zeros((6, 64, 64), dtype=np.uint8)
    start = datetime(2026, 5, 4, 6, tzinfo=UTC)
    replace_day_flights(engine, rec.id, SMALL_DAY, _flights(start, 6), pack_many(images))
    later = _flights(start + timedelta(days=1), 2)
    replace_day_flights(engine, rec.id, SMALL_DAY + timedelta(days=1), later, pack_many(images[:2]))
    ids = list_flights(engine, rec.id, SMALL_DAY)["flight_id"].tolist()
    old, new = _model(engine, rec.id), _model(engine, rec.id)
    for model_id, flagged in ((old, {0}), (new, {1, 4})):
        scores = [0.9 if i in flagged else 0.1 + 0.01 * i for i in range(6)]
        order = np.argsort([-s for s in scores], kind="stable")
        ranks = np.empty(6, dtype=int)
        ranks[order] = np.arange(1, 7)
        df = pd.DataFrame(
            {
                "flight_id": ids,
                "score": scores,
                "rank": ranks,
                "threshold": 0.5,
                "is_anomaly": [s > 0.5 for s in scores],
                "tags": [["circling"] if i in flagged else [] for i in range(6)],
            }
        )
        replace_scores(engine, rec.id, SMALL_DAY, model_id, df)
    yield SmallDb(db_url, engine, rec.id, [int(i) for i in ids], (old, new))
    engine.dispose()
