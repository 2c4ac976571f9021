"""Known flights: the owner's rules that say "I know that one" (a police helicopter, the
flying club's circuits), and which flights they match.

A rule names an aircraft (``icao24``), a callsign (``callsign``), a registration
(``registration``), an aircraft type code (``type``) or one flight (``flight``). Patterns are
case-insensitive globs: ``*`` any run of characters, ``?`` one character. Dashes in a callsign
pattern are ignored, because callsigns carry none: ``HB-Z??`` (a registration as people write
it) matches the callsign ``HBZAB``; dashes are ignored on both sides of a registration match
(``HBZ*`` matches ``HB-ZAB``). Registration and type come from the aircraft table (readsb
traces), looked up by icao24 when the rules are applied; an aircraft it does not know matches
no such rule. A rule may end on an ``until`` day (inclusive, a day in the receiver's zone, as
flights' days are).

Known flights are still scored and stored; the rules are applied when the anomalies are
read, so a rule added today applies to every past day, scored or rescored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import translate
from typing import Any

from oddflights.errors import OddflightsError

KINDS = ("icao24", "callsign", "registration", "type", "flight")
_ICAO24_PATTERN = re.compile(r"[0-9A-F*?]{1,6}")
_CALLSIGN_PATTERN = re.compile(r"[A-Z0-9*?-]{1,16}")
_TYPE_PATTERN = re.compile(r"[A-Z0-9*?]{1,8}")
_HEX = re.compile(r"[0-9A-F]{6}")
# Reason text: one line, short enough for a table cell and an alert.
MAX_REASON = 200


class KnownRuleError(OddflightsError, ValueError):
    """A known-flight rule that cannot be stored (the message names the value)."""


@dataclass(frozen=True)
class KnownRule:
    """A stored rule. For ``kind == "flight"``, ``pattern`` is the flight's icao24 and
    ``flight_start`` its start (its natural key, which outlives a rebuild of its day)."""

    id: int
    receiver_id: int
    kind: str
    pattern: str
    reason: str | None = None
    until_day: date | None = None
    flight_start: datetime | None = None
    created_at: datetime | None = None
    created_by: str = "cli"
    receiver: str = ""  # the receiver's name, for listing

    def active_on(self, day: date) -> bool:
        """Whether the rule covers flights of ``day`` (``until_day`` included)."""
        return self.until_day is None or day <= self.until_day


def icao24_pattern(text: str) -> str:
    """An aircraft pattern as stored (lower case, as icao24s are): six hex digits, or a glob
    of hex digits, ``*`` and ``?`` no longer than that. KnownRuleError otherwise."""
    up = text.strip().upper()
    if not _ICAO24_PATTERN.fullmatch(up):
        raise KnownRuleError(
            f"--icao24 {text!r} is not an aircraft address: 6 hex digits (e.g. 3c6444), "
            "or a glob of hex digits, '*' and '?' (e.g. 3c64*)"
        )
    if "*" not in up and len(up) != 6:
        raise KnownRuleError(
            f"--icao24 {text!r} has {len(up)} characters: an aircraft address has 6 hex digits "
            "(end it with '*' to match a prefix)"
        )
    return up.lower()


def callsign_pattern(text: str) -> str:
    """A callsign pattern as stored (upper case): letters, digits, ``*``, ``?`` and dashes
    (ignored when matching), at most 16 characters; KnownRuleError otherwise."""
    up = text.strip().upper()
    if not _CALLSIGN_PATTERN.fullmatch(up) or not up.replace("-", ""):
        raise KnownRuleError(
            f"--callsign {text!r} is not a callsign pattern: letters, digits, '*', '?' and "
            "'-', at most 16 characters (e.g. POLICE*, HB-Z??)"
        )
    if len(up.replace("-", "").replace("*", "")) > 8:
        raise KnownRuleError(
            f"--callsign {text!r} can never match: callsigns have at most 8 characters"
        )
    return up


def registration_pattern(text: str) -> str:
    """A registration pattern as stored (upper case): letters, digits, ``*``, ``?`` and
    dashes (ignored when matching), at most 16 characters; KnownRuleError otherwise."""
    up = text.strip().upper()
    if not _CALLSIGN_PATTERN.fullmatch(up) or not up.replace("-", ""):
        raise KnownRuleError(
            f"--registration {text!r} is not a registration pattern: letters, digits, '*', "
            "'?' and '-', at most 16 characters (e.g. HB-Z*, D-E???)"
        )
    return up


def type_pattern(text: str) -> str:
    """An aircraft type code pattern as stored (upper case): letters, digits, ``*`` and ``?``,
    at most 8 characters (ICAO type designators such as EC35, A320); KnownRuleError
    otherwise."""
    up = text.strip().upper()
    if not _TYPE_PATTERN.fullmatch(up):
        raise KnownRuleError(
            f"--type {text!r} is not a type code pattern: letters, digits, '*' and '?', at "
            "most 8 characters (e.g. EC35, A3??)"
        )
    return up


def check_reason(text: str | None) -> str | None:
    """The reason as stored (stripped, None when empty); KnownRuleError when it is more than
    one line or longer than MAX_REASON characters."""
    if text is None or not text.strip():
        return None
    reason = text.strip()
    if "\n" in reason or "\r" in reason:
        raise KnownRuleError("--reason must be one line")
    if len(reason) > MAX_REASON:
        raise KnownRuleError(f"--reason has {len(reason)} characters (at most {MAX_REASON})")
    return reason


def is_icao24(text: str) -> bool:
    """Whether ``text`` is a full 6-digit hex aircraft address (any case)."""
    return bool(_HEX.fullmatch(text.upper()))


class _Compiled:
    """A rule's pattern compiled once for matching many flights."""

    def __init__(self, rule: KnownRule) -> None:
        self.rule = rule
        pattern = rule.pattern.upper()
        if rule.kind in ("callsign", "registration"):
            pattern = pattern.replace("-", "")
        self.regex = re.compile(translate(pattern)) if rule.kind != "flight" else None

    def matches(
        self,
        icao24: str,
        callsign: str | None,
        start: datetime | None,
        aircraft: tuple[str | None, str | None],
    ) -> bool:
        rule = self.rule
        if rule.kind == "flight":
            if start is None or rule.flight_start is None or icao24.lower() != rule.pattern:
                return False
            # The same instant (stored times may differ below a millisecond after a trip
            # through SQLite's REAL seconds).
            return abs((start - rule.flight_start).total_seconds()) < 1e-3
        assert self.regex is not None
        if rule.kind == "icao24":
            return self.regex.match(icao24.upper()) is not None
        if rule.kind == "type":
            text = aircraft[1]
        elif rule.kind == "registration":
            text = aircraft[0]
        else:
            text = callsign
        if not isinstance(text, str) or not text:
            return False
        return self.regex.match(text.strip().upper().replace("-", "")) is not None


