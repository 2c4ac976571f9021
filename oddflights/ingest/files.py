"""Ingest one input (a file, or ``-`` for stdin): parse, validate and store it, chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.ingest.formats import open_input, parse_input
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.ingest.writer import ingest_checked, ingest_chunks
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
) -> IngestSummary:
    """Ingest ``path`` in format ``fmt`` (``auto``: sniffed). A regular file is parsed in a
    child process while this one writes (setting ``ingest_parse_process``); stdin, or with the
    setting off, in a thread of this process. FormatError says what is wrong with the input."""
    from oddflights.ingest.process_parse import checked_chunks_in_process

    name = str(path)
    in_process = bool(config.get("ingest_parse_process")) and name != "-" and Path(name).is_file()
    if in_process:
        # Opened here too, so that an unreadable file fails before a child is started.
        with open_input(name):
            pass
        return ingest_checked(
            engine,
            receiver,
            checked_chunks_in_process(name, fmt, options, now),
            source=source,
            rejects_file=rejects_file,
            progress=progress,
        )
    with open_input(name) as stream:
        return ingest_chunks(
            engine,
            receiver,
            parse_input(stream, fmt, options),
            source=source,
            now=now,
            rejects_file=rejects_file,
            progress=progress,
        )
