"""PostgreSQL positions partitioned by UTC day (migration 0011): creating days ahead, and
detaching and dropping old ones. SQLite has one positions table; everything here is a no-op
there.

Each UTC day is a partition ``positions_pYYYYMMDD`` of range [day 00:00, next day 00:00) on
``ts``; ``positions_default`` takes rows of any day that has none yet, so a row is never
refused. Creating a day's partition moves that day's rows out of the default first:
PostgreSQL refuses a partition whose range has rows in the default.

A new day is made as a plain table, the default's rows for the day moved into it, then
attached (PostgreSQL's documented way): ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on
``positions``, so reads and COPYs into other days go on, where CREATE TABLE … PARTITION OF
takes an ACCESS EXCLUSIVE lock that would queue every reader behind a long read. Creators are
serialized by a transaction-level advisory lock (two ingest processes racing for the same day
would otherwise both try to create it); every lock is waited for at most LOCK_TIMEOUT_MS, and
a day that could not be made now is tried again later, its rows meanwhile in the default.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.errors import OddflightsError

_log = logging.getLogger(__name__)

PARENT = "positions"
DEFAULT = "positions_default"
# Held while partitions are created or dropped; per schema, so test schemas do not queue.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.oddflights.partitions'))"
LOCK_TIMEOUT_MS = 2_000
# Days created ahead of today (UTC) by the nightly and of each new day by ingest.
DAYS_AHEAD = 2
# A batch spanning more days than this gets only its first and last day's partitions (a
# stray timestamp must not create years of empty tables); its other rows go to the default
# and move when their day is created.
MAX_BATCH_DAYS = 62
# After a failed attempt (a lock not granted in time), ingest waits this long to retry.
RETRY_S = 60.0


class PartitionError(OddflightsError, RuntimeError):
    """A partition could not be created or dropped (a lock not granted in time: run again)."""

    http_status = 409


# PostgreSQL's SQLSTATEs for the errors handled here: by code, so that SQLite users never
# import the PostgreSQL driver (this module is imported by the positions writer).
_LOCK_NOT_AVAILABLE = "55P03"
_DUPLICATE_TABLE = "42P07"
_UNIQUE_VIOLATION = "23505"


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def partition_name(day: date) -> str:
    """The partition holding the UTC ``day``."""
    return f"{PARENT}_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    """The UTC instant ``day`` starts."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class Partition:
    """A day partition and its range [start, end) (UTC)."""

    name: str
    start: datetime
    end: datetime


def is_partitioned(conn: sa.Connection) -> bool:
    """Whether ``positions`` is a partitioned table (PostgreSQL at revision 0011 or later)."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%(t)s)", {"t": PARENT}
    ).first()
    return found is not None


_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def list_partitions(conn: sa.Connection) -> list[Partition]:
    """The day partitions of ``positions`` (not the default), oldest first."""
    if not is_partitioned(conn):
        return []
    # Bounds are printed in the session's zone: UTC, so they parse the same everywhere.
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%(t)s)",
        {"t": PARENT},
    ).all()
    out = []
    for name, bound in rows:
        m = _BOUND.search(bound or "")
        if m is None:  # the default partition
            continue
        start, end = (datetime.fromisoformat(v).astimezone(UTC) for v in m.groups())
        out.append(Partition(str(name), start, end))
    return sorted(out, key=lambda p: p.start)


def _lock(conn: sa.Connection) -> None:
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}")
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    conn.exec_driver_sql(LOCK_SQL)


def _create_day(conn: sa.Connection, day: date) -> bool:
    """Create the UTC ``day``'s partition in the caller's transaction (which holds the lock),
    moving its rows out of the default; False if it exists."""
    name = partition_name(day)
    exists = conn.exec_driver_sql("SELECT to_regclass(%(n)s)", {"n": name}).scalar()
    if exists is not None:
        return False
    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    bounds = {"lo": lo, "hi": hi}
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
    # The range as a constraint lets ATTACH skip its scan of the new table.
    conn.exec_driver_sql(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_range "
        f"CHECK (ts IS NOT NULL AND ts >= '{lo.isoformat()}' AND ts < '{hi.isoformat()}')"
    )
    moved = 0
    if conn.exec_driver_sql(f"SELECT to_regclass('{DEFAULT}')").scalar() is not None:
        moved = conn.exec_driver_sql(
            f"WITH m AS (DELETE FROM {DEFAULT} WHERE ts >= %(lo)s AND ts < %(hi)s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM m",
            bounds,
        ).rowcount
    conn.exec_driver_sql(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
        f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
    )
    conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    if moved:
        _log.info("partition %s created; %d rows moved from %s", name, moved, DEFAULT)
    return True


def ensure_partitions(engine: Engine, start: date, end: date) -> list[str]:
    """Make sure the UTC days ``start`` to ``end`` (both included) have their partitions;
    returns the names created. Idempotent and safe to run from several processes at once.
    No-op on SQLite and before migration 0011. A lock not granted within LOCK_TIMEOUT_MS is
    a PartitionError (nothing is lost: the days' rows wait in the default)."""
    return _ensure_days(engine, _days(start, end)) or []


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


def _ensure_days(engine: Engine, days: Iterable[date]) -> list[str] | None:
    """The partitions created; None when positions is not partitioned."""
    if engine.dialect.name != "postgresql":
        return None
    created: list[str] = []
    for day in days:
        # One short transaction per day: a backfill of many days never holds the locks long.
        for attempt in range(3):
            try:
                with engine.begin() as conn:
                    if not is_partitioned(conn):
                        return None
                    _lock(conn)
                    if _create_day(conn, day):
                        created.append(partition_name(day))
                break
            except sa.exc.DBAPIError as exc:
                state = _sqlstate(exc)
                if state == _LOCK_NOT_AVAILABLE:
                    raise PartitionError(
                        f"partition {partition_name(day)}: lock not granted in {LOCK_TIMEOUT_MS} ms"
                    ) from None
                # Another creator without the advisory lock (an older version) got there
                # first: the next attempt finds the table.
                if state not in (_DUPLICATE_TABLE, _UNIQUE_VIOLATION) or attempt == 2:
                    raise
    return created


def ensure_partitions_ahead(engine: Engine, today: date | None = None) -> list[str]:
    """The nightly's call: partitions for today (UTC) and DAYS_AHEAD days after it. A lock
    not granted in time is logged, never a failed night."""
    first = today or datetime.now(UTC).date()
    try:
        return ensure_partitions(engine, first, first + timedelta(days=DAYS_AHEAD))
    except (PartitionError, sa.exc.SQLAlchemyError) as exc:
        _log.warning("%s; tried again by ingest and the next nightly", _first_line(exc))
        return []


def _first_line(exc: BaseException) -> str:
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]


