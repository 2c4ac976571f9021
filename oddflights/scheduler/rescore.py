"""Rescoring a range of past days (`oddflights rescore`): each receiver's days scored again with
the newest ready model trained before each day (or one given model), under the receiver's
nightly lock so that a rescore and a nightly never work on one receiver at once.

Each day is one ``rescore`` run in ``runs``; scoring replaces that model's rows for the day in
one transaction, so a day redone (a retry, a rerun) ends as if done once. Runs still recorded
``running`` when the lock is taken were left by a process that died: they are marked
``interrupted``.
"""

from __future__ import annotations

import logging
import time
import traceback
from datetime import date, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from oddflights.progress import ProgressFn, Step, tell
from oddflights.receivers import Receiver
from oddflights.scheduler.nightly import DayOutcome, NightlyReport, ReceiverOutcome, lock_name

_log = logging.getLogger(__name__)

KIND = "rescore"


def rescore_receiver(
    engine: Engine,
    receiver: Receiver,
    days: list[date],
    model_id: int | None = None,
    lock_stale_hours: float = 6.0,
    progress: ProgressFn | None = None,
) -> ReceiverOutcome:
    """Score ``days`` of one receiver again, under its lock; a day that fails (no flights, no
    model) is recorded and the next goes on."""
    from oddflights.db.locks import hold_lock
    from oddflights.db.runs import FAILED, INTERRUPTED, OK, finish_run, mark_interrupted, start_run
    from oddflights.scoring.score import score_day

    assert receiver.id is not None
    stale = timedelta(hours=lock_stale_hours)
    with hold_lock(engine, lock_name(receiver), stale) as lock:
        if lock is None:
            return ReceiverOutcome(
                receiver.name,
                "locked",
                message=f"a nightly or rescore is working on receiver {receiver.name}; left alone",
            )
        stuck = [d for d in mark_interrupted(engine, receiver.id, KIND) if d is not None]
        outcome = ReceiverOutcome(receiver.name, "ok", interrupted=stuck)
        for i, d in enumerate(days):
            run_id = start_run(engine, KIND, receiver.id, d)
            try:
                s = score_day(engine, receiver, d, model_id)
                result = DayOutcome(
                    d, OK, {"model_id": s.model_id, "scored": s.flights, "anomalies": s.anomalies}
                )
            except Exception as exc:  # recorded; the other days go on
                _log.error("rescore %s %s failed: %s", receiver.name, d, exc)
                _log.debug("%s", traceback.format_exc())
                result = DayOutcome(d, FAILED, error=f"{type(exc).__name__}: {exc}")
                outcome.status = "failed"
            except BaseException as exc:  # a signal: say so, then stop
                finish_run(engine, run_id, INTERRUPTED, error=f"interrupted: {exc}")
                raise
            finish_run(engine, run_id, result.status, result.counts, result.error)
            outcome.days.append(result)
            tell(
                progress, Step("rescore", i + 1, len(days), f"{receiver.name} {d}: {result.status}")
            )
        n_failed = sum(1 for x in outcome.days if x.status == FAILED)
        outcome.message = f"{len(outcome.days)} day(s), {n_failed} failed"
        return outcome


def run_rescore(
    engine: Engine,
    receivers: list[Receiver],
    days: list[date],
    model_id: int | None = None,
    *,
    lock_stale_hours: float = 6.0,
    progress: ProgressFn | None = None,
) -> NightlyReport:
    """Rescore ``days`` of every receiver here, one after another (the serial run)."""
    t0 = time.perf_counter()
    report = NightlyReport()
    for receiver in receivers:
        report.receivers.append(
            rescore_receiver(engine, receiver, days, model_id, lock_stale_hours, progress)
        )
    report.seconds = time.perf_counter() - t0
    return report


def outcome_to_dict(outcome: ReceiverOutcome) -> dict[str, Any]:
    """A receiver's outcome as plain data (what a cluster task returns)."""
    return {
        "receiver": outcome.receiver,
        "status": outcome.status,
        "message": outcome.message,
        "interrupted": [d.isoformat() for d in outcome.interrupted],
        "days": [
            {"day": o.day.isoformat(), "status": o.status, "counts": o.counts, "error": o.error}
            for o in outcome.days
        ],
    }


def outcome_from_dict(data: dict[str, Any]) -> ReceiverOutcome:
    """The inverse of ``outcome_to_dict``."""
    return ReceiverOutcome(
        str(data["receiver"]),
        str(data["status"]),
        [
            DayOutcome(date.fromisoformat(d["day"]), d["status"], dict(d["counts"]), d["error"])
            for d in data["days"]
        ],
        str(data["message"]),
        [date.fromisoformat(d) for d in data["interrupted"]],
    )
