"""The nightly and rescoring on a real Dask cluster (``distributed.LocalCluster``, two worker
processes) over the real PostgreSQL (ODDFLIGHTS_TEST_PG_URL): the stored rows equal a serial
run's, also when a worker process is killed mid-run. Slow: a cluster and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db import open_db
from oddflights.db.locks import try_lock
from oddflights.db.receivers import add_receiver, list_receivers
from oddflights.db.registry import insert_model
from oddflights.receivers import Receiver
from oddflights.scheduler import cluster as cluster_mod
from oddflights.scheduler.cluster import (
    _open,
    nightly_on_cluster,
    nightly_task,
    rescore_on_cluster,
    rescore_task,
    will_train,
)
from oddflights.scheduler.nightly import (
    PAUSE_ENV,
    PAUSE_FILE_ENV,
    NightlySettings,
    lock_name,
    run_nightly,
)
from oddflights.scheduler.rescore import run_rescore
from tests.conftest import PG_URL, _pg_schema_url, pg_schema
from tests.model.routes import made_up_detector
from tests.scoring.simdb import D0, RECEIVER, TINY, load, simulation

distributed = pytest.importorskip("distributed")

# 4 small receivers: days 1-2 warm-up, days 3-4 scored with a stored model.
N_RECEIVERS = 4
DAYS = 4
FLIGHTS = 30
TODAY = D0 + timedelta(days=DAYS)
SETTINGS = NightlySettings(retrain_days=7, train_window_days=14, warmup_days=2)
pytestmark = pytest.mark.skipif(not PG_URL, reason="needs ODDFLIGHTS_TEST_PG_URL")


def _load(engine: Engine) -> None:
    for i in range(N_RECEIVERS):
        rec = Receiver(f"r{i}", RECEIVER.lat, RECEIVER.lon, RECEIVER.range_km, RECEIVER.timezone)
        load(engine, simulation(DAYS, FLIGHTS, seed=5 + i), rec)
    _give_models(engine)


@dataclass
class Db:
    url: str
    engine: Engine


@pytest.fixture
def fresh_db() -> Iterator[Any]:
    """Makes loaded PostgreSQL schemas (4 receivers' positions), dropped at the end."""
    admin = open_db(PG_URL, migrate=False)
    made: list[Db] = []

    def make() -> Db:
        schema = "c_" + uuid.uuid4().hex[:12]
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = _pg_schema_url(schema)
        db = Db(url, open_db(url))
        made.append(db)
        _load(db.engine)
        return db

    yield make
    for db in made:
        schema = str(sa.engine.make_url(db.url).query["options"]).split("=")[1]
        db.engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes, one thread each, each offering the TRAIN resource."""
    with (
        distributed.LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            resources={"TRAIN": 1},
            dashboard_address=None,
        ) as lc,
        distributed.Client(lc) as client,
    ):
        yield client


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """What a run leaves, keyed by natural keys (ids differ between databases)."""
    q = {
        "flights": "SELECT r.name, f.icao24, f.start_ts, f.n_points FROM flights f"
        " JOIN receivers r ON r.id = f.receiver_id",
        "scores": "SELECT r.name, f.icao24, f.start_ts, s.score, s.is_anomaly, s.rank,"
        " s.threshold FROM scores s JOIN flights f ON f.id = s.flight_id"
        " JOIN receivers r ON r.id = f.receiver_id",
        "models": "SELECT r.name, m.train_from, m.train_to, m.status, m.threshold FROM models m"
        " JOIN receivers r ON r.id = m.receiver_id",
        # The last run of each day (a killed one is followed by its redo).
        "runs": "SELECT DISTINCT ON (r.name, u.kind, u.day) r.name, u.kind, u.day, u.status"
        " FROM runs u JOIN receivers r ON r.id = u.receiver_id"
        " ORDER BY r.name, u.kind, u.day, u.id DESC",
    }
    with engine.connect() as conn:
        return {k: sorted(tuple(r) for r in conn.exec_driver_sql(v)) for k, v in q.items()}


def _give_models(engine: Engine) -> None:
    """Every receiver gets the same made-up ready model (random weights, numpy only), trained
    "before" the first scored day: no training, so no TensorFlow, keeps the tests short. (A
    model trained under a worker's thread environment is the serial run's bit for bit:
    tests/model/test_reproducible.py.)"""
    rng = np.random.default_rng(0)
    det = made_up_detector((rng.random((60, 64, 64)) < 0.03).astype(np.float32))
    for rec in list_receivers(engine):
        assert rec.id is not None
        insert_model(
            engine,
            receiver_id=rec.id,
            train_from=D0,
            train_to=D0 + timedelta(days=1),
            validation_days=[D0 + timedelta(days=1)],
            config={},
            raster=det.raster.to_dict(),
            metrics={},
            threshold=det.threshold,
            calibration={},
            versions={},
            seed=0,
            status="ready",
            keras_bytes=None,
            detector_bytes=det.to_bytes(),
        )


RESCORED = [D0 + timedelta(days=2), D0 + timedelta(days=3)]


@pytest.fixture(scope="module")
def serial() -> Iterator[dict[str, Any]]:
    """The serial run's rows (nightly, then a rescore of its scored days), done once."""
    admin = open_db(PG_URL, migrate=False)
    schema = "c_" + uuid.uuid4().hex[:12]
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = open_db(_pg_schema_url(schema))
    try:
        _load(engine)
        recs = list_receivers(engine)
        assert run_nightly(engine, recs, today=TODAY, settings=SETTINGS).ok
        nightly_rows = _rows(engine)
        assert run_rescore(engine, recs, RESCORED).ok
        yield {"engine": engine, "nightly": nightly_rows, "rescored": _rows(engine)}
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.mark.slow
def test_cluster_nightly_and_rescore_equal_the_serial_run(
    cluster: Any, serial: dict[str, Any], fresh_db: Any
) -> None:
    db = fresh_db()
    recs = list_receivers(db.engine)
    report = nightly_on_cluster(cluster, db.engine, recs, today=TODAY, settings=SETTINGS)
    assert report.ok, report.to_dict()
    assert [r.receiver for r in report.receivers] == ["r0", "r1", "r2", "r3"]
    assert [len(r.days) for r in report.receivers] == [DAYS] * N_RECEIVERS
    scored = [d.counts["scored"] for r in report.receivers for d in r.days if d.status == "ok"]
    assert len(scored) == N_RECEIVERS * 2 and min(scored) > 10
    rows = _rows(db.engine)
    assert rows == serial["nightly"]
    assert {r[3] for r in rows["runs"]} == {"ok", "skipped"}
    # Rescoring days 3-4 on the cluster: the same rows as the serial rescore.
    again = rescore_on_cluster(cluster, db.engine, recs, RESCORED)
    assert again.ok and all(len(r.days) == 2 for r in again.receivers)
    assert _rows(db.engine) == serial["rescored"]


def _set_env(values: dict[str, str]) -> None:
    os.environ.update(values)


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_the_rows_of_a_serial_run(
    cluster: Any, serial: dict[str, Any], fresh_db: Any, tmp_path: Path
) -> None:
    db = fresh_db()
    recs = list_receivers(db.engine)
    # One worker stops in the first scoring of day 4 it reaches and is killed there (SIGKILL:
    # no clean-up); the nanny starts a fresh process without the pause.
    marker = tmp_path / "paused"
    victim = sorted(cluster.scheduler_info()["workers"])[0]
    pause = {PAUSE_ENV: f"score@{D0 + timedelta(days=3)}", PAUSE_FILE_ENV: str(marker)}
    cluster.run(_set_env, pause, workers=[victim])
    killed: list[int] = []

    def kill_when_paused() -> None:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if marker.exists():
            pid = int(marker.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_paused, daemon=True)
    killer.start()
    report = nightly_on_cluster(cluster, db.engine, recs, today=TODAY, settings=SETTINGS)
    killer.join()
    assert len(killed) == 1
    assert report.ok, report.to_dict()
    # The killed day was marked interrupted by the retry and redone: rows as if run once.
    assert sum(len(r.interrupted) for r in report.receivers) == 1
    assert _rows(db.engine) == serial["nightly"]
    with db.engine.connect() as conn:
        statuses = [r[0] for r in conn.exec_driver_sql("SELECT status FROM runs")]
    assert statuses.count("interrupted") == 1


# Training on a worker: two receivers due to train (3 warm-up days, the fourth scored with the
# model trained for it: the smallest data whose tiny seeded model is "ready"). Workers start
# with OMP_NUM_THREADS=1; the submitter's model_threads is to make their model the serial one.
TRAIN_SETTINGS = NightlySettings(retrain_days=7, train_window_days=14, warmup_days=3)
TRAIN_DAYS = 4
TRAIN_FLIGHTS = 80
TRAIN_TODAY = D0 + timedelta(days=TRAIN_DAYS)


def _load_untrained(url: str) -> Engine:
    engine = open_db(url)
    for i in range(2):
        rec = Receiver(f"t{i}", RECEIVER.lat, RECEIVER.lon, RECEIVER.range_km, RECEIVER.timezone)
        load(engine, simulation(TRAIN_DAYS, TRAIN_FLIGHTS, seed=5 + 2 * i), rec)
    return engine


def _calibration(engine: Engine) -> list[tuple[str, str]]:
    """Each receiver's model calibration (the validation errors behind its threshold)."""
    query = (
        "SELECT r.name, m.calibration::text FROM models m JOIN receivers r"
        " ON r.id = m.receiver_id ORDER BY r.name"
    )
    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.exec_driver_sql(query)]


