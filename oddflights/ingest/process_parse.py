"""Parse and validate a file in a child process, chunk by chunk, while this process writes.

Threads only half overlap here: parsing (pyarrow, numpy, pandas) and binding rows for the
database (sqlite3's ``executemany``, building COPY data) both need the GIL for much of their
work. A child process has its own interpreter, so parsing runs fully beside the writes. The pipe
holds about one chunk, so the child stays at most a chunk or two ahead and memory stays flat.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from oddflights.ingest.formats import open_input, parse_input
from oddflights.ingest.types import ParseOptions
from oddflights.ingest.writer import CheckedChunk, check_chunk


class ParserProcessError(RuntimeError):
    """The child process stopped without saying why (killed, out of memory)."""


def _context() -> Any:
    # fork: no re-import, so the first chunk comes as soon as it is parsed. The child only
    # parses; it never touches the parent's database connections and leaves with os._exit.
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def _slim(checked: CheckedChunk) -> CheckedChunk:
    """What the parent needs of a checked chunk: the input lines are only kept for rejected
    rows (already in ``rejects``), so they do not cross the pipe."""
    chunk = dataclasses.replace(checked.chunk, positions=checked.chunk.positions.iloc[:0])
    valid = checked.valid.drop(columns=["raw"], errors="ignore")
    return CheckedChunk(chunk, valid, checked.rejects)


def _child(
    conn: Connection, path: str, fmt: str, options: ParseOptions, now: datetime | None
) -> None:
    try:
        with open_input(path) as stream:
            for chunk in parse_input(stream, fmt, options):
                at = now if now is not None else datetime.now(UTC)
                conn.send(("chunk", _slim(check_chunk(options.receiver, chunk, now=at))))
        conn.send(("done", None))
    except BaseException as exc:  # sent to the parent, which raises it
        try:
            conn.send(("error", exc))
        except Exception:  # an exception that does not pickle: send its words
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def checked_chunks_in_process(
    path: str, fmt: str, options: ParseOptions, now: datetime | None = None
) -> Iterator[CheckedChunk]:
    """The checked chunks of the file at ``path``, parsed in a child process. An error in the
    child (a FormatError, say) is raised here; closing the iterator early stops the child."""
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child, args=(send, path, fmt, options, now), name="oddflights-parse", daemon=True
    )
    child.start()
    send.close()
    try:
        while True:
            try:
                kind, payload = receive.recv()
            except EOFError:
                child.join(timeout=5)
                raise ParserProcessError(
                    f"the parser process for {path} stopped (exit code {child.exitcode})"
                ) from None
            if kind == "done":
                return
            if kind == "error":
                raise payload
            yield payload
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join(timeout=5)
