"""How each receiver is doing, for /metrics and /healthz: cheap reads only.

Every query here is answered from an index (the positions key, flights by receiver and day,
runs by receiver and day, scores by model) or from a small table, never by a scan of
positions: a scraper asks every 15 to 60 seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from oddflights.db.engine import current_revision
from oddflights.db.models import FlightRow, ModelRow, PositionRow, ReceiverRow, RunRow, ScoreRow
from oddflights.db.runs import INGEST

# The window of the positions-per-receiver gauge.
RECENT = timedelta(hours=1)


@dataclass(frozen=True)
class NightlyRun:
    """A receiver's most recent nightly run."""

    day: date | None
    started_at: datetime
    finished_at: datetime | None
    status: str


@dataclass(frozen=True)
class ReceiverStatus:
    """One receiver at a glance."""

    name: str
    last_position: datetime | None
    positions_recent: int  # heard in the last RECENT before now
    last_nightly: NightlyRun | None
    latest_day: date | None  # the newest day with flights
    latest_day_flights: int
    latest_day_flagged: int  # by the newest model that scored that day
    models: int
    newest_model_at: datetime | None


def _last_nightly(conn: Connection, receiver_id: int) -> NightlyRun | None:
    row = conn.execute(
        sa.select(RunRow.day, RunRow.started_at, RunRow.finished_at, RunRow.status)
        .where(RunRow.receiver_id == receiver_id, RunRow.kind == "nightly")
        .order_by(RunRow.id.desc())
        .limit(1)
    ).first()
    return None if row is None else NightlyRun(row[0], row[1], row[2], row[3])


def _latest_day(conn: Connection, receiver_id: int) -> tuple[date | None, int, int]:
    mine = FlightRow.receiver_id == receiver_id
    day = conn.execute(sa.select(sa.func.max(FlightRow.day)).where(mine)).scalar_one_or_none()
    if day is None:
        return None, 0, 0
    flights = conn.execute(
        sa.select(sa.func.count()).where(mine, FlightRow.day == day)
    ).scalar_one()
    flagged = sa.func.sum(sa.case((ScoreRow.is_anomaly.is_(True), 1), else_=0))
    newest = conn.execute(
        sa.select(ScoreRow.model_id, flagged)
        .join(FlightRow, FlightRow.id == ScoreRow.flight_id)
        .where(mine, FlightRow.day == day)
        .group_by(ScoreRow.model_id)
        .order_by(ScoreRow.model_id.desc())
        .limit(1)
    ).first()
    return day, int(flights), 0 if newest is None else int(newest[1] or 0)


def receiver_status(engine: Engine, now: datetime) -> list[ReceiverStatus]:
    """Every receiver's status as of ``now`` (UTC-aware), by name."""
    out = []
    with engine.connect() as conn:
        receivers = conn.execute(
            sa.select(ReceiverRow.id, ReceiverRow.name).order_by(ReceiverRow.name)
        ).all()
        for rid, name in receivers:
            mine = PositionRow.receiver_id == rid
            last = conn.execute(sa.select(sa.func.max(PositionRow.ts)).where(mine)).scalar()
            recent = conn.execute(
                sa.select(sa.func.count()).where(mine, PositionRow.ts >= now - RECENT)
            ).scalar_one()
            models, newest = conn.execute(
                sa.select(sa.func.count(), sa.func.max(ModelRow.created_at)).where(
                    ModelRow.receiver_id == rid
                )
            ).one()
            day, flights, flagged = _latest_day(conn, rid)
            out.append(
                ReceiverStatus(
                    name=name,
                    last_position=last,
                    positions_recent=int(recent),
                    last_nightly=_last_nightly(conn, rid),
                    latest_day=day,
                    latest_day_flights=flights,
                    latest_day_flagged=flagged,
                    models=int(models),
                    newest_model_at=newest,
                )
            )
    return out


@dataclass
class IngestTotals:
    """A receiver's ingest counts over all its ingest runs: positions stored and duplicates
    skipped by format, rejected lines by reason."""

    accepted: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)


def ingest_totals(engine: Engine) -> dict[str, IngestTotals]:
    """Each receiver's ingest totals, by name, summed from the ``counts`` of its ingest runs
    (one row per file ingested or live feed run: a small table, read whole)."""
    out: dict[str, IngestTotals] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ReceiverRow.name, RunRow.counts)
            .join(ReceiverRow, ReceiverRow.id == RunRow.receiver_id)
            .where(RunRow.kind == INGEST)
        ).all()
    for name, counts in rows:
        if not isinstance(counts, dict):
            continue
        totals = out.setdefault(name, IngestTotals())
        fmt = str(counts.get("format") or "unknown")
        totals.accepted[fmt] += int(counts.get("accepted") or 0)
        totals.duplicates[fmt] += int(counts.get("duplicates") or 0)
        for reason, n in (counts.get("rejected_by_reason") or {}).items():
            totals.rejected[str(reason)] += int(n)
    return out


def database_size(engine: Engine) -> int:
    """The database's size in bytes (SQLite: its pages, the WAL aside; PostgreSQL: the
    server's ``pg_database_size``)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(size)
        return int(
            conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
        )


def schema_revision(engine: Engine) -> str | None:
    """The database's schema revision; raises SQLAlchemyError when it cannot be read."""
    return current_revision(engine)


def receivers_created(engine: Engine) -> dict[str, datetime]:
    """When each receiver was added, by name (a health check's grace before its first
    nightly run)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ReceiverRow.name, ReceiverRow.created_at)).all()
    return {name: created for name, created in rows}
