"""Positions in the database: idempotent bulk writes and reads by time range.

Writes bypass the ORM: on SQLite one ``executemany`` of plain tuples inside one transaction;
on PostgreSQL a COPY into a temporary table, then one INSERT … SELECT. Both skip rows whose
natural key (receiver, icao24, ts) is already stored and count what they inserted from the
statement's own rowcount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS

_FLOATS = ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")
_TEXTS = ("icao24", "callsign", "squawk")
_INSERT_COLUMNS = ("receiver_id", *POSITION_COLUMNS, "source")
_COLS_SQL = ", ".join(_INSERT_COLUMNS)


@dataclass(frozen=True)
class WriteCounts:
    """What a bulk write did: rows inserted, and rows already present (same natural key)."""

    accepted: int
    duplicates: int


def _text(series: pd.Series) -> list[Any]:
    values = series.astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = None
    out: list[Any] = values.tolist()
    return out


def _onground(series: pd.Series) -> list[Any]:
    values = series.astype(object).to_numpy()
    out = np.full(len(values), None, dtype=object)
    known = ~pd.isna(values)
    out[known] = values[known].astype(bool)
    result: list[Any] = out.tolist()
    return result


def _floats(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _epoch_seconds(ts: pd.Series) -> np.ndarray:
    ns = pd.to_datetime(ts, utc=True).to_numpy(dtype="datetime64[ns]").astype("int64")
    seconds: np.ndarray = ns / 1e9
    return seconds


def _sqlite_write(
    conn: sa.Connection, receiver_id: int, df: pd.DataFrame, source: str | None
) -> int:
    n = len(df)
    # NaN floats bind as NULL in SQLite, so the float columns go in as they are.
    columns = [
        [receiver_id] * n,
        _text(df["icao24"]),
        _epoch_seconds(df["ts"]).tolist(),
        *(_floats(df[c]).tolist() for c in ("lat", "lon")),
        *(_floats(df[c]).tolist() for c in _FLOATS[2:]),
        _text(df["callsign"]),
        _text(df["squawk"]),
        _onground(df["onground"]),
        [source] * n,
    ]
    sql = (
        f"INSERT INTO positions ({_COLS_SQL}) VALUES ({', '.join('?' * len(_INSERT_COLUMNS))}) "
        "ON CONFLICT DO NOTHING"
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.executemany(sql, zip(*columns, strict=True))
        return int(cur.rowcount)
    finally:
        cur.close()


def _arrow_table(receiver_id: int, df: pd.DataFrame, source: str | None) -> pa.Table:
    n = len(df)
    ts = pd.to_datetime(df["ts"], utc=True).dt.tz_convert("UTC")
    arrays = {
        "receiver_id": pa.array(np.full(n, receiver_id, dtype="int64")),
        "icao24": pa.array(_text(df["icao24"]), pa.string()),
        "ts": pa.array(ts.to_numpy(dtype="datetime64[ns]"), pa.timestamp("ns")).cast(
            pa.timestamp("us"), safe=False
        ),
        **{c: pa.array(_floats(df[c]), pa.float64(), from_pandas=True) for c in _FLOATS},
        "callsign": pa.array(_text(df["callsign"]), pa.string()),
        "squawk": pa.array(_text(df["squawk"]), pa.string()),
        "onground": pa.array(_onground(df["onground"]), pa.bool_()),
        "source": pa.array([source] * n, pa.string()),
    }
    return pa.table({c: arrays[c] for c in _INSERT_COLUMNS})


def _postgres_write(
    conn: sa.Connection, receiver_id: int, df: pd.DataFrame, source: str | None
) -> int:
    buf = pa.BufferOutputStream()
    pacsv.write_csv(
        _arrow_table(receiver_id, df, source),
        buf,
        pacsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS positions_load "
            "(LIKE positions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        # Timestamps are written as naive UTC; the session zone must not shift them.
        cur.execute("SET LOCAL TIME ZONE 'UTC'")
        with cur.copy(f"COPY positions_load ({_COLS_SQL}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue().to_pybytes())
        cur.execute(
            f"INSERT INTO positions ({_COLS_SQL}) SELECT {_COLS_SQL} FROM positions_load "
            "ON CONFLICT DO NOTHING"
        )
        return int(cur.rowcount)


def write_positions(
    engine: Engine, receiver_id: int, positions: pd.DataFrame, source: str | None = None
) -> WriteCounts:
    """Insert positions (columns of POSITION_COLUMNS, ``ts`` tz-aware UTC) in one transaction,
    skipping rows whose (receiver, icao24, ts) is already stored or repeated in the batch."""
    if positions.empty:
        return WriteCounts(0, 0)
    write = _postgres_write if engine.dialect.name == "postgresql" else _sqlite_write
    with engine.begin() as conn:
        inserted = write(conn, receiver_id, positions, source)
    return WriteCounts(inserted, len(positions) - inserted)


def read_positions(
    engine: Engine,
    receiver_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    icao24: str | None = None,
) -> pd.DataFrame:
    """Positions with start <= ts < end (UTC-aware bounds), sorted by (icao24, ts); columns
    POSITION_COLUMNS with ``ts`` as datetime64[ns, UTC]."""
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
    # Read in key order (receiver, ts, icao24) and sort in pandas: ORDER BY icao24 would make
    # the database sort millions of rows.
    sql = (
        f"SELECT {', '.join(POSITION_COLUMNS)} FROM positions "
        f"WHERE {' AND '.join(where)} ORDER BY ts"
    )
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            rows = cur.fetchall()
        finally:
            cur.close()
    df = pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
    if sqlite:
        seconds = pd.to_numeric(df["ts"], errors="coerce").to_numpy(dtype="float64")
        # REAL seconds carry float noise below the microsecond; rounding restores the instant.
        ts = pd.to_datetime(np.round(seconds * 1e6).astype("int64"), unit="us", utc=True)
        df["ts"] = pd.Series(ts, index=df.index).astype("datetime64[ns, UTC]")
    else:
        df["ts"] = pd.to_datetime(df["ts"], utc=True).astype("datetime64[ns, UTC]")
    for c in _FLOATS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in _TEXTS:
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    df["onground"] = pd.Series(
        [None if v is None else bool(v) for v in df["onground"]], index=df.index, dtype=object
    )
    return df.sort_values(["icao24", "ts"], kind="stable", ignore_index=True)
