"""Known-flight rules on plain data: pattern checks, glob matching and expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from oddflights.known import (
    KnownRule,
    KnownRuleError,
    callsign_pattern,
    check_reason,
    icao24_pattern,
    match_flights,
    registration_pattern,
    type_pattern,
)

DAY = date(2026, 5, 4)
T0 = datetime(2026, 5, 4, 8, tzinfo=UTC)


def _rule(rid: int, kind: str, pattern: str, **kw) -> KnownRule:
    return KnownRule(id=rid, receiver_id=1, kind=kind, pattern=pattern, **kw)


def _one(rules, icao24="3c6444", callsign=None, start=T0, day=DAY):
    return match_flights(rules, [(icao24, callsign, start, day)])[0]


@pytest.mark.parametrize(
    ("text", "stored"),
    [("3C6444", "3c6444"), (" 3c6444 ", "3c6444"), ("3c64*", "3c64*"), ("3C64??", "3c64??")],
)
def test_icao24_patterns_are_stored_lower_case(text: str, stored: str) -> None:
    assert icao24_pattern(text) == stored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3c644", "has 5 characters"),
        ("3c64444", "not an aircraft address"),
        ("zz6444", "not an aircraft address"),
        ("3c-644", "not an aircraft address"),
        ("", "not an aircraft address"),
    ],
)
def test_bad_icao24_patterns_are_refused(text: str, message: str) -> None:
    with pytest.raises(KnownRuleError, match=message):
        icao24_pattern(text)


def test_callsign_patterns() -> None:
    assert callsign_pattern("police*") == "POLICE*"
    assert callsign_pattern("HB-Z??") == "HB-Z??"
    for bad in ("PO LICE", "POL[IC]E", "-", "ABC/1"):
        with pytest.raises(KnownRuleError, match="not a callsign pattern"):
            callsign_pattern(bad)
    with pytest.raises(KnownRuleError, match="can never match"):
        callsign_pattern("ABCDEFGHI")


def test_reasons_are_one_short_line() -> None:
    assert check_reason("  club glider ") == "club glider"
    assert check_reason("   ") is None and check_reason(None) is None
    with pytest.raises(KnownRuleError, match="one line"):
        check_reason("a\nb")
    with pytest.raises(KnownRuleError, match="at most 200"):
        check_reason("x" * 201)


def test_globs_match_case_insensitively() -> None:
    police = _rule(1, "callsign", "POLICE*")
    assert _one([police], callsign="police12") is police
    assert _one([police], callsign="POLICE") is police
    assert _one([police], callsign="XPOLICE1") is None
    assert _one([police], callsign=None) is None
    # Dashes are ignored: a registration written as people write it matches its callsign.
    swiss = _rule(2, "callsign", "HB-Z??")
    assert _one([swiss], callsign="HBZAB") is swiss
    assert _one([swiss], callsign="HBZABC") is None
    assert _one([swiss], callsign="HB-ZAB") is swiss
    aircraft = _rule(3, "icao24", "3c64??")
    assert _one([aircraft], icao24="3C64AB") is aircraft
    assert _one([aircraft], icao24="3c6500") is None


def test_flight_rules_match_one_flight_by_its_start() -> None:
    rule = _rule(1, "flight", "3c6444", flight_start=T0)
    assert _one([rule]) is rule
    # The same instant after a trip through SQLite's REAL seconds.
    assert _one([rule], start=T0 + timedelta(microseconds=3)) is rule
    assert _one([rule], start=T0 + timedelta(seconds=1)) is None
    assert _one([rule], icao24="3c6445") is None


def test_until_is_inclusive_and_the_lowest_id_wins() -> None:
    ends = _rule(1, "icao24", "3c6444", until_day=DAY, reason="until the 4th")
    later = _rule(2, "icao24", "3c*", reason="all 3c")
    assert _one([later, ends]) is ends
    assert _one([later, ends], day=DAY + timedelta(days=1)) is later
    assert _one([ends], day=DAY + timedelta(days=1)) is None
    assert ends.active_on(DAY) and not ends.active_on(DAY + timedelta(days=1))


def test_registration_and_type_patterns() -> None:
    assert registration_pattern(" hb-z* ") == "HB-Z*"
    assert type_pattern("a3??") == "A3??"
    for bad in ("HB ZAB", "-", "HB_ZAB", "X" * 17):
        with pytest.raises(KnownRuleError, match="--registration"):
            registration_pattern(bad)
    for bad in ("A-320", "", "A320NEO12", "EC 35"):
        with pytest.raises(KnownRuleError, match="--type"):
            type_pattern(bad)


def test_registration_and_type_rules_match_the_aircraft_details() -> None:
    reg = _rule(1, "registration", "HBZ*")
    kind = _rule(2, "type", "A3??")
    details = {"3c6444": ("HB-ZAB", None), "4b1234": (None, "a320"), "abcdef": ("D-EXYZ", "EC35")}

    def one(icao24: str) -> KnownRule | None:
        return match_flights([reg, kind], [(icao24, "HBZAB", T0, DAY)], aircraft=details)[0]

    assert one("3C6444") is reg  # icao24 looked up lower case; dashes ignored
    assert one("4b1234") is kind  # type case-insensitive
    assert one("abcdef") is None
    # Unknown aircraft (or no details given) match neither, whatever the callsign.
    assert one("000001") is None
    assert match_flights([reg, kind], [("3c6444", "HBZAB", T0, DAY)])[0] is None
