"""Positions in the database: idempotent bulk writes and reads by time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS
from oddflights.db.models import PositionRow

CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class WriteCounts:
    """What a bulk write did: rows inserted, and rows already present (same natural key)."""

    accepted: int
    duplicates: int


def _records(df: pd.DataFrame, receiver_id: int, source: str | None) -> list[dict[str, object]]:
    out = df.loc[:, list(POSITION_COLUMNS)].copy()
    out["ts"] = out["ts"].dt.to_pydatetime()
    out = out.astype(object).where(out.notna(), None)
    out["receiver_id"] = receiver_id
    out["source"] = source
    return out.to_dict("records")  # type: ignore[return-value]


def write_positions(
    engine: Engine, receiver_id: int, positions: pd.DataFrame, source: str | None = None
) -> WriteCounts:
    """Insert positions (columns of POSITION_COLUMNS, ``ts`` tz-aware UTC), skipping rows whose
    (receiver, icao24, ts) is already stored. All chunks commit in one transaction."""
    if positions.empty:
        return WriteCounts(0, 0)
    # Duplicates inside the batch count as duplicates too: the first one wins.
    batch = positions.drop_duplicates(subset=["icao24", "ts"], keep="first")
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(PositionRow).on_conflict_do_nothing(
        index_elements=["receiver_id", "icao24", "ts"]
    )
    inserted = 0
    with engine.begin() as conn:
        for start in range(0, len(batch), CHUNK_ROWS):
            chunk = batch.iloc[start : start + CHUNK_ROWS]
            before = _count(conn, receiver_id)
            conn.execute(stmt, _records(chunk, receiver_id, source))
            inserted += _count(conn, receiver_id) - before
    return WriteCounts(inserted, len(positions) - inserted)


def _count(conn: sa.Connection, receiver_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(PositionRow.receiver_id == receiver_id)
        ).scalar_one()
    )


def read_positions(
    engine: Engine,
    receiver_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    icao24: str | None = None,
) -> pd.DataFrame:
    """Positions with start <= ts < end (UTC-aware bounds), sorted by (icao24, ts); columns
    POSITION_COLUMNS with ``ts`` as datetime64[ns, UTC]."""
    cols = [getattr(PositionRow, c) for c in POSITION_COLUMNS]
    query = sa.select(*cols).where(PositionRow.receiver_id == receiver_id)
    if start is not None:
        query = query.where(PositionRow.ts >= start)
    if end is not None:
        query = query.where(PositionRow.ts < end)
    if icao24 is not None:
        query = query.where(PositionRow.icao24 == icao24)
    query = query.order_by(PositionRow.icao24, PositionRow.ts)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    df = pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    for c in ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df