@pytest.mark.slow
def test_a_model_trained_on_a_worker_is_the_serial_runs(cluster: Any) -> None:
    with pg_schema() as serial_url, pg_schema() as cluster_url:
        serial_db = _load_untrained(serial_url)
        cluster_db = _load_untrained(cluster_url)
        try:
            recs = list_receivers(cluster_db)
            due = D0 + timedelta(days=TRAIN_DAYS - 1)
            assert all(will_train(cluster_db, r, [due], TRAIN_SETTINGS.retrain_days) for r in recs)
            tf_here = "tensorflow" in sys.modules
            report = nightly_on_cluster(
                cluster,
                cluster_db,
                recs,
                today=TRAIN_TODAY,
                settings=TRAIN_SETTINGS,
                train_config=TINY,
            )
            # Each training ran in a worker process (TRAIN=1 each), not here.
            assert tf_here or "tensorflow" not in sys.modules
            serial = run_nightly(
                serial_db,
                list_receivers(serial_db),
                today=TRAIN_TODAY,
                settings=TRAIN_SETTINGS,
                train_config=TINY,
            )
            assert serial.ok, serial.to_dict()
            trained = [r.days[-1].counts for r in serial.receivers]
            assert [c["train_status"] for c in trained] == ["ready", "ready"]
            assert all(c["scored"] > 50 for c in trained)
            on_cluster, here = _rows(cluster_db), _rows(serial_db)
            # The two models (status, threshold) first: the clearest message when they differ.
            assert on_cluster["models"] == here["models"]
            assert _calibration(cluster_db) == _calibration(serial_db)
            assert report.ok, report.to_dict()
            assert [r.days[-1].counts for r in report.receivers] == trained
            # Every score and flag of the scored day, the flights and the runs: equal.
            assert len(here["scores"]) == sum(c["scored"] for c in trained)
            assert on_cluster == here
        finally:
            serial_db.dispose()
            cluster_db.dispose()


