"""The scores, runs and locks tables and the anomalies view, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS
from oddflights.db import open_db
from oddflights.db import scores as scores_module
from oddflights.db.flights import FLIGHT_COLUMNS, list_flights, replace_day_flights
from oddflights.db.locks import lock_holder, try_lock
from oddflights.db.models import LockRow
from oddflights.db.positions import write_positions
from oddflights.db.receivers import add_receiver
from oddflights.db.runs import FAILED, OK, done_days, finish_run, list_runs, start_run
from oddflights.db.scores import (
    delete_scores,
    low_points,
    query_anomalies,
    replace_scores,
    score_rows,
    scoring_models,
)
from oddflights.flights.raster import pack_many
from oddflights.receivers import Receiver
from tests.stub_models import stub_flight, stub_model

DAY = date(2026, 5, 4)


def _setup(engine: Engine, n: int = 6) -> tuple[int, list[int], int]:
    rec = add_receiver(engine, Receiver("r1", 52.0, 5.0))
    assert rec.id is not None
    start = datetime(2026, 5, 4, 6, tzinfo=UTC)
    rows = [
        stub_flight(i, start, icao24=f"{i:06x}", turn_cum_deg=0.0, turn_net_deg=0.0)
        for i in range(n)
    ]
    images = np.zeros((n, 64, 64), dtype=np.uint8)
    replace_day_flights(
        engine, rec.id, DAY, pd.DataFrame(rows, columns=list(FLIGHT_COLUMNS)), pack_many(images)
    )
    ids = list_flights(engine, rec.id, DAY)["flight_id"].tolist()
    model_id = stub_model(engine, rec.id, DAY - timedelta(days=3), DAY - timedelta(days=1))
    return rec.id, ids, model_id


def _scores(
    ids: list[int], scores: list[float], tags: list[list[str]] | None = None
) -> pd.DataFrame:
    s = np.asarray(scores)
    order = np.lexsort((np.asarray(ids), -s))
    ranks = np.empty(len(ids), dtype=int)
    ranks[order] = np.arange(1, len(ids) + 1)
    return pd.DataFrame(
        {
            "flight_id": ids,
            "score": s,
            "rank": ranks,
            "threshold": 0.5,
            "is_anomaly": s > 0.5,
            "tags": tags or [[] for _ in ids],
        }
    )


def test_replace_scores_is_idempotent_and_per_model(engine: Engine) -> None:
    rid, ids, model = _setup(engine)
    rows = _scores(
        ids, [0.9, 0.1, 0.7, 0.2, 0.3, 0.4], [["circling"], [], ["survey", "off_route"], [], [], []]
    )
    assert replace_scores(engine, rid, DAY, model, rows) == 6
    assert replace_scores(engine, rid, DAY, model, rows) == 6
    stored = score_rows(engine, model, ids)
    assert len(stored) == 6 and stored["tags"].tolist()[2] == ["survey", "off_route"]
    other = stub_model(engine, rid, DAY, DAY, validation_days=[], raster={})
    replace_scores(engine, rid, DAY, other, _scores(ids, [0.0] * 6))
    assert scoring_models(engine, rid, DAY) == [other, model]
    pd.testing.assert_frame_equal(score_rows(engine, model, ids), stored)
    assert delete_scores(engine, rid, DAY, other) == 6
    assert scoring_models(engine, rid, DAY) == [model]


def test_query_anomalies_flags_top_and_all(engine: Engine) -> None:
    rid, ids, model = _setup(engine)
    replace_scores(engine, rid, DAY, model, _scores(ids, [0.9, 0.1, 0.7, 0.2, 0.3, 0.4]))
    flagged = query_anomalies(engine, rid, DAY)
    assert flagged["flight_id"].tolist() == [ids[0], ids[2]]
    assert flagged["rank"].tolist() == [1, 2]
    assert flagged["start"].dt.tz is not None
    everyone = query_anomalies(engine, rid, DAY, include_all=True, top=4)
    assert everyone["rank"].tolist() == [1, 2, 3, 4]
    assert query_anomalies(engine, rid, DAY + timedelta(days=1)).empty


def test_anomalies_view_joins_everything(engine: Engine) -> None:
    rid, ids, model = _setup(engine)
    replace_scores(engine, rid, DAY, model, _scores(ids, [0.9, 0.1, 0.7, 0.2, 0.3, 0.4]))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT flight_id, receiver, icao24, callsign, start_ts, end_ts, day, score, "
                "threshold, is_anomaly, rank, model_id, tags FROM anomalies_view "
                "WHERE is_anomaly ORDER BY rank"
            )
        ).all()
    assert [r.flight_id for r in rows] == [ids[0], ids[2]]
    assert rows[0].receiver == "r1" and rows[0].model_id == model
    assert str(rows[0].start_ts).startswith("2026-05-04")


def test_runs_record_and_done_days(engine: Engine) -> None:
    rid, _, _ = _setup(engine)
    days = [DAY - timedelta(days=i) for i in range(3)]
    r1 = start_run(engine, "nightly", rid, days[0])
    finish_run(engine, r1, FAILED, error="boom")
    r2 = start_run(engine, "nightly", rid, days[1])
    finish_run(engine, r2, OK, {"flights": 3})
    start_run(engine, "nightly", rid, days[2])  # still running: not done
    assert done_days(engine, rid, "nightly", days) == {days[1]}
    r3 = start_run(engine, "nightly", rid, days[0])
    finish_run(engine, r3, OK)
    assert done_days(engine, rid, "nightly", days) == {days[0], days[1]}
    runs = list_runs(engine, rid)
    assert runs["run_id"].tolist()[0] == r3
    assert runs[runs["run_id"] == r1]["error"].iloc[0] == "boom"
    assert runs[runs["run_id"] == r2]["counts"].iloc[0] == {"flights": 3}


def test_a_lock_is_held_once(db_url: str) -> None:
    """Two engines (as two processes would): the second cannot take a held lock."""
    a, b = open_db(db_url), open_db(db_url)
    try:
        lock = try_lock(a, "nightly:r1", timedelta(hours=6))
        assert lock is not None
        assert try_lock(b, "nightly:r1", timedelta(hours=6)) is None
        assert try_lock(b, "nightly:r2", timedelta(hours=6)) is not None
        lock.release()
        again = try_lock(b, "nightly:r1", timedelta(hours=6))
        assert again is not None
        again.release()
    finally:
        a.dispose()
        b.dispose()


def test_threads_race_for_one_lock(db_url: str) -> None:
    engines = [open_db(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    got: list[bool] = []

    def grab(engine: Engine) -> None:
        barrier.wait()
        got.append(try_lock(engine, "race", timedelta(hours=6)) is not None)

    threads = [threading.Thread(target=grab, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert sorted(got) == [False, False, False, True]


def test_a_stale_sqlite_lock_is_taken_over(tmp_path) -> None:
    engine = open_db(f"sqlite:///{tmp_path / 'l.db'}")
    old = datetime.now(UTC) - timedelta(hours=7)
    with engine.begin() as conn:
        conn.execute(sa.insert(LockRow).values(name="n", holder="dead:1:x", acquired_at=old))
    assert try_lock(engine, "n", timedelta(hours=8)) is None
    lock = try_lock(engine, "n", timedelta(hours=6))
    assert lock is not None
    holder = lock_holder(engine, "n")
    assert holder is not None and holder[0] == lock.holder
    lock.release()
    assert lock_holder(engine, "n") is None
    engine.dispose()


def test_low_points_reads_the_low_positions_of_the_window_in_chunks(
    engine: Engine, monkeypatch
) -> None:
    """Positions below the altitude in [start, end), read a few rows at a time: every one is
    there once, with its aircraft, as floats."""
    monkeypatch.setattr(scores_module, "_LOW_POINTS_CHUNK", 3)
    rec = add_receiver(engine, Receiver("low", 52.0, 5.0))
    assert rec.id is not None
    t0 = datetime(2026, 5, 4, 6, tzinfo=UTC)
    n = 11
    positions = pd.DataFrame(
        {
            "icao24": [f"a{i % 3:05d}" for i in range(n)],
            "ts": [t0 + timedelta(seconds=i) for i in range(n)],
            "lat": [52.0 + i / 100 for i in range(n)],
            "lon": [5.0 + i / 100 for i in range(n)],
            "altitude_ft": [500.0 if i % 2 == 0 else 9000.0 for i in range(n)],
        }
    )
    write_positions(engine, rec.id, positions.reindex(columns=list(POSITION_COLUMNS)))
    got = low_points(engine, rec.id, t0, t0 + timedelta(seconds=10), 2000.0)
    want = positions[
        (positions["altitude_ft"] < 2000) & (positions["ts"] < t0 + timedelta(seconds=10))
    ]
    got = got.sort_values("lon").reset_index(drop=True)
    assert got["icao24"].tolist() == want["icao24"].tolist()
    assert got["lon"].tolist() == want["lon"].tolist()
    assert got["lat"].tolist() == want["lat"].tolist() and got["lat"].dtype == np.float64
    empty = low_points(engine, rec.id, t0 - timedelta(days=1), t0, 2000.0)
    assert list(empty.columns) == ["icao24", "lat", "lon"] and len(empty) == 0
