"""One nightly run: for each receiver, every day not yet done up to yesterday (receiver's
zone): build its flights, train when due, score it, and record the day in ``runs``.

- Catch-up: the days done are those whose latest ``nightly`` run ended ``ok`` or
  ``skipped``; every other day from the receiver's first day of positions to yesterday is
  worked through in order, so downtime and failed days are made up by the next run.
- Warm-up: a receiver's first ``warmup_days`` are built for training but not scored.
- Backfill (``backfill``, `nightly --backfill`): a receiver with no ready model yet and
  history from before (readsb traces, an archive) gets one on the first night. The last day
  to do is trained for on the ``train_window_days`` before it, which are built as warm-up
  days; days older than that window are recorded skipped without being built. With a
  model already there, it is an ordinary run.
- Training: when there is no ready model trained before the day, or the newest one ended its
  training more than ``retrain_days`` before the day; on the ``train_window_days`` before the
  day (the last of them held out for validation and the threshold).
- Locking: one run per receiver at a time (see ``oddflights.db.locks``); a receiver whose lock
  is held is reported ``locked`` and left alone — not an error. A lock whose holder is
  provably dead (killed, crashed) is taken over at once.
- Crash recovery: under the lock, the receiver's nightly runs still recorded ``running``
  belong to a process that ended mid-day; they are marked ``interrupted`` and their days, not
  being done, are redone from the start (every stage replaces what it stores, so a half-done
  day ends as if it had never been started). SIGTERM (``sigterm_unwinds``) and Ctrl-C mark the
  day in progress ``interrupted`` and free the lock before the process ends.
- A day that fails is recorded with its error; the run goes on with the next days and
  receivers and reports failure (the CLI exits non-zero).
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.alerts import deliver_alerts
from oddflights.db.flights import raster_keys
from oddflights.flights.build import build_flights
from oddflights.model.train_config import TrainConfig
from oddflights.progress import ProgressFn, Step, tell
from oddflights.receivers import Receiver
from oddflights.scoring.score import score_day

if TYPE_CHECKING:
    import pandas as pd

_log = logging.getLogger(__name__)

KIND = "nightly"

# Fault-test hook, not a setting: with ODDFLIGHTS_TEST_PAUSE_AT set to a point of ``run_day``
# (build, train, score, record), optionally @YYYY-MM-DD, a nightly stops there, writes its PID
# to the file ODDFLIGHTS_TEST_PAUSE_FILE and waits to be killed. Unset, it does nothing.
PAUSE_ENV = "ODDFLIGHTS_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "ODDFLIGHTS_TEST_PAUSE_FILE"


def _pause_point(point: str, day: date) -> None:
    want = os.environ.get(PAUSE_ENV)
    if not want:
        return
    name, _, on = want.partition("@")
    if name != point or (on and on != day.isoformat()):
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        tmp = Path(f"{marker}.{os.getpid()}")
        tmp.write_text(str(os.getpid()), encoding="ascii")
        os.replace(tmp, marker)
    while True:
        time.sleep(0.5)


class Interrupted(BaseException):
    """A signal asked the run to stop: it unwinds past ``except Exception`` so that the day in
    progress is recorded ``interrupted`` and the lock is released."""


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises Interrupted (main thread only). A second SIGTERM,
    while the first unwinds, ends the process at once."""

    def handler(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise Interrupted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class DayOutcome:
    """How one receiver day went."""

    day: date
    status: str  # ok | failed | skipped
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ReceiverOutcome:
    """How one receiver went: ``ok``, ``failed`` (a day failed), ``locked`` (another run
    holds it) or ``nothing`` (no day to do)."""

    receiver: str
    status: str
    days: list[DayOutcome] = field(default_factory=list)
    message: str = ""
    # Days of earlier runs found still ``running`` (their process died), now ``interrupted``.
    interrupted: list[date] = field(default_factory=list)


@dataclass
class NightlyReport:
    """What a nightly run did, receiver by receiver."""

    receivers: list[ReceiverOutcome] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True unless some day failed (a held lock is not a failure)."""
        return all(r.status != "failed" for r in self.receivers)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (``oddflights nightly --json``)."""
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "receivers": [
                {
                    "receiver": r.receiver,
                    "status": r.status,
                    "message": r.message,
                    "interrupted": [d.isoformat() for d in r.interrupted],
                    "days": [
                        {
                            "day": d.day.isoformat(),
                            "status": d.status,
                            "counts": d.counts,
                            "error": d.error,
                        }
                        for d in r.days
                    ],
                }
                for r in self.receivers
            ],
        }


