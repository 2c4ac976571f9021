"""The nightly run on a simulated receiver: warm-up, catch-up, locking, failure and retry,
recovery from a run that died, and the report files' mode."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.locks import holder_id, lock_holder, process_state, try_lock
from oddflights.db.models import LockRow, ModelRow
from oddflights.db.receivers import add_receiver, get_receiver
from oddflights.db.registry import list_models
from oddflights.db.runs import list_runs, start_run
from oddflights.db.scores import query_anomalies, scoring_models
from oddflights.flights.build import build_flights
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
    """A 'ready' model whose stored detector is corrupt: scoring with it fails."""
    return stub_model(
        engine,
        receiver_id,
        D0 + timedelta(days=3),
        D0 + timedelta(days=5),
        config={"score_fn": "bce"},
        threshold=0.1,
        calibration={"score_fn": "bce"},
        keras_bytes=b"not a keras file",
        detector_bytes=b"not a detector",
    )


def test_a_model_without_detector_is_replaced_by_a_new_one(copy: tuple[str, Engine]) -> None:
    """The newest ready model has no detector (stored before detectors, not convertible):
    the nightly trains a new model and scores with it instead of failing the day."""
    _, engine = copy
    rec = get_receiver(engine, "sim")
    assert rec.id is not None
    bare = stub_model(engine, rec.id, D0 + timedelta(days=3), D0 + timedelta(days=5))
    report = run_nightly(
        engine, [rec], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
    )
    assert report.ok, report
    (day,) = report.receivers[0].days
    assert day.status == "ok" and day.counts["trained_model"] > bare
    assert day.counts["model_id"] == day.counts["trained_model"]


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


def _dead_holder() -> str:
    """The lock holder a nightly killed with -9 leaves: this host, a PID now gone."""
    proc = subprocess.Popen(["sleep", "60"])
    state = process_state(proc.pid)
    proc.kill()
    proc.wait()
    host_space = holder_id().rsplit(":", 3)[0]
    return f"{host_space}:{proc.pid}:{state[1] if state else '-'}:0badc0de"


@pytest.mark.skipif(process_state(os.getpid()) is None, reason="needs Linux /proc")
def test_a_run_left_by_a_dead_process_is_marked_interrupted_and_its_day_redone(
    copy: tuple[str, Engine],
) -> None:
    """What a nightly killed with -9 while on day 7 leaves: its lock row, its run `running`,
    day 7's flights built but not scored. The next run takes the lock over at once, marks
    the run interrupted with the time, and redoes day 7."""
    url, engine = copy
    rec = get_receiver(engine, "sim")
    assert rec.id is not None
    day7 = D0 + timedelta(days=6)
    dead = _dead_holder()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(LockRow).values(
                name=lock_name(rec), holder=dead, acquired_at=datetime.now(UTC)
            )
        )
    stuck = start_run(engine, "nightly", rec.id, day7)
    build_flights(engine, rec, [day7])
    before = datetime.now(UTC)

    report = run_nightly(
        engine, [rec], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
    )
    (outcome,) = report.receivers
    assert outcome.status == "ok", outcome.message
    assert outcome.interrupted == [day7]
    assert dead in outcome.message and "interrupted" in outcome.message
    (redone,) = outcome.days
    assert redone.day == day7 and redone.status == "ok" and redone.counts["scored"] > 50
    runs = list_runs(engine, rec.id).set_index("run_id")
    old = runs.loc[stuck]
    assert old["status"] == "interrupted" and "interrupted" in old["error"]
    assert old["finished_at"] >= before
    assert runs.loc[runs.index.max(), "status"] == "ok"
    assert (runs["status"] != "running").all()
    assert lock_holder(engine, lock_name(rec)) is None
    flagged = query_anomalies(engine, rec.id, day7, include_all=True)
    assert len(flagged) == redone.counts["scored"]

    listed = CliRunner().invoke(
        main, ["runs", "--receiver", "sim", "--db", url, "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    assert '"status": "interrupted"' in listed.output


def test_sigterm_in_a_run_records_the_day_interrupted_and_frees_the_lock(
    copy: tuple[str, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM unwinds the run (Interrupted): the day in progress is recorded interrupted at
    once and the lock is released; the next run finds nothing stuck and redoes the day."""
    from oddflights.scheduler.nightly import (
        PAUSE_ENV,
        PAUSE_FILE_ENV,
        Interrupted,
        sigterm_unwinds,
    )

    _, engine = copy
    rec = get_receiver(engine, "sim")
    assert rec.id is not None
    day7 = D0 + timedelta(days=6)
    marker = tmp_path / "paused"
    # The run stops before scoring day 7 (flights built); then SIGTERM comes.
    monkeypatch.setenv(PAUSE_ENV, f"score@{day7.isoformat()}")
    monkeypatch.setenv(PAUSE_FILE_ENV, str(marker))

    def terminate_when_paused() -> None:
        while not marker.exists():
            threading.Event().wait(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    handler = signal.getsignal(signal.SIGTERM)
    sender = threading.Thread(target=terminate_when_paused, daemon=True)
    sender.start()
    with pytest.raises(Interrupted, match="SIGTERM"), sigterm_unwinds():
        run_nightly(
            engine, [rec], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
        )
    sender.join()
    monkeypatch.delenv(PAUSE_ENV)
    assert signal.getsignal(signal.SIGTERM) is handler
    runs = list_runs(engine, rec.id)
    last = runs.iloc[0]
    assert last["day"] == day7 and last["status"] == "interrupted"
    assert last["error"] == "interrupted: SIGTERM" and last["finished_at"] is not None
    assert lock_holder(engine, lock_name(rec)) is None
    again = run_nightly(
        engine, [rec], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
    )
    (outcome,) = again.receivers
    assert outcome.status == "ok" and outcome.interrupted == []
    assert [(o.day, o.status) for o in outcome.days] == [(day7, "ok")]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_report_files_get_the_mode_the_umask_gives(
    copy: tuple[str, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    """The nightly's report (and `oddflights report`'s) is written atomically, yet with the
    umask's mode (0644 under 022), not mkstemp's 0600 that hides it from a web server."""
    from oddflights.web.report import write_day_report

    _, engine = copy
    rec = get_receiver(engine, "sim")
    folder = tmp_path / "reports"
    monkeypatch.setenv("ODDFLIGHTS_NIGHTLY_REPORT_DIR", str(folder))
    previous = os.umask(umask)
    try:
        report = run_nightly(
            engine, [rec], today=TODAY + timedelta(days=1), settings=SETTINGS, train_config=TINY
        )
        by_hand = write_day_report(engine, rec, D0 + timedelta(days=4), tmp_path / "r.html")
    finally:
        os.umask(previous)
    (day,) = report.receivers[0].days
    path = Path(day.counts["report"])
    assert path.parent == folder and path.read_text(encoding="utf-8").startswith("<!")
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~umask)
    assert oct(by_hand.stat().st_mode & 0o777) == oct(0o666 & ~umask)
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temporary left


def test_runs_shows_a_nightly_run_whose_process_died_interrupted(engine: Engine) -> None:
    """Before the next nightly records it, `oddflights runs` already shows a run left
    `running` as interrupted when no live process holds its receiver's lock; a run whose
    lock is held (by this process here) stays `running`. Looking takes no lock."""
    rec = add_receiver(engine, Receiver("roof", 52.0, 5.0))
    assert rec.id is not None
    start_run(engine, "nightly", rec.id, D0)
    start_run(engine, "score", rec.id, D0)  # not the nightly's: it takes no lock, left alone
    url = engine.url.render_as_string(hide_password=False)

    def shown() -> list[tuple[str, str]]:
        listed = CliRunner().invoke(main, ["runs", "--db", url, "--format", "json"])
        assert listed.exit_code == 0, listed.output
        return [(r["kind"], r["status"]) for r in json.loads(listed.output)]

    lock = try_lock(engine, lock_name(rec), timedelta(hours=6))
    assert lock is not None
    try:
        assert shown() == [("score", "running"), ("nightly", "running")]
    finally:
        lock.release()
    assert shown() == [("score", "running"), ("nightly", "interrupted")]
    # Only shown so: the row is recorded interrupted by the next nightly, under its lock.
    assert list(list_runs(engine, rec.id)["status"]) == ["running", "running"]
    report = run_nightly(engine, [rec], today=D0 + timedelta(days=1), settings=SETTINGS)
    assert report.receivers[0].interrupted == [D0]
    assert list(list_runs(engine, rec.id)["status"]) == ["running", "interrupted"]
