"""Validate parsed chunks and store them: the one path every ingest (files, live) goes through."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.db.aircraft import upsert_aircraft
from oddflights.db.positions import (
    PreparedPositions,
    prepare_positions,
    write_positions,
    write_prepared,
)
from oddflights.ingest.prefetch import prefetch
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParsedChunk
from oddflights.ingest.validate import (
    SOURCE_WIDTH,
    Validation,
    count_reasons,
    distance_km,
    validate_positions,
)
from oddflights.receivers import Receiver

_log = logging.getLogger(__name__)


def write_rejects(rejects: pd.DataFrame, out: IO[str]) -> None:
    """Append rejected lines as ``reason<TAB>raw line``."""
    for reason, raw in zip(rejects["reason"], rejects["raw"], strict=True):
        text = "" if raw is None else str(raw)
        out.write(f"{reason}\t{text.replace(chr(10), ' ').replace(chr(13), ' ')}\n")


@dataclass
class CheckedChunk:
    """A parsed chunk after validation: the positions to store and every rejected line."""

    chunk: ParsedChunk
    valid: pd.DataFrame
    rejects: pd.DataFrame
    prepared: PreparedPositions | None = None  # ``valid`` made ready for the bulk write
    validation: Validation | None = None  # notes on fields cleared, positions out of range


def check_chunk(
    receiver: Receiver, chunk: ParsedChunk, *, now: datetime, max_range_km: float | None = None
) -> CheckedChunk:
    """Validate one parsed chunk (no database: this can run beside the writes)."""
    checked = validate_positions(chunk.positions, receiver, now=now, max_range_km=max_range_km)
    invalid = checked.rejects
    if len(invalid) and chunk.raw_of is not None:
        # The input lines as read, not the converted rows (a bad time shows its text).
        invalid = invalid.assign(raw=chunk.raw_of(checked.rejected_rows))
    rejects = (
        pd.concat([chunk.rejects, invalid], ignore_index=True) if len(invalid) else (chunk.rejects)
    )
    return CheckedChunk(chunk, checked.valid, rejects, validation=checked)


# Positions out of range, (nearly) none valid, before the receiver's place is called into
# doubt (at the end of the first chunk it takes at least one).
FAR_WARNING_POSITIONS = 1000


@dataclass
class RangeWatch:
    """Watches the first chunks of an ingest for a receiver whose location or range is wrong:
    (nearly) every position beyond its range and none valid. Says so once, through
    ``warn`` (the CLI prints it), and the ingest goes on: rejected positions are still counted
    and kept by --rejects, and a user may mean it (a file from another receiver)."""

    receiver: Receiver
    warn: Callable[[str], None]
    valid: int = 0
    far: int = 0
    chunks: int = 0
    warned: bool = False
    median: tuple[float, float] = (float("nan"), float("nan"))  # of the latest far positions

    def see(self, validation: Validation | None) -> None:
        """Count one more chunk's validation; warn once if the receiver looks misplaced."""
        if validation is None or self.warned:
            return
        self.chunks += 1
        self.valid += len(validation.valid)
        self.far += validation.far
        if validation.far:
            self.median = (validation.far_lat, validation.far_lon)
        # "Nearly every": at most 1 % valid, so a little nearby noise does not hide it.
        nearly_all = self.far > 0 and self.valid * 100 <= self.far
        if nearly_all and (self.far >= FAR_WARNING_POSITIONS or self.chunks == 1):
            self.warned = True
            self.warn(self.message())

    def message(self) -> str:
        """The one-line warning, naming the receiver and where its positions are."""
        rec = self.receiver
        lat, lon = self.median
        away = distance_km(np.array([lat]), np.array([lon]), rec.lat, rec.lon)[0]
        limit = float(config.get("max_range_factor")) * rec.range_km
        return (
            f"receiver {rec.name!r} at {rec.lat:.4f}, {rec.lon:.4f} with range "
            f"{rec.range_km:,.0f} km: {self.far:,} of the first {self.far + self.valid:,} "
            f"positions are beyond {limit:,.0f} km, their median at {lat:.4f}, {lon:.4f} "
            f"({away:,.0f} km away); is the receiver's location or "
            "range wrong? The ingest goes on."
        )


