"""Positions in the database: idempotent bulk writes and reads by time range.

Writes bypass the ORM and go in key order (ts, icao24), rows repeating a key in the batch
dropped first. SQLite (every column an integer since migration 0010, units in
db/types.py; callsigns and sources as ids into dictionary tables): multi-row INSERT statements
of 200 rows, run by one ``executemany`` inside one transaction. PostgreSQL:
a COPY straight into positions when nothing is stored yet in the batch's time range, else a
COPY into a temporary table, then one INSERT … SELECT. Rows whose natural key (receiver,
icao24, ts) is already stored are skipped, and what was inserted is counted from the
statement's own rowcount.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS
from oddflights.db.split_read import (
    MIN_SPAN_MS,
    hour_slices,
    read_slices,
    read_split,
    split_path,
    usable_cpus,
)
from oddflights.db.types import POSITION_OFFSETS, POSITION_SCALES, to_millis

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
_CALLSIGN_AT = _SQLITE_NAMES.index("callsign")
# Vertical rates beyond this (Mode S tops out at 32,640 fpm) are stored as unknown: the day
# read packs the column into 16 bits.
MAX_VERTICAL_RATE_FPM = 32_767


@dataclass
class _SqliteRows:
    """Bound values for multi-row INSERTs, flattened row-major (``width`` values a row), with
    the callsign slots filled in at write time: ``callsign_codes`` (-1: none) index
    ``callsigns``, whose dictionary ids only the database knows."""

    width: int
    flat: list[Any]
    callsign_codes: npt.NDArray[np.intp]
    callsigns: list[str]


def _scaled_ints(values: npt.NDArray[np.float64], name: str) -> list[Any]:
    """Floats in the column's SQLite units (types.POSITION_SCALES), None when unknown."""
    known = ~np.isnan(values)
    if name == "vertical_rate_fpm":
        with np.errstate(invalid="ignore"):
            known &= np.abs(values) <= MAX_VERTICAL_RATE_FPM
    ints = np.zeros(len(values), dtype=np.int64)
    ints[known] = np.round(values[known] * POSITION_SCALES[name])
    if name == "track_deg":
        ints %= 360 * POSITION_SCALES[name]  # an angle: stored in [0, 360)
    ints -= POSITION_OFFSETS.get(name, 0)
    if known.all():
        out: list[Any] = ints.tolist()
        return out
    boxed = ints.astype(object)
    boxed[~known] = None
    result: list[Any] = boxed.tolist()
    return result


