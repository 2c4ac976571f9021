"""An ingest's counts in the ``runs`` table (kind ``ingest``), which ``/metrics`` sums.

One run row per ingested file (or per live feed, from start to stop) holds the format and the
counts so far: accepted, duplicates, rejected by reason, fields cleared. A long ingest updates
its row at most every ``RECORD_EVERY_S`` (one small UPDATE: nothing beside the bulk writes),
so the counters move while it runs and a process that is killed leaves its counts up to then.
Recording never stops an ingest: a database that cannot take the record is logged, and the
next record tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from oddflights.db.runs import INGEST, finish_run, start_run, update_run_counts
from oddflights.ingest.summary import IngestSummary
from oddflights.receivers import Receiver

_log = logging.getLogger(__name__)

# How often a running ingest's counts are written to its run row, at most.
RECORD_EVERY_S = 15.0


def ingest_counts(fmt: str, total: IngestSummary) -> dict[str, Any]:
    """The JSON ``counts`` of an ingest run: its format and its summary's counts."""
    return {
        "format": fmt,
        "accepted": total.accepted,
        "duplicates": total.duplicates,
        "rejected": total.rejected,
        "rejected_by_reason": dict(total.rejected_by_reason),
        "fields_cleared": dict(total.fields_cleared),
    }


class IngestRecorder:
    """Keeps one ingest's run row: created at ``start`` (or at the first record that the
    database takes), updated by ``update`` at most every ``every_s``, closed by ``finish``."""

    def __init__(
        self,
        engine: Engine,
        receiver: Receiver,
        fmt: str,
        *,
        every_s: float = RECORD_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.receiver = receiver
        self.fmt = fmt
        self.every_s = every_s
        self.clock = clock
        self.run_id: int | None = None
        self.latest = IngestSummary()
        self._recorded_at = float("-inf")
        self._failing = False

    def start(self) -> None:
        """Create the run row now (status ``running``), so that a long ingest shows."""
        self._record(self.latest)

    def update(self, total: IngestSummary) -> None:
        """The counts so far; written when ``every_s`` has passed since the last record."""
        self.latest = total
        if self.clock() - self._recorded_at >= self.every_s:
            self._record(total)

    def finish(
        self, status: str, total: IngestSummary | None = None, error: str | None = None
    ) -> None:
        """Record the final counts (``total``, or the latest given) and how the ingest ended."""
        if total is not None:
            self.latest = total
        counts = ingest_counts(self.fmt, self.latest)
        try:
            if self.run_id is None:
                self.run_id = start_run(self.engine, INGEST, self.receiver.id, None, counts)
            finish_run(self.engine, self.run_id, status, counts, error)
        except SQLAlchemyError as exc:
            _log.warning("cannot record the ingest's counts: %s", _first_line(exc))

    def _record(self, total: IngestSummary) -> None:
        self._recorded_at = self.clock()
        counts = ingest_counts(self.fmt, total)
        try:
            if self.run_id is None:
                self.run_id = start_run(self.engine, INGEST, self.receiver.id, None, counts)
            else:
                update_run_counts(self.engine, self.run_id, counts)
        except SQLAlchemyError as exc:
            if not self._failing:  # once per outage, not every few seconds
                _log.warning("cannot record the ingest's counts: %s", _first_line(exc))
            self._failing = True
            return
        self._failing = False


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
