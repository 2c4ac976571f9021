"""The aircraft table: registration, type and operator by icao24, kept up to date.

One upsert statement per batch (``INSERT … ON CONFLICT DO UPDATE``, on SQLite and
PostgreSQL alike): a row is only overwritten by details from a trace at least as new as the
one it holds (``seen_at``), so ingesting an older day after a newer one changes nothing, and
``changed_at`` moves only when a detail actually differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from oddflights.db.models import AircraftRow

DETAIL_COLUMNS: tuple[str, ...] = (
    "registration",
    "type_code",
    "description",
    "operator",
    "year",
)
AIRCRAFT_COLUMNS: tuple[str, ...] = ("icao24", *DETAIL_COLUMNS, "seen_at", "changed_at")
CHUNK_ROWS = 500


def _width(name: str) -> int:
    kind = AircraftRow.__table__.c[name].type
    return int(cast(sa.String, kind).length or 0)


def _clean_text(value: Any, width: int) -> str | None:
    if not isinstance(value, str):
        return None
    # Printable ASCII only, as the positions' callsigns: PostgreSQL refuses NUL.
    text = "".join(ch for ch in value if ch.isprintable()).strip()[:width]
    return text or None


def _records(details: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows to write: the newest per icao24 (by ``seen_at``), texts cut to their columns."""
    if details.empty:
        return []
    frame = details.copy()
    frame["seen_at"] = pd.to_datetime(frame["seen_at"], utc=True)
    frame["icao24"] = frame["icao24"].astype(str).str.strip().str.lower()
    frame = frame[frame["icao24"].str.fullmatch(r"[0-9a-f]{6}")]
    frame = frame.sort_values("seen_at", kind="stable").drop_duplicates("icao24", keep="last")
    widths = {c: _width(c) for c in DETAIL_COLUMNS if c != "year"}
    out = []
    for row in frame.to_dict("records"):
        year = row.get("year")
        seen: datetime = row["seen_at"].floor("us").to_pydatetime()
        record = {
            "icao24": row["icao24"],
            **{c: _clean_text(row.get(c), w) for c, w in widths.items()},
            "year": None if year is None or pd.isna(year) else int(year),
            "seen_at": seen,
            "changed_at": seen,
        }
        out.append(record)
    return sorted(out, key=lambda r: str(r["icao24"]))


def upsert_aircraft(engine: Engine, details: pd.DataFrame) -> int:
    """Store aircraft details (columns icao24, DETAIL_COLUMNS, seen_at) in one transaction;
    returns the rows given (after one per icao24). Details from a trace older than the stored
    one are ignored; ``changed_at`` is set when a detail differs from the stored one."""
    records = _records(details)
    if not records:
        return 0
    with engine.begin() as conn:
        for start in range(0, len(records), CHUNK_ROWS):
            _upsert(conn, records[start : start + CHUNK_ROWS])
    return len(records)


def _upsert(conn: Connection, records: list[dict[str, Any]]) -> None:
    table = AircraftRow.__table__
    insert: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    new = insert.excluded
    differs = sa.or_(*[table.c[c].is_distinct_from(new[c]) for c in DETAIL_COLUMNS])
    statement = insert.on_conflict_do_update(
        index_elements=["icao24"],
        set_={
            **{c: new[c] for c in DETAIL_COLUMNS},
            "seen_at": new["seen_at"],
            "changed_at": sa.case((differs, new["seen_at"]), else_=table.c.changed_at),
        },
        where=new["seen_at"] >= table.c.seen_at,
    )
    conn.execute(statement, records)


def read_aircraft(engine: Engine, icao24s: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored aircraft (AIRCRAFT_COLUMNS, times tz-aware UTC) by icao24: all of them, or those
    of ``icao24s``."""
    query = sa.select(*[AircraftRow.__table__.c[c] for c in AIRCRAFT_COLUMNS]).order_by(
        AircraftRow.icao24
    )
    if icao24s is not None:
        query = query.where(AircraftRow.icao24.in_(sorted(set(icao24s))))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=list(AIRCRAFT_COLUMNS))
    for c in ("seen_at", "changed_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame
