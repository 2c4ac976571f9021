"""The web page's own reads: a read-only engine, day summaries, and a flight's scores.

Everything else the page shows comes from the stages' own query modules (flights, scores,
registry, receivers); only what they lack is here.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from oddflights.db.engine import DatabaseError, create_engine, current_revision, head_revision
from oddflights.db.known import list_rules
from oddflights.db.models import AircraftRow, FlightRow, ModelRow, ScoreRow
from oddflights.known import match_flights

# What day_summaries returns (the JSON of /api/days/{receiver}), newest day first.
DAY_COLUMNS = ("day", "flights", "scored", "flagged", "model_id")

# What flight_scores returns: one row per model that scored the flight, newest model first.
FLIGHT_SCORE_COLUMNS = (
    "model_id",
    "model_status",
    "train_from",
    "train_to",
    "score",
    "rank",
    "threshold",
    "is_anomaly",
    "tags",
)


def _sqlite_readonly_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # Wait for a writer (ingest, nightly) rather than fail at once; no journal_mode pragma:
    # a read-only connection cannot change it, and the writers keep the file in WAL.
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA query_only=ON")
    cur.close()


def _postgres_readonly(dbapi_conn: Any, _record: Any) -> None:
    # SET is transactional in PostgreSQL: run it in autocommit so that the pool's rollback
    # of a later transaction cannot undo it.
    was = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    cur = dbapi_conn.cursor()
    cur.execute("SET default_transaction_read_only = on")
    cur.close()
    dbapi_conn.autocommit = was


def open_readonly(url: str) -> Engine:
    """An engine that can only read the database at ``url`` (SQLite opened with
    ``mode=ro``; PostgreSQL sessions with ``default_transaction_read_only``).

    The database must exist and be at the newest schema revision: a read-only reader cannot
    migrate it. DatabaseError says what is wrong."""
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseError(f"cannot open {url} read-only: it names no database file")
        path = Path(parsed.database).expanduser().resolve()
        if not path.is_file():
            raise DatabaseError(f"cannot open {url}: no database file at {path}")
        uri = path.as_uri() + "?mode=ro"

        def connect() -> sqlite3.Connection:
            # The pool hands connections to the web server's worker threads.
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

        # An explicit QueuePool: for a "sqlite://" URL SQLAlchemy would pick SingletonThreadPool,
        # which closes connections of other threads once more than five exist, under a query
        # still running there (a segfault in the threaded web server).
        engine = sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.QueuePool)
        sa.event.listen(engine, "connect", _sqlite_readonly_pragmas)
    else:
        engine = create_engine(url)
        if engine.dialect.name == "postgresql":
            sa.event.listen(engine, "connect", _postgres_readonly)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot open {url}: {reason}") from None
    if revision != head_revision():
        engine.dispose()
        raise DatabaseError(
            f"database {url} is at schema revision {revision or 'none'}, not "
            f"{head_revision()}: run `oddflights db upgrade --db URL` first"
        )
    return engine


def _flagged_q(receiver_id: int) -> Any:
    """The receiver's flagged scores with what a known-flight rule matches on."""
    return (
        sa.select(
            FlightRow.day,
            ScoreRow.model_id,
            FlightRow.icao24,
            FlightRow.callsign,
            FlightRow.start_ts,
            AircraftRow.registration,
            AircraftRow.type_code,
        )
        .join(FlightRow, FlightRow.id == ScoreRow.flight_id)
        .outerjoin(AircraftRow, AircraftRow.icao24 == FlightRow.icao24)
        .where(FlightRow.receiver_id == receiver_id, ScoreRow.is_anomaly.is_(True))
    )


def day_summaries(engine: Engine, receiver_id: int) -> pd.DataFrame:
    """Per day with flights, newest first (DAY_COLUMNS): flights built, and the flights scored
    and flagged by the newest model that scored the day (``model_id`` None: not scored).

    Flagged counts what `anomalies` lists: flights a known-flight rule matches are left out
    (the rules are applied when read, as query_anomalies does)."""
    flights_q = (
        sa.select(FlightRow.day, sa.func.count().label("flights"))
        .where(FlightRow.receiver_id == receiver_id)
        .group_by(FlightRow.day)
    )
    flagged = sa.func.sum(sa.case((ScoreRow.is_anomaly.is_(True), 1), else_=0))
    scores_q = (
        sa.select(
            FlightRow.day,
            ScoreRow.model_id,
            sa.func.count().label("scored"),
            flagged.label("flagged"),
        )
        .join(FlightRow, FlightRow.id == ScoreRow.flight_id)
        .where(FlightRow.receiver_id == receiver_id)
        .group_by(FlightRow.day, ScoreRow.model_id)
    )
    rules = list_rules(engine, receiver_id)
    with engine.connect() as conn:
        flights = conn.execute(flights_q).all()
        scores = conn.execute(scores_q).all()
        # Only with rules: every flagged flight of the receiver, to match them.
        flagged_rows = conn.execute(_flagged_q(receiver_id)).all() if rules else []
    # The newest model of each day: the same choice as query_anomalies without a model.
    newest: dict[date, tuple[int, int, int]] = {}
    for day, model_id, scored, n_flagged in scores:
        if day not in newest or model_id > newest[day][0]:
            newest[day] = (int(model_id), int(scored), int(n_flagged or 0))
    if flagged_rows:
        shown = [r for r in flagged_rows if newest[r.day][0] == r.model_id]
        matched = match_flights(
            rules,
            [(r.icao24, r.callsign, r.start_ts, r.day) for r in shown],
            aircraft={r.icao24.lower(): (r.registration, r.type_code) for r in shown},
        )
        for r, rule in zip(shown, matched, strict=True):
            if rule is not None:
                model_id, scored, n_flagged = newest[r.day]
                newest[r.day] = (model_id, scored, n_flagged - 1)
    rows = []
    for day, n in sorted(flights, key=lambda r: r[0], reverse=True):
        model_id, scored, n_flagged = newest.get(day, (None, 0, 0))
        rows.append(
            {
                "day": day,
                "flights": int(n),
                "scored": scored,
                "flagged": n_flagged,
                "model_id": model_id,
            }
        )
    return pd.DataFrame(rows, columns=list(DAY_COLUMNS))


def flight_scores(engine: Engine, flight_id: int) -> pd.DataFrame:
    """A flight's score under every model that scored it, newest model first
    (FLIGHT_SCORE_COLUMNS); empty when it was never scored."""
    query = (
        sa.select(
            ScoreRow.model_id,
            ModelRow.status.label("model_status"),
            ModelRow.train_from,
            ModelRow.train_to,
            ScoreRow.score,
            ScoreRow.rank,
            ScoreRow.threshold,
            ScoreRow.is_anomaly,
            ScoreRow.tags,
        )
        .join(ModelRow, ModelRow.id == ScoreRow.model_id)
        .where(ScoreRow.flight_id == flight_id)
        .order_by(ScoreRow.model_id.desc())
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    df = pd.DataFrame(rows, columns=list(FLIGHT_SCORE_COLUMNS))
    df["is_anomaly"] = df["is_anomaly"].astype(bool)
    return df


def receiver_day_counts(engine: Engine) -> dict[int, dict[str, Any]]:
    """Per receiver id: days with flights, flights, and the last such day (None if none)."""
    query = sa.select(
        FlightRow.receiver_id,
        sa.func.count(sa.distinct(FlightRow.day)),
        sa.func.count(),
        sa.func.max(FlightRow.day),
    ).group_by(FlightRow.receiver_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        int(rid): {"days": int(days), "flights": int(n), "last_day": last}
        for rid, days, n, last in rows
    }
