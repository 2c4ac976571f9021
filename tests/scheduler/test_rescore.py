"""`oddflights rescore` here (serially, on a real SQLite database): each day scored again
with the newest model before it, replacing its rows; a day without flights is a recorded
failure; the receiver's lock keeps it off a receiver a nightly is working on. And the one-line
refusals of `--dask`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.flights import read_rasters
from oddflights.db.locks import try_lock
from oddflights.db.receivers import add_receiver
from oddflights.db.registry import insert_model
from oddflights.db.runs import list_runs
from oddflights.receivers import Receiver
from oddflights.scheduler.cluster import ClusterError, shared_url
from oddflights.scheduler.nightly import lock_name
from tests.model.routes import made_up_detector, store_route_days

D0 = date(2026, 1, 1)


def _db(tmp_path: Path) -> str:
    """Two receivers, days 1-3 of 30 route flights each, a made-up model trained on day 1."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = open_db(url)
    for name in ("roof", "barn"):
        rec = add_receiver(engine, Receiver(name, 52.0, 4.5))
        assert rec.id is not None
        store_route_days(engine, rec.id, [D0 + timedelta(days=i) for i in range(3)], 30)
        det = made_up_detector(read_rasters(engine, rec.id, [D0]).images)
        insert_model(
            engine, receiver_id=rec.id, train_from=D0, train_to=D0, validation_days=[D0],
            config={}, raster=det.raster.to_dict(), metrics={}, threshold=det.threshold,
            calibration={}, versions={}, seed=0, status="ready", keras_bytes=None,
            detector_bytes=det.to_bytes(),
        )  # fmt: skip
    engine.dispose()
    return url


def test_rescore_replaces_each_days_rows_and_records_runs(tmp_path: Path) -> None:
    url = _db(tmp_path)
    args = ["rescore", "--all", "--from", "2026-01-02", "--to", "2026-01-03", "--json"]
    first = CliRunner().invoke(main, [*args, "--quiet", "--db", url])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert [r["receiver"] for r in report["receivers"]] == ["barn", "roof"]
    for r in report["receivers"]:
        assert [d["status"] for d in r["days"]] == ["ok", "ok"]
        assert all(d["counts"]["scored"] == 30 for d in r["days"])
    again = CliRunner().invoke(main, [*args, "--quiet", "--db", url])
    assert (
        again.exit_code == 0
        and json.loads(again.stdout)["receivers"][0]["days"] == (report["receivers"][0]["days"])
    )
    engine = open_db(url)
    try:
        with engine.connect() as conn:
            # Rescored twice: still one row per flight and model.
            assert conn.exec_driver_sql("SELECT count(*) FROM scores").scalar() == 2 * 2 * 30
        runs = list_runs(engine, None, 50)
        assert set(runs["kind"]) == {"rescore"} and len(runs) == 8
    finally:
        engine.dispose()


def test_a_day_without_flights_fails_and_a_held_lock_is_left_alone(tmp_path: Path) -> None:
    url = _db(tmp_path)
    engine = open_db(url)
    lock = try_lock(engine, lock_name("barn"), timedelta(hours=6))
    assert lock is not None
    try:
        args = ["rescore", "--all", "--from", "2026-01-03", "--to", "2026-01-04", "--db", url]
        res = CliRunner().invoke(main, [*args, "--quiet"])
    finally:
        lock.release()
        engine.dispose()
    assert res.exit_code == 1, res.output
    assert "2026-01-04: failed (ScoringError: receiver roof has no flights" in res.output
    assert "barn: locked" in res.output


def test_dask_with_sqlite_or_a_bad_address_is_one_line(tmp_path: Path) -> None:
    url = _db(tmp_path)
    engine = open_db(url)
    try:
        try:
            shared_url(engine)
            raise AssertionError("SQLite was accepted")
        except ClusterError as exc:
            assert "needs a PostgreSQL database" in str(exc)
    finally:
        engine.dispose()
    runner = CliRunner()
    res = runner.invoke(main, ["nightly", "--all", "--dask", "tcp://127.0.0.1:1", "--db", url])
    assert res.exit_code == 2 and "needs a PostgreSQL database" in res.output
    assert len(res.output.strip().splitlines()) == 1
    args = ["rescore", "--all", "--from", "2026-01-02", "--to", "2026-01-02", "--db", url]
    res = runner.invoke(main, args, env={"ODDFLIGHTS_DASK_SCHEDULER": "http://x:1"})
    assert res.exit_code == 2 and "ODDFLIGHTS_DASK_SCHEDULER" in res.output
