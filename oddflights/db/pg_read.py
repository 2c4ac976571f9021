"""PostgreSQL's day read through a binary COPY (issue 18): rows of one constant size, which
numpy parses a block at a time with one structured dtype.

The text SELECT it replaces had the driver make a Python object per value (most of the read's
client CPU), and without statistics (a day just written) the server sort the day on disk.
Here every field has a fixed width: times and floats as their binary values, unknown floats
coalesced to -inf and unknown onground to -1 (as the SELECT did), text sent as is (icao24,
NOT NULL) or padded to the column's width next to its length (callsign, squawk: -1 when
NULL). The result is the SELECT's exactly: the same PositionArrays, codes and values in
the same order. Measured in BENCHMARKS.md (issue 18, day read by binary COPY).

Nothing is assumed of the data: every row's field count and field lengths are checked, and a
value that does not fit its fixed width (an icao24 not of 6 bytes, text with a character of
more than one byte), or two texts that differ only in trailing spaces, sends the read back to
the SELECT (``positions._select_arrays``).
"""

from __future__ import annotations

import logging
import selectors
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS
from oddflights.db.positions import PositionArrays, _select_arrays

if TYPE_CHECKING:
    import psycopg

_log = logging.getLogger(__name__)

# Rows parsed at a time: bounds the bytes held before they become columns (~140 B a row).
BLOCK_ROWS = 65_536
# PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC.
_EPOCH_2000_US = 946_684_800_000_000
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TRAILER = b"\xff\xff"
_FLOATS = ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")
_NOT_NULL = ("lat", "lon")  # NOT NULL in the schema: sent as stored
_PADDED = {"callsign": 8, "squawk": 4}  # nullable text: padded to the column's width
_ICAO_BYTES = 6
_NULL_FLOAT = float("-inf")  # what the SELECT coalesced unknown floats to


class _Irregular(Exception):
    """The COPY's data is not of the fixed layout: the read falls back to the SELECT."""


def _fields(wanted: list[str]) -> list[tuple[str, str, str, int]]:
    """(field name, SQL, numpy type, byte length) of each field of a row."""
    out: list[tuple[str, str, str, int]] = []
    for name in wanted:
        if name == "icao24":
            out.append(("icao24", "icao24", f"({_ICAO_BYTES},)u1", _ICAO_BYTES))
        elif name == "ts":
            out.append(("ts", "ts", ">i8", 8))
        elif name in _FLOATS:
            sql = name if name in _NOT_NULL else f"coalesce({name}, '-Infinity'::float8)"
            out.append((name, sql, ">f8", 8))
        elif name == "onground":
            out.append(("onground", "coalesce(onground::int4, -1)", ">i4", 4))
        else:
            width = _PADDED[name]
            out.append((f"{name}_len", f"coalesce(length({name}), -1)", ">i4", 4))
            # char(n) pads with spaces to n characters (cheaper than rpad); the length tells
            # the padding from trailing spaces, and NULL from ''. Padded to n bytes, every
            # character took one byte as sent (whatever the encodings): the length in
            # characters is the length in bytes.
            padded = f"coalesce({name}, '')::char({width})"
            out.append((name, padded, f"({width},)u1", width))
    return out


def _row_dtype(fields: list[tuple[str, str, str, int]]) -> np.dtype[Any]:
    parts: list[tuple[str, str]] = [("count", ">i2")]
    for name, _, kind, _ in fields:
        parts += [(f"{name}__n", ">i4"), (name, kind)]
    return np.dtype(parts)