def _coded_ints(series: pd.Series, base: int, width: int, offset: int = 0) -> list[Any]:
    """Hex or octal digit strings as their integer values less ``offset`` (None when unknown),
    converted once per distinct value."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = [_digits_value(u, base, width, offset) for u in uniques]
    table = np.array([*values, None], dtype=object)
    out: list[Any] = table[codes].tolist()  # code -1 takes the trailing None
    return out


def _digits_value(text: Any, base: int, width: int, offset: int) -> int | None:
    # Validation lets only well-formed addresses and squawks through; anything else is unknown.
    if not isinstance(text, str) or len(text) != width:
        return None
    try:
        return int(text, base) - offset
    except ValueError:
        return None


def _sqlite_rows(df: pd.DataFrame) -> _SqliteRows:
    # Every column an integer (migration 0010): see types.POSITION_SCALES for the units.
    callsign_codes, callsigns = pd.factorize(df["callsign"], use_na_sentinel=True)
    columns = [
        (_ts_ns(df["ts"]) // 1_000_000).tolist(),
        _coded_ints(df["icao24"], 16, 6, POSITION_OFFSETS["icao24"]),
        *(_scaled_ints(_floats(df[c]), c) for c in _FLOATS),
        [None],  # callsign: filled at write time
        _coded_ints(df["squawk"], 8, 4),
        _onground(df["onground"]),
    ]
    width, n = len(columns), len(df)
    flat: list[Any] = [None] * (width * n)
    for j, col in enumerate(columns):
        if j != _CALLSIGN_AT:
            flat[j::width] = col  # row-major, at C speed
    return _SqliteRows(width, flat, callsign_codes, [str(c) for c in callsigns])


def _sqlite_insert(receiver_id: int, source_id: int | None, rows: int) -> str:
    # The receiver and source are the same on every row: literals, not 2 bound values a row.
    source = "NULL" if source_id is None else str(int(source_id))
    one = f"({int(receiver_id)}, {source}, {', '.join('?' * len(_SQLITE_NAMES))})"
    return (
        f"INSERT INTO positions (receiver_id, source, {', '.join(_SQLITE_NAMES)}) "
        f"VALUES {', '.join([one] * rows)} ON CONFLICT DO NOTHING"
    )


def _dictionary_ids(cur: sqlite3.Cursor, table: str, column: str, names: list[str]) -> list[int]:
    """The ids of ``names`` in a dictionary table (callsigns, position_sources), added when
    new, in the order given."""
    if not names:
        return []
    listed = json.dumps(names)
    cur.execute(
        f"INSERT OR IGNORE INTO {table} ({column}) SELECT value FROM json_each(?)", (listed,)
    )
    cur.execute(
        f"SELECT j.key, t.id FROM json_each(?) j JOIN {table} t ON t.{column} = j.value",
        (listed,),
    )
    ids = [0] * len(names)
    for k, i in cur.fetchall():
        ids[int(k)] = int(i)
    return ids


def _sqlite_write(conn: sa.Connection, prepared: PreparedPositions) -> int:
    rows: _SqliteRows = prepared.payload
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        source_id = None
        if prepared.source is not None:
            (source_id,) = _dictionary_ids(cur, "position_sources", "source", [prepared.source])
        # The callsign slots: dictionary ids, None where unknown (code -1 takes the last).
        ids = np.array([*_dictionary_ids(cur, "callsigns", "callsign", rows.callsigns), None])
        rows.flat[_CALLSIGN_AT :: rows.width] = ids[rows.callsign_codes].tolist()
        per = _SQLITE_ROWS_PER_INSERT
        step = per * rows.width
        full = (prepared.rows // per) * step
        inserted = 0
        if full:
            sql = _sqlite_insert(prepared.receiver_id, source_id, per)
            cur.executemany(sql, (rows.flat[k : k + step] for k in range(0, full, step)))
            inserted += int(cur.rowcount)
        if full < len(rows.flat):
            n_tail = (len(rows.flat) - full) // rows.width
            cur.execute(_sqlite_insert(prepared.receiver_id, source_id, n_tail), rows.flat[full:])
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
    from psycopg.errors import UniqueViolation  # here: SQLite-only runs never import psycopg

    data = prepared.payload
    receiver_id = prepared.receiver_id
    copy_sql = "COPY {} (" + _COLS_SQL + ") FROM STDIN WITH (FORMAT csv)"
    raw = conn.connection.driver_connection
    assert raw is not None
    lo, hi = prepared.span
    from oddflights.db.partitions import ensure_for_batch

    ensure_for_batch(conn.engine, lo, hi)  # the days' partitions (0011); once a day per process
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
            except UniqueViolation:
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
    for t in (start, end):
        if t is not None and t.tzinfo is None:
            raise ValueError(f"naive datetime {t!r}: bounds must be timezone-aware")
    if engine.dialect.name == "sqlite":
        return _sqlite_arrays(engine, receiver_id, start, end, icao24, wanted)
    # PostgreSQL: a binary COPY parsed by numpy (issue 18), or this SELECT when the data does
    # not fit its fixed layout.
    from oddflights.db.pg_read import read_copy_arrays

    return read_copy_arrays(engine, receiver_id, start, end, icao24, wanted)


def _select_arrays(
    engine: Engine,
    receiver_id: int,
    start: datetime | None,
    end: datetime | None,
    icao24: str | None,
    wanted: list[str],
) -> PositionArrays:
    """PostgreSQL's day read by a text SELECT (before issue 18; pg_read's fallback)."""
    # Plain SQL on the raw DB-API cursor: building SQLAlchemy Row objects for millions of rows
    # is the slow part.
    where, params = ["receiver_id = %s"], [receiver_id]
    if start is not None:
        where.append("ts >= %s")
        params.append(start)  # type: ignore[arg-type]
    if end is not None:
        where.append("ts < %s")
        params.append(end)  # type: ignore[arg-type]
    if icao24 is not None:
        where.append("icao24 = %s")
        params.append(icao24)  # type: ignore[arg-type]
    select = ", ".join(_select_expr(c) for c in wanted)
    # Read in key order (receiver, ts, icao24) and sort here: ORDER BY icao24 would make the
    # database sort millions of rows. The whole key, so that the text values are numbered in
    # the same order whatever the plan (pg_read reads in the same order).
    source = f"positions WHERE {' AND '.join(where)} ORDER BY ts, icao24"
    sql = f"SELECT {select} FROM {source}"
    dtype = np.dtype([(c, _FIELD_TYPES[c]) for c in wanted])
    reader = _ColumnReader(wanted)
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


# How each column comes out of PostgreSQL, as a field of the record array a chunk is read
# into: unknown floats come as -inf (SQL has no NaN to give; ingest never stores an infinite
# value) and unknown onground as -1, so that both fit a fixed-width field; text stays objects.
_NULL_FLOAT = float("-inf")
_FIELD_TYPES: dict[str, str] = {
    "icao24": "O",
    "ts": "i8",  # integer microseconds (see _select_expr)
    **dict.fromkeys(_FLOATS, "f8"),
    "callsign": "O",
    "squawk": "O",
    "onground": "i1",
}


def _select_expr(name: str) -> str:
    if name == "ts":
        return "(extract(epoch from ts) * 1000000)::int8"
    if name in _FLOATS:
        return f"coalesce({name}, '-Infinity'::float8)"
    if name == "onground":
        return "coalesce(onground::int, -1)"
    return name


class _ColumnReader:
    """Gathers the record-array chunks of a PostgreSQL read into typed columns: numbers as
    arrays, text as codes into one list of distinct values (so a string object per aircraft,
    not per row)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
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
        """A chunk of ts (int64 microseconds), a float column (float64, _NULL_FLOAT when
        unknown) or onground (integers, -1 when unknown)."""
        if name == "ts":
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


