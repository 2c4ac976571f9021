"""The ``alert_deliveries`` table: which flagged flight went to which alert target, and which
are still to be retried. A flight is named by its natural key (receiver, icao24, start)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.models import AlertDeliveryRow, ReceiverRow

SENT = "sent"
FAILED = "failed"

DELIVERY_COLUMNS = (
    "receiver",
    "day",
    "flight_id",
    "icao24",
    "start",
    "target",
    "status",
    "attempts",
    "last_error",
    "tried_at",
    "sent_at",
)


@dataclass(frozen=True)
class FlightKey:
    """A flight by its natural key: it survives a rebuild of the day (new flight ids)."""

    icao24: str
    start: datetime


def flight_key(icao24: str, start: datetime) -> FlightKey:
    """The key of a flight (``start`` any aware time, a pandas Timestamp too)."""
    # Rounded to the millisecond: SQLite keeps times as REAL seconds, whose last digits a
    # round trip may change.
    return FlightKey(icao24, pd.Timestamp(start).tz_convert(UTC).round("ms").to_pydatetime())


def delivery_status(
    engine: Engine, receiver_id: int, target: str, days: Iterable[date]
) -> dict[FlightKey, str]:
    """The recorded status (sent | failed) of each flight of ``days`` for ``target``."""
    day_list = sorted(set(days))
    if not day_list:
        return {}
    query = sa.select(
        AlertDeliveryRow.icao24, AlertDeliveryRow.start_ts, AlertDeliveryRow.status
    ).where(
        AlertDeliveryRow.receiver_id == receiver_id,
        AlertDeliveryRow.target == target,
        AlertDeliveryRow.day.in_(day_list),
    )
    with engine.connect() as conn:
        return {flight_key(i, s): st for i, s, st in conn.execute(query).all()}


def failed_days(
    engine: Engine, receiver_id: int, target: str, since: date, until: date
) -> list[date]:
    """The days in [since, until] with a flight whose delivery to ``target`` failed."""
    query = (
        sa.select(AlertDeliveryRow.day)
        .where(
            AlertDeliveryRow.receiver_id == receiver_id,
            AlertDeliveryRow.target == target,
            AlertDeliveryRow.status == FAILED,
            AlertDeliveryRow.day >= since,
            AlertDeliveryRow.day <= until,
        )
        .distinct()
        .order_by(AlertDeliveryRow.day)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def record_deliveries(
    engine: Engine,
    receiver_id: int,
    target: str,
    day: date,
    flights: Iterable[tuple[int, str, datetime]],
    error: str | None = None,
) -> int:
    """Record one attempt to send ``flights`` ((flight_id, icao24, start) each) of ``day`` to
    ``target``: sent when ``error`` is None, else failed with it. A flight already recorded
    gets one more attempt; one sent stays sent. Returns the rows written."""
    now = datetime.now(UTC)
    status = SENT if error is None else FAILED
    wanted = {flight_key(i, s): int(f) for f, i, s in flights}
    if not wanted:
        return 0
    table = AlertDeliveryRow
    with engine.begin() as conn:
        found = {
            flight_key(i, s): (row_id, st)
            for row_id, i, s, st in conn.execute(
                # By natural key alone (not the day): the key is unique per target.
                sa.select(table.id, table.icao24, table.start_ts, table.status).where(
                    table.receiver_id == receiver_id,
                    table.target == target,
                    table.start_ts.in_(sorted({k.start for k in wanted})),
                )
            ).all()
        }
        new = []
        for key, flight_id in wanted.items():
            if key not in found:
                new.append(
                    dict(
                        receiver_id=receiver_id,
                        day=day,
                        flight_id=flight_id,
                        icao24=key.icao24,
                        start_ts=key.start,
                        target=target,
                        status=status,
                        attempts=1,
                        last_error=error,
                        tried_at=now,
                        sent_at=now if error is None else None,
                    )
                )
                continue
            row_id, was = found[key]
            if was == SENT:
                continue
            conn.execute(
                sa.update(table)
                .where(table.id == row_id)
                .values(
                    flight_id=flight_id,
                    status=status,
                    attempts=table.attempts + 1,
                    last_error=error,
                    tried_at=now,
                    sent_at=now if error is None else None,
                )
            )
        if new:
            conn.execute(sa.insert(table), new)
    return len(wanted)


def list_deliveries(
    engine: Engine, receiver_id: int | None = None, day: date | None = None
) -> pd.DataFrame:
    """Recorded deliveries (DELIVERY_COLUMNS; times tz-aware UTC), by day, target, start."""
    t = AlertDeliveryRow
    query = (
        sa.select(
            ReceiverRow.name.label("receiver"),
            t.day,
            t.flight_id,
            t.icao24,
            t.start_ts.label("start"),
            t.target,
            t.status,
            t.attempts,
            t.last_error,
            t.tried_at,
            t.sent_at,
        )
        .join(ReceiverRow, ReceiverRow.id == t.receiver_id)
        .order_by(t.day, t.target, t.start_ts, t.icao24)
    )
    if receiver_id is not None:
        query = query.where(t.receiver_id == receiver_id)
    if day is not None:
        query = query.where(t.day == day)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=list(DELIVERY_COLUMNS))