def test_worker_sessions_ask_the_server_for_tcp_keepalives() -> None:
    """A worker's session that lingers after its host died (its receiver's advisory lock with
    it) is dropped by the server within about a minute: keepalives 30 s idle + 3 × 10 s."""
    with pg_schema() as url:
        open_db(url).dispose()  # migrated
        engine = _open(url)
        try:
            with engine.connect() as conn:
                got = {
                    name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                    for name in (
                        "tcp_keepalives_idle",
                        "tcp_keepalives_interval",
                        "tcp_keepalives_count",
                        "application_name",
                    )
                }
                # The schema of the URL is kept (its options are extended, not replaced).
                assert conn.exec_driver_sql("SELECT count(*) FROM receivers").scalar() == 0
        finally:
            engine.dispose()
    assert (got["tcp_keepalives_idle"], got["tcp_keepalives_interval"]) == ("30", "10")
    assert got["tcp_keepalives_count"] == "3"
    assert got["application_name"] == f"oddflights-worker {socket.gethostname()[:30]}:{os.getpid()}"


def test_a_task_waits_for_a_lock_left_by_a_dead_try(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock held by another session (a dead try's, not yet dropped by the server): the
    retried task waits for its release and runs, instead of reporting the receiver locked;
    a lock still held after LOCK_WAIT_S is reported locked, as before."""
    with pg_schema() as url:
        engine = open_db(url)
        try:
            add_receiver(engine, Receiver("r0", 52.0, 5.0, 200.0, "UTC"))
            lingering = try_lock(engine, lock_name("r0"), timedelta(hours=6))
            assert lingering is not None
            monkeypatch.setattr(cluster_mod, "LOCK_WAIT_S", 0.3)
            out = nightly_task(url, "r0", TODAY, None, SETTINGS, None)
            assert out["status"] == "locked"
            assert rescore_task(url, "r0", RESCORED, None, 6.0)["status"] == "locked"
            monkeypatch.setattr(cluster_mod, "LOCK_WAIT_S", 60.0)
            timer = threading.Timer(1.0, lingering.release)
            timer.start()
            out = nightly_task(url, "r0", TODAY, None, SETTINGS, None)
            timer.join()
            assert out["status"] == "nothing", out  # no positions: no day to do
            assert rescore_task(url, "r0", RESCORED, None, 6.0)["status"] == "failed"
        finally:
            engine.dispose()
