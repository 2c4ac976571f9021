"""Fault tests with real processes: `oddflights nightly` killed with -9 (or stopped with
SIGTERM) at each point of a day's work, then run again. The rerun must not find the receiver
locked, must mark the dead run ``interrupted``, and must end with exactly the flights, model
and scores of an undisturbed run on a separate database of the same kind loaded with the
same data.

A nightly reaches a point through its test hook (``ODDFLIGHTS_TEST_PAUSE_AT``, see
``oddflights.scheduler.nightly``): it stops there and is killed. The points are the borders
of a day's stored steps (each a transaction, so a kill inside a step leaves the state of one
of its borders): ``build`` (nothing of the day stored), ``train`` (the day's flights built,
no model), ``score`` (a model stored, the day not scored), ``record`` (the day scored, its run
not recorded).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from oddflights.db import open_db
from oddflights.db.flights import list_flights
from oddflights.db.receivers import get_receiver
from oddflights.db.registry import list_models
from oddflights.db.runs import list_runs
from oddflights.db.scores import query_anomalies
from oddflights.scheduler.nightly import PAUSE_ENV, PAUSE_FILE_ENV
from oddflights.simulate import SimConfig, Simulation, simulate
from tests.conftest import pg_schema
from tests.scoring.simdb import RECEIVER, load

pytestmark = pytest.mark.slow

ODDFLIGHTS = str(Path(sys.executable).with_name("oddflights"))
DAYS = 6  # 3 warm-up days, then 3 scored days (the model trained for the first of them)
FLIGHTS_PER_DAY = 40
# A small real model, as tests.scoring.simdb.TINY, through the settings a real nightly reads.
MODEL_ENV = {
    "ODDFLIGHTS_MODEL_EPOCHS": "5",
    "ODDFLIGHTS_MODEL_HIDDEN": "128",
    "ODDFLIGHTS_MODEL_BATCH_SIZE": "32",
    "ODDFLIGHTS_MODEL_LEARNING_RATE": "3e-3",
    "ODDFLIGHTS_MODEL_PATIENCE": "5",
}


@dataclass(frozen=True)
class Data:
    first: date
    sim: Simulation

    def day(self, i: int) -> date:
        return self.first + timedelta(days=i)


@pytest.fixture(scope="module")
def data() -> Data:
    """Six days ending yesterday (a nightly works up to yesterday, by the clock)."""
    first = datetime.now(UTC).date() - timedelta(days=DAYS)
    sim = simulate(
        SimConfig(
            lat=RECEIVER.lat,
            lon=RECEIVER.lon,
            days=DAYS,
            flights_per_day=FLIGHTS_PER_DAY,
            start_day=first,
            seed=3,
            anomaly_share=0.05,
        )
    )
    return Data(first, sim)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODDFLIGHTS_")}
    env.update(MODEL_ENV)
    env["ODDFLIGHTS_NIGHTLY_REPORT_DIR"] = str(tmp / "reports")
    env.update(extra)
    return env


def _nightly(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ODDFLIGHTS, "nightly", "--receiver", RECEIVER.name, "--json", "--db", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def outcome(engine: Engine, data: Data) -> dict[str, Any]:
    """Everything a nightly leaves that matters: each day's flight keys, the models (status,
    window, threshold) and each scored day's scores (flight key, score, threshold, flagged,
    rank, tags), compared exactly."""
    rec = get_receiver(engine, RECEIVER.name)
    assert rec.id is not None
    days = [data.day(i) for i in range(DAYS)]
    flights = {
        d: [(r.icao24, r.start_ts) for r in list_flights(engine, rec.id, d).itertuples()]
        for d in days
    }
    models = [
        (m.status, m.train_from, m.train_to, m.threshold) for m in list_models(engine, rec.id)
    ]
    scores = {}
    for d in days[3:]:
        df = query_anomalies(engine, rec.id, d, include_all=True)
        scores[d] = [
            (r.icao24, r.start, r.score, r.threshold, bool(r.is_anomaly), r.rank, str(r.tags))
            for r in df.itertuples()
        ]
    return {"flights": flights, "models": models, "scores": scores}


def _undisturbed_run(url: str, tmp: Path, data: Data) -> dict[str, Any]:
    """One nightly run, left alone, on the empty database at ``url``."""
    engine = open_db(url)
    try:
        load(engine, data.sim)
        done = _nightly(url, _env(tmp))
        assert done.returncode == 0, done.stdout + done.stderr
        result = outcome(engine, data)
    finally:
        engine.dispose()
    assert len(result["models"]) == 1 and result["models"][0][0] == "ready"
    assert all(len(result["scores"][data.day(i)]) > 20 for i in range(3, DAYS))
    assert any(s[4] for d in result["scores"].values() for s in d)  # some flights flagged
    return result


@pytest.fixture(scope="module")
def undisturbed_runs(
    data: Data, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Any]]]:
    """The undisturbed run on a database of each kind, made when first asked for: SQLite keeps
    coordinates to 1e-5 degrees and PostgreSQL the floats themselves, so each kind is
    compared with its own (their thresholds differ in the fourth decimal)."""
    with contextlib.ExitStack() as schemas:

        class Runs(dict):  # type: ignore[type-arg]
            def __missing__(self, kind: str) -> dict[str, Any]:
                tmp = tmp_path_factory.mktemp(f"undisturbed-{kind}")
                if kind == "sqlite":
                    url = f"sqlite:///{tmp / 'clean.db'}"
                else:
                    url = schemas.enter_context(pg_schema())
                self[kind] = _undisturbed_run(url, tmp, data)
                return self[kind]

        yield Runs()


def _stop_at(url: str, tmp: Path, point: str, day: date, how: signal.Signals) -> tuple[int, str]:
    """Start a nightly, wait until it reaches ``point`` on ``day``, send it ``how``; returns
    its exit status and its stderr."""
    marker = tmp / "paused"
    env = _env(tmp, **{PAUSE_ENV: f"{point}@{day.isoformat()}", PAUSE_FILE_ENV: str(marker)})
    proc = subprocess.Popen(
        [ODDFLIGHTS, "nightly", "--receiver", RECEIVER.name, "--db", url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), f"never reached {point} on {day}: {proc.communicate()}"
        assert int(marker.read_text()) == proc.pid
        proc.send_signal(how)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


STOPS = [
    ("build", 4, signal.SIGKILL),
    ("train", 3, signal.SIGKILL),
    ("score", 3, signal.SIGKILL),
    ("record", 4, signal.SIGKILL),
    ("train", 3, signal.SIGTERM),
    ("record", 4, signal.SIGTERM),
]


# Every stop on SQLite; on PostgreSQL the two that exercise what differs there (its advisory
# lock freed by a killed connection, and an interrupted run recorded as it stops): each case
# trains a model, and CI has a 30-minute budget.
PG_STOPS = {("train", signal.SIGKILL), ("record", signal.SIGTERM)}
CASES = [
    pytest.param(db, point, day_index, how, id=f"{db}-{point}-{how.name}")
    for db in ("sqlite", "postgresql")
    for point, day_index, how in STOPS
    if db == "sqlite" or (point, how) in PG_STOPS
]


@pytest.mark.parametrize(("db_url", "point", "day_index", "how"), CASES, indirect=["db_url"])
def test_a_stopped_nightly_is_redone_to_the_same_scores(
    db_url: str,
    data: Data,
    undisturbed_runs: dict[str, dict[str, Any]],
    tmp_path: Path,
    point: str,
    day_index: int,
    how: signal.Signals,
) -> None:
    engine = open_db(db_url)
    try:
        rec = load(engine, data.sim)
        assert rec.id is not None
        day = data.day(day_index)
        code, err = _stop_at(db_url, tmp_path, point, day, how)
        runs = list_runs(engine, rec.id)
        left = runs[runs["day"] == day].iloc[0]
        if how == signal.SIGKILL:
            assert code == -signal.SIGKILL
            assert left["status"] == "running"  # as a crash leaves it
        else:
            # SIGTERM: the run records the day interrupted and frees the lock as it stops.
            assert code == 143, err
            assert "stopped by SIGTERM" in err and "Traceback" not in err
            assert left["status"] == "interrupted" and left["error"] == "interrupted: SIGTERM"
        # The days before the stopped one are done, and stay done.
        assert sorted(runs.loc[runs["day"] < day, "status"]) == sorted(
            ["skipped"] * min(day_index, 3) + ["ok"] * max(day_index - 3, 0)
        )

        done = _nightly(db_url, _env(tmp_path))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "another nightly run" not in done.stdout
        (receiver,) = json.loads(done.stdout)["receivers"]
        assert receiver["status"] == "ok", receiver
        redone = [d["day"] for d in receiver["days"]]
        assert redone == [data.day(i).isoformat() for i in range(day_index, DAYS)]
        assert all(d["status"] == "ok" for d in receiver["days"])
        runs = list_runs(engine, rec.id)
        old = runs[runs["run_id"] == left["run_id"]].iloc[0]
        assert old["status"] == "interrupted" and old["finished_at"] is not None
        if how == signal.SIGKILL:
            assert receiver["interrupted"] == [day.isoformat()]
            assert old["finished_at"] > left["started_at"]
        assert (runs["status"] != "running").all()

        assert outcome(engine, data) == undisturbed_runs[engine.dialect.name]
    finally:
        engine.dispose()
