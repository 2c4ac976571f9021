"""Live ingest: a TCP client for a receiver's SBS (port 30003), Beast (30005) or AVR (30002)
feed that writes positions as they come, survives receiver drops and database outages.

Bytes are parsed a few times a second (whole lines/frames only; a partial one waits for the
rest) and written through ``ingest_chunks`` at least every ``commit_every_s``. When the receiver
drops, the client reconnects with exponential backoff; what was left of a cut line or frame is
counted as a ``truncated`` reject. When a write fails because the database is unreachable, the
rows go to an append-only spool file (JSON lines), reading goes on, and the spool is replayed
(then deleted) once the database answers again. Replays are idempotent like every write.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from oddflights.columns import POSITION_COLUMNS
from oddflights.ingest.modes import AvrReader, BeastReader, empty_positions
from oddflights.ingest.sbs import SbsParser
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParsedChunk, ParseOptions, empty_rejects
from oddflights.ingest.writer import ingest_chunks
from oddflights.receivers import Receiver

_log = logging.getLogger(__name__)

LIVE_FORMATS = ("sbs", "beast", "avr")
PARSE_EVERY_S = 0.25
PARSE_MAX_BYTES = 4 << 20
RECV_BYTES = 1 << 20
FIRST_BACKOFF_S = 0.5
DRAIN_S = 2.0
# Errors that mean "the database cannot take this write now": SQLAlchemy's, and the DBAPI's own
# where the writer talks to the driver directly (sqlite3 executemany, psycopg COPY).
_DB_DOWN: tuple[type[BaseException], ...] = (OperationalError, DatabaseError, sqlite3.DatabaseError)
try:
    import psycopg

    _DB_DOWN = (*_DB_DOWN, psycopg.DatabaseError)
except ImportError:  # pragma: no cover - psycopg ships with oddflights
    pass
_FLOAT_COLUMNS = ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")


class _Feed(Protocol):
    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk: ...

    def discard(self) -> bytes: ...


class _SbsFeed:
    """SBS lines for the block parser, which keeps each aircraft's join state itself."""

    def __init__(self, options: ParseOptions) -> None:
        self.parser = SbsParser(options)
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


def _chunk_to_json(chunk: ParsedChunk) -> str:
    pos = chunk.positions
    cols: dict[str, list[object]] = {}
    for c in POSITION_COLUMNS:
        if c == "ts":
            cols[c] = list(pos["ts"].astype("int64").tolist())
        elif c in _FLOAT_COLUMNS:
            cols[c] = [None if v != v else v for v in pos[c].astype(np.float64).tolist()]
        else:
            cols[c] = [None if v is None or v != v else v for v in pos[c].astype(object).tolist()]
    rejects = {
        "raw": [None if v is None else str(v) for v in chunk.rejects["raw"].tolist()],
        "reason": [str(v) for v in chunk.rejects["reason"].tolist()],
    }
    return json.dumps({"positions": cols, "rejects": rejects, "lines": chunk.lines})


def _chunk_from_json(line: str) -> ParsedChunk:
    obj = json.loads(line)
    cols = obj["positions"]
    pos = pd.DataFrame({c: pd.Series(cols[c], dtype=object) for c in POSITION_COLUMNS})
    pos["ts"] = pd.to_datetime(pd.Series(cols["ts"], dtype=np.int64), unit="ns", utc=True)
    for c in _FLOAT_COLUMNS:
        pos[c] = pd.to_numeric(pos[c], errors="coerce").astype(np.float64)
    if len(pos) == 0:
        pos = empty_positions()
    rejects = (
        pd.DataFrame(obj["rejects"], dtype=object) if obj["rejects"]["reason"] else empty_rejects()
    )
    return ParsedChunk(pos, rejects, lines=int(obj.get("lines", 0)))