@dataclass
class _Seen:
    """Per process and database: days known to have their partition, and when a failed
    attempt may be retried."""

    days: set[date] = field(default_factory=set)
    retry_at: float = 0.0


_seen: dict[str, _Seen] = {}
_seen_lock = threading.Lock()


def ensure_for_batch(engine: Engine, lo: datetime, hi: datetime) -> None:
    """Ingest's call before writing positions from ``lo`` to ``hi`` (UTC): their days and
    DAYS_AHEAD after the last get partitions. Cached per process, so a batch of a day already
    seen costs nothing; a failure is logged (the rows go to the default) and retried after
    RETRY_S, never raised."""
    if engine.dialect.name != "postgresql":
        return
    first, last = lo.astimezone(UTC).date(), hi.astimezone(UTC).date()
    if (last - first).days < MAX_BATCH_DAYS:
        wanted = _days(first, last + timedelta(days=DAYS_AHEAD))
    else:
        wanted = [first, last]
    key = engine.url.render_as_string(hide_password=False)
    with _seen_lock:
        seen = _seen.setdefault(key, _Seen())
        todo = [d for d in wanted if d not in seen.days]
        if not todo or time.monotonic() < seen.retry_at:
            return
    try:
        if _ensure_days(engine, todo) is None:
            return  # not cached: the database may be migrated later in this process
    except (PartitionError, sa.exc.SQLAlchemyError) as exc:
        # Never the write's failure: its rows wait in the default (a database that is down
        # fails the COPY next, which ingest handles).
        _log.warning("%s; these rows go to %s until it is made", _first_line(exc), DEFAULT)
        with _seen_lock:
            seen.retry_at = time.monotonic() + RETRY_S
        return
    with _seen_lock:
        seen.days.update(todo)


def forget_cache() -> None:
    """Forget which days this process has seen (after partitions were dropped or the schema
    changed under it)."""
    with _seen_lock:
        _seen.clear()


@dataclass(frozen=True)
class Dropped:
    """Partitions detached and dropped, and the rows they held per receiver."""

    names: list[str]
    rows_by_receiver: dict[int, int]


def drop_partitions_before(engine: Engine, before: datetime) -> Dropped:
    """Detach and drop every day partition whose whole day is before ``before`` (UTC-aware);
    the rows they held are counted per receiver first (for the prune's report). One short
    transaction per partition, oldest first; a lock not granted in time stops there (logged).
    Rows of such days in the default are not touched (the chunked
    delete takes them). No-op on SQLite and before migration 0011."""
    if before.tzinfo is None:
        raise ValueError(f"naive datetime {before!r}: the cutoff must be timezone-aware")
    if engine.dialect.name != "postgresql":
        return Dropped([], {})
    with engine.begin() as conn:
        old = [p for p in list_partitions(conn) if p.end <= before]
    names: list[str] = []
    rows: dict[int, int] = {}
    for part in old:
        try:
            with engine.begin() as conn:
                _lock(conn)
                if conn.exec_driver_sql("SELECT to_regclass(%(n)s)", {"n": part.name}).scalar():
                    counts = conn.exec_driver_sql(
                        f"SELECT receiver_id, count(*) FROM {part.name} GROUP BY receiver_id"
                    ).all()
                    # Plain DETACH: CONCURRENTLY is refused while a default partition exists.
                    conn.exec_driver_sql(f"ALTER TABLE {PARENT} DETACH PARTITION {part.name}")
                    conn.exec_driver_sql(f"DROP TABLE {part.name}")
                else:
                    continue  # dropped meanwhile by another prune
        except sa.exc.DBAPIError as exc:
            if _sqlstate(exc) != _LOCK_NOT_AVAILABLE:
                raise
            # A long reader holds the table: stop here, the chunked delete takes the rest.
            _log.warning("partition %s: lock not granted in %d ms", part.name, LOCK_TIMEOUT_MS)
            break
        for rid, n in counts:
            rows[int(rid)] = rows.get(int(rid), 0) + int(n)
        names.append(part.name)
    if names:
        forget_cache()
        _log.info("dropped %d partitions before %s", len(names), before.isoformat())
    return Dropped(names, rows)
