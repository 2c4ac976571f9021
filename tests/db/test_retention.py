"""Retention: positions older than N days (the receiver's zone) deleted in chunks, flights,
scores and used models kept, unused models beyond the newest K deleted, unprocessed days
kept; and the nightly's prune after scoring. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from oddflights.cli import main
from oddflights.columns import POSITION_COLUMNS
from oddflights.db.flights import list_flights, replace_day_flights
from oddflights.db.models import FlightRow, ModelRow, ScoreRow
from oddflights.db.positions import read_positions, write_positions
from oddflights.db.receivers import add_receiver
from oddflights.db.retention import delete_positions_before
from oddflights.db.runs import OK, finish_run, first_position_time, start_run
from oddflights.db.scores import replace_scores
from oddflights.flights.raster import pack_many
from oddflights.receivers import Receiver
from oddflights.scheduler.nightly import KIND, NightlySettings, run_nightly
from oddflights.scheduler.prune import prune_receiver
from tests.stub_models import stub_model
from tests.web.conftest import _flights

TODAY = date(2026, 3, 20)
DAYS = [TODAY - timedelta(days=k) for k in range(6, -1, -1)]  # TODAY-6 .. TODAY
ZONE = "Europe/Amsterdam"  # UTC+1 in March: a local day starts at 23:00 UTC the day before


def positions_of(
    rec: Receiver, days: list[date], per_day: int = 40, every: timedelta = timedelta(minutes=30)
) -> pd.DataFrame:
    """``per_day`` positions of 4 aircraft, ``every`` apart, in each local day, the first at
    00:00:30 local (in Amsterdam 23:00:30 UTC the day before: on the wrong side of a UTC
    cut)."""
    rows = []
    for d in days:
        start = rec.day_bounds(d)[0] + timedelta(seconds=30)
        for k in range(per_day):
            rows.append(
                {
                    "icao24": f"ab{k % 4:04x}",
                    "ts": start + k * every,
                    "lat": 52.0 + 0.001 * k,
                    "lon": 5.0,
                    "altitude_ft": 3000.0,
                    "groundspeed_kt": 200.0,
                    "track_deg": 90.0,
                    "vertical_rate_fpm": 0.0,
                    "callsign": "KLM1",
                    "squawk": "1000",
                    "onground": False,
                }
            )
    df = pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df


def _keys(engine: Engine, rec: Receiver) -> set[tuple[str, datetime]]:
    assert rec.id is not None
    got = read_positions(engine, rec.id)
    return {(str(i), t.to_pydatetime()) for i, t in zip(got["icao24"], got["ts"], strict=True)}


def _frame_keys(df: pd.DataFrame) -> set[tuple[str, datetime]]:
    return {(str(i), t.to_pydatetime()) for i, t in zip(df["icao24"], df["ts"], strict=True)}


def _done(engine: Engine, rec: Receiver, day: date) -> None:
    run_id = start_run(engine, KIND, rec.id, day)
    finish_run(engine, run_id, OK, {"flights": 0})


def _table_count(engine: Engine, table: type, **where: int) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(getattr(table, column) == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.fixture
def filled(engine: Engine) -> tuple[Receiver, Receiver, pd.DataFrame, list[int]]:
    """Receiver ``r`` (Amsterdam): positions on DAYS; flights built on the first four days
    (TODAY-6..TODAY-3), one scored by the oldest of 5 models. Receiver ``other``: positions
    on the same days, never pruned here."""
    rec = add_receiver(engine, Receiver("r", 52.0, 5.0, timezone=ZONE))
    other = add_receiver(engine, Receiver("other", 52.0, 5.0, timezone="UTC"))
    assert rec.id is not None and other.id is not None
    pos = positions_of(rec, DAYS)
    write_positions(engine, rec.id, pos)
    write_positions(engine, other.id, positions_of(other, DAYS))
    images = np.zeros((2, 64, 64), dtype=np.uint8)
    for d in DAYS[:4]:
        start = rec.day_bounds(d)[0] + timedelta(hours=6)
        replace_day_flights(engine, rec.id, d, _flights(start, 2), pack_many(images))
    models = [stub_model(engine, rec.id, DAYS[0], DAYS[1]) for _ in range(5)]
    ids = list_flights(engine, rec.id, DAYS[0])["flight_id"].tolist()
    scores = pd.DataFrame(
        {
            "flight_id": ids,
            "score": [0.9, 0.1],
            "rank": [1, 2],
            "threshold": 0.5,
            "is_anomaly": [True, False],
            "tags": [[], []],
        }
    )
    replace_scores(engine, rec.id, DAYS[0], models[0], scores)
    return rec, other, pos, models


def test_prune_deletes_positions_before_the_local_day_and_keeps_the_rest(
    engine: Engine, filled: tuple[Receiver, Receiver, pd.DataFrame, list[int]]
) -> None:
    rec, other, pos, models = filled
    assert rec.id is not None
    other_before = _keys(engine, other)
    flights_before = _table_count(engine, FlightRow, receiver_id=rec.id)

    dry = prune_receiver(engine, rec, keep_days=4, keep_models=2, today=TODAY, dry_run=True)
    cutoff = rec.day_bounds(TODAY - timedelta(days=4))[0]  # 23:00 UTC on TODAY-5
    gone = pos[pos["ts"] < cutoff]
    assert dry.keep_from == TODAY - timedelta(days=4) and dry.cutoff == cutoff
    assert dry.positions == len(gone) > 0 and dry.held_by is None
    assert dry.models == models[1:3]  # beyond the newest 2, unused (models[0] is used)
    assert _keys(engine, rec) == _frame_keys(pos)  # a dry run deletes nothing
    assert _table_count(engine, ModelRow, receiver_id=rec.id) == 5

    result = prune_receiver(engine, rec, keep_days=4, keep_models=2, today=TODAY)
    assert result.positions == len(gone) and result.models == models[1:3]
    # Exactly the positions heard from local midnight of TODAY-4 on, including the one at
    # 23:00:30 UTC the day before (00:00:30 local).
    assert _keys(engine, rec) == _frame_keys(pos[pos["ts"] >= cutoff])
    assert (TODAY - timedelta(days=4)) in {
        t.astimezone(rec.zone).date() for _, t in _keys(engine, rec)
    }
    assert _keys(engine, other) == other_before
    assert _table_count(engine, FlightRow, receiver_id=rec.id) == flights_before
    assert _table_count(engine, ScoreRow, model_id=models[0]) == 2
    with engine.connect() as conn:
        left = set(conn.execute(sa.select(ModelRow.id)).scalars())
    assert left == {models[0], models[3], models[4]}
    # The nightly's first day still counts from the first flight, not from what is left.
    first = first_position_time(engine, rec.id)
    assert first is not None and first.astimezone(rec.zone).date() == DAYS[0]


def test_days_not_yet_processed_keep_their_positions(
    engine: Engine, filled: tuple[Receiver, Receiver, pd.DataFrame, list[int]]
) -> None:
    rec, _, pos, _ = filled
    # TODAY-2 has no flights and no nightly run: everything from it on is kept.
    result = prune_receiver(engine, rec, keep_days=1, today=TODAY)
    held = TODAY - timedelta(days=2)
    assert result.held_by == held and result.keep_from == held
    assert "not built yet" in result.summary()
    assert _keys(engine, rec) == _frame_keys(pos[pos["ts"] >= rec.day_bounds(held)[0]])
    # Once the nightly has done that day, the next prune goes further.
    _done(engine, rec, held)
    again = prune_receiver(engine, rec, keep_days=1, today=TODAY)
    assert again.held_by is None and again.keep_from == TODAY - timedelta(days=1)
    assert _keys(engine, rec) == _frame_keys(pos[pos["ts"] >= again.cutoff])


def test_positions_go_in_chunks_of_small_transactions(engine: Engine) -> None:
    rec = add_receiver(engine, Receiver("r", 52.0, 5.0))
    assert rec.id is not None
    pos = positions_of(rec, DAYS[:3], per_day=48)
    write_positions(engine, rec.id, pos)
    cut = rec.day_bounds(DAYS[2])[0]
    chunks: list[int] = []
    deleted = delete_positions_before(engine, rec.id, cut, chunk_rows=7, on_chunk=chunks.append)
    assert deleted == 96 == sum(chunks)
    assert len(chunks) >= 96 // 7 and max(chunks) <= 7
    assert _keys(engine, rec) == _frame_keys(pos[pos["ts"] >= cut])


def test_the_prune_command(
    engine: Engine, db_url: str, filled: tuple[Receiver, Receiver, pd.DataFrame, list[int]]
) -> None:
    rec, _, pos, _ = filled
    runner = CliRunner()
    bad = runner.invoke(main, ["prune", "--keep-days", "3", "--db", db_url])
    assert bad.exit_code == 2 and "--receiver NAME or --all" in bad.output
    dry = runner.invoke(main, ["prune", "--all", "--keep-days", "0", "--dry-run", "--db", db_url])
    assert dry.exit_code == 0, dry.output
    assert "r: would delete" in dry.output and "other: would delete 0 positions" in dry.output
    assert _keys(engine, rec) == _frame_keys(pos)
    done = runner.invoke(main, ["prune", "--receiver", "r", "--keep-days", "0", "--db", db_url])
    assert done.exit_code == 0 and "r: deleted" in done.output
    # TODAY is the clock's today here: every day before the first unbuilt one is gone.
    assert len(_keys(engine, rec)) < len(pos)


def test_the_nightly_prunes_after_scoring(engine: Engine) -> None:
    """Days of too few positions for a flight: each nightly day ends skipped (done), then
    ODDFLIGHTS_PRUNE_KEEP_DAYS' prune deletes those before the kept days."""
    rec = add_receiver(engine, Receiver("r", 52.0, 5.0, timezone=ZONE))
    assert rec.id is not None
    pos = positions_of(rec, DAYS[:-1], per_day=3)
    write_positions(engine, rec.id, pos)
    settings = NightlySettings(prune_keep_days=2)
    report = run_nightly(engine, [rec], today=TODAY, settings=settings)
    (outcome,) = report.receivers
    assert report.ok and [d.status for d in outcome.days] == ["skipped"] * 6
    assert "r: deleted" in outcome.message
    cutoff = rec.day_bounds(TODAY - timedelta(days=2))[0]
    assert _keys(engine, rec) == _frame_keys(pos[pos["ts"] >= cutoff])
    # Off (0): nothing is pruned.
    rec2 = add_receiver(engine, Receiver("r2", 52.0, 5.0, timezone=ZONE))
    assert rec2.id is not None
    write_positions(engine, rec2.id, pos)
    run_nightly(engine, [rec2], today=TODAY, settings=NightlySettings())
    assert _keys(engine, rec2) == _frame_keys(pos)


def test_a_negative_keep_days_is_refused(engine: Engine) -> None:
    from oddflights.scheduler.prune import PruneError

    rec = add_receiver(engine, Receiver("r", 52.0, 5.0))
    with pytest.raises(PruneError, match="-1"):
        prune_receiver(engine, rec, keep_days=-1)