def _as_u64(text: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Rows of up to 8 bytes as big-endian integers (the bytes zero-padded on the right)."""
    padded = np.zeros((len(text), 8), dtype=np.uint8)
    padded[:, : text.shape[1]] = text
    return padded.view(">u8")[:, 0].astype(np.uint64)


def _text_of(key: int, length: int, encoding: str) -> str:
    return int(key).to_bytes(8, "big")[:length].decode(encoding)


class _Blocks:
    """Parses the COPY's bytes a block at a time into columns, checking the layout."""

    def __init__(self, wanted: list[str]) -> None:
        self.wanted = wanted
        self.fields = _fields(wanted)
        self.dtype = _row_dtype(self.fields)
        self.parts: dict[str, list[npt.NDArray[Any]]] = {f[0]: [] for f in self.fields}
        self.header_done = False

    def header(self, buf: bytearray) -> int:
        """Bytes of the file header at the start of ``buf``; 0 while incomplete."""
        if len(buf) < 19:
            return 0
        # Flags: none expected (bit 16 would add an OID to every row).
        if bytes(buf[:11]) != _SIGNATURE or bytes(buf[11:15]) != bytes(4):
            raise _Irregular("no binary COPY signature, or flags")
        ext = int.from_bytes(buf[15:19], "big")
        if len(buf) < 19 + ext:
            return 0
        self.header_done = True
        return 19 + ext

    def rows(self, buf: bytearray, start: int) -> int:
        """Parse the whole rows of ``buf`` from ``start``; returns where the rest begins."""
        n = (len(buf) - start) // self.dtype.itemsize
        if n == 0:
            return start
        rows = np.frombuffer(buf, dtype=self.dtype, count=n, offset=start)
        if not (rows["count"] == len(self.fields)).all():
            raise _Irregular("a row not of the layout (a field of another length, or NULL)")
        for name, _, _, size in self.fields:
            if not (rows[f"{name}__n"] == size).all():
                raise _Irregular(f"a {name} of another length (or NULL)")
        for name, _, _, _ in self.fields:
            col = rows[name]
            if name == "ts":
                part: npt.NDArray[Any] = col.astype(np.int64) + _EPOCH_2000_US
            elif name == "onground":
                part = col.astype(np.int8)
            elif name in _FLOATS:
                part = col.astype(np.float64)
            elif name.endswith("_len"):
                if ((col < -1) | (col > _PADDED[name[:-4]])).any():
                    raise _Irregular(f"a {name[:-4]} longer than its width")
                part = col.astype(np.int8)
            else:
                part = _as_u64(col)
            self.parts[name].append(part)
        return start + n * self.dtype.itemsize

    def flush(self, buf: bytearray) -> None:
        """Parse the whole rows at the start of ``buf`` (after the header) and drop them."""
        at = 0 if self.header_done else self.header(buf)
        if self.header_done:
            del buf[: self.rows(buf, at)]

    def column(self, name: str, dtype: Any) -> npt.NDArray[Any]:
        parts = self.parts.pop(name)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def arrays(self, encoding: str) -> PositionArrays:
        """The columns as the SELECT's reader (positions._ColumnReader) gives them."""
        keys, uniques = pd.factorize(self.column("icao24", np.uint64))
        names = np.array(
            [_text_of(k, _ICAO_BYTES, encoding) for k in uniques.tolist()], dtype=object
        )
        # Codes are the names' ranks; rows came in time order, so a stable sort by rank
        # orders them by (icao24, ts).
        rank = np.empty(len(names), dtype=np.int32)
        rank[np.argsort(names, kind="stable")] = np.arange(len(names), dtype=np.int32)
        icao_codes = rank[keys]
        del keys
        order = np.argsort(icao_codes, kind="stable")
        codes: dict[str, npt.NDArray[np.int32]] = {"icao24": icao_codes[order]}
        values: dict[str, npt.NDArray[np.object_]] = {"icao24": np.sort(names)}
        ts_us = self.column("ts", np.int64)[order]
        floats: dict[str, npt.NDArray[np.float64]] = {}
        onground = None
        for name in self.wanted:
            if name in ("icao24", "ts"):
                continue
            if name in _PADDED:
                text_codes, values[name] = self._text(name, encoding)
                codes[name] = text_codes[order]
            elif name == "onground":
                onground = self.column(name, np.int8)[order]
            else:
                col = self.column(name, np.float64)[order]
                col[col == _NULL_FLOAT] = np.nan
                col[np.isnan(col)] = np.nan  # one NaN, as the SELECT's float('NaN')
                floats[name] = col
        columns = tuple(c for c in POSITION_COLUMNS if c in self.wanted)
        return PositionArrays(columns, ts_us, floats, codes, values, onground)

    def _text(
        self, name: str, encoding: str
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.object_]]:
        """Codes (-1: NULL) into the distinct values, numbered in the order the read met
        them, as the SELECT's reader numbers them."""
        lengths = self.column(f"{name}_len", np.int8)
        keys = self.column(name, np.uint64)
        known = lengths >= 0
        found, uniques = pd.factorize(keys[known])
        # Where each value is first met: codes are numbered in that order, so a row meets a
        # new value where its code exceeds every code before it.
        is_first = np.ones(len(found), dtype=bool)
        is_first[1:] = found[1:] > np.maximum.accumulate(found)[:-1]
        first = np.flatnonzero(is_first)
        known_lengths = lengths[known]
        # Padding makes "AB" and "AB " the same bytes: their lengths tell them apart.
        if not (known_lengths == known_lengths[first][found]).all():
            raise _Irregular(f"{name}s differing only in trailing spaces")
        codes = np.full(len(keys), -1, dtype=np.int32)
        codes[known] = found
        texts = [
            _text_of(k, int(n), encoding)
            for k, n in zip(uniques.tolist(), known_lengths[first].tolist(), strict=True)
        ]
        return codes, np.array(texts, dtype=object)


