"""The scheduler service: settings checks, and a real `oddflights schedule` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from oddflights.db import open_db
from oddflights.db.runs import list_runs
from oddflights.scheduler.service import JOB_ID, JOBS_TABLE, ScheduleError, cron_trigger
from oddflights.simulate import SimConfig, simulate
from tests.scoring.simdb import load

ODDFLIGHTS = str(Path(sys.executable).with_name("oddflights"))


def test_cron_trigger_uses_the_zone_and_names_bad_values() -> None:
    trigger = cron_trigger("30 2 * * *", "Europe/Amsterdam")
    assert str(trigger.timezone) == "Europe/Amsterdam"
    after = datetime(2026, 7, 1, 12, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, after)
    assert fire.astimezone(UTC) == datetime(2026, 7, 2, 0, 30, tzinfo=UTC)  # 02:30 CEST
    with pytest.raises(
        ScheduleError, match="schedule='61 \\* \\* \\* \\*' is not valid: not a cron"
    ):
        cron_trigger("61 * * * *", "UTC")
    with pytest.raises(ScheduleError, match="Mars/Olympus"):
        cron_trigger("30 2 * * *", "Mars/Olympus")


# Waits for the next minute boundary: up to ~65 s per database.
@pytest.mark.slow
def test_schedule_process_runs_the_job_and_stops_on_sigterm(db_url: str) -> None:
    """A cron of every minute: within ~70 s the nightly has run (the receiver's two
    warm-up days are recorded), and SIGTERM ends the process cleanly."""
    engine = open_db(db_url)
    today = datetime.now(UTC).date()
    sim = simulate(
        SimConfig(
            lat=52.0, lon=5.0, days=2, flights_per_day=10, start_day=today - timedelta(days=2)
        )
    )
    rec = load(engine, sim)
    env = {**os.environ, "ODDFLIGHTS_SCHEDULE": "* * * * *", "ODDFLIGHTS_SCHEDULE_TZ": "UTC"}
    proc = subprocess.Popen(
        [ODDFLIGHTS, "schedule", "--all", "--db", db_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        runs = list_runs(engine, rec.id)
        while time.monotonic() < deadline and proc.poll() is None:
            runs = list_runs(engine, rec.id)
            if len(runs) >= 2 and runs["finished_at"].notna().all():
                break
            time.sleep(1)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert len(runs) == 2 and set(runs["status"]) == {"skipped"}
        with engine.connect() as conn:
            ids = conn.execute(sa.text(f"SELECT id FROM {JOBS_TABLE}")).scalars().all()
        assert ids == [JOB_ID]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        engine.dispose()
    assert proc.returncode == 0, out
    assert "scheduler started" in out and "nightly run ok" in out
    assert "received SIGTERM" in out and "scheduler stopped" in out
