"""Receivers in the database."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.models import (
    FlightRow,
    KnownRuleRow,
    LabelRow,
    ModelRow,
    PositionRow,
    ReceiverRow,
    RunRow,
    ScoreRow,
)
from oddflights.errors import NotFoundError
from oddflights.receivers import Receiver, ReceiverError


class ReceiverNotFound(NotFoundError):
    """No receiver of that name."""


def add_receiver(engine: Engine, receiver: Receiver) -> Receiver:
    """Store a new receiver; ReceiverError if the name is taken."""
    with engine.begin() as conn:
        taken = conn.execute(
            sa.select(ReceiverRow.id).where(ReceiverRow.name == receiver.name)
        ).first()
        if taken is not None:
            raise ReceiverError(f"a receiver named {receiver.name!r} already exists")
        new_id = conn.execute(
            sa.insert(ReceiverRow)
            .values(
                name=receiver.name,
                lat=receiver.lat,
                lon=receiver.lon,
                range_km=receiver.range_km,
                timezone=receiver.timezone,
                created_at=datetime.now(UTC),
            )
            .returning(ReceiverRow.id)
        ).scalar_one()
    return Receiver(
        name=receiver.name,
        lat=receiver.lat,
        lon=receiver.lon,
        range_km=receiver.range_km,
        timezone=receiver.timezone,
        id=int(new_id),
    )


def update_receiver(engine: Engine, receiver: Receiver) -> Receiver:
    """Set the place, range and zone of the receiver called ``receiver.name`` (the Docker
    start-up's variables); ReceiverNotFound if there is none."""
    with engine.begin() as conn:
        rid = conn.execute(
            sa.update(ReceiverRow)
            .where(ReceiverRow.name == receiver.name)
            .values(
                lat=receiver.lat,
                lon=receiver.lon,
                range_km=receiver.range_km,
                timezone=receiver.timezone,
            )
            .returning(ReceiverRow.id)
        ).scalar_one_or_none()
    if rid is None:
        raise ReceiverNotFound(f"no receiver named {receiver.name!r}")
    return Receiver(
        receiver.name, receiver.lat, receiver.lon, receiver.range_km, receiver.timezone, int(rid)
    )


def list_receivers(engine: Engine) -> list[Receiver]:
    """All receivers, by name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ReceiverRow.__table__).order_by(ReceiverRow.name)).all()
    return [_row(r) for r in rows]


def _row(r: sa.Row[tuple[object, ...]]) -> Receiver:
    m = r._mapping
    return Receiver(
        name=m["name"],
        lat=m["lat"],
        lon=m["lon"],
        range_km=m["range_km"],
        timezone=m["timezone"],
        id=m["id"],
    )


def get_receiver(engine: Engine, name: str) -> Receiver:
    """The receiver called ``name``; ReceiverNotFound otherwise."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(ReceiverRow.__table__).where(ReceiverRow.name == name)).first()
    if row is None:
        raise ReceiverNotFound(f"no receiver named {name!r} (see `oddflights receiver list`)")
    return _row(row)


def receiver_data_counts(engine: Engine, receiver_id: int) -> dict[str, int]:
    """How many positions and flights a receiver holds."""
    with engine.connect() as conn:
        positions = conn.execute(
            sa.select(sa.func.count()).where(PositionRow.receiver_id == receiver_id)
        ).scalar_one()
        flights = conn.execute(
            sa.select(sa.func.count()).where(FlightRow.receiver_id == receiver_id)
        ).scalar_one()
    return {"positions": int(positions), "flights": int(flights)}


def remove_receiver(engine: Engine, name: str) -> dict[str, int]:
    """Delete a receiver and everything recorded for it; returns what was removed."""
    receiver = get_receiver(engine, name)
    assert receiver.id is not None
    counts = receiver_data_counts(engine, receiver.id)
    with engine.begin() as conn:
        # Explicit deletes rather than relying on ON DELETE CASCADE, which SQLite only
        # honours when foreign keys are switched on for the connection.
        flight_ids = sa.select(FlightRow.id).where(FlightRow.receiver_id == receiver.id)
        conn.execute(sa.delete(ScoreRow).where(ScoreRow.flight_id.in_(flight_ids)))
        for table in (FlightRow, ModelRow, RunRow, PositionRow, KnownRuleRow, LabelRow):
            conn.execute(sa.delete(table).where(table.receiver_id == receiver.id))
        conn.execute(sa.delete(ReceiverRow).where(ReceiverRow.id == receiver.id))
    return counts
