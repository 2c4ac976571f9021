"""Who flies when: the daily rhythm, aircraft addresses, callsigns and squawks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

# Relative traffic by local hour: quiet nights, a morning ramp, busy days.
HOURLY_WEIGHT = np.array(
    [0.12, 0.08, 0.06, 0.06, 0.1, 0.3, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0,
     1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.85, 0.7, 0.45, 0.25]
)  # fmt: skip
DAYLIGHT_HOURS = np.arange(9, 18)
AIRLINES = (
    "DLH", "KLM", "BAW", "AFR", "EZY", "RYR", "SAS", "EWG", "TRA", "IBE",
    "SWR", "AUA", "UAE", "THY", "WZZ", "VLG", "TAP", "LOT", "FIN", "BEL",
)  # fmt: skip
REGISTRATION_PREFIXES = ("PH", "D", "G", "F", "OO", "HB", "OE")
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
_RESERVED_SQUAWKS = {"7500", "7600", "7700", "7000", "1200", "2000"}


def hour_starts_ms(day: dt.date, zone: ZoneInfo) -> np.ndarray:
    """UTC epoch milliseconds at which each of the 24 local clock hours of ``day`` begins."""
    starts = [
        dt.datetime(day.year, day.month, day.day, h, tzinfo=zone).astimezone(dt.UTC)
        for h in range(24)
    ]
    return np.array([round(s.timestamp() * 1000) for s in starts], dtype=np.int64)


def start_times_ms(
    day: dt.date, zone: ZoneInfo, daylight: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A start time (UTC epoch ms) per flight; ``daylight`` flights start 09–18 local."""
    hours = rng.choice(24, size=daylight.size, p=HOURLY_WEIGHT / HOURLY_WEIGHT.sum())
    hours = np.where(daylight, rng.choice(DAYLIGHT_HOURS, size=daylight.size), hours)
    within = rng.integers(0, 3_600_000, size=daylight.size)
    return hour_starts_ms(day, zone)[hours] + within


def airline_callsigns(n: int, rng: np.random.Generator) -> list[str]:
    """Callsigns like ``DLH4AB`` or ``KLM1234``."""
    prefixes = rng.choice(np.array(AIRLINES), n)
    numbers = rng.integers(1, 9999, n)
    digits = rng.integers(1, 10, n)
    letters = rng.choice(_LETTERS, (n, 2))
    alpha = rng.random(n) < 0.5
    return [
        f"{p}{d}{a}{b}" if al else f"{p}{num}"
        for p, d, (a, b), al, num in zip(prefixes, digits, letters, alpha, numbers, strict=True)
    ]


def registrations(n: int, rng: np.random.Generator) -> list[str]:
    """Registration-style callsigns of light aircraft and helicopters, like ``PHXYZ``."""
    prefixes = rng.choice(np.array(REGISTRATION_PREFIXES), n)
    letters = rng.choice(_LETTERS, (n, 4))
    return [p + "".join(ls[: 5 - len(p)]) for p, ls in zip(prefixes, letters, strict=True)]


def squawks(n: int, rng: np.random.Generator) -> list[str]:
    """Discrete transponder codes (four octal digits), avoiding the special ones."""
    out = []
    for code in rng.integers(0, 8, (n, 4)):
        text = "".join(map(str, code))
        out.append("1000" if text in _RESERVED_SQUAWKS else text)
    return out


def unique_addresses(raw: np.ndarray) -> list[str]:
    """Six-hex-digit ICAO addresses from random integers, made unique by stepping on."""
    seen: set[int] = set()
    out = []
    for value in raw.tolist():
        v = int(value)
        while v in seen:
            v = (v + 1) % 0x1000000
        seen.add(v)
        out.append(f"{v:06x}")
    return out