def store_checked(
    engine: Engine,
    receiver: Receiver,
    checked: CheckedChunk,
    *,
    source: str,
    rejects_file: IO[str] | None = None,
) -> IngestSummary:
    """Write a checked chunk's valid positions (one transaction) and count the rest."""
    if receiver.id is None:
        raise ValueError(f"receiver {receiver.name!r} has no database id")
    counts = (
        write_prepared(engine, checked.prepared)
        if checked.prepared is not None
        else write_positions(engine, receiver.id, checked.valid, source)
    )
    summary = IngestSummary(accepted=counts.accepted, duplicates=counts.duplicates)
    if checked.chunk.aircraft is not None and len(checked.chunk.aircraft):
        # Registration, type, ... that the format carries (readsb traces).
        upsert_aircraft(engine, checked.chunk.aircraft)
    if checked.validation is not None and checked.validation.fields_cleared:
        summary.fields_cleared = dict(checked.validation.fields_cleared)
        _log.info("fields cleared: %s", summary.fields_cleared)
    rejects = checked.rejects
    if len(rejects):
        reasons = count_reasons(rejects)
        summary.add_rejects(reasons)
        _log.info("rejected %d lines: %s", len(rejects), reasons)
        if rejects_file is not None:
            write_rejects(rejects, rejects_file)
    return summary


def ingest_chunks(
    engine: Engine,
    receiver: Receiver,
    chunks: Iterable[ParsedChunk],
    *,
    source: str,
    now: datetime | None = None,
    rejects_file: IO[str] | None = None,
    progress: Callable[[ParsedChunk], None] | None = None,
    range_watch: RangeWatch | None = None,
    on_total: Callable[[IngestSummary], None] | None = None,
) -> IngestSummary:
    """Validate and store every chunk, committing each on its own (reruns skip stored rows).

    ``now`` (default: the current time) bounds timestamps from the future. ``range_watch``
    sees each chunk's validation (to warn early of a misplaced receiver); ``on_total`` hears
    the counts so far after each chunk (the ingest's run record). ``source`` is cut
    to the width of its column. A lazy ``chunks``
    (a stream being parsed) goes through two background threads: one parses and validates a
    chunk while the other converts the one before it for the database and this thread writes
    the one before that. Chunks are still written one at a time, in order.
    """
    t0 = time.perf_counter()
    total = IngestSummary()
    dialect = engine.dialect.name
    lazy = not isinstance(chunks, Sequence)
    source = source[:SOURCE_WIDTH]

    def checked() -> Iterator[CheckedChunk]:
        for chunk in chunks:
            at = now if now is not None else datetime.now(UTC)
            yield check_chunk(receiver, chunk, now=at)

    def prepared(items: Iterable[CheckedChunk]) -> Iterator[CheckedChunk]:
        for item in items:
            if receiver.id is not None and len(item.valid):
                ready = prepare_positions(dialect, receiver.id, item.valid, source)
                item = dataclasses.replace(item, prepared=ready)
            yield item

    stages: list[Iterator[CheckedChunk]] = []
    if lazy:
        stages.append(prefetch(checked(), depth=1))
        stages.append(prefetch(prepared(stages[0])))
    else:
        stages.append(prepared(checked()))
    try:
        for item in stages[-1]:
            total = total + store_checked(
                engine, receiver, item, source=source, rejects_file=rejects_file
            )
            if range_watch is not None:
                range_watch.see(item.validation)
            if progress is not None:
                progress(item.chunk)
            if on_total is not None:
                on_total(total)
    finally:
        # Last stage first: each close stops that stage's thread, which is the only reader of
        # the stage before it. Without this, a stage would outlive an error until collected.
        for stage in reversed(stages):
            close = getattr(stage, "close", None)
            if close is not None:
                close()
    total.seconds = time.perf_counter() - t0
    return total