# The SQLite day read (issue 17): the driver makes a Python object per value, which is most of
# a read's cost, so the SELECT packs several small integer columns into each 64-bit value and
# numpy takes them apart. Each field is a non-negative integer of a fixed width; 0 stands for
# NULL where a column may be unknown. (name, SQL, bits); ts and callsign widths are set per
# read (see _sqlite_arrays).
_LAT_OFF, _LON_OFF = 90 * POSITION_SCALES["lat"], 180 * POSITION_SCALES["lon"]
_ALT_OFF = 16_384 + 1  # altitude -16,384 to 114,686 ft (validated: -2,000 to 60,000)
_VR_OFF = MAX_VERTICAL_RATE_FPM + 1
_STORED = POSITION_OFFSETS  # what SQLite subtracted, added back first
_FIELDS: dict[str, tuple[str, int]] = {
    "icao24": (f"icao24 + {_STORED['icao24']}", 24),
    "onground": ("ifnull(onground + 1, 0)", 2),
    "lat": (f"lat + {_LAT_OFF}", 25),  # 180e5 < 2**25
    "lon": (f"lon + {_LON_OFF}", 26),
    "altitude_ft": (f"ifnull(altitude_ft + {_STORED['altitude_ft'] + _ALT_OFF}, 0)", 17),
    "groundspeed_kt": ("ifnull(groundspeed_kt + 1, 0)", 15),  # to 3,276.6 kt (validated 1,500)
    "track_deg": (f"ifnull(track_deg + {_STORED['track_deg'] + 1}, 0)", 16),  # [0, 360)
    "vertical_rate_fpm": (f"ifnull(vertical_rate_fpm + {_VR_OFF}, 0)", 16),
    "squawk": ("ifnull(squawk + 1, 0)", 13),
}


def _pack(fields: list[tuple[str, str, int]]) -> list[list[tuple[str, str, int, int]]]:
    """Fields placed into 64-bit words, first fit: words of (name, SQL, bits, shift)."""
    words: list[list[tuple[str, str, int, int]]] = []
    used: list[int] = []
    for name, sql, bits in fields:
        for k, u in enumerate(used):
            if u + bits <= 64:
                words[k].append((name, sql, bits, u))
                used[k] += bits
                break
        else:
            words.append([(name, sql, bits, 0)])
            used.append(bits)
    return words


def _word_sql(word: list[tuple[str, str, int, int]]) -> str:
    return " | ".join(f"(({sql}) << {shift})" if shift else f"({sql})" for _, sql, _, shift in word)


def _ceil_ms(t: datetime) -> int:
    ms = to_millis(t)
    return ms + 1 if t.microsecond % 1000 else ms


