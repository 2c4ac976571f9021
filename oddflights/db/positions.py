"""Positions in the database: idempotent bulk writes and reads by time range.

Writes bypass the ORM and go in key order (ts, icao24), rows repeating a key in the batch
dropped first. SQLite: multi-row INSERT statements of 200 rows, run by one ``executemany``
inside one transaction. PostgreSQL:
a COPY straight into positions when nothing is stored yet in the batch's time range, else a
COPY into a temporary table, then one INSERT … SELECT. Rows whose natural key (receiver,
icao24, ts) is already stored are skipped, and what was inserted is counted from the
statement's own rowcount.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS

_log = logging.getLogger(__name__)

_FLOATS = ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")
_TEXTS = ("icao24", "callsign", "squawk")
# Rows turned into arrays at a time when reading (see read_positions). Each chunk's string
# objects fill ~1 MB of Python's small-object arenas per 10,000 rows, and the few distinct
# values kept from them pin those arenas: small chunks keep that (and the chunk) small.
READ_CHUNK_ROWS = 50_000
_INSERT_COLUMNS = ("receiver_id", *POSITION_COLUMNS, "source")
_COLS_SQL = ", ".join(_INSERT_COLUMNS)


@dataclass(frozen=True)
class WriteCounts:
    """What a bulk write did: rows inserted, and rows already present (same natural key)."""

    accepted: int
    duplicates: int


def _text(series: pd.Series) -> list[Any]:
    if series.dtype == object:
        values = series.to_numpy(copy=True)
    else:
        values = series.astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = None
    out: list[Any] = values.tolist()
    return out


def _onground(series: pd.Series) -> list[Any]:
    if series.dtype == bool:
        flags: list[Any] = series.to_numpy().tolist()
        return flags
    values = series.astype(object).to_numpy()
    out = np.full(len(values), None, dtype=object)
    known = ~pd.isna(values)
    out[known] = values[known].astype(bool)
    result: list[Any] = out.tolist()
    return result


def _floats(series: pd.Series) -> np.ndarray:
    if series.dtype == np.float64:
        return series.to_numpy()
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _ts_ns(ts: pd.Series) -> np.ndarray:
    return pd.to_datetime(ts, utc=True).to_numpy(dtype="datetime64[ns]").astype("int64")


def _in_key_order(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows sorted by (ts, icao24), the table's key order after the receiver, so that inserts
    append at the end of the b-tree; and rows repeating an earlier row's key dropped (they are
    duplicates either way), with their count."""
    ns = _ts_ns(df["ts"])
    icao, _ = pd.factorize(df["icao24"], sort=True)
    order = np.lexsort((icao, ns))
    ns, icao = ns[order], icao[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = (ns[1:] == ns[:-1]) & (icao[1:] == icao[:-1])
    if repeat.any():
        order = order[~repeat]
    if len(order) != len(df) or not (order == np.arange(len(df))).all():
        df = df.iloc[order]
    return df, int(repeat.sum())


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


# Rows are committed a chunk at a time; a bigger page cache keeps the key's right edge and
# the free-list in memory across chunks (negative: KiB).
_SQLITE_CACHE_KIB = 256 * 1024


# Rows per INSERT statement: one statement with many VALUES rows binds the same values as
# many one-row statements but steps SQLite once, which measured ~45 % faster than a one-row
# executemany. Bound variables are limited (999 before SQLite 3.32, 32,766 since).
_SQLITE_ROWS_PER_INSERT = 200 if sqlite3.sqlite_version_info >= (3, 32, 0) else 80
_SQLITE_NAMES = ("ts", "icao24", *_FLOATS, "callsign", "squawk", "onground")


@dataclass(frozen=True)
class _SqliteRows:
    """Bound values for multi-row INSERTs: ``batches`` of ``per_insert`` rows each, flattened,
    and the ``tail`` rows left over, flattened."""

    per_insert: int
    batches: list[list[Any]]
    tail: tuple[Any, ...]


def _sqlite_rows(df: pd.DataFrame) -> _SqliteRows:
    # NaN floats bind as NULL in SQLite, so the float columns go in as they are.
    columns = [
        (_ts_ns(df["ts"]) / 1e9).tolist(),
        _text(df["icao24"]),
        *(_floats(df[c]).tolist() for c in _FLOATS),
        _text(df["callsign"]),
        _text(df["squawk"]),
        _onground(df["onground"]),
    ]
    width, n = len(columns), len(df)
    flat: list[Any] = [None] * (width * n)
    for j, col in enumerate(columns):
        flat[j::width] = col  # row-major, at C speed
    per = _SQLITE_ROWS_PER_INSERT
    step = per * width
    full = (n // per) * step
    return _SqliteRows(per, [flat[k : k + step] for k in range(0, full, step)], tuple(flat[full:]))


def _sqlite_insert(receiver_id: int, source: str | None, rows: int) -> str:
    # The receiver and source are the same on every row: literals, not 2 bound values a row.
    one = f"({int(receiver_id)}, {_literal(source)}, {', '.join('?' * len(_SQLITE_NAMES))})"
    return (
        f"INSERT INTO positions (receiver_id, source, {', '.join(_SQLITE_NAMES)}) "
        f"VALUES {', '.join([one] * rows)} ON CONFLICT DO NOTHING"
    )


def _sqlite_write(conn: sa.Connection, prepared: PreparedPositions) -> int:
    rows: _SqliteRows = prepared.payload
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        inserted = 0
        if rows.batches:
            sql = _sqlite_insert(prepared.receiver_id, prepared.source, rows.per_insert)
            cur.executemany(sql, rows.batches)
            inserted += int(cur.rowcount)
        if rows.tail:
            n_tail = len(rows.tail) // len(_SQLITE_NAMES)
            cur.execute(_sqlite_insert(prepared.receiver_id, prepared.source, n_tail), rows.tail)
            inserted += int(cur.rowcount)
        return inserted
    finally:
        cur.close()


def _arrow_table(receiver_id: int, df: pd.DataFrame, source: str | None) -> pa.Table:
    n = len(df)
    arrays = {
        "receiver_id": pa.array(np.full(n, receiver_id, dtype="int64")),
        "icao24": pa.array(_text(df["icao24"]), pa.string()),
        "ts": pa.array(_ts_ns(df["ts"]) // 1000, pa.int64()).cast(pa.timestamp("us")),
        **{c: pa.array(_floats(df[c]), pa.float64(), from_pandas=True) for c in _FLOATS},
        "callsign": pa.array(_text(df["callsign"]), pa.string()),
        "squawk": pa.array(_text(df["squawk"]), pa.string()),
        "onground": pa.array(_onground(df["onground"]), pa.bool_()),
        "source": pa.array([source] * n, pa.string()),
    }
    return pa.table({c: arrays[c] for c in _INSERT_COLUMNS})


def _csv_bytes(table: pa.Table) -> bytes:
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    out: bytes = buf.getvalue().to_pybytes()
    return out


def _postgres_write(conn: sa.Connection, prepared: PreparedPositions) -> int:
    data = prepared.payload
    receiver_id = prepared.receiver_id
    copy_sql = "COPY {} (" + _COLS_SQL + ") FROM STDIN WITH (FORMAT csv)"
    raw = conn.connection.driver_connection
    assert raw is not None
    lo, hi = prepared.span
    with raw.cursor() as cur:
        # Timestamps are written as naive UTC; the session zone must not shift them.
        cur.execute("SET LOCAL TIME ZONE 'UTC'")
        # Not waiting for the WAL flush at commit is safe here: a crash loses at most the last
        # chunks committed, and ingest is idempotent, so a rerun of the file restores them.
        cur.execute("SET LOCAL synchronous_commit = off")
        # Nothing stored yet in the chunk's time range (the usual case: new data): COPY
        # straight into positions. Should a concurrent writer get there first, the unique key
        # stops the COPY and the savepoint lets the conflict-skipping path below run instead.
        cur.execute(
            "SELECT 1 FROM positions WHERE receiver_id = %s AND ts >= %s AND ts <= %s LIMIT 1",
            (receiver_id, lo, hi),
        )
        if cur.fetchone() is None:
            try:
                with raw.transaction(), cur.copy(copy_sql.format("positions")) as copy:
                    copy.write(data)
                return prepared.rows
            except psycopg.errors.UniqueViolation:
                pass
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS positions_load "
            "(LIKE positions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cur.copy(copy_sql.format("positions_load")) as copy:
            copy.write(data)
        cur.execute(
            f"INSERT INTO positions ({_COLS_SQL}) SELECT {_COLS_SQL} FROM positions_load "
            "ORDER BY ts, icao24 ON CONFLICT DO NOTHING"
        )
        return int(cur.rowcount)


@dataclass(frozen=True)
class PreparedPositions:
    """Positions made ready for one dialect's bulk write, with no database work: key-ordered,
    repeats dropped, converted (SQLite: column lists to bind; PostgreSQL: COPY's CSV). Ingest
    prepares a chunk while the previous one is being written."""

    dialect: str
    receiver_id: int
    source: str | None
    given: int  # rows handed in (repeats included)
    rows: int  # rows to write
    span: tuple[datetime, datetime]  # first and last time (UTC)
    payload: Any


def prepare_positions(
    dialect: str, receiver_id: int, positions: pd.DataFrame, source: str | None = None
) -> PreparedPositions:
    """``positions`` (columns of POSITION_COLUMNS, ``ts`` tz-aware UTC) ready for
    ``write_prepared`` on a ``dialect`` ("sqlite" or "postgresql") database."""
    df, _repeats = _in_key_order(positions)
    if df.empty:
        epoch = datetime.fromtimestamp(0, UTC)
        return PreparedPositions(
            dialect, receiver_id, source, len(positions), 0, (epoch, epoch), None
        )
    ns = _ts_ns(df["ts"])
    span = (
        pd.Timestamp(int(ns.min()), tz="UTC").to_pydatetime(),
        pd.Timestamp(int(ns.max()), tz="UTC").to_pydatetime(),
    )
    payload = (
        _csv_bytes(_arrow_table(receiver_id, df, source))
        if dialect == "postgresql"
        else _sqlite_rows(df)
    )
    return PreparedPositions(dialect, receiver_id, source, len(positions), len(df), span, payload)


def write_prepared(engine: Engine, prepared: PreparedPositions) -> WriteCounts:
    """Insert prepared positions in one transaction, skipping rows whose (receiver, icao24,
    ts) is already stored."""
    if prepared.dialect != engine.dialect.name:
        raise ValueError(
            f"positions prepared for {prepared.dialect}, written to {engine.dialect.name}"
        )
    if prepared.rows == 0:
        return WriteCounts(0, prepared.given)
    write = _postgres_write if prepared.dialect == "postgresql" else _sqlite_write
    with engine.begin() as conn:
        inserted = write(conn, prepared)
    return WriteCounts(inserted, prepared.given - inserted)


def write_positions(
    engine: Engine, receiver_id: int, positions: pd.DataFrame, source: str | None = None
) -> WriteCounts:
    """Insert positions (columns of POSITION_COLUMNS, ``ts`` tz-aware UTC) in one transaction,
    skipping rows whose (receiver, icao24, ts) is already stored or repeated in the batch."""
    if positions.empty:
        return WriteCounts(0, 0)
    prepared = prepare_positions(engine.dialect.name, receiver_id, positions, source)
    return write_prepared(engine, prepared)


def read_positions(
    engine: Engine,
    receiver_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    icao24: str | None = None,
    columns: Sequence[str] = POSITION_COLUMNS,
) -> pd.DataFrame:
    """Positions with start <= ts < end (UTC-aware bounds), sorted by (icao24, ts).

    Columns are ``columns`` (a subset of POSITION_COLUMNS; icao24 and ts always come along)
    with ``ts`` as datetime64[ns, UTC], floats as float64 (NaN when unknown), text as objects
    (None when unknown; one string object per distinct value) and onground as objects
    (True/False/None). Asking only for what a stage needs matters: the driver's Python
    objects for millions of rows are most of the cost.
    """
    return read_position_arrays(engine, receiver_id, start, end, icao24, columns).frame()


@dataclass
class PositionArrays:
    """Positions as compact typed columns, sorted by (icao24, ts): what a day's build reads
    (a DataFrame with a string object per row would take several times the memory).

    ``ts_us``: UTC epoch microseconds; floats: float64, NaN when unknown; ``onground``: int8,
    1 true, 0 false, -1 unknown; text columns: int32 codes into ``values[name]`` (-1: None),
    the codes of ``icao24`` increasing with the string (so rows are sorted by code, then
    time). ``columns`` names the position columns held, in POSITION_COLUMNS order."""

    columns: tuple[str, ...]
    ts_us: npt.NDArray[np.int64]
    floats: dict[str, npt.NDArray[np.float64]]
    codes: dict[str, npt.NDArray[np.int32]]
    values: dict[str, npt.NDArray[np.object_]]
    onground: npt.NDArray[np.int8] | None = None

    def __len__(self) -> int:
        return len(self.ts_us)

    def take(self, rows: npt.NDArray[np.integer[Any]]) -> PositionArrays:
        """The positions at ``rows`` (indices), in that order."""
        return PositionArrays(
            self.columns,
            self.ts_us[rows],
            {k: v[rows] for k, v in self.floats.items()},
            {k: v[rows] for k, v in self.codes.items()},
            self.values,
            None if self.onground is None else self.onground[rows],
        )

    def frame(self) -> pd.DataFrame:
        """The positions as read_positions gives them (see there)."""
        data: dict[str, Any] = {}
        for name in self.columns:
            if name in _TEXTS:
                table = np.array([None, *self.values[name]], dtype=object)
                # An explicit object Series: pandas would otherwise infer its string dtype, and
                # a cast back to objects would make one string object per row again.
                data[name] = pd.Series(table[self.codes[name].astype(np.int64) + 1], dtype=object)
            elif name == "ts":
                data[name] = pd.Series(
                    pd.to_datetime(self.ts_us, unit="us", utc=True).astype("datetime64[ns, UTC]")
                )
            elif name == "onground":
                assert self.onground is not None
                data[name] = pd.Series(_ONGROUND[self.onground.astype(np.int64) + 1], dtype=object)
            else:
                data[name] = self.floats[name]
        return pd.DataFrame(data, copy=False)


def read_position_arrays(
    engine: Engine,
    receiver_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    icao24: str | None = None,
    columns: Sequence[str] = POSITION_COLUMNS,
) -> PositionArrays:
    """What read_positions reads, as compact typed columns (see PositionArrays).

    Through the engine's own driver only. A column-returning driver (ADBC's SQLite) read a day
    2.6x faster, but it links its own copy of SQLite: two copies in one process cancel each
    other's POSIX locks and truncate the WAL's shared memory under each other (sqlite.org,
    "How To Corrupt", 2.2.1); the demo, which ingests and builds in one process, died of
    SIGBUS with it."""
    unknown = [c for c in columns if c not in POSITION_COLUMNS]
    if unknown:
        raise ValueError(f"unknown position column(s) {unknown}")
    wanted = [
        "icao24",
        "ts",
        *(c for c in POSITION_COLUMNS if c in columns and c not in ("icao24", "ts")),
    ]
    sqlite = engine.dialect.name == "sqlite"
    # Plain SQL on the raw DB-API cursor: building SQLAlchemy Row objects for millions of rows
    # is the slow part. SQLite keeps ts as REAL seconds; they are converted below, vectorized.
    mark = "?" if sqlite else "%s"

    def bound(t: datetime) -> object:
        if t.tzinfo is None:
            raise ValueError(f"naive datetime {t!r}: bounds must be timezone-aware")
        return t.timestamp() if sqlite else t

    where, params = [f"receiver_id = {mark}"], [receiver_id]
    if start is not None:
        where.append(f"ts >= {mark}")
        params.append(bound(start))  # type: ignore[arg-type]
    if end is not None:
        where.append(f"ts < {mark}")
        params.append(bound(end))  # type: ignore[arg-type]
    if icao24 is not None:
        where.append(f"icao24 = {mark}")
        params.append(icao24)  # type: ignore[arg-type]
    select = ", ".join(_select_expr(c, sqlite) for c in wanted)
    # Read in key order (receiver, ts, icao24) and sort here: ORDER BY icao24 would make the
    # database sort millions of rows.
    source = f"positions WHERE {' AND '.join(where)} ORDER BY ts"
    sql = f"SELECT {select} FROM {source}"
    dtype = np.dtype([(c, _FIELD_TYPES[c]) for c in wanted])
    reader = _ColumnReader(wanted, sqlite)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            # Chunks bound the Python objects alive at once: the driver makes a tuple and an
            # object per value, and a day has millions of rows. Each chunk becomes a typed
            # record array straight from the cursor (no list of tuples in between).
            while len(chunk := np.fromiter(itertools.islice(cur, READ_CHUNK_ROWS), dtype)):
                reader.add(chunk)
                del chunk
        finally:
            cur.close()
    return reader.arrays()


# How each column comes out of the database, as a field of the record array a chunk is read
# into: unknown floats come as -inf (SQL has no NaN to give; ingest never stores an infinite
# value) and unknown onground as -1, so that both fit a fixed-width field; text stays objects.
_NULL_FLOAT = float("-inf")
_FIELD_TYPES: dict[str, str] = {
    "icao24": "O",
    "ts": "f8",  # SQLite: REAL seconds; PostgreSQL: integer microseconds (see _select_expr)
    **dict.fromkeys(_FLOATS, "f8"),
    "callsign": "O",
    "squawk": "O",
    "onground": "i1",
}


def _select_expr(name: str, sqlite: bool) -> str:
    if name == "ts":
        return "ts" if sqlite else "(extract(epoch from ts) * 1000000)::int8"
    if name in _FLOATS:
        return f"ifnull({name}, -9e999)" if sqlite else f"coalesce({name}, '-Infinity'::float8)"
    if name == "onground":
        return "ifnull(onground, -1)" if sqlite else "coalesce(onground::int, -1)"
    return name


class _ColumnReader:
    """Gathers the record-array chunks of a read into typed columns: numbers as arrays, text
    as codes into one list of distinct values (so a string object per aircraft, not per row)."""

    def __init__(self, names: list[str], sqlite: bool) -> None:
        self.names = names
        self.sqlite = sqlite
        self.parts: dict[str, list[npt.NDArray[Any]]] = {n: [] for n in names}
        self.values: dict[str, dict[Any, int]] = {n: {} for n in names if n in _TEXTS}

    def add(self, chunk: npt.NDArray[Any]) -> None:
        """A record-array chunk (fields as _FIELD_TYPES)."""
        for name in self.names:
            col = chunk[name]
            if name in _TEXTS:
                codes, uniques = pd.factorize(col, use_na_sentinel=True)
                self.add_text(name, codes, uniques.tolist())
            else:
                self.add_number(name, col)

    def add_text(self, name: str, codes: npt.NDArray[np.integer[Any]], uniques: list[Any]) -> None:
        """A chunk of a text column: ``codes`` into ``uniques`` (in order of first appearance
        in the chunk), -1 for None."""
        known = self.values[name]
        to_global = np.array([known.setdefault(u, len(known)) for u in uniques], dtype=np.int32)
        out = np.full(len(codes), -1, dtype=np.int32)
        ok = codes >= 0
        out[ok] = to_global[codes[ok]]
        self.parts[name].append(out)

    def add_number(self, name: str, col: npt.NDArray[Any]) -> None:
        """A chunk of ts (float64), a float column (float64, _NULL_FLOAT when unknown) or
        onground (integers, -1 when unknown)."""
        if name == "ts":
            if self.sqlite:
                # REAL seconds carry float noise below the microsecond; rounding restores it.
                self.parts[name].append(np.round(col * 1e6).astype(np.int64))
            else:
                self.parts[name].append(col.astype(np.int64))
        elif name == "onground":
            self.parts[name].append(col.astype(np.int8))
        else:
            self.parts[name].append(np.ascontiguousarray(col, dtype=np.float64))

    def _joined(self, name: str, dtype: str) -> npt.NDArray[Any]:
        parts = self.parts.pop(name)  # each column's chunks go once it is joined
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def arrays(self) -> PositionArrays:
        # Sorted by (icao24, ts): rows come in time order, so a stable sort by the aircraft's
        # rank among the distinct names is enough; the codes become those ranks.
        icao_values = np.array(list(self.values["icao24"]), dtype=object)
        rank = np.empty(len(icao_values), dtype=np.int32)
        rank[np.argsort(icao_values, kind="stable")] = np.arange(len(icao_values))
        icao_codes = rank[self._joined("icao24", "int32")]
        order = np.argsort(icao_codes, kind="stable")
        codes: dict[str, npt.NDArray[np.int32]] = {"icao24": icao_codes[order]}
        del icao_codes
        values: dict[str, npt.NDArray[np.object_]] = {"icao24": np.sort(icao_values)}
        floats: dict[str, npt.NDArray[np.float64]] = {}
        onground = None
        ts_us = self._joined("ts", "int64")[order]
        for name in self.names:
            if name in ("icao24", "ts"):
                continue
            if name in _TEXTS:
                codes[name] = self._joined(name, "int32")[order]
                values[name] = np.array(list(self.values[name]), dtype=object)
            elif name == "onground":
                onground = self._joined(name, "int8")[order]
            else:
                col = self._joined(name, "float64")[order]
                col[col == _NULL_FLOAT] = np.nan
                floats[name] = col
        columns = tuple(c for c in POSITION_COLUMNS if c in self.names)
        return PositionArrays(columns, ts_us, floats, codes, values, onground)


_ONGROUND = np.array([None, False, True], dtype=object)
