"""Health checks of a long-running install (Docker's HEALTHCHECK): is the live ingest still
hearing its receiver, and does the nightly still run? Plain functions over the receivers'
status (oddflights.db.status): each returns the problems found, empty when healthy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from oddflights.db.runs import DONE_STATUSES, RUNNING
from oddflights.db.status import ReceiverStatus
from oddflights.errors import NotFoundError


def _chosen(statuses: Sequence[ReceiverStatus], receiver: str | None) -> list[ReceiverStatus]:
    if receiver is None:
        return list(statuses)
    chosen = [s for s in statuses if s.name == receiver]
    if not chosen:
        raise NotFoundError(f"no receiver named {receiver!r} (see `oddflights receiver list`)")
    return chosen


def _age(now: datetime, when: datetime) -> str:
    minutes = max(0.0, (now - when).total_seconds() / 60)
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def live_problems(
    statuses: Sequence[ReceiverStatus],
    now: datetime,
    max_age: timedelta,
    receiver: str | None = None,
) -> list[str]:
    """Receivers (``receiver``, or all) whose newest position is older than ``max_age``."""
    chosen = _chosen(statuses, receiver)
    if not chosen:
        return ["no receivers yet"]
    problems = []
    for s in chosen:
        if s.last_position is None:
            problems.append(f"{s.name}: no position heard yet")
        elif now - s.last_position > max_age:
            problems.append(f"{s.name}: last position {_age(now, s.last_position)} ago")
    return problems


def nightly_problems(
    statuses: Sequence[ReceiverStatus],
    created: Mapping[str, datetime],
    now: datetime,
    max_age: timedelta,
    receiver: str | None = None,
) -> list[str]:
    """Receivers whose last nightly run started more than ``max_age`` ago (a receiver added
    less than ``max_age`` ago has time for its first), or ended failed or interrupted."""
    chosen = _chosen(statuses, receiver)
    if not chosen:
        return ["no receivers yet"]
    problems = []
    for s in chosen:
        run = s.last_nightly
        if run is None:
            added = created.get(s.name)
            if added is None or now - added > max_age:
                problems.append(f"{s.name}: no nightly run yet")
            continue
        if now - run.started_at > max_age:
            problems.append(f"{s.name}: last nightly run started {_age(now, run.started_at)} ago")
        elif run.status not in DONE_STATUSES and run.status != RUNNING:
            problems.append(f"{s.name}: last nightly run ({run.day}) {run.status}")
    return problems
