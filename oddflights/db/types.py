"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant.

    PostgreSQL stores it as ``timestamptz``. SQLite has no time type, so it is stored as REAL
    seconds since the epoch: exact for millisecond data, sortable, fast to bulk-insert, and
    readable in SQL with ``datetime(ts, 'unixepoch')``.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Float())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times must be timezone-aware")
        if dialect.name == "sqlite":
            return value.timestamp()
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=UTC)
        assert isinstance(value, datetime)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


# Positions on SQLite (migration 0010): every column an integer, ~half the bytes of REAL and
# text. PostgreSQL keeps its own types. db/positions.py writes and reads them in bulk; these
# types keep single-row ORM statements (counts, min/max of ts, deletes) working on both.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# SQLite's integer units of the position floats: finer than any source carries (Mode S: 25 ft,
# ~1 kt, 0.35 deg, 64 fpm; readsb traces: 0.1 kt and deg; SBS: whole numbers).
POSITION_SCALES: dict[str, int] = {
    # 1e-5 deg (1.1 m): finer than ADS-B's own position resolution (CPR: ~5 m airborne,
    # ~1.3 m on the ground), and it keeps |lat| and |lon| up to 83.8 deg in 3 bytes, not 4.
    "lat": 100_000,
    "lon": 100_000,
    "altitude_ft": 1,
    "groundspeed_kt": 10,
    "track_deg": 100,
    "vertical_rate_fpm": 1,
}
# Subtracted from those integers (after scaling) so that every value of the column fits the
# next smaller SQLite integer: any address in 3 bytes (not 4 from 800000 up), altitudes of
# -2,000 to 60,000 ft and tracks in 2 bytes (not 3 above 32,767).
POSITION_OFFSETS: dict[str, int] = {"icao24": 1 << 23, "altitude_ft": 30_000, "track_deg": 18_000}


class UTCMillis(TypeDecorator[datetime]):
    """A timezone-aware UTC instant: ``timestamptz`` on PostgreSQL, INTEGER milliseconds since
    the epoch on SQLite (6 bytes; finer times are truncated to the millisecond)."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times must be timezone-aware")
        if dialect.name == "sqlite":
            return to_millis(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, (int, float)):
            return _EPOCH + timedelta(milliseconds=int(value))
        assert isinstance(value, datetime)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def to_millis(t: datetime) -> int:
    """A tz-aware time as integer milliseconds since the epoch, truncated (exact: no float)."""
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


class ScaledFloat(TypeDecorator[float]):
    """A float: ``double precision`` on PostgreSQL, on SQLite an INTEGER of ``scale`` units
    less ``offset`` (1e5 for degrees of latitude: 3 bytes, 1.1 m)."""

    impl = sa.Float
    cache_ok = True

    def __init__(self, scale: int, offset: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.offset = offset

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.Float())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return round(float(value) * self.scale) - self.offset

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (int(value) + self.offset) / self.scale
        return float(value)


class HexText(TypeDecorator[str]):
    """Fixed-width lowercase hex or octal digits (an ICAO address, a squawk): text on
    PostgreSQL, their INTEGER value less ``offset`` on SQLite."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int, base: int, offset: int = 0) -> None:
        super().__init__(length)
        self.width = length
        self.base = base
        self.offset = offset

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.String(self.width))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return int(str(value), self.base) - self.offset

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "sqlite":
            return value
        digits = "x" if self.base == 16 else "o"
        return format(int(value) + self.offset, f"0{self.width}{digits}")


class CodedText(TypeDecorator[str]):
    """Text from a small vocabulary (callsigns, source names): text on PostgreSQL, on SQLite
    an INTEGER id into a dictionary table that db/positions.py fills and reads; there, only
    the bulk writer and readers can handle it."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.width = length

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.String(self.width))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None and dialect.name == "sqlite" and not isinstance(value, int):
            raise TypeError(
                f"{value!r}: on SQLite this column holds dictionary ids; "
                "write positions with oddflights.db.positions.write_positions"
            )
        return value
