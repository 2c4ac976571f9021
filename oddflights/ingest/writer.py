"""Validate parsed chunks and store them: the one path every ingest (files, live) goes through."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.positions import (
    PreparedPositions,
    prepare_positions,
    write_positions,
    write_prepared,
)
from oddflights.ingest.prefetch import prefetch
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParsedChunk
from oddflights.ingest.validate import count_reasons, validate
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


def check_chunk(
    receiver: Receiver, chunk: ParsedChunk, *, now: datetime, max_range_km: float | None = None
) -> CheckedChunk:
    """Validate one parsed chunk (no database: this can run beside the writes)."""
    valid, invalid = validate(chunk.positions, receiver, now=now, max_range_km=max_range_km)
    rejects = (
        pd.concat([chunk.rejects, invalid], ignore_index=True) if len(invalid) else (chunk.rejects)
    )
    return CheckedChunk(chunk, valid, rejects)


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
) -> IngestSummary:
    """Validate and store every chunk, committing each on its own (reruns skip stored rows).

    ``now`` (default: the current time) bounds timestamps from the future. A lazy ``chunks``
    (a stream being parsed) goes through two background threads: one parses and validates a
    chunk while the other converts the one before it for the database and this thread writes
    the one before that. Chunks are still written one at a time, in order.
    """
    t0 = time.perf_counter()
    total = IngestSummary()
    dialect = engine.dialect.name
    lazy = not isinstance(chunks, Sequence)

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
            if progress is not None:
                progress(item.chunk)
    finally:
        # Last stage first: each close stops that stage's thread, which is the only reader of
        # the stage before it. Without this, a stage would outlive an error until collected.
        for stage in reversed(stages):
            close = getattr(stage, "close", None)
            if close is not None:
                close()
    total.seconds = time.perf_counter() - t0
    return total