@dataclass(frozen=True)
class NightlySettings:
    """The nightly's knobs (from the settings table unless given)."""

    retrain_days: int = 7
    train_window_days: int = 14
    warmup_days: int = 3
    lock_stale_hours: float = 6.0
    prune_keep_days: int = 0  # 0: no prune after scoring
    # Train the first model on the history before the last day (see the module's docstring).
    backfill: bool = False

    @classmethod
    def from_settings(cls) -> NightlySettings:
        return cls(
            retrain_days=int(config.get("retrain_days")),
            train_window_days=int(config.get("train_window_days")),
            warmup_days=int(config.get("warmup_days")),
            lock_stale_hours=float(config.get("lock_stale_hours")),
            prune_keep_days=int(config.get("prune_keep_days")),
        )


def lock_name(receiver: Receiver | str) -> str:
    """The lock a receiver's (or a receiver name's) nightly run holds."""
    return f"nightly:{receiver if isinstance(receiver, str) else receiver.name}"


def settle_shown_runs(engine: Engine, runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (a ``list_runs`` frame) with each nightly run still recorded ``running`` whose
    receiver's lock no live process holds shown ``interrupted``: its process died, and the
    next nightly records it so. Read-only: the lock is looked at, not taken, so a nightly
    starting at the same moment is never turned away."""
    from oddflights.db.locks import lock_is_held
    from oddflights.db.runs import INTERRUPTED, RUNNING

    stuck = (runs["kind"] == KIND) & (runs["status"] == RUNNING) & runs["receiver"].notna()
    if not stuck.any():
        return runs
    out = runs.copy()
    for name in sorted(set(out.loc[stuck, "receiver"])):
        if not lock_is_held(engine, lock_name(name)):
            out.loc[stuck & (out["receiver"] == name), "status"] = INTERRUPTED
    return out


def first_day(engine: Engine, receiver: Receiver) -> date | None:
    """The receiver's first day (its zone) with positions; None without any."""
    from oddflights.db.runs import first_position_time

    assert receiver.id is not None
    first = first_position_time(engine, receiver.id)
    return None if first is None else first.astimezone(receiver.zone).date()


def days_to_do(
    engine: Engine, receiver: Receiver, today: date, day: date | None = None
) -> list[date]:
    """The days a run works through: ``day`` alone when given, else every day from the first
    with positions to yesterday whose last nightly run did not end ok or skipped."""
    from oddflights.db.runs import done_days

    assert receiver.id is not None
    if day is not None:
        return [day]
    first = first_day(engine, receiver)
    yesterday = today - timedelta(days=1)
    if first is None or first > yesterday:
        return []
    days = [first + timedelta(days=i) for i in range((yesterday - first).days + 1)]
    done = done_days(engine, receiver.id, KIND, days)
    return [d for d in days if d not in done]


def training_due(engine: Engine, receiver: Receiver, day: date, retrain_days: int) -> bool:
    """No ready model trained before ``day``, the newest ended training too long ago, or it
    has no detector (stored before detectors, its validation rasters gone: retrain it)."""
    from oddflights.db.registry import newest_ready_model

    assert receiver.id is not None
    newest = newest_ready_model(engine, receiver.id, day)
    return newest is None or not newest.has_detector or (day - newest.train_to).days > retrain_days


def _train(
    engine: Engine,
    receiver: Receiver,
    day: date,
    first: date,
    settings: NightlySettings,
    train_config: Any,
) -> dict[str, Any]:
    # Lazy: training imports TensorFlow (~2.7 s, ~1 GB), which a night that only scores
    # never loads (tests/scoring/test_no_tensorflow.py).
    from oddflights.model.registry import TrainingDataError, train_from_db

    frm = max(first, day - timedelta(days=settings.train_window_days))
    to = day - timedelta(days=1)
    if (to - frm).days < 1:
        return {"train": "skipped: fewer than 2 days before the day"}
    # With --day, or after flights were deleted, the window may hold days never built.
    assert receiver.id is not None
    window = [frm + timedelta(days=i) for i in range((to - frm).days + 1)]
    have = raster_keys(engine, receiver.id, window)
    missing = [d for d in window if d not in have]
    if missing:
        build_flights(engine, receiver, missing)
    cfg = train_config or TrainConfig.from_settings()
    try:
        model_id, result = train_from_db(engine, receiver, frm, to, cfg)
    except TrainingDataError as exc:
        return {"train": f"skipped: {exc}"}
    out: dict[str, Any] = {"trained_model": model_id, "train_status": result.status}
    if result.collapse:
        out["train_note"] = result.collapse
    return out


def run_day(
    engine: Engine,
    receiver: Receiver,
    day: date,
    first: date,
    settings: NightlySettings,
    train_config: Any = None,
    warmup_until: date | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DayOutcome:
    """Build, train if due, and score one day (no run record; see ``run_receiver``).
    ``warmup_until`` (a backfill): the days before it are warm-up, whatever ``first``.
    ``on_stage`` hears each stage's name as it starts (progress)."""
    stage = on_stage or (lambda _name: None)
    _pause_point("build", day)
    stage("build")
    # The build stores with each flight what scoring needs of its track (rasters, track
    # facts), so its points are freed at once rather than handed to scoring.
    built = build_flights(engine, receiver, [day])
    counts: dict[str, Any] = {"flights": built.flights}
    if warmup_until is not None and day < warmup_until:
        counts["note"] = "backfill: history for the first model, not scored"
        return DayOutcome(day, "skipped", counts)
    if warmup_until is None and day < first + timedelta(days=settings.warmup_days):
        counts["note"] = "warm-up day: used for training, not scored"
        return DayOutcome(day, "skipped", counts)
    if built.flights == 0:
        counts["note"] = "no flights"
        return DayOutcome(day, "skipped", counts)
    if training_due(engine, receiver, day, settings.retrain_days):
        _pause_point("train", day)
        stage("train")
        counts.update(_train(engine, receiver, day, first, settings, train_config))
    _pause_point("score", day)
    stage("score")
    summary = score_day(engine, receiver, day)
    counts.update(model_id=summary.model_id, scored=summary.flights, anomalies=summary.anomalies)
    _pause_point("record", day)
    report = _write_report(engine, receiver, day)
    if report is not None:
        counts["report"] = str(report)
    # The day's new flagged flights to every alert target; never raises (failures are in
    # counts["alerts"] and retried by the next run).
    counts.update(deliver_alerts(engine, receiver, day))
    return DayOutcome(day, "ok", counts)


def _write_report(engine: Engine, receiver: Receiver, day: date) -> Path | None:
    """The day's HTML report when ODDFLIGHTS_NIGHTLY_REPORT_DIR is set. A report that cannot
    be written is logged, never a failed night: the scores are what matter."""
    if not str(config.get("nightly_report_dir")).strip():
        return None  # off (the default): the web stack is not even imported
    # Lazy: the web stack (Starlette, Jinja; ~0.3 s), for those who turned reports on.
    from oddflights.web.report import write_nightly_report

    try:
        return write_nightly_report(engine, receiver, day)
    except Exception as exc:
        _log.warning("report for %s %s not written: %s", receiver.name, day, exc)
        return None


def run_receiver(
    engine: Engine,
    receiver: Receiver,
    today: date,
    day: date | None = None,
    settings: NightlySettings | None = None,
    train_config: Any = None,
    progress: ProgressFn | None = None,
) -> ReceiverOutcome:
    """One receiver's part of a nightly run, under its lock; ``progress`` hears of each
    day's stages."""
    from oddflights.db.locks import hold_lock
    from oddflights.db.runs import FAILED, finish_run, mark_interrupted, start_run

    assert receiver.id is not None
    settings = settings or NightlySettings.from_settings()
    stale = timedelta(hours=settings.lock_stale_hours)
    with hold_lock(engine, lock_name(receiver), stale) as lock:
        if lock is None:
            return ReceiverOutcome(
                receiver.name,
                "locked",
                message=f"another nightly run is working on receiver {receiver.name}; left alone",
            )
        # Holding the lock, no other nightly works on this receiver: runs still "running"
        # were left by a process that died.
        stuck = [d for d in mark_interrupted(engine, receiver.id, KIND) if d is not None]
        notes = []
        if lock.taken_from is not None:
            notes.append(f"took over the lock of {lock.taken_from}")
        if stuck:
            listed = ", ".join(d.isoformat() for d in stuck)
            notes.append(f"marked the unfinished run(s) of {listed} interrupted")
            _log.warning("nightly %s: runs of %s were interrupted", receiver.name, listed)
        todo = days_to_do(engine, receiver, today, day)
        first = first_day(engine, receiver)
        if not todo or first is None:
            message = "; ".join([*notes, "no day to do"])
            return ReceiverOutcome(receiver.name, "nothing", message=message, interrupted=stuck)
        outcome = ReceiverOutcome(receiver.name, "ok", interrupted=stuck)
        warmup_until = None
        if settings.backfill and day is None:
            todo, older, warmup_until = backfill_plan(engine, receiver, todo, first, settings)
            for d in older:
                note = {"note": "backfill: older than the training window, not built"}
                finish_run(engine, start_run(engine, KIND, receiver.id, d), "skipped", note)
                outcome.days.append(DayOutcome(d, "skipped", note))
        for i, d in enumerate(todo):
            run_id = start_run(engine, KIND, receiver.id, d)

            def on_stage(name: str, i: int = i, d: date = d) -> None:
                tell(progress, Step("nightly", i, len(todo), f"{receiver.name} {d}: {name}"))

            try:
                result = run_day(
                    engine, receiver, d, first, settings, train_config, warmup_until, on_stage
                )
            except Exception as exc:  # any failure is recorded and the run goes on
                _log.error("nightly %s %s failed: %s", receiver.name, d, exc)
                _log.debug("%s", traceback.format_exc())
                result = DayOutcome(d, FAILED, error=f"{type(exc).__name__}: {exc}")
                outcome.status = "failed"
            except BaseException as exc:  # SIGTERM (Interrupted), Ctrl-C: record it, then stop
                _record_interrupted(engine, run_id, exc)
                raise
            finish_run(engine, run_id, result.status, result.counts, result.error)
            outcome.days.append(result)
            said = f"{receiver.name} {d}: {result.status}"
            tell(progress, Step("nightly", i + 1, len(todo), said))
        n_failed = sum(1 for x in outcome.days if x.status == FAILED)
        outcome.message = "; ".join([*notes, f"{len(outcome.days)} day(s), {n_failed} failed"])
        return outcome


def backfill_plan(
    engine: Engine, receiver: Receiver, todo: list[date], first: date, settings: NightlySettings
) -> tuple[list[date], list[date], date | None]:
    """A backfill's days: (to run, older than the training window, the day warm-up ends).
    Unchanged (and None) when the receiver has a ready model for the last day, or fewer than
    2 days of history before it (too few to train on)."""
    from oddflights.db.registry import newest_ready_model

    assert receiver.id is not None
    last = todo[-1]
    if (last - first).days < 2 or newest_ready_model(engine, receiver.id, last) is not None:
        return todo, [], None
    start = last - timedelta(days=settings.train_window_days)
    return [d for d in todo if d >= start], [d for d in todo if d < start], last


def _record_interrupted(engine: Engine, run_id: int, exc: BaseException) -> None:
    """Mark a run stopped by a signal; a failure to say so must not hide the signal (the next
    run marks it instead)."""
    from oddflights.db.runs import INTERRUPTED, finish_run

    why = str(exc) or type(exc).__name__
    try:
        finish_run(engine, run_id, INTERRUPTED, error=f"interrupted: {why}")
    except Exception as err:
        _log.error("run %s: could not record the interruption: %s", run_id, err)


def run_nightly(
    engine: Engine,
    receivers: list[Receiver],
    day: date | None = None,
    *,
    today: date | None = None,
    settings: NightlySettings | None = None,
    train_config: Any = None,
    progress: ProgressFn | None = None,
) -> NightlyReport:
    """One nightly run over ``receivers``: every day not yet done up to yesterday (each
    receiver's zone; ``today`` overrides the clock), or just ``day``. ``train_config`` (a
    TrainConfig) overrides the training settings."""
    from oddflights.db.partitions import ensure_partitions_ahead
    from oddflights.scheduler.prune import prune_after_nightly

    ensure_partitions_ahead(engine)  # PostgreSQL: the next days' positions partitions
    t0 = time.perf_counter()
    report = NightlyReport()
    settings = settings or NightlySettings.from_settings()
    for receiver in receivers:
        local_today = today or datetime.now(receiver.zone).date()
        outcome = run_receiver(engine, receiver, local_today, day, settings, train_config, progress)
        if outcome.status != "locked":  # ODDFLIGHTS_PRUNE_KEEP_DAYS, after scoring
            pruned = prune_after_nightly(engine, receiver, settings.prune_keep_days, local_today)
            outcome.message = "; ".join(m for m in (outcome.message, pruned) if m)
        report.receivers.append(outcome)
    report.seconds = time.perf_counter() - t0
    return report
