"""Retention: old positions deleted in small chunks, and unused models.

Each chunk of positions is deleted in its own short transaction, so that a live ingest writing
into the same SQLite file waits at most for one chunk (far under the 30 s busy timeout), never
for the whole prune. Chunks follow the key (receiver, ts, …): each is a range of the key.
Flights (with their rasters and what the tags need of their tracks), scores, known rules and
labels are never touched: they are what rescoring with a newer model reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.models import FlightRow, ModelRow, PositionRow, ScoreRow

# Rows deleted per transaction: ~0.1-0.3 s of SQLite work on a small machine.
CHUNK_ROWS = 50_000
# SQLite: a pause between chunks, longer than the busy handler's sleeps (up to 100 ms), so
# that a writer waiting on the lock gets it before the next chunk starts.
SQLITE_PAUSE_S = 0.15


def count_positions_before(engine: Engine, receiver_id: int, before: datetime) -> int:
    """How many of the receiver's positions were heard before ``before`` (UTC-aware)."""
    query = sa.select(sa.func.count()).where(
        PositionRow.receiver_id == receiver_id, PositionRow.ts < before
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def delete_positions_before(
    engine: Engine,
    receiver_id: int,
    before: datetime,
    *,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Delete the receiver's positions heard before ``before``, oldest first, about
    ``chunk_rows`` per transaction; returns how many were deleted. ``on_chunk(n)`` is called
    after each committed chunk."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, not {chunk_rows}")
    pause = SQLITE_PAUSE_S if engine.dialect.name == "sqlite" else 0.0
    mine = PositionRow.receiver_id == receiver_id
    total = 0
    while True:
        with engine.begin() as conn:
            # The time of the row chunk_rows further on: this chunk is everything before it.
            edge = conn.execute(
                sa.select(PositionRow.ts)
                .where(mine, PositionRow.ts < before)
                .order_by(PositionRow.ts)
                .limit(1)
                .offset(chunk_rows)
            ).scalar_one_or_none()
            upto = PositionRow.ts < (before if edge is None else edge)
            deleted = conn.execute(sa.delete(PositionRow).where(mine, upto)).rowcount
            if deleted == 0 and edge is not None:
                # More than chunk_rows rows share the edge's time: take them too.
                deleted = conn.execute(
                    sa.delete(PositionRow).where(mine, PositionRow.ts <= edge)
                ).rowcount
        total += int(deleted)
        if on_chunk is not None:
            on_chunk(int(deleted))
        if edge is None:
            return total
        if pause:
            time.sleep(pause)


def built_days(engine: Engine, receiver_id: int, before_day: date) -> set[date]:
    """The receiver's days before ``before_day`` that have flights stored."""
    query = (
        sa.select(FlightRow.day)
        .where(FlightRow.receiver_id == receiver_id, FlightRow.day < before_day)
        .distinct()
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def unused_models(engine: Engine, receiver_id: int, keep: int) -> list[int]:
    """The receiver's models beyond its newest ``keep`` that no score row uses, oldest first."""
    used = sa.exists().where(ScoreRow.model_id == ModelRow.id)
    newest = (
        sa.select(ModelRow.id)
        .where(ModelRow.receiver_id == receiver_id)
        .order_by(ModelRow.created_at.desc(), ModelRow.id.desc())
        .limit(keep)
    )
    query = (
        sa.select(ModelRow.id)
        .where(ModelRow.receiver_id == receiver_id, ModelRow.id.not_in(newest), ~used)
        .order_by(ModelRow.id)
    )
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


def delete_models(engine: Engine, model_ids: Sequence[int]) -> int:
    """Delete these models unless a score row uses one by now (checked in the same
    statement); returns how many were deleted."""
    if not model_ids:
        return 0
    used = sa.exists().where(ScoreRow.model_id == ModelRow.id)
    with engine.begin() as conn:
        result = conn.execute(sa.delete(ModelRow).where(ModelRow.id.in_(list(model_ids)), ~used))
    return int(result.rowcount)
