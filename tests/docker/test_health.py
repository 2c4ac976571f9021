"""`oddflights health live|nightly` (the image's HEALTHCHECK) on real databases, and the
checks themselves at chosen times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.receivers import add_receiver
from oddflights.db.runs import FAILED, OK, finish_run, start_run
from oddflights.db.status import NightlyRun, ReceiverStatus
from oddflights.health import live_problems, nightly_problems
from tests.ingest.helpers import format_sbs, receiver, sim_positions

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["health", *args])
    return result.exit_code, result.output


def test_live_follows_the_newest_position(db_url: str, tmp_path: Path) -> None:
    code, out = run("live", "--db", db_url)
    assert (code, out.strip()) == (1, "unhealthy: no receivers yet")
    engine = open_db(db_url)
    add_receiver(engine, receiver("roof"))
    engine.dispose()
    code, out = run("live", "--db", db_url)
    assert (code, out.strip()) == (1, "unhealthy: roof: no position heard yet")
    # Positions whose newest was heard half an hour ago, ingested by the real command.
    pos = sim_positions().copy()
    newest = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=30)
    pos["ts"] = pos["ts"] + (newest - pos["ts"].max()).floor("s")
    sbs = tmp_path / "feed.sbs"
    sbs.write_bytes(format_sbs(pos.sort_values("ts", kind="stable")))
    ingest = ["ingest", str(sbs), "--format", "sbs", "--receiver", "roof", "--db", db_url]
    assert CliRunner().invoke(main, ingest).exit_code == 0
    code, out = run("live", "--max-age-min", "10", "--db", db_url)
    assert code == 1 and out.startswith("unhealthy: roof: last position 3"), out
    code, out = run("live", "--max-age-min", "60", "--receiver", "roof", "--db", db_url)
    assert (code, out.strip()) == (0, "healthy: live")
    code, out = run("live", "--receiver", "nope", "--db", db_url)
    assert code == 2 and "no receiver named 'nope'" in out


def test_nightly_gives_a_new_receiver_time_then_follows_its_runs(db_url: str) -> None:
    engine = open_db(db_url)
    rec = add_receiver(engine, receiver("roof"))
    assert rec.id is not None
    code, out = run("nightly", "--db", db_url)
    assert (code, out.strip()) == (0, "healthy: nightly")  # added just now
    day = date(2026, 5, 31)
    run_id = start_run(engine, "nightly", rec.id, day)
    assert run("nightly", "--db", db_url)[0] == 0  # running
    finish_run(engine, run_id, FAILED, error="boom")
    code, out = run("nightly", "--db", db_url)
    assert (code, out.strip()) == (1, "unhealthy: roof: last nightly run (2026-05-31) failed")
    finish_run(engine, start_run(engine, "nightly", rec.id, day), OK)
    assert run("nightly", "--max-age-hours", "1", "--db", db_url) == (0, "healthy: nightly\n")
    engine.dispose()


def status(last_position: datetime | None = None, run: NightlyRun | None = None) -> ReceiverStatus:
    return ReceiverStatus("roof", last_position, 0, run, None, 0, 0, 0, None)


def test_live_problems_at_chosen_times() -> None:
    ten = timedelta(minutes=10)
    assert live_problems([status(NOW - timedelta(minutes=9))], NOW, ten) == []
    assert live_problems([status(NOW - timedelta(minutes=11))], NOW, ten) == [
        "roof: last position 11 min ago"
    ]
    assert live_problems([status(NOW - timedelta(hours=5))], NOW, ten) == [
        "roof: last position 5.0 h ago"
    ]
    assert live_problems([], NOW, ten) == ["no receivers yet"]


@pytest.mark.parametrize(
    ("started_hours_ago", "state", "problems"),
    [
        (2, "ok", []),
        (2, "skipped", []),
        (2, "running", []),
        (2, "interrupted", ["roof: last nightly run (2026-05-31) interrupted"]),
        (30, "ok", ["roof: last nightly run started 30.0 h ago"]),
    ],
)
def test_nightly_problems_at_chosen_times(
    started_hours_ago: float, state: str, problems: list[str]
) -> None:
    started = NOW - timedelta(hours=started_hours_ago)
    last = NightlyRun(date(2026, 5, 31), started, started + timedelta(minutes=5), state)
    limit = timedelta(hours=26)
    assert nightly_problems([status(run=last)], {}, NOW, limit) == problems


def test_nightly_problems_of_a_receiver_without_runs() -> None:
    limit = timedelta(hours=26)
    young = {"roof": NOW - timedelta(hours=3)}
    old = {"roof": NOW - timedelta(days=3)}
    assert nightly_problems([status()], young, NOW, limit) == []
    assert nightly_problems([status()], old, NOW, limit) == ["roof: no nightly run yet"]
