"""Live ingest: a TCP client for a receiver's SBS (port 30003), Beast (30005) or AVR (30002)
feed that writes positions as they come, survives receiver drops and database outages.

Two threads. The caller's reads the socket and parses a few times a second (whole lines/frames
only; a partial one waits for the rest); a writer thread stores what was parsed through
``ingest_chunks`` at least every ``commit_every_s``, so a slow or hanging write never stops the
reading. When the receiver drops, the client reconnects with exponential backoff; what was left
of a cut line or frame is counted as a ``truncated`` reject.

When a write fails (database unreachable, SQLite locked past its busy timeout, a dropped
connection, anything else) or hangs for more than ``STUCK_S``, parsed rows go to an append-only
spool file (JSON lines, fsynced) instead of waiting in memory, reading goes on, and the writer
replays the spool (then deletes it) once the database answers again. Replays are idempotent
like every write, so a chunk written twice (say, spooled while its hanging write still went
through) is stored once. On stop the last rows are written, or spooled if the database does
not take them within ``close_timeout_s``; a spool left behind is replayed at the next start,
and the summary says how many positions it holds and where.

A write the database refuses for the rows themselves (a constraint or a value it cannot hold:
DataError, IntegrityError), or that fails converting them, is not a database outage: retrying
it would block every later chunk. The chunk is bisected, every good row stored, and each row
that fails on its own is a counted reject (``db_refused``, or ``unwritable`` for a failure
outside the database), logged once per chunk and kept by --rejects. This holds for replayed
spool batches too.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from oddflights.columns import POSITION_COLUMNS
from oddflights.db.engine import create_engine
from oddflights.db.runs import OK
from oddflights.ingest.avr import AvrReader
from oddflights.ingest.beast import BeastReader
from oddflights.ingest.modes import empty_positions
from oddflights.ingest.record import RECORD_EVERY_S, IngestRecorder
from oddflights.ingest.sbs import SbsParser
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParsedChunk, ParseOptions, empty_rejects
from oddflights.ingest.validate import count_reasons, render_raw
from oddflights.ingest.writer import RangeWatch, ingest_chunks
from oddflights.receivers import Receiver

_log = logging.getLogger(__name__)

LIVE_FORMATS = ("sbs", "beast", "avr")
PARSE_EVERY_S = 0.25
PARSE_MAX_BYTES = 4 << 20
RECV_BYTES = 1 << 20
FIRST_BACKOFF_S = 0.5
DRAIN_S = 2.0
# A write attempt running longer than this is treated as hanging: parsed rows go to the spool
# rather than wait in memory for it (SQLite's busy timeout alone is 30 s).
STUCK_S = 5.0
# While the database is failing, parsed rows reach the spool at least this often.
SPOOL_EVERY_S = 1.0
# Rows queued for a healthy writer beyond which reading waits (the socket buffers meanwhile).
MAX_PENDING_ROWS = 200_000
# Rows per write when replaying the spool, so a long outage's spool is not read whole.
REPLAY_ROWS = 200_000
# On stop, how long to wait for the database to take the last rows before spooling them:
# within `docker stop`'s 10 s grace after the reading has drained.
CLOSE_WAIT_S = 6.0
# Database errors: SQLAlchemy's (wrapping the driver's on connect and execute), and the
# DBAPI's own where the writer talks to the driver directly (sqlite3 executemany, psycopg
# COPY). Most mean "the database cannot take this write now" (unreachable, locked, a table
# or a permission missing, disk full): the rows are spooled and retried.
_DB_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, sqlite3.Error)
# ... but these mean "the database is up and refuses these rows" (SQLSTATE classes 22 and 23:
# a value it cannot hold, a constraint): retrying cannot help, so the chunk is bisected.
_ROW_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.DataError,
    sa_exc.IntegrityError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
)
try:
    import psycopg

    _DB_ERRORS = (*_DB_ERRORS, psycopg.Error)
    _ROW_ERRORS = (*_ROW_ERRORS, psycopg.DataError, psycopg.IntegrityError)
except ImportError:  # pragma: no cover - psycopg ships with oddflights
    pass
# Failures outside the database that depend on the rows (a value a conversion cannot take, a
# bug on some input): bisected like a refusal. Anything else (OSError, MemoryError, a
# RuntimeError or AssertionError in a driver) is treated as an outage: the rows are kept.
_CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError, AttributeError)
# libpq settings for the writer's PostgreSQL connections, so that an unreachable server (a
# connect that is never answered, a link that went silent mid-write) fails in seconds instead
# of blocking the writer for the kernel's minutes.
_PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
_FLOAT_COLUMNS = ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")
_NAT = np.iinfo(np.int64).min


class _Feed(Protocol):
    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk: ...

    def discard(self) -> bytes: ...


class _SbsFeed:
    """SBS lines for the block parser, which keeps each aircraft's join state itself."""

    def __init__(self, options: ParseOptions) -> None:
        # Chunks are merged and spooled here: each position keeps its input line with it.
        self.parser = SbsParser(options, raw_column=True)
        self._rest = b""

    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk:
        data = self._rest + data
        cut = len(data) if final else max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._rest = data[cut:]
        if not data[:cut].strip():
            return ParsedChunk(empty_positions(), empty_rejects(), bytes_read=cut)
        return self.parser.parse_block(data[:cut])

    def discard(self) -> bytes:
        rest, self._rest = self._rest, b""
        return rest