def _sqlite_arrays(
    engine: Engine,
    receiver_id: int,
    start: datetime | None,
    end: datetime | None,
    icao24: str | None,
    wanted: list[str],
) -> PositionArrays:
    # Stored times are whole milliseconds: ts >= t holds for ms >= ceil(t), ts < t for ms < ceil(t).
    start_ms = None if start is None else _ceil_ms(start)
    end_ms = None if end is None else _ceil_ms(end)
    key, params = ["receiver_id = ?"], [receiver_id]
    if icao24 is not None:
        key.append("icao24 = ?")
        params.append(int(icao24, 16) - _STORED["icao24"] if len(icao24) == 6 else -(1 << 40))
    given = [("ts >= ?", start_ms), ("ts < ?", end_ms)]
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            # The span read, [lo, hi), as the bounds given, else as stored. Every read below
            # names it exactly (one ts range: SQLite keys a search on one range of a column
            # and would only filter by a second), so every row's ts - lo fits the ts field.
            if start_ms is None or end_ms is None:
                where = key + [sql for sql, value in given if value is not None]
                where_params = params + [value for _, value in given if value is not None]
                lo_db, hi_db = cur.execute(
                    f"SELECT min(ts), max(ts) FROM positions WHERE {' AND '.join(where)}",
                    where_params,
                ).fetchone()
                if lo_db is None:
                    return _SqliteReader(wanted, 0).arrays(cur)
                lo = start_ms if start_ms is not None else int(lo_db)
                hi = end_ms if end_ms is not None else int(hi_db) + 1
            else:
                lo, hi = start_ms, end_ms
            # ts as an offset from lo, in as few bits as the span needs; the callsign id in
            # as many bits as the largest id.
            fields = [("ts", f"ts - {lo}", max(1, int(hi - lo).bit_length()))]
            fields += [(n, *_FIELDS[n]) for n in wanted if n in _FIELDS]
            if "callsign" in wanted:
                top = cur.execute("SELECT max(id) FROM callsigns").fetchone()[0] or 0
                fields.append(("callsign", "ifnull(callsign, 0)", max(1, int(top).bit_length())))
            words = _pack(fields)
            select = ", ".join(_word_sql(w) for w in words)
            dtype = np.dtype([(f"w{k}", "i8") for k in range(len(words))])
            reader = _SqliteReader(wanted, lo)
            reader.layout = words
            sql = (
                f"SELECT {select} FROM positions WHERE {' AND '.join(key)} "
                "AND ts >= ? AND ts < ? ORDER BY ts"
            )
            path = split_path(engine.url.database, dict(engine.url.query))
            if path is not None and icao24 is None and hi - lo >= MIN_SPAN_MS and usable_cpus() > 1:
                reader.words = read_split(
                    cur, path, sql, params, hour_slices(lo, hi), dtype, READ_CHUNK_ROWS
                )
            else:
                reader.words = read_slices(cur, sql, params, [(lo, hi)], dtype, READ_CHUNK_ROWS)
            return reader.arrays(cur)
        finally:
            cur.close()


class _SqliteReader:
    """Takes the packed words of a SQLite read apart into PositionArrays."""

    def __init__(self, names: list[str], ts_base: int) -> None:
        self.names = names
        self.ts_base = ts_base
        self.words: list[npt.NDArray[Any]] = []
        self.layout: list[list[tuple[str, str, int, int]]] = []

    def _field(
        self, words: list[npt.NDArray[np.uint64]], name: str
    ) -> npt.NDArray[np.int64] | None:
        """One field of the packed words, as a new array (None when not read)."""
        for w, word in zip(words, self.layout, strict=True):
            for field_name, _, bits, shift in word:
                if field_name != name:
                    continue
                # Shifted, then masked in place; a field ends below bit 63, so its int64
                # view is its value.
                mask = np.uint64((1 << bits) - 1)
                if shift:
                    field = w >> np.uint64(shift)
                    if shift + bits < 64:
                        field &= mask
                else:
                    field = w & mask if bits < 64 else w.copy()
                return field.view(np.int64)
        return None

    def arrays(self, cur: sqlite3.Cursor) -> PositionArrays:
        dtype = np.dtype([(f"w{k}", "i8") for k in range(len(self.layout))])
        rows = np.concatenate(self.words) if self.words else np.zeros(0, dtype)
        self.words = []
        empty = np.zeros(0, dtype=np.int64)
        words = [rows[f"w{k}"].view(np.uint64) for k in range(len(self.layout))]
        icao = self._field(words, "icao24")
        # Sorted by (icao24, ts): rows came in time order, so a stable sort by address is
        # enough; fixed-width lowercase hex sorts as the integers do. The packed words are put
        # in that order once (a word is fewer bytes to move than the fields it holds).
        order = _stable_order(empty if icao is None else icao)
        del icao
        words = [w.take(order) for w in words]
        del rows

        def field(name: str) -> npt.NDArray[np.int64]:
            got = self._field(words, name)
            return empty if got is None else got

        by_icao = field("icao24")
        new = np.ones(len(by_icao), dtype=bool)
        new[1:] = by_icao[1:] != by_icao[:-1]
        codes: dict[str, npt.NDArray[np.int32]] = {
            "icao24": (np.cumsum(new, dtype=np.int32) - 1).astype(np.int32)
        }
        values: dict[str, npt.NDArray[np.object_]] = {
            "icao24": np.array([f"{v:06x}" for v in by_icao[new].tolist()], dtype=object)
        }
        del by_icao, new
        ts_us = field("ts")
        ts_us += self.ts_base
        ts_us *= 1000
        floats: dict[str, npt.NDArray[np.float64]] = {}
        onground = None
        for name in self.names:
            if name in ("icao24", "ts"):
                continue
            col = field(name)
            if name == "onground":
                onground = (col - 1).astype(np.int8)
            elif name == "callsign":
                codes[name], values[name] = _dictionary_codes(col, order, cur)
            elif name == "squawk":
                codes[name], values[name] = _first_seen_codes(col, order, lambda v: f"{v - 1:04o}")
            else:
                floats[name] = _decoded_float(name, col)
        columns = tuple(c for c in POSITION_COLUMNS if c in self.names)
        return PositionArrays(columns, ts_us, floats, codes, values, onground)


