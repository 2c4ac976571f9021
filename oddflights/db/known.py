"""Known-flight rules in the database (table ``known_rules``, migration 0006): add, list,
remove, and the rules of a receiver for the anomalies query to apply."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from oddflights.db.models import FlightRow, KnownRuleRow, ReceiverRow
from oddflights.errors import NotFoundError
from oddflights.known import KINDS, KnownRule, KnownRuleError


class KnownRuleNotFound(NotFoundError):
    """No known-flight rule with that id."""


def _rule(row: Any) -> KnownRule:
    m = row._mapping
    return KnownRule(
        id=int(m["id"]),
        receiver_id=int(m["receiver_id"]),
        kind=m["kind"],
        pattern=m["pattern"],
        reason=m["reason"],
        until_day=m["until_day"],
        flight_start=m["flight_start"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        receiver=m["receiver"],
    )


def _select() -> sa.Select[Any]:
    return sa.select(*KnownRuleRow.__table__.c, ReceiverRow.name.label("receiver")).join(
        ReceiverRow, ReceiverRow.id == KnownRuleRow.receiver_id
    )


def add_rule(
    engine: Engine,
    receiver_id: int,
    kind: str,
    pattern: str,
    *,
    reason: str | None = None,
    until_day: date | None = None,
    flight_start: datetime | None = None,
    created_by: str = "cli",
) -> KnownRule:
    """Store a rule whose pattern was checked by oddflights.known (icao24_pattern,
    callsign_pattern, registration_pattern, type_pattern); returns it with its id."""
    if kind not in KINDS:
        raise KnownRuleError(f"unknown rule kind {kind!r} (choose from {', '.join(KINDS)})")
    if (kind == "flight") != (flight_start is not None):
        raise KnownRuleError("a flight rule, and only one, has the flight's start")
    with engine.begin() as conn:
        new_id = conn.execute(
            sa.insert(KnownRuleRow)
            .values(
                receiver_id=receiver_id,
                kind=kind,
                pattern=pattern,
                reason=reason,
                until_day=until_day,
                flight_start=flight_start,
                created_at=datetime.now(UTC),
                created_by=created_by,
            )
            .returning(KnownRuleRow.id)
        ).scalar_one()
        row = conn.execute(_select().where(KnownRuleRow.id == new_id)).one()
    return _rule(row)


def add_flight_rule(
    engine: Engine,
    flight_id: int,
    *,
    receiver_id: int | None = None,
    reason: str | None = None,
    until_day: date | None = None,
    created_by: str = "cli",
) -> KnownRule:
    """A rule for one stored flight (by its natural key, so it outlives a rebuild of its
    day). NotFoundError when there is no such flight; KnownRuleError when ``receiver_id`` is
    given and the flight is another receiver's."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(FlightRow.receiver_id, FlightRow.icao24, FlightRow.start_ts).where(
                FlightRow.id == flight_id
            )
        ).first()
    if row is None:
        raise NotFoundError(f"no flight with id {flight_id}")
    if receiver_id is not None and row.receiver_id != receiver_id:
        raise KnownRuleError(f"flight {flight_id} is another receiver's")
    return add_rule(
        engine,
        int(row.receiver_id),
        "flight",
        str(row.icao24),
        reason=reason,
        until_day=until_day,
        flight_start=row.start_ts,
        created_by=created_by,
    )


def list_rules(engine: Engine, receiver_id: int | None = None) -> list[KnownRule]:
    """The rules (of one receiver, or all), by id."""
    query = _select().order_by(KnownRuleRow.id)
    if receiver_id is not None:
        query = query.where(KnownRuleRow.receiver_id == receiver_id)
    with engine.connect() as conn:
        return [_rule(r) for r in conn.execute(query).all()]


def receiver_rules(conn: Connection | Engine, receiver_id: int, day: date) -> list[KnownRule]:
    """A receiver's rules active on ``day`` (until_day on or after it), by id."""
    query = (
        _select()
        .where(
            KnownRuleRow.receiver_id == receiver_id,
            sa.or_(KnownRuleRow.until_day.is_(None), KnownRuleRow.until_day >= day),
        )
        .order_by(KnownRuleRow.id)
    )
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return [_rule(r) for r in c.execute(query).all()]
    return [_rule(r) for r in conn.execute(query).all()]


def remove_rule(engine: Engine, rule_id: int) -> KnownRule:
    """Delete a rule; returns it. KnownRuleNotFound when there is none with that id."""
    with engine.begin() as conn:
        row = conn.execute(_select().where(KnownRuleRow.id == rule_id)).first()
        if row is None:
            raise KnownRuleNotFound(f"no known-flight rule with id {rule_id} (see `known list`)")
        conn.execute(sa.delete(KnownRuleRow).where(KnownRuleRow.id == rule_id))
    return _rule(row)