def match_flights(
    rules: Sequence[KnownRule],
    flights: Iterable[tuple[str, str | None, datetime | None, date]],
    aircraft: Mapping[str, tuple[str | None, str | None]] | None = None,
) -> list[KnownRule | None]:
    """For each flight (icao24, callsign, start, day): the first rule (lowest id) that is
    active on its day and matches it, or None. ``aircraft`` maps an icao24 (lower case) to
    its (registration, type code), for registration and type rules; an aircraft not in it
    matches none of those."""
    compiled = [_Compiled(r) for r in sorted(rules, key=lambda r: r.id)]
    details = aircraft or {}
    out: list[KnownRule | None] = []
    for icao24, callsign, start, day in flights:
        found = None
        known = details.get(icao24.lower(), (None, None))
        for c in compiled:
            if c.rule.active_on(day) and c.matches(icao24, callsign, start, known):
                found = c.rule
                break
        out.append(found)
    return out


def rule_row(rule: KnownRule) -> dict[str, Any]:
    """A rule as `oddflights known list --format json` prints it."""
    return {
        "id": rule.id,
        "receiver": rule.receiver,
        "kind": rule.kind,
        "pattern": rule.pattern,
        "flight_start": None
        if rule.flight_start is None
        else rule.flight_start.isoformat().replace("+00:00", "Z"),
        "reason": rule.reason,
        "until": None if rule.until_day is None else rule.until_day.isoformat(),
        "created_at": None
        if rule.created_at is None
        else rule.created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "created_by": rule.created_by,
    }
