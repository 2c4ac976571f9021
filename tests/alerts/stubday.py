"""A receiver day with stored flights and scores but no trained network: enough for the
alert targets and the deliveries table, on SQLite and PostgreSQL, in a second."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.flights import FLIGHT_COLUMNS, list_flights, replace_day_flights
from oddflights.db.receivers import ReceiverNotFound, add_receiver, get_receiver
from oddflights.db.scores import replace_scores
from oddflights.flights.raster import pack_many
from oddflights.receivers import Receiver
from tests.stub_models import stub_flight, stub_model

DAY = date(2026, 5, 4)
N = 6


def _flights(day: date) -> pd.DataFrame:
    start = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    return pd.DataFrame(
        [
            stub_flight(
                i,
                start,
                callsign=f"CS{i}" if i != 2 else None,
                start_ts=start + timedelta(minutes=10 * i, milliseconds=123),
                n_points=100 + i,
                path_km=100.0 + i,
                turn_cum_deg=10.0 * i,
            )
            for i in range(N)
        ],
        columns=list(FLIGHT_COLUMNS),
    )


def stub_day(
    engine: Engine, day: date = DAY, flagged: tuple[int, ...] = (1, 4), name: str = "r1"
) -> Receiver:
    """(Re)build ``day``'s N flights (new ids each time, as a rebuild gives) and score them
    with a new stub model that flags the flights numbered ``flagged``."""
    try:
        rec = get_receiver(engine, name)
    except ReceiverNotFound:
        rec = add_receiver(engine, Receiver(name, 52.0, 5.0, timezone="UTC"))
    assert rec.id is not None
    images = np.zeros((N, 64, 64), dtype=np.uint8)
    replace_day_flights(engine, rec.id, day, _flights(day), pack_many(images))
    ids = list_flights(engine, rec.id, day).sort_values("start_ts")["flight_id"].tolist()
    model = stub_model(engine, rec.id, day - timedelta(days=3), day - timedelta(days=1))
    scores = [2.0 + i / 10 if i in flagged else 0.1 + 0.01 * i for i in range(N)]
    order = np.argsort([-s for s in scores], kind="stable")
    ranks = np.empty(N, dtype=int)
    ranks[order] = np.arange(1, N + 1)
    df = pd.DataFrame(
        {
            "flight_id": ids,
            "score": scores,
            "rank": ranks,
            "threshold": 0.5,
            "is_anomaly": [s > 0.5 for s in scores],
            "tags": [["circling"] if i in flagged else [] for i in range(N)],
        }
    )
    replace_scores(engine, rec.id, day, model, df)
    return rec
