"""A scored receiver for the alert tests: 7 simulated days, one nightly run 'today' = day 6
(days 1-3 warm-up, days 4-5 scored, with no alert target set); days 6 and 7 are left for the
tests' own nightly runs. Each test gets a copy of the SQLite file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from oddflights.db import open_db
from oddflights.db.receivers import get_receiver
from oddflights.receivers import Receiver
from oddflights.scheduler.nightly import NightlyReport, NightlySettings, run_nightly
from tests.scoring.simdb import D0, TINY, load, simulation

SETTINGS = NightlySettings(retrain_days=30, train_window_days=14, warmup_days=3)
SCORED = (D0 + timedelta(days=3), D0 + timedelta(days=4))
NEXT = D0 + timedelta(days=5)  # the next night's day
LAST = D0 + timedelta(days=6)  # the night after


def nightly(
    engine: Engine, rec: Receiver, *, today: date | None = None, day: date | None = None
) -> NightlyReport:
    """The nightly with the tests' settings: up to the day before ``today``, or ``day``."""
    return run_nightly(
        engine, [rec], day, today=today or NEXT, settings=SETTINGS, train_config=TINY
    )


@pytest.fixture(scope="module")
def scored_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alerts") / "scored.db"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):  # no alert target of the developer's
            if name.startswith("ODDFLIGHTS_") and name != "ODDFLIGHTS_TEST_PG_URL":
                mp.delenv(name)
        engine = open_db(f"sqlite:///{path}")
        load(engine, simulation(7, 80, seed=5))
        report = nightly(engine, get_receiver(engine, "sim"))
        assert report.ok, report.to_dict()
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
    return path


@dataclass
class Scored:
    url: str
    engine: Engine
    rec: Receiver


@pytest.fixture
def scored(scored_file: Path, tmp_path: Path) -> Iterator[Scored]:
    dst = tmp_path / "copy.db"
    shutil.copy(scored_file, dst)
    url = f"sqlite:///{dst}"
    engine = open_db(url)
    yield Scored(url, engine, get_receiver(engine, "sim"))
    engine.dispose()
