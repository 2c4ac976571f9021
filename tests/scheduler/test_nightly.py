"""The nightly run on a simulated receiver: warm-up, catch-up, locking, failure and retry."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db import open_db
from oddflights.db.locks import try_lock
from oddflights.db.models import ModelRow
from oddflights.db.receivers import add_receiver, get_receiver
from oddflights.db.registry import list_models
from oddflights.db.runs import list_runs
from oddflights.db.scores import scoring_models
from oddflights.receivers import Receiver
from oddflights.scheduler.nightly import NightlySettings, lock_name, run_nightly
from oddflights.simulate import SimConfig, simulate
from tests.scoring.simdb import D0, TINY, load, simulation
from tests.stub_models import stub_model

SETTINGS = NightlySettings(retrain_days=7, train_window_days=14, warmup_days=3)
TODAY = D0 + timedelta(days=6)  # days 1-3 warm-up, days 4-6 to score; day 7 stays for later
ODDFLIGHTS = str(Path(sys.executable).with_name("oddflights"))


def _checkpoint_copy(engine: Engine, src: Path, dst: Path) -> str:
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(src, dst)
    return f"sqlite:///{dst}"


@dataclass
class CaughtUp:
    path: Path
    report: object


@pytest.fixture(scope="module")
def caught_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaughtUp]:
    """7 days × 80 flights stored; one nightly run 'today' = day 7 (nothing run before)."""
    path = tmp_path_factory.mktemp("nightly") / "caught_up.db"
    engine = open_db(f"sqlite:///{path}")
    load(engine, simulation(7, 80, seed=5))
    rec = get_receiver(engine, "sim")
    report = run_nightly(engine, [rec], today=TODAY, settings=SETTINGS, train_config=TINY)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    yield CaughtUp(path, report)


@pytest.fixture
def copy(caught_up: CaughtUp, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    dst = tmp_path / "copy.db"
    shutil.copy(caught_up.path, dst)
    url = f"sqlite:///{dst}"
    engine = open_db(url)
    yield url, engine
    engine.dispose()


def test_catch_up_of_three_missed_days_in_one_run(caught_up: CaughtUp, tmp_path: Path) -> None:
    report = caught_up.report
    assert report.ok  # type: ignore[attr-defined]
    (outcome,) = report.receivers  # type: ignore[attr-defined]
    assert outcome.status == "ok"
    days = {o.day: o for o in outcome.days}
    assert sorted(days) == [D0 + timedelta(days=i) for i in range(6)]
    for i in range(3):
        warm = days[D0 + timedelta(days=i)]
        assert warm.status == "skipped" and "warm-up" in warm.counts["note"]
    scored = [days[D0 + timedelta(days=i)] for i in range(3, 6)]
    assert [o.status for o in scored] == ["ok", "ok", "ok"]
    # One model, trained for the first scored day on the days before it, used for all three.
    assert scored[0].counts["train_status"] == "ready"
    assert {o.counts["model_id"] for o in scored} == {scored[0].counts["trained_model"]}
    assert all(o.counts["scored"] > 50 for o in scored)
    engine = open_db(f"sqlite:///{caught_up.path}")
    try:
        rec = get_receiver(engine, "sim")
        assert rec.id is not None
        (model,) = list_models(engine, rec.id)
        assert (model.train_from, model.train_to) == (D0, D0 + timedelta(days=2))
        for o in scored:
            assert scoring_models(engine, rec.id, o.day) == [model.id]
        runs = list_runs(engine, rec.id)
        assert len(runs) == 6 and set(runs["status"]) == {"ok", "skipped"}
        assert runs["finished_at"].notna().all()
    finally:
        engine.dispose()


def test_a_second_run_has_nothing_to_do(copy: tuple[str, Engine]) -> None:
    _, engine = copy
    rec = get_receiver(engine, "sim")
    report = run_nightly(engine, [rec], today=TODAY, settings=SETTINGS, train_config=TINY)
    assert report.ok and report.receivers[0].status == "nothing"


def _junk_model(engine: Engine, receiver_id: int) -> int:
    """A 'ready' model whose stored file is corrupt: scoring with it fails."""
    return stub_model(
        engine,
        receiver_id,
        D0 + timedelta(days=3),
        D0 + timedelta(days=5),
        config={"score_fn": "bce"},
        threshold=0.1,
        calibration={"score_fn": "bce"},
        keras_bytes=b"not a keras file",
    )


def test_a_failed_day_is_recorded_the_run_goes_on_and_the_next_run_retries(
    copy: tuple[str, Engine],
) -> None:
    _, engine = copy
    rec = get_receiver(engine, "sim")
    assert rec.id is not None
    quiet = add_receiver(engine, Receiver("quiet", 50.0, 8.0))
    junk = _junk_model(engine, rec.id)
    day7 = D0 + timedelta(days=6)
    report = run_nightly(
        engine, [rec, quiet], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
    )
    assert not report.ok
    assert [r.status for r in report.receivers] == ["failed", "nothing"]
    (failed,) = report.receivers[0].days
    assert failed.day == day7 and failed.status == "failed" and failed.error
    runs = list_runs(engine, rec.id)
    last = runs.iloc[0]
    assert last["day"] == day7 and last["status"] == "failed" and last["error"] == failed.error

    # The broken model is taken out of service; the next run retries day 7 and succeeds.
    with engine.begin() as conn:
        conn.execute(sa.update(ModelRow).where(ModelRow.id == junk).values(status="rejected"))
    report = run_nightly(
        engine, [rec], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
    )
    assert report.ok
    (retried,) = report.receivers[0].days
    assert retried.day == day7 and retried.status == "ok"
    assert retried.counts["scored"] > 50


def test_two_concurrent_runs_one_works_one_reports_the_lock(copy: tuple[str, Engine]) -> None:
    url, _ = copy
    engines = [open_db(url), open_db(url)]
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def run(engine: Engine) -> None:
        rec = get_receiver(engine, "sim")
        barrier.wait()
        report = run_nightly(
            engine, [rec], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
        )
        statuses.append(report.receivers[0].status)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert sorted(statuses) == ["locked", "ok"]


def test_cli_nightly_reports_a_held_lock_and_exits_0(copy: tuple[str, Engine]) -> None:
    url, engine = copy
    rec = get_receiver(engine, "sim")
    lock = try_lock(engine, lock_name(rec), timedelta(hours=6))
    assert lock is not None
    try:
        done = subprocess.run(
            [ODDFLIGHTS, "nightly", "--receiver", "sim", "--db", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        lock.release()
    assert done.returncode == 0, done.stderr
    assert "locked" in done.stdout and "another nightly run" in done.stdout


def test_warm_up_days_on_any_database(engine: Engine) -> None:
    """A new receiver's first days are built and recorded, not scored (SQLite and PG)."""
    sim = simulate(SimConfig(lat=52.0, lon=5.0, days=2, flights_per_day=20, start_day=D0, seed=1))
    rec = load(engine, sim)
    report = run_nightly(engine, [rec], today=D0 + timedelta(days=2), settings=SETTINGS)
    assert report.ok
    assert [(o.day, o.status) for o in report.receivers[0].days] == [
        (D0, "skipped"),
        (D0 + timedelta(days=1), "skipped"),
    ]
    assert all(o.counts["flights"] > 10 for o in report.receivers[0].days)
    again = run_nightly(engine, [rec], today=D0 + timedelta(days=2), settings=SETTINGS)
    assert again.receivers[0].status == "nothing"
