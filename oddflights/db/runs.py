"""The ``runs`` table: what ran, for which receiver and day, when, and how it ended."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.models import FlightRow, PositionRow, ReceiverRow, RunRow

RUNNING = "running"
OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"
# Its process ended (killed, stopped, crashed) before recording how the run went.
INTERRUPTED = "interrupted"
# A day whose last nightly run ended so needs no more work.
DONE_STATUSES = (OK, SKIPPED)
# An ingest (a file, or a live feed from start to stop): its counts (format, accepted,
# duplicates, rejected by reason) are what /metrics sums. ``list_runs`` leaves these out
# unless asked: they are records of counts, not work per day.
INGEST = "ingest"

RUN_COLUMNS = (
    "run_id",
    "kind",
    "receiver",
    "day",
    "started_at",
    "finished_at",
    "status",
    "counts",
    "error",
)


def start_run(
    engine: Engine,
    kind: str,
    receiver_id: int | None,
    day: date | None,
    counts: dict[str, Any] | None = None,
) -> int:
    """Record a run as started (status ``running``, ``counts`` so far); returns its id."""
    with engine.begin() as conn:
        run_id = conn.execute(
            sa.insert(RunRow)
            .values(
                kind=kind,
                receiver_id=receiver_id,
                day=day,
                started_at=datetime.now(UTC),
                status=RUNNING,
                counts=counts or {},
            )
            .returning(RunRow.id)
        ).scalar_one()
    return int(run_id)


def finish_run(
    engine: Engine,
    run_id: int,
    status: str,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record how a run ended."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(RunRow)
            .where(RunRow.id == run_id)
            .values(
                status=status,
                counts=counts or {},
                error=error,
                finished_at=datetime.now(UTC),
            )
        )


def update_run_counts(engine: Engine, run_id: int, counts: dict[str, Any]) -> None:
    """Record a run's counts so far (a long or endless run: live ingest), status unchanged."""
    with engine.begin() as conn:
        conn.execute(sa.update(RunRow).where(RunRow.id == run_id).values(counts=counts))


def mark_interrupted(engine: Engine, receiver_id: int, kind: str) -> list[date | None]:
    """Record the receiver's ``kind`` runs still ``running`` as ``interrupted``, finished now
    (when noticed); returns their days. Call it only while holding the lock that every such
    run holds (the nightly's per receiver): then no live process owns them."""
    stuck = (RunRow.receiver_id == receiver_id) & (RunRow.kind == kind) & (RunRow.status == RUNNING)
    with engine.begin() as conn:
        days = conn.execute(sa.select(RunRow.day).where(stuck).order_by(RunRow.id)).scalars()
        found = list(days)
        if found:
            conn.execute(
                sa.update(RunRow)
                .where(stuck)
                .values(
                    status=INTERRUPTED,
                    finished_at=datetime.now(UTC),
                    error="interrupted: its process ended before the run did",
                )
            )
    return found


def done_days(engine: Engine, receiver_id: int, kind: str, days: Iterable[date]) -> set[date]:
    """Those of ``days`` whose most recent ``kind`` run for the receiver ended ok or skipped."""
    day_list = sorted(set(days))
    if not day_list:
        return set()
    query = (
        sa.select(RunRow.day, RunRow.status)
        .where(
            RunRow.receiver_id == receiver_id,
            RunRow.kind == kind,
            RunRow.day.in_(day_list),
            RunRow.status != RUNNING,
        )
        .order_by(RunRow.id)
    )
    last: dict[date, str] = {}
    with engine.connect() as conn:
        for day, status in conn.execute(query).all():
            if day is not None:
                last[day] = status
    return {d for d, s in last.items() if s in DONE_STATUSES}


def list_runs(
    engine: Engine,
    receiver_id: int | None = None,
    limit: int | None = None,
    *,
    with_ingest: bool = False,
) -> pd.DataFrame:
    """Runs, newest first (RUN_COLUMNS; times tz-aware UTC); ingest runs only when
    ``with_ingest``."""
    query = (
        sa.select(
            RunRow.id.label("run_id"),
            RunRow.kind,
            ReceiverRow.name.label("receiver"),
            RunRow.day,
            RunRow.started_at,
            RunRow.finished_at,
            RunRow.status,
            RunRow.counts,
            RunRow.error,
        )
        .outerjoin(ReceiverRow, ReceiverRow.id == RunRow.receiver_id)
        .order_by(RunRow.id.desc())
    )
    if receiver_id is not None:
        query = query.where(RunRow.receiver_id == receiver_id)
    if not with_ingest:
        query = query.where(RunRow.kind != INGEST)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def first_position_time(engine: Engine, receiver_id: int) -> datetime | None:
    """When the receiver's first position was heard: its first stored position, or the start
    of its first stored flight when that is older (the positions of old days pruned, their
    flights kept); None without either. The nightly's first day, warm-up and training window
    count from it, so a prune does not move them."""
    mine = FlightRow.receiver_id == receiver_id
    first_day = sa.select(sa.func.min(FlightRow.day)).where(mine).scalar_subquery()
    with engine.connect() as conn:
        position = conn.execute(
            sa.select(sa.func.min(PositionRow.ts)).where(PositionRow.receiver_id == receiver_id)
        ).scalar_one_or_none()
        # min(day) first: the index on (receiver, day) answers it without a scan.
        flight = conn.execute(
            sa.select(sa.func.min(FlightRow.start_ts)).where(mine, FlightRow.day == first_day)
        ).scalar_one_or_none()
    known = [t for t in (position, flight) if t is not None]
    return min(known) if known else None
