"""Pruning: a receiver's positions older than N days (its zone) deleted, and its models
beyond the newest K that no score row uses.

What is kept: flights (rasters, features, what the tags need of each track), scores, known
rules, labels, runs, and every model a score row uses. Rescoring a pruned day with a newer
model reads the stored rasters, so it still works; rebuilding its flights (``flights build``,
or a nightly ``--day`` rerun of it) does not, since that reads positions.

A day's positions are only deleted once the day has been processed: its nightly run ended
ok or skipped, or its flights are built. The first day that is neither stops the prune there,
so that data never built into flights is not lost (``held_by`` says which day).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.errors import OddflightsError
from oddflights.receivers import Receiver

_log = logging.getLogger(__name__)


class PruneError(OddflightsError, ValueError):
    """A prune was asked for with values it cannot take."""


@dataclass(frozen=True)
class PruneResult:
    """What a prune of one receiver did (or, with ``dry_run``, would do)."""

    receiver: str
    keep_from: date  # the first day (receiver's zone) whose positions are all kept
    cutoff: datetime  # UTC: positions heard before it are deleted
    positions: int  # deleted (dry run: to delete)
    models: list[int] = field(default_factory=list)  # ids deleted (dry run: to delete)
    held_by: date | None = None  # a day not yet processed that held the cutoff back
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "receiver": self.receiver,
            "keep_from": self.keep_from.isoformat(),
            "cutoff": self.cutoff.isoformat(),
            "positions": self.positions,
            "models": self.models,
            "held_by": None if self.held_by is None else self.held_by.isoformat(),
            "dry_run": self.dry_run,
        }

    def summary(self) -> str:
        """One line for a person."""
        verb = "would delete" if self.dry_run else "deleted"
        line = (
            f"{self.receiver}: {verb} {self.positions:,} positions before "
            f"{self.keep_from.isoformat()} and {len(self.models)} unused model(s)"
        )
        if self.held_by is not None:
            line += (
                f"; positions from {self.held_by.isoformat()} on kept: that day is not built "
                "yet (run `oddflights nightly`)"
            )
        return line


def _first_unprocessed(engine: Engine, receiver: Receiver, first: date, upto: date) -> date | None:
    """The first day in [first, upto) neither done by a nightly run nor built into flights."""
    from oddflights.db.retention import built_days
    from oddflights.db.runs import done_days
    from oddflights.scheduler.nightly import KIND

    assert receiver.id is not None
    days = [first + timedelta(days=i) for i in range((upto - first).days)]
    if not days:
        return None
    ok = done_days(engine, receiver.id, KIND, days) | built_days(engine, receiver.id, upto)
    return next((d for d in days if d not in ok), None)


def _plan(
    engine: Engine, receiver: Receiver, keep_days: int, today: date | None
) -> tuple[date, datetime, date | None, datetime | None]:
    """The first day kept (receiver's zone), the cutoff (UTC), the unprocessed day holding it
    back (or None) and the receiver's first position time (None: no positions)."""
    from oddflights.db.runs import first_position_time

    assert receiver.id is not None
    local_today = today or datetime.now(receiver.zone).date()
    keep_from = local_today - timedelta(days=keep_days)
    held_by = None
    first = first_position_time(engine, receiver.id)
    if first is not None:
        held_by = _first_unprocessed(
            engine, receiver, first.astimezone(receiver.zone).date(), keep_from
        )
        if held_by is not None:
            keep_from = held_by
    return keep_from, receiver.day_bounds(keep_from)[0], held_by, first


def prune_receiver(
    engine: Engine,
    receiver: Receiver,
    keep_days: int,
    keep_models: int | None = None,
    *,
    today: date | None = None,
    dry_run: bool = False,
    chunk_rows: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> PruneResult:
    """Delete the receiver's positions before the day ``keep_days`` before today (its zone;
    today and the ``keep_days`` days before it are kept), in small transactions, and its
    models beyond the newest ``keep_models`` (default: the setting) that no score uses."""
    from oddflights.db.retention import (
        CHUNK_ROWS,
        count_positions_before,
        delete_models,
        delete_positions_before,
        unused_models,
    )

    if keep_days < 0:
        raise PruneError(f"--keep-days {keep_days}: must be 0 or more")
    keep_models = int(config.get("keep_models", keep_models))
    assert receiver.id is not None
    keep_from, cutoff, held_by, first = _plan(engine, receiver, keep_days, today)
    models = unused_models(engine, receiver.id, keep_models)
    if dry_run:
        n = count_positions_before(engine, receiver.id, cutoff) if first is not None else 0
        return PruneResult(receiver.name, keep_from, cutoff, n, models, held_by, True)
    n = 0
    if first is not None and first < cutoff:
        n = delete_positions_before(
            engine, receiver.id, cutoff, chunk_rows=chunk_rows or CHUNK_ROWS, on_chunk=on_chunk
        )
    if models:
        delete_models(engine, models)
    _log.info("pruned %s: %d positions before %s, models %s", receiver.name, n, keep_from, models)
    return PruneResult(receiver.name, keep_from, cutoff, n, models, held_by)


def prune_all(
    engine: Engine,
    receivers: list[Receiver],
    keep_days: int,
    keep_models: int | None = None,
    *,
    today: date | None = None,
    dry_run: bool = False,
) -> list[PruneResult]:
    """``prune_receiver`` for every receiver. On PostgreSQL (day partitions, migration 0011)
    the UTC days entirely before every receiver's cutoff are first detached and dropped whole
    (the rows they held are counted per receiver into its result); what is left before each
    cutoff (a day's part on the other side of a zone's midnight, rows in the default
    partition) then goes by the chunked delete. A dry run counts, dropping nothing."""
    from dataclasses import replace

    from oddflights.db.partitions import drop_partitions_before

    if keep_days < 0:
        raise PruneError(f"--keep-days {keep_days}: must be 0 or more")
    keep_models = int(config.get("keep_models", keep_models))  # checked before anything goes
    dropped: dict[int, int] = {}
    if receivers and engine.dialect.name == "postgresql" and not dry_run:
        # The earliest cutoff: a partition holds every receiver's rows of its day.
        cutoff = min(_plan(engine, r, keep_days, today)[1] for r in receivers)
        # What could not be dropped (a lock not granted in time) goes by the chunked delete.
        dropped = drop_partitions_before(engine, cutoff).rows_by_receiver
    results = []
    for rec in receivers:
        result = prune_receiver(engine, rec, keep_days, keep_models, today=today, dry_run=dry_run)
        assert rec.id is not None
        results.append(replace(result, positions=result.positions + dropped.get(rec.id, 0)))
    return results


def prune_after_nightly(
    engine: Engine, receiver: Receiver, keep_days: int, today: date | None = None
) -> str | None:
    """The nightly's prune (ODDFLIGHTS_PRUNE_KEEP_DAYS; 0: off): a line for its report, or
    None when off. A failure is logged and reported, never a failed night."""
    if keep_days <= 0:
        return None
    try:
        return prune_receiver(engine, receiver, keep_days, today=today).summary()
    except Exception as exc:
        _log.warning("prune of %s failed: %s", receiver.name, exc)
        return f"prune failed: {exc}"
