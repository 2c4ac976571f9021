"""Ingest one input (a file, or ``-`` for stdin): parse, validate and store it, chunk by chunk."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine

from oddflights.db.runs import FAILED, INTERRUPTED, OK
from oddflights.errors import OddflightsError
from oddflights.ingest.formats import FormatError, open_input, parse_input, peek_head, sniff
from oddflights.ingest.readsb import FORMAT as READSB_TRACE
from oddflights.ingest.readsb import is_trace_source, parse_trace_path
from oddflights.ingest.record import IngestRecorder
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.table import TableFormatError
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.ingest.writer import RangeWatch, ingest_chunks
from oddflights.receivers import Receiver


@dataclass
class _Done:
    """The input lines and bytes of the chunks committed so far."""

    lines: int = 0
    bytes_read: int = 0
    cut: bool = False  # the input was left unread because of a stop


class IngestStopped(OddflightsError):
    """An ingest stopped (``stop`` set: a signal) once the chunk being written was committed.
    ``summary``: what was stored; ``lines``/``bytes_read``: how far into ``path`` the stored
    chunks reach (a rerun skips those positions and stores the rest)."""

    def __init__(self, path: str, summary: IngestSummary, lines: int, bytes_read: int) -> None:
        super().__init__(f"{path}: stopped after {lines} lines ({bytes_read} bytes)")
        self.path = path
        self.summary = summary
        self.lines = lines
        self.bytes_read = bytes_read


def _until(
    chunks: Iterable[ParsedChunk], stop: threading.Event, done: _Done
) -> Iterator[ParsedChunk]:
    """``chunks`` until ``stop`` is set: a chunk parsed after it is dropped, unwritten."""
    for chunk in chunks:
        if stop.is_set():
            done.cut = True
            return
        yield chunk


def ingest_input(
    engine: Engine,
    receiver: Receiver,
    path: str | Path,
    fmt: str,
    options: ParseOptions,
    *,
    source: str,
    now: datetime | None = None,
    rejects_file: IO[str] | None = None,
    progress: Callable[[ParsedChunk], None] | None = None,
    range_watch: RangeWatch | None = None,
    stop: threading.Event | None = None,
) -> IngestSummary:
    """Ingest ``path`` (``-``: stdin) in format ``fmt`` (``auto``: sniffed; a folder or a tar
    is read as readsb traces, every trace file in it). The next chunk
    is parsed, validated and converted in a background thread while the previous one is
    written. FormatError says what is wrong with the input, including compressed input that is
    cut short or damaged (the chunks before the damage stay stored: a rerun of the repaired
    file adds only the rest), and a table file that is not one (or is damaged).

    The ingest is recorded as a run (kind ``ingest``) with its format and counts, ``ok`` or
    ``failed`` (with the counts of what was stored before the failure): /metrics sums them.

    ``stop`` (set by a signal handler): the ingest stops once the chunk being written is
    committed (no chunk is parsed further), records the run ``interrupted`` and raises
    IngestStopped with what it stored and how far into the input that reaches."""
    done = _Done()

    def _store(chunks: Iterable[ParsedChunk], recorder: IngestRecorder) -> IngestSummary:
        def committed(chunk: ParsedChunk) -> None:
            done.lines += chunk.lines
            done.bytes_read += chunk.bytes_read
            if progress is not None:
                progress(chunk)

        def on_total(total: IngestSummary) -> None:
            recorder.update(total)
            # After each commit (the writer's last call for a chunk): a stop ends it here,
            # before the chunks already parsed are written.
            if stop is not None and stop.is_set():
                raise IngestStopped(str(path), total, done.lines, done.bytes_read)

        summary = ingest_chunks(
            engine,
            receiver,
            chunks if stop is None else _until(chunks, stop, done),
            source=source,
            now=now,
            rejects_file=rejects_file,
            progress=committed,
            range_watch=range_watch,
            on_total=on_total,
        )
        if done.cut:  # stopped before any chunk after the stop was committed
            raise IngestStopped(str(path), summary, done.lines, done.bytes_read)
        return summary

    if fmt in (READSB_TRACE, "auto") and str(path) != "-" and is_trace_source(path):
        # A folder (globe_history) or a tar of traces: every trace file in it.
        recorder = IngestRecorder(engine, receiver, READSB_TRACE)
        chunks = parse_trace_path(path, options)
        return _recorded(recorder, lambda: _store(chunks, recorder))
    with open_input(str(path)) as stream:
        if fmt == "auto":
            fmt = sniff(peek_head(stream))
        recorder = IngestRecorder(engine, receiver, fmt)
        named = fmt
        try:
            return _recorded(
                recorder, lambda: _store(parse_input(stream, named, options), recorder)
            )
        except TableFormatError as exc:
            raise FormatError(f"{path}: {exc}") from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FormatError(
                f"{path}: the compressed data is cut short or damaged ({exc}); the positions "
                "before that point are stored"
            ) from None


def _recorded(recorder: IngestRecorder, run: Callable[[], IngestSummary]) -> IngestSummary:
    """``run()``, its counts recorded as an ingest run: ``ok``, ``interrupted`` (a stop) or
    ``failed``, and then re-raised."""
    recorder.start()
    try:
        summary = run()
    except IngestStopped as exc:
        recorder.finish(INTERRUPTED, exc.summary, error=f"stopped by a signal: {exc}"[:500])
        raise
    except BaseException as exc:
        recorder.finish(FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    recorder.finish(OK, summary)
    return summary