@dataclass
class Spool:
    """An append-only file of chunks that could not be written yet."""

    path: Path

    def append(self, chunk: ParsedChunk) -> None:
        """Add a chunk, durably (flushed and fsynced before returning)."""
        with self.path.open("a", encoding="utf-8") as out:
            out.write(_chunk_to_json(chunk) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def read(self) -> list[ParsedChunk]:
        """Every complete chunk in the spool (a line cut by a crash is skipped and logged)."""
        chunks = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                chunks.append(_chunk_from_json(line))
            except (ValueError, KeyError, TypeError):
                _log.warning("spool %s line %d is cut short; skipped", self.path, n)
        return chunks

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# Client --------------------------------------------------------------------------------------


def _merge(chunks: list[ParsedChunk]) -> ParsedChunk:
    positions = [c.positions for c in chunks if len(c.positions)]
    rejects = [c.rejects for c in chunks if len(c.rejects)]
    return ParsedChunk(
        pd.concat(positions, ignore_index=True) if positions else empty_positions(),
        pd.concat(rejects, ignore_index=True) if rejects else empty_rejects(),
        lines=sum(c.lines for c in chunks),
        bytes_read=sum(c.bytes_read for c in chunks),
    )


@dataclass
class _Writer:
    """Writes merged chunks, spooling them while the database is unreachable."""

    engine: Engine
    receiver: Receiver
    source: str
    spool: Spool
    total: IngestSummary = field(default_factory=IngestSummary)
    pending: list[ParsedChunk] = field(default_factory=list)
    db_down: bool = False

    def flush(self) -> None:
        chunk = _merge(self.pending) if self.pending else None
        self.pending = []
        if self.spool.exists() and not self._replay():
            if chunk is not None:
                self.spool.append(chunk)
            return
        if chunk is None:
            return
        try:
            self.total = self.total + ingest_chunks(
                self.engine, self.receiver, [chunk], source=self.source
            )
            self.db_down = False
        except _DB_DOWN as exc:
            self._down(exc)
            self.spool.append(chunk)

    def _replay(self) -> bool:
        try:
            chunks = self.spool.read()
            self.total = self.total + ingest_chunks(
                self.engine, self.receiver, chunks, source=self.source
            )
        except _DB_DOWN as exc:
            self._down(exc)
            return False
        _log.warning("database is back: replayed %d spooled chunks", len(chunks))
        self.spool.remove()
        self.db_down = False
        return True

    def _down(self, exc: BaseException) -> None:
        if not self.db_down:
            _log.warning("database unreachable, spooling to %s: %s", self.spool.path, exc)
        self.db_down = True
        self.engine.dispose()


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
) -> IngestSummary:
    """Read a receiver's feed at host:port until ``stop`` is set, writing positions at least
    every ``commit_every_s``; returns what was stored once the last rows are flushed."""
    feed = make_feed(fmt, options)
    stop = stop or threading.Event()
    writer = _Writer(
        engine,
        receiver,
        f"live:{fmt}",
        Spool(spool_path or default_spool_path(engine, receiver)),
    )
    t0 = time.perf_counter()
    backoff = FIRST_BACKOFF_S
    last_commit = time.monotonic()
    while not stop.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=min(5.0, max_backoff_s))
        except OSError as exc:
            _log.warning(
                "cannot connect to %s:%d (%s); retrying in %.1f s", host, port, exc, backoff
            )
            if writer.pending or writer.spool.exists():
                writer.flush()
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)
            continue
        _log.info("connected to %s:%d", host, port)
        try:
            got_data = _read_connection(sock, feed, writer, stop, commit_every_s, last_commit)
        finally:
            sock.close()
        cut = feed.discard()
        if cut.strip(b"\r\n"):
            writer.pending.append(
                ParsedChunk(
                    empty_positions(),
                    pd.DataFrame(
                        {"raw": [cut.decode("utf-8", "replace")], "reason": ["truncated"]}
                    ),
                    lines=1,
                )
            )
        writer.flush()
        last_commit = time.monotonic()
        if got_data:
            backoff = FIRST_BACKOFF_S
        if not stop.is_set():
            _log.warning("receiver %s:%d dropped; reconnecting in %.1f s", host, port, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)
    writer.flush()
    writer.total.seconds = time.perf_counter() - t0
    return writer.total


def _read_connection(
    sock: socket.socket,
    feed: _Feed,
    writer: _Writer,
    stop: threading.Event,
    commit_every_s: float,
    last_commit: float,
) -> bool:
    """Read until the receiver drops or ``stop`` is set; True if any bytes came."""
    sock.settimeout(min(0.2, commit_every_s))
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
            writer.pending.append(feed.feed(b"".join(buffered), arrival))
            buffered, size, last_parse = [], 0, now
        if now - last_commit >= commit_every_s:
            writer.flush()
            last_commit = now
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
        writer.pending.append(feed.feed(b"".join(buffered), arrival))
    return got_data
