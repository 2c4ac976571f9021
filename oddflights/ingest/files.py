"""Ingest one input (a file, or ``-`` for stdin): parse, validate and store it, chunk by chunk."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine

from oddflights.ingest.formats import FormatError, open_input, parse_input
from oddflights.ingest.readsb import FORMAT as READSB_TRACE
from oddflights.ingest.readsb import is_trace_source, parse_trace_path
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
    file adds only the rest), and a table file that is not one (or is damaged)."""
    if fmt in (READSB_TRACE, "auto") and str(path) != "-" and is_trace_source(path):
        # A folder (globe_history) or a tar of traces: every trace file in it.
        return ingest_chunks(
            engine,
            receiver,
            parse_trace_path(path, options),
            source=source,
            now=now,
            rejects_file=rejects_file,
            progress=progress,
            range_watch=range_watch,
        )
    with open_input(str(path)) as stream:
        try:
            return ingest_chunks(
                engine,
                receiver,
                parse_input(stream, fmt, options),
                source=source,
                now=now,
                rejects_file=rejects_file,
                progress=progress,
                range_watch=range_watch,
            )
        except TableFormatError as exc:
            raise FormatError(f"{path}: {exc}") from None
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise FormatError(
                f"{path}: the compressed data is cut short or damaged ({exc}); the positions "
                "before that point are stored"
            ) from None
