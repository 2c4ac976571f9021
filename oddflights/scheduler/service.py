"""`oddflights schedule`: an APScheduler 3 BlockingScheduler that starts the nightly run.

The job lives in a ``SQLAlchemyJobStore`` (table ``apscheduler_jobs``) in the same database,
under a fixed id with ``replace_existing=True``, so restarting the service updates the one job
instead of adding another. The cron expression (``ODDFLIGHTS_SCHEDULE``) is read in the zone
``ODDFLIGHTS_SCHEDULE_TZ``, passed explicitly to the trigger. ``coalesce`` folds a backlog of
missed runs into one, ``max_instances=1`` never overlaps two runs, and a misfire grace of hours
means a run missed while the machine was off happens at start-up.

One scheduler owns a job store: run one ``oddflights schedule`` per database (two would both
fire the job; the nightly's per-receiver lock keeps them from doing the work twice, but that
is a safety net, not a deployment).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
)
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from oddflights import config
from oddflights.db import open_db
from oddflights.db.engine import create_engine
from oddflights.db.receivers import get_receiver, list_receivers
from oddflights.scheduler.cluster import nightly_at

_log = logging.getLogger(__name__)

JOB_ID = "oddflights-nightly"
JOBS_TABLE = "apscheduler_jobs"
# The job is stored as this textual reference (the job store pickles it), so the stored job
# survives code changes as long as the function keeps its name and plain arguments.
JOB_FUNC = "oddflights.scheduler.service:nightly_job"

# The database the running service works on. It is not stored in the job's arguments, so
# that credentials in the URL never land in the job table.
_service_db_url: str | None = None


class ScheduleError(config.SettingError):
    """The schedule settings are invalid (the message names the value)."""


@dataclass(frozen=True)
class JobResult:
    """What one scheduled run did (for the service's log lines)."""

    ok: bool
    summary: str


def nightly_job(receiver_names: list[str] | None = None) -> JobResult:
    """The scheduled job: one nightly run over the named receivers (all when None), on the
    service's database. Module-level and plain-argument, as the job store requires."""
    engine = open_db(config.get("db", _service_db_url))
    try:
        if receiver_names is None:
            receivers = list_receivers(engine)
        else:
            receivers = [get_receiver(engine, n) for n in receiver_names]
        # ODDFLIGHTS_DASK_SCHEDULER set: each receiver a task on that cluster.
        report = nightly_at(config.get("dask_scheduler"), engine, receivers)
    finally:
        engine.dispose()
    parts = [f"{r.receiver}: {r.status} ({r.message})" for r in report.receivers]
    return JobResult(report.ok, "; ".join(parts) or "no receivers")


def cron_trigger(expression: str | None = None, zone: str | None = None) -> CronTrigger:
    """The CronTrigger of the schedule settings (ScheduleError names a bad value)."""
    try:
        expr = str(config.get("schedule", expression))
        tz_name = str(config.get("schedule_tz", zone))
    except config.SettingError as exc:
        raise ScheduleError(str(exc)) from None
    try:
        tz = ZoneInfo(tz_name)
    except (ValueError, KeyError) as exc:
        raise ScheduleError(f"unknown schedule time zone {tz_name!r}: {exc}") from None
    try:
        return CronTrigger.from_crontab(expr, timezone=tz)
    except ValueError as exc:
        raise ScheduleError(f"bad cron expression {expr!r}: {exc}") from None


def install_job(
    scheduler: Any, receiver_names: list[str] | None, trigger: Any, grace_s: int
) -> Any:
    """Add (or replace) the nightly job on a started scheduler; returns the job.

    ``replace_existing`` alone would overwrite a stored run time that was missed while the
    service was down with the next future one, losing the run; so a stored next run time in
    the past is carried over, and the scheduler then runs it at once if within the grace."""
    existing = scheduler.get_job(JOB_ID)
    keep: dict[str, Any] = {}
    if (
        existing is not None
        and existing.next_run_time is not None
        and existing.next_run_time <= datetime.now(UTC)
    ):
        keep["next_run_time"] = existing.next_run_time
    return scheduler.add_job(
        JOB_FUNC,
        trigger=trigger,
        args=[receiver_names],
        id=JOB_ID,
        name="oddflights nightly run",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=grace_s,
        **keep,
    )


def build_scheduler(
    db_url: str,
    receiver_names: list[str] | None = None,
    *,
    expression: str | None = None,
    zone: str | None = None,
    on_started: Callable[[Any], None] | None = None,
) -> Any:
    """A BlockingScheduler with its job store in the database at ``db_url``; the nightly job
    is installed (see ``install_job``) as it starts, then ``on_started(job)`` is called."""

    global _service_db_url
    _service_db_url = db_url
    trigger = cron_trigger(expression, zone)
    grace_s = int(float(config.get("misfire_grace_hours")) * 3600)
    # Our engine factory: psycopg 3 for postgresql:// URLs and SQLite's WAL pragmas.
    store = SQLAlchemyJobStore(engine=create_engine(db_url), tablename=JOBS_TABLE)
    scheduler = BlockingScheduler(
        jobstores={"default": store},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace_s},
        timezone=trigger.timezone,
    )

    def started(_event: Any) -> None:
        job = install_job(scheduler, receiver_names, trigger, grace_s)
        if on_started is not None:
            on_started(job)

    scheduler.add_listener(started, EVENT_SCHEDULER_STARTED)
    return scheduler


def run_service(
    db_url: str,
    receiver_names: list[str] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> None:
    """Run the scheduler until SIGTERM or SIGINT, then shut down cleanly (waiting for a
    running job to finish). ``on_event`` receives one line per start, run and stop."""
    say = on_event or (lambda line: _log.info("%s", line))
    scheduler = build_scheduler(
        db_url,
        receiver_names,
        on_started=lambda job: say(
            f"scheduler started: {job.trigger}; next run {job.next_run_time}"
        ),
    )

    def listener(event: Any) -> None:
        if event.code == EVENT_JOB_MISSED:
            say(f"nightly run due at {event.scheduled_run_time} was missed (past the grace)")
        elif event.exception is not None:
            say(f"nightly run crashed: {event.exception}")
        else:
            result = event.retval
            state = "ok" if getattr(result, "ok", False) else "FAILED"
            say(f"nightly run {state}: {getattr(result, 'summary', result)}")

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        if stopping.is_set():
            return
        stopping.set()
        say(f"received {signal.Signals(signum).name}: stopping after any running job")
        # Shut down from another thread: the signal may arrive while the main loop holds the
        # scheduler's locks, and shutdown(wait=True) must wait for them.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()  # blocks until shutdown
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    say("scheduler stopped")
