"""A receiver: where it is, how far it sees, and which time zone its days are in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oddflights.errors import OddflightsError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ReceiverError(OddflightsError, ValueError):
    """A receiver's values are invalid (the message names the value)."""


@dataclass(frozen=True)
class Receiver:
    """A receiver as every stage sees it."""

    name: str
    lat: float
    lon: float
    range_km: float = 200.0
    timezone: str = "UTC"
    id: int | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ReceiverError(
                f"receiver name {self.name!r} must be 1-64 letters, digits, '_', '.' or '-'"
            )
        if not -90.0 <= self.lat <= 90.0:
            raise ReceiverError(f"latitude {self.lat} is outside -90..90")
        if not -180.0 <= self.lon <= 180.0:
            raise ReceiverError(f"longitude {self.lon} is outside -180..180")
        if not 1.0 <= self.range_km <= 1000.0:
            raise ReceiverError(f"range {self.range_km} km is outside 1..1000 km")
        check_timezone(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """The UTC-aware [start, end) of a calendar day in the receiver's zone."""
        return local_day_bounds(day, self.zone)


def check_timezone(name: str) -> ZoneInfo:
    """The zone called ``name``, or a ReceiverError that names it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReceiverError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        ) from None


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC-aware [start, end) of ``day`` in ``zone`` (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