def copy_out(
    raw: psycopg.Connection[Any], limit: int, flush: Callable[[bytearray], None]
) -> bytearray:
    """The data of the COPY ... TO STDOUT just started on ``raw``, received through libpq;
    ``flush`` is called with the buffer whenever it holds ``limit`` bytes (and trims what it
    took); returns the rest. Raises the server's error if the COPY failed.

    psycopg's own Copy.read goes through three Python generators for each message, and the
    server sends a message a row: 0.50 s of client CPU for a receiver-day's read, 0.23 s
    this way. Never blocking in libpq (which would hold the GIL), it waits for the socket."""
    import psycopg
    from psycopg import errors, pq

    pgconn = raw.pgconn
    get = pgconn.get_copy_data
    buf = bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(pgconn.socket, selectors.EVENT_READ)
        while True:
            n, data = get(1)
            if n > 0:
                buf += data
                if len(buf) >= limit:
                    flush(buf)
            elif n == 0:  # no whole message yet
                sel.select()
                pgconn.consume_input()
            else:
                break
        if n == -2:
            message = pgconn.error_message.decode(errors="replace")
            raise psycopg.OperationalError(f"receiving COPY data failed: {message}")
        # The end (or the server's error): the COPY's results, as psycopg would take them.
        failed = None
        while True:
            while pgconn.is_busy():
                sel.select()
                pgconn.consume_input()
            if (result := pgconn.get_result()) is None:
                break
            if result.status != pq.ExecStatus.COMMAND_OK and failed is None:
                failed = result
    if failed is not None:
        raise errors.error_from_result(failed, encoding=raw.info.encoding)
    return buf


def read_copy_arrays(
    engine: Engine,
    receiver_id: int,
    start: datetime | None,
    end: datetime | None,
    icao24: str | None,
    wanted: list[str],
) -> PositionArrays:
    """What positions.read_position_arrays reads from PostgreSQL (``wanted``: icao24, ts,
    then other columns in POSITION_COLUMNS order), through a binary COPY; the SELECT's read
    when the data does not fit the fixed layout."""
    import psycopg
    from psycopg import sql

    where = [sql.SQL("receiver_id = {}").format(int(receiver_id))]
    if start is not None:
        where.append(sql.SQL("ts >= {}").format(start))
    if end is not None:
        where.append(sql.SQL("ts < {}").format(end))
    if icao24 is not None:
        where.append(sql.SQL("icao24 = {}").format(icao24))
    blocks = _Blocks(wanted)
    select = ", ".join(f[1] for f in blocks.fields)
    # Key order (receiver, ts, icao24): the index gives it without a sort, and the text
    # values are numbered in the order met, which must not depend on the plan.
    query = sql.SQL(
        "COPY (SELECT {} FROM positions WHERE {} ORDER BY ts, icao24) TO STDOUT (FORMAT BINARY)"
    ).format(sql.SQL(select), sql.SQL(" AND ").join(where))
    limit = BLOCK_ROWS * blocks.dtype.itemsize
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            encoding = raw.info.encoding
            with raw.cursor() as cur:
                # The key's index gives the rows in order: without this, a planner lacking
                # statistics (a day just written) chose a bitmap scan and a sort on disk,
                # ~20 % of the read's server CPU. Only this read's transaction is affected.
                cur.execute("SET LOCAL enable_sort = off")
                with cur.copy(query):
                    buf = copy_out(raw, limit, blocks.flush)
                    at = 0 if blocks.header_done else blocks.header(buf)
                    if not blocks.header_done:
                        raise _Irregular("no binary COPY header")
                    rest = blocks.rows(buf, at)
                    if bytes(buf[rest:]) != _TRAILER:
                        raise _Irregular("rows of another size, or no trailer")
                    del buf
        return blocks.arrays(encoding)
    except (_Irregular, UnicodeDecodeError) as why:
        _log.info("positions read by SELECT: %s", why)
    return _select_arrays(engine, receiver_id, start, end, icao24, wanted)