def _decoded_float(name: str, field: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    scale = POSITION_SCALES[name]
    # In place on one new array. Exact as (field - offset) / scale: every value and offset is
    # an integer below 2**53, so the float subtraction is exact too.
    out = field.astype(np.float64)
    if name in ("lat", "lon"):
        out -= _LAT_OFF if name == "lat" else _LON_OFF
        out /= scale
        return out
    out -= {"altitude_ft": _ALT_OFF, "vertical_rate_fpm": _VR_OFF}.get(name, 1)
    out /= scale
    out[field == 0] = np.nan
    return out


def _stable_order(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """``np.argsort(keys, kind="stable")`` for non-negative keys below 2**32: one in-place sort
    of (key, row) packed into an int64, 30 % cheaper than the indirect stable sort."""
    n = len(keys)
    bits = max(1, n.bit_length())
    if n == 0 or bits > 31 or int(keys.min()) < 0 or int(keys.max()) >= 1 << 32:
        return np.argsort(keys, kind="stable")
    packed = keys << bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << bits) - 1
    return packed.astype(np.intp, copy=False)


def _first_seen_codes(
    field: npt.NDArray[np.int64], order: npt.NDArray[np.intp], name: Any
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.object_]]:
    """Codes into the distinct non-zero fields (0: unknown, code -1), numbered in the order
    the read met them (time order, before the sort by ``order``), with ``name(field)``.

    ``field`` holds small non-negative integers (dictionary ids, squawks), so a table as long
    as the largest value does what a sort-based ``np.unique`` would, in one pass."""
    n = len(field)
    top = int(field.max()) + 1 if n else 1
    # Where each value was first met in time order: row i of ``field`` was read at order[i].
    first = np.full(top, n, dtype=np.intp)
    np.minimum.at(first, field, order)
    first[0] = n  # 0 is "unknown": never a code
    met = np.flatnonzero(first < n)
    by_seen = met[np.argsort(first[met], kind="stable")]
    rank = np.full(top, -1, dtype=np.int32)
    rank[by_seen] = np.arange(len(by_seen), dtype=np.int32)
    names = np.array([name(int(v)) for v in by_seen.tolist()], dtype=object)
    return rank[field], names


def _dictionary_codes(
    field: npt.NDArray[np.int64], order: npt.NDArray[np.intp], cur: sqlite3.Cursor
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.object_]]:
    """Callsign ids as codes into the callsigns the read met (see _first_seen_codes)."""
    ids = np.flatnonzero(np.bincount(field))
    ids = ids[ids != 0].tolist()
    cur.execute(
        "SELECT c.id, c.callsign FROM callsigns c JOIN json_each(?) j ON c.id = j.value",
        (json.dumps(ids),),
    )
    names = dict(cur.fetchall())
    return _first_seen_codes(field, order, names.get)
