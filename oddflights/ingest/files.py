"""Ingest one input (a file, or ``-`` for stdin): parse, validate and store it, chunk by chunk."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine

from oddflights.db.runs import FAILED, OK
from oddflights.ingest.formats import FormatError, open_input, parse_input, peek_head, sniff
from oddflights.ingest.readsb import FORMAT as READSB_TRACE
from oddflights.ingest.readsb import is_trace_source, parse_trace_path
from oddflights.ingest.record import IngestRecorder
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.table import TableFormatError
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.ingest.writer import RangeWatch, ingest_chunks
from oddflights.receivers import Receiver


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
) -> IngestSummary:
    """Ingest ``path`` (``-``: stdin) in format ``fmt`` (``auto``: sniffed; a folder or a tar
    is read as readsb traces, every trace file in it). The next chunk
    is parsed, validated and converted in a background thread while the previous one is
    written. FormatError says what is wrong with the input, including compressed input that is
    cut short or damaged (the chunks before the damage stay stored: a rerun of the repaired
    file adds only the rest), and a table file that is not one (or is damaged).

    The ingest is recorded as a run (kind ``ingest``) with its format and counts, ``ok`` or
    ``failed`` (with the counts of what was stored before the failure): /metrics sums them."""

    def _store(chunks: Iterable[ParsedChunk], recorder: IngestRecorder) -> IngestSummary:
        return ingest_chunks(
            engine,
            receiver,
            chunks,
            source=source,
            now=now,
            rejects_file=rejects_file,
            progress=progress,
            range_watch=range_watch,
            on_total=recorder.update,
        )

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
    """``run()``, its counts recorded as an ingest run: ``ok``, or ``failed`` and re-raised."""
    recorder.start()
    try:
        summary = run()
    except BaseException as exc:
        recorder.finish(FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    recorder.finish(OK, summary)
    return summary
