"""Settings in one table: name, default, environment variable, help.

Every setting is read the same way: an explicit value (a CLI option) wins, then the
``ODDFLIGHTS_…`` environment variable, then the default. Values are type-checked when read,
so a wrong environment variable fails at once with a message that names it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SettingError(ValueError):
    """A setting's value does not parse or is out of range."""


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Setting:
    """One setting: its name, default, type and help text."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "ODDFLIGHTS_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    # Database
    Setting("db", "sqlite:///oddflights.db", "Database URL (SQLite file or PostgreSQL)."),
    # Receivers
    Setting("range_km", 200.0, "Default receiver range: the frame is ±range_km around it.", float),
    # Simulator
    Setting(
        "sim_anomaly_share", 0.02, "Share of simulated flights that are labelled anomalies.", float
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The setting called ``name`` (KeyError names it if unknown)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown setting {name!r}") from None


def get(name: str, explicit: Any = None) -> Any:
    """The value of a setting: ``explicit`` if given, else its env variable, else the default."""
    s = setting(name)
    if explicit is not None:
        return explicit
    raw = os.environ.get(s.env)
    if raw is None or raw == "":
        return s.default
    parse = _bool if s.parse is bool else s.parse
    try:
        return parse(raw)
    except (TypeError, ValueError) as exc:
        raise SettingError(f"{s.env}={raw!r} is not valid: {exc}") from None
