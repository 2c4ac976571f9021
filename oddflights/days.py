"""Days as a user writes them, for the CLI and the web alike: ``YYYY-MM-DD`` and nothing else.

``date.fromisoformat`` also takes ``20261130`` and ``2026-W48-1``; an option or an address has
one spelling of a day, so both refuse those with the same message.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from oddflights.errors import OddflightsError

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Ten years of days: more is a typo in the year, not a range anyone means to build or score.
MAX_DAYS = 3660


class DayError(OddflightsError, ValueError):
    """A day that is not ``YYYY-MM-DD``, or a range of days that is empty or too long."""


def parse_day(text: str, what: str = "") -> date:
    """The day ``text`` spells as ``YYYY-MM-DD``; DayError otherwise. ``what`` (e.g. ``--day``)
    starts the message: ``--day '2026-13-01' is not a day (use YYYY-MM-DD)``."""
    prefix = f"{what} " if what else ""
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise DayError(f"{prefix}{text!r} is not a day (use YYYY-MM-DD)") from None


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included; DayError when ``last`` is before
    ``first`` or the range is longer than MAX_DAYS."""
    if last < first:
        raise DayError(f"the last day {last} is before the first day {first}")
    n = (last - first).days + 1
    if n > MAX_DAYS:
        raise DayError(f"{first} to {last} spans {n} days (at most {MAX_DAYS})")
    return [first + timedelta(days=i) for i in range(n)]