class _ModesFeed:
    def __init__(self, reader: AvrReader | BeastReader) -> None:
        self.reader = reader

    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk:
        return self.reader.feed(data, arrival, final=final)

    def discard(self) -> bytes:
        rest, self.reader._rest = self.reader._rest, b""
        return rest


def make_feed(fmt: str, options: ParseOptions) -> _Feed:
    """An incremental parser for a live feed of format ``fmt`` (sbs, beast or avr)."""
    if fmt == "sbs":
        return _SbsFeed(options)
    if fmt == "beast":
        return _ModesFeed(BeastReader(options, live=True))
    if fmt == "avr":
        return _ModesFeed(AvrReader(options, live=True))
    raise ValueError(f"live format {fmt!r} is not one of {', '.join(LIVE_FORMATS)}")


def default_spool_path(engine: Engine, receiver: Receiver) -> Path:
    """Next to a SQLite file, else in the current folder: ``<receiver>.live-spool.jsonl``."""
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    folder = Path(db).expanduser().resolve().parent if db and db != ":memory:" else Path.cwd()
    return folder / f"{receiver.name}.live-spool.jsonl"


# Spool ---------------------------------------------------------------------------------------


def _scalar(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _plain_values(series: pd.Series) -> list[object]:
    """A column as JSON-ready values: None for every kind of missing (None, NaN, NaT, pd.NA),
    Python scalars for numpy's, whatever the dtype (object, string, nullable, numpy)."""
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    return [None if gone else _scalar(v) for v, gone in zip(values.tolist(), missing, strict=True)]


def _ts_values(series: pd.Series) -> list[int | None]:
    # Integer nanoseconds: exact, whatever unit the column has (a float would round them).
    ns = pd.to_datetime(series, utc=True, errors="coerce").to_numpy(dtype="datetime64[ns]")
    return [None if v == _NAT else v for v in ns.view(np.int64).tolist()]


def _chunk_to_json(chunk: ParsedChunk) -> str:
    pos = chunk.positions
    names = [*POSITION_COLUMNS, *(c for c in pos.columns if c not in POSITION_COLUMNS)]
    cols: dict[str, list[object]] = {}
    for c in names:
        if c not in pos:
            cols[c] = [None] * len(pos)
        elif c == "ts":
            cols[c] = list(_ts_values(pos[c]))
        else:
            cols[c] = _plain_values(pos[c])
    rejects = {
        "raw": _plain_values(chunk.rejects["raw"]),
        "reason": [str(v) for v in _plain_values(chunk.rejects["reason"])],
    }
    return json.dumps(
        {
            # First, so that counting a spool's positions need not parse it (pending_positions).
            "n_positions": len(pos),
            "positions": cols,
            "rejects": rejects,
            "lines": chunk.lines,
            "bytes_read": chunk.bytes_read,
        }
    )


def _chunk_from_json(line: str) -> ParsedChunk:
    obj = json.loads(line)
    cols = obj["positions"]
    names = [*POSITION_COLUMNS, *(c for c in cols if c not in POSITION_COLUMNS)]
    pos = pd.DataFrame({c: pd.Series(cols[c], dtype=object) for c in names})
    ns = np.array([_NAT if v is None else v for v in cols["ts"]], dtype=np.int64)
    pos["ts"] = pd.Series(ns.view("datetime64[ns]")).dt.tz_localize("UTC")
    for c in _FLOAT_COLUMNS:
        pos[c] = pd.to_numeric(pos[c], errors="coerce").astype(np.float64)
    if len(pos) == 0:
        pos = empty_positions()
    rejects = (
        pd.DataFrame(obj["rejects"], dtype=object) if obj["rejects"]["reason"] else empty_rejects()
    )
    return ParsedChunk(
        pos,
        rejects,
        lines=int(obj.get("lines", 0)),
        bytes_read=int(obj.get("bytes_read", 0)),
    )


_COUNT_PREFIX = b'{"n_positions": '


def _line_positions(line: bytes) -> int:
    """The positions in one spool line (0 for a line cut by a crash)."""
    if line.startswith(_COUNT_PREFIX):
        digits = line[len(_COUNT_PREFIX) : line.find(b",", len(_COUNT_PREFIX))]
        if digits.isdigit():
            return int(digits)
    try:  # a line spooled by an older version
        return len(json.loads(line)["positions"]["ts"])
    except (ValueError, KeyError, TypeError):
        return 0


def _rows(chunk: ParsedChunk) -> int:
    return len(chunk.positions) + len(chunk.rejects)


def _merge(chunks: list[ParsedChunk]) -> ParsedChunk:
    positions = [c.positions for c in chunks if len(c.positions)]
    rejects = [c.rejects for c in chunks if len(c.rejects)]
    return ParsedChunk(
        pd.concat(positions, ignore_index=True) if positions else empty_positions(),
        pd.concat(rejects, ignore_index=True) if rejects else empty_rejects(),
        lines=sum(c.lines for c in chunks),
        bytes_read=sum(c.bytes_read for c in chunks),
    )


class Spool:
    """An append-only file of chunks that could not be written yet, shared by the reading
    thread (appends) and the writer (appends, replays)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._replayed = 0  # bytes at the head of the file already written by this process
        self._checked_end = False
        self._closed = False

    def append(self, chunk: ParsedChunk) -> None:
        """Add a chunk, durably (flushed and fsynced before returning)."""
        line = (_chunk_to_json(chunk) + "\n").encode()
        with self._lock, self.path.open("ab") as out:
            if not self._checked_end:
                # A line cut by an earlier crash must not swallow this one.
                if out.tell() > 0 and not self._ends_with_newline():
                    out.write(b"\n")
                self._checked_end = True
            out.write(line)
            out.flush()
            os.fsync(out.fileno())

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def exists(self) -> bool:
        """Whether the spool holds rows not written yet."""
        with self._lock:
            return self._size() > self._replayed

    def _entries(self) -> Iterator[tuple[ParsedChunk | None, int]]:
        """Each chunk not written yet (None for a line cut by a crash, which is logged), with
        the file offset after it."""
        with self._lock:
            start, end = self._replayed, self._size()
        if end <= start:
            return
        with self.path.open("rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                line = f.readline()
                if not line:
                    return
                pos += len(line)
                try:
                    yield _chunk_from_json(line.decode("utf-8")), pos
                except (ValueError, KeyError, TypeError):
                    _log.warning("spool %s: a line cut short at byte %d; skipped", self.path, pos)
                    yield None, pos

    def pending_positions(self) -> int:
        """How many positions the spool holds that are not written yet."""
        with self._lock:
            start = self._replayed
        total = 0
        try:
            with self.path.open("rb") as f:
                f.seek(start)
                for line in f:
                    total += _line_positions(line)
        except FileNotFoundError:
            return 0
        return total

    def read(self) -> list[ParsedChunk]:
        """Every chunk not written yet."""
        return [chunk for chunk, _ in self._entries() if chunk is not None]

    def batches(self, max_rows: int = REPLAY_ROWS) -> Iterator[tuple[ParsedChunk, int]]:
        """The chunks not written yet, merged up to ``max_rows`` rows, each with the file offset
        after it (for ``replayed``)."""
        group: list[ParsedChunk] = []
        rows = 0
        pos = None
        for chunk, pos in self._entries():
            if chunk is not None:
                group.append(chunk)
                rows += _rows(chunk)
            if rows >= max_rows:
                yield _merge(group), pos
                group, rows, pos = [], 0, None
        if pos is not None:
            yield _merge(group), pos

    def replayed(self, upto: int) -> None:
        """The file up to byte ``upto`` is written: delete the file if that is all of it."""
        with self._lock:
            if self._closed:
                return
            if self._size() <= upto:
                self.path.unlink(missing_ok=True)
                self._replayed = 0
                self._checked_end = False
            else:
                self._replayed = upto

    def close(self) -> None:
        """No more replays from this process: what is in the file stays for the next start."""
        with self._lock:
            self._closed = True

    def remove(self) -> None:
        """Delete the file."""
        with self._lock:
            self.path.unlink(missing_ok=True)
            self._replayed = 0


# Writer --------------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` is about the rows written (the database refused them, or converting them
    failed) rather than the database being unable to take writes now."""
    if isinstance(exc, _ROW_ERRORS):
        return True
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        # SQLAlchemy failing to bind a value: its cause says which kind.
        return exc.orig is not None and _refused(exc.orig)
    if isinstance(exc, sqlite3.InterfaceError | sqlite3.ProgrammingError):
        return "binding parameter" in str(exc)  # a value sqlite3 cannot bind
    if isinstance(exc, _DB_ERRORS):
        return False
    return isinstance(exc, _CONVERSION_ERRORS)


def _refusal_reason(exc: BaseException) -> str:
    return "unwritable" if isinstance(exc, _CONVERSION_ERRORS) else "db_refused"


class _Halted(Exception):
    """A chunk's write stopped because the database cannot take writes now: ``rest`` is what
    was not written yet (all of it unless ``progressed``)."""

    def __init__(self, cause: BaseException, rest: ParsedChunk, progressed: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.rest = rest
        self.progressed = progressed


def _split(chunk: ParsedChunk) -> tuple[ParsedChunk, ParsedChunk]:
    """The chunk's positions in two halves; the first keeps the parse rejects and counts."""
    pos = chunk.positions
    half = len(pos) // 2
    raw_of = chunk.raw_of
    second_raw = None
    if raw_of is not None:

        def second_raw(rows: np.ndarray) -> list[str]:
            assert raw_of is not None
            return raw_of(np.asarray(rows) + half)

    first = ParsedChunk(
        pos.iloc[:half].reset_index(drop=True),
        chunk.rejects,
        lines=chunk.lines,
        bytes_read=chunk.bytes_read,
        raw_of=raw_of,
    )
    second = ParsedChunk(pos.iloc[half:].reset_index(drop=True), empty_rejects(), raw_of=second_raw)
    return first, second


def _raw_lines(chunk: ParsedChunk) -> list[object]:
    """The input lines of a chunk's positions, for rejecting them."""
    pos = chunk.positions
    if "raw" in pos:
        return [v.rstrip("\r\n") if isinstance(v, str) else v for v in _plain_values(pos["raw"])]
    if chunk.raw_of is not None:
        return list(chunk.raw_of(np.arange(len(pos))))
    return render_raw(pos).tolist()


def _writer_engine(engine: Engine) -> Engine:
    """The engine the writer uses: ``engine`` itself, or for PostgreSQL a copy whose
    connections give up on a silent server in seconds (see ``_PG_CONNECT_ARGS``)."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(
        engine.url.render_as_string(hide_password=False), connect_args=_PG_CONNECT_ARGS
    )


class _Writer:
    """A thread that writes queued chunks, spooling them while the database cannot take them."""

    def __init__(
        self,
        engine: Engine,
        receiver: Receiver,
        source: str,
        spool: Spool,
        commit_every_s: float,
        rejects_file: IO[str] | None = None,
        range_watch: RangeWatch | None = None,
        recorder: IngestRecorder | None = None,
    ) -> None:
        self.engine = engine
        self.receiver = receiver
        self.source = source
        self.spool = spool
        self.commit_every_s = commit_every_s
        self.rejects_file = rejects_file
        self.range_watch = range_watch
        self.recorder = recorder
        self.total = IngestSummary()
        self.db_down = False
        self._traceback_logged = False
        self._cond = threading.Condition()
        self._pending: list[ParsedChunk] = []
        self._pending_rows = 0
        self._pending_since: float | None = None
        self._in_flight: ParsedChunk | None = None
        self._busy_since: float | None = None
        self._closing = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-writer", daemon=True)
        self._thread.start()

    # Reading thread ---------------------------------------------------------------------------

    def submit(self, chunk: ParsedChunk) -> None:
        """Queue a parsed chunk. While writes fail or hang, queued rows go to the spool (at least
        every ``SPOOL_EVERY_S``) rather than wait in memory; while a healthy writer is merely
        behind by ``MAX_PENDING_ROWS``, this waits for it."""
        if _rows(chunk) == 0 and chunk.lines == 0:
            return
        with self._cond:
            now = time.monotonic()
            self._pending.append(chunk)
            self._pending_rows += _rows(chunk)
            if self._pending_since is None:
                self._pending_since = now
            while (
                self._pending_rows > MAX_PENDING_ROWS
                and not self._troubled(now)
                and self._thread.is_alive()
            ):
                self._wake.set()
                self._cond.wait(0.5)
                now = time.monotonic()
            since = self._pending_since
            to_spool = self._troubled(now) and since is not None and now - since >= SPOOL_EVERY_S
        if to_spool:
            self._spool_pending()

    def _troubled(self, now: float) -> bool:
        busy = self._busy_since
        return self.db_down or (busy is not None and now - busy > STUCK_S)

    def _take_pending(self) -> list[ParsedChunk]:
        chunks, self._pending = self._pending, []
        self._pending_rows = 0
        self._pending_since = None
        self._cond.notify_all()
        return chunks

    def _spool_pending(self) -> None:
        with self._cond:
            chunks = self._take_pending()
        if not chunks:
            return
        merged = _merge(chunks)
        try:
            self.spool.append(merged)
        except OSError as exc:
            # Cannot spool (disk full?): the rows stay queued in memory for the writer.
            _log.error("cannot write the spool %s: %s", self.spool.path, exc)
            self._requeue(merged)

    def _requeue(self, chunk: ParsedChunk) -> None:
        with self._cond:
            self._pending.insert(0, chunk)
            self._pending_rows += _rows(chunk)
            self._pending_since = self._pending_since or time.monotonic()

    def is_alive(self) -> bool:
        """Whether the writer thread still runs (a write that hung past the close's wait)."""
        return self._thread.is_alive()

    def close(self, timeout: float | None) -> None:
        """Write what is queued and stop the thread; after ``timeout`` seconds (None: no limit)
        whatever the database has not taken yet is spooled instead."""
        with self._cond:
            self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return
        # The caller closes the rejects file once this returns; a write still in flight
        # must not write to it (its rows are spooled below and counted at the next start).
        self.rejects_file = None
        with self._cond:
            left = self._take_pending()
            if self._in_flight is not None:
                left.append(self._in_flight)
        if left:
            self.spool.append(_merge(left))
        self.spool.close()
        _log.warning(
            "the database did not take the last rows within %.0f s; they are kept in %s "
            "and written at the next start",
            timeout,
            self.spool.path,
        )

    # Writer thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.commit_every_s)
            self._wake.clear()
            with self._cond:
                closing = self._closing
            try:
                self._cycle()
            except Exception:  # a bug here must not stop the writing; _cycle keeps the rows
                _log.exception("live writer: unexpected failure")
            if closing:
                return

    def _cycle(self) -> None:
        with self._cond:
            chunks = self._take_pending()
            chunk = _merge(chunks) if chunks else None
            self._in_flight = chunk
            self._busy_since = time.monotonic()
        try:
            try:
                if self.spool.exists():
                    self._replay()
            except Exception as exc:  # _Halted, or the spool cannot be read
                self._down(exc.cause if isinstance(exc, _Halted) else exc)
                if chunk is not None:
                    self._keep(chunk)
                return
            if chunk is not None:
                try:
                    self._store(chunk)
                except _Halted as halted:
                    self._down(halted.cause)
                    self._keep(halted.rest)
                    return
            if self.db_down:
                _log.warning("database is back")
            self.db_down = False
            if self.recorder is not None:
                # The counts so far, for /metrics: at most every RECORD_EVERY_S, and only after
                # a cycle the database took (a hung record counts as a stuck write, like one).
                # The last ones at the stop.
                self.recorder.update(self.total)
        finally:
            with self._cond:
                self._in_flight = None
                self._busy_since = None
                self._cond.notify_all()

    def _write(self, chunk: ParsedChunk) -> None:
        self.total = self.total + ingest_chunks(
            self.engine,
            self.receiver,
            [chunk],
            source=self.source,
            rejects_file=self.rejects_file,
            range_watch=self.range_watch,
        )

    def _store(self, chunk: ParsedChunk) -> None:
        """Write a chunk. When the database refuses some of its rows, bisect it: every part
        it takes is stored, and each row it refuses on its own is rejected. When it cannot
        take writes at all, raise _Halted with what was not written."""
        todo = [chunk]
        first: BaseException | None = None
        refused = 0
        progressed = False
        while todo:
            part = todo.pop()
            try:
                self._write(part)
                progressed = True
                continue
            except Exception as exc:
                if not _refused(exc):
                    raise _Halted(exc, _merge([part, *reversed(todo)]), progressed) from exc
                first = first or exc
            if len(part.positions) > 1:
                one, two = _split(part)
                todo += [two, one]  # the first half next: rows stay in order
            else:
                refused += len(part.positions)
                self._reject(part, first)
                progressed = True
        if first is not None:
            self._log_refusal(first, refused, len(chunk.positions))

    def _reject(self, part: ParsedChunk, exc: BaseException) -> None:
        """Count a part of at most one position as rejected: its position (refused) and the
        lines that were rejected with it."""
        refused = pd.DataFrame(
            {"raw": _raw_lines(part), "reason": _refusal_reason(exc)}, dtype=object
        )
        rejects = pd.concat([part.rejects, refused], ignore_index=True)
        only_rejects = ParsedChunk(
            empty_positions(), rejects, lines=part.lines, bytes_read=part.bytes_read
        )
        try:
            self._write(only_rejects)  # no position: nothing for the database to refuse
        except Exception:  # the rejects file cannot be written: the count is kept
            _log.exception("cannot record %d rejected lines", len(rejects))
            self.total.add_rejects(count_reasons(rejects))

    def _log_refusal(self, exc: BaseException, refused: int, given: int) -> None:
        reason = _refusal_reason(exc)
        kept = " and written to --rejects" if self.rejects_file is not None else ""
        message = "the database refused %d of %d positions (%s); counted as %s%s"
        if reason == "unwritable":
            message = "%d of %d positions cannot be written (%s); counted as %s%s"
        # A failure outside the database is likely a bug: its traceback, once per run.
        trace = reason == "unwritable" and not self._traceback_logged
        self._traceback_logged = self._traceback_logged or trace
        _log.warning(
            message, refused, given, _reason(exc), reason, kept, exc_info=exc if trace else None
        )

    def _replay(self) -> None:
        n = 0
        for chunk, upto in self.spool.batches(REPLAY_ROWS):
            try:
                self._store(chunk)
            except _Halted as halted:
                if halted.progressed:
                    # Part of the batch is written (or rejected): keep only the rest, so the
                    # rejected rows are not counted twice.
                    try:
                        self.spool.append(halted.rest)
                        self.spool.replayed(upto)
                    except OSError as exc:
                        _log.error("cannot write the spool %s: %s", self.spool.path, exc)
                raise
            self.spool.replayed(upto)
            n += len(chunk.positions)
        _log.warning("replayed %d spooled positions from %s", n, self.spool.path)

    def _keep(self, chunk: ParsedChunk) -> None:
        try:
            self.spool.append(chunk)
        except OSError as exc:
            # Cannot spool either (disk full?): keep the rows queued in memory and retry.
            _log.error("cannot write the spool %s: %s", self.spool.path, exc)
            self._requeue(chunk)

    def _down(self, exc: BaseException) -> None:
        if not self.db_down:
            if isinstance(exc, _DB_ERRORS):
                _log.warning(
                    "database unreachable, spooling to %s: %s", self.spool.path, _reason(exc)
                )
            else:
                _log.error("writing failed, spooling to %s", self.spool.path, exc_info=exc)
        self.db_down = True
        try:
            self.engine.dispose()  # a broken pooled connection must not be reused
        except Exception:  # disposing a dead pool may fail too; there is nothing to keep
            _log.debug("engine dispose failed", exc_info=True)


# Client --------------------------------------------------------------------------------------


@dataclass
class LiveSummary(IngestSummary):
    """An ingest summary, and the positions left in the spool at exit (written at the next
    start) with the spool's path; ``spool`` is None when nothing was left."""

    spooled: int = 0
    spool: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary as the JSON object the CLI prints, with ``spooled`` and ``spool``."""
        out = super().to_json()
        out["spooled"] = self.spooled
        out["spool"] = None if self.spool is None else str(self.spool)
        return out


def run_live(
    engine: Engine,
    receiver: Receiver,
    host: str,
    port: int,
    fmt: str,
    *,
    options: ParseOptions,
    stop: threading.Event | None = None,
    spool_path: Path | None = None,
    commit_every_s: float = 2.0,
    max_backoff_s: float = 60.0,
    close_timeout_s: float | None = CLOSE_WAIT_S,
    rejects_file: IO[str] | None = None,
    range_watch: RangeWatch | None = None,
    record_every_s: float = RECORD_EVERY_S,
) -> LiveSummary:
    """Read a receiver's feed at host:port until ``stop`` is set, writing positions at least
    every ``commit_every_s``; returns what was stored once the last rows are written (or, if
    the database does not take them within ``close_timeout_s``, spooled for the next start:
    the summary says how many and where). Rejected lines go to ``rejects_file`` (by the writer
    thread; it is not written once this returns); ``range_watch`` sees every chunk. The counts
    so far are recorded as an ingest run (for /metrics) at most every ``record_every_s``."""
    feed = make_feed(fmt, options)
    stop = stop or threading.Event()
    t0 = time.perf_counter()
    write_engine = _writer_engine(engine)
    spool = Spool(spool_path or default_spool_path(engine, receiver))
    # The feed's counts as one ingest run, updated while it runs (created at the first record
    # the database takes: a live ingest starts even while the database is down).
    recorder = IngestRecorder(write_engine, receiver, fmt, every_s=record_every_s)
    writer = _Writer(
        write_engine,
        receiver,
        f"live:{fmt}",
        spool,
        commit_every_s,
        rejects_file=rejects_file,
        range_watch=range_watch,
        recorder=recorder,
    )
    try:
        _read_feed(host, port, feed, writer, stop, max_backoff_s)
    finally:
        writer.close(close_timeout_s)
        if not writer.is_alive() and not writer.db_down:
            # Not while a hung write holds the database, nor while it is down (the stop would
            # wait on it): the counts recorded last stay.
            recorder.finish(OK, writer.total)
        if write_engine is not engine:
            write_engine.dispose()
    total = writer.total
    summary = LiveSummary(
        accepted=total.accepted,
        duplicates=total.duplicates,
        rejected=total.rejected,
        rejected_by_reason=dict(total.rejected_by_reason),
        seconds=time.perf_counter() - t0,
        fields_cleared=dict(total.fields_cleared),
    )
    if spool.exists():
        summary.spooled = spool.pending_positions()
        summary.spool = spool.path
        _log.warning(
            "%d positions are left in %s; the next start writes them", summary.spooled, spool.path
        )
    return summary


def _read_feed(
    host: str,
    port: int,
    feed: _Feed,
    writer: _Writer,
    stop: threading.Event,
    max_backoff_s: float,
) -> None:
    backoff = FIRST_BACKOFF_S
    while not stop.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=min(5.0, max_backoff_s))
        except OSError as exc:
            _log.warning(
                "cannot connect to %s:%d (%s); retrying in %.1f s", host, port, exc, backoff
            )
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)
            continue
        _log.info("connected to %s:%d", host, port)
        try:
            got_data = _read_connection(sock, feed, writer, stop)
        finally:
            sock.close()
        cut = feed.discard()
        if cut.strip(b"\r\n"):
            writer.submit(
                ParsedChunk(
                    empty_positions(),
                    pd.DataFrame(
                        {"raw": [cut.decode("utf-8", "replace")], "reason": ["truncated"]}
                    ),
                    lines=1,
                )
            )
        if got_data:
            backoff = FIRST_BACKOFF_S
        if not stop.is_set():
            _log.warning("receiver %s:%d dropped; reconnecting in %.1f s", host, port, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)
    _log.info("stopping: writing the last rows")


def _read_connection(
    sock: socket.socket, feed: _Feed, writer: _Writer, stop: threading.Event
) -> bool:
    """Read until the receiver drops or ``stop`` is set; True if any bytes came."""
    sock.settimeout(0.2)
    buffered: list[bytes] = []
    size = 0
    arrival = time.time()
    last_parse = time.monotonic()
    got_data = False
    open_ = True
    while open_ and not stop.is_set():
        try:
            data = sock.recv(RECV_BYTES)
            if not data:
                open_ = False
            else:
                got_data = True
                buffered.append(data)
                size += len(data)
                arrival = time.time()
        except TimeoutError:
            pass
        except OSError:
            open_ = False
        now = time.monotonic()
        if buffered and (not open_ or size >= PARSE_MAX_BYTES or now - last_parse >= PARSE_EVERY_S):
            writer.submit(feed.feed(b"".join(buffered), arrival))
            buffered, size, last_parse = [], 0, now
    if open_:
        # Stopping: take what the receiver already sent (bounded), so a stop loses nothing
        # that reached this machine.
        sock.settimeout(0.05)
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            try:
                data = sock.recv(RECV_BYTES)
            except OSError:
                break
            if not data:
                break
            buffered.append(data)
            arrival = time.time()
    if buffered:
        writer.submit(feed.feed(b"".join(buffered), arrival))
    return got_data
