"""What every alert target has: a name, ``send(alert)``, and the one error a failed send
raises. The targets themselves are in ``webhook.py``, ``mqtt.py`` and ``email.py``; the
``print`` target (a dry run) is here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from oddflights.alerts.payload import text
from oddflights.errors import OddflightsError


class AlertError(OddflightsError, RuntimeError):
    """A target did not take the alert (one line, never a password or a secret URL)."""


def _no_report() -> str | None:
    return None


@dataclass(frozen=True)
class Alert:
    """One receiver day's alert: its ``payload`` (oddflights.alerts.payload.build_payload)
    and, for the targets that attach it, the day's HTML report, made only when asked for."""

    payload: dict[str, Any]
    report: Callable[[], str | None] = field(default=_no_report)


class Target:
    """An alert target. ``send`` returns a short note of what it did (the ``print`` target:
    the alert's text) and raises AlertError when the alert did not get through."""

    name: ClassVar[str] = "target"
    # Whether its deliveries are recorded (and so sent once); a dry run records nothing.
    records: ClassVar[bool] = True
    # Whether it also wants a day without flights to alert (MQTT: the day's count, 0).
    wants_quiet_days: ClassVar[bool] = False

    def send(self, alert: Alert) -> str:
        raise NotImplementedError


class PrintTarget(Target):
    """The dry run: sends nothing, returns the alert as text for the CLI (or the log)."""

    name = "print"
    records = False

    def send(self, alert: Alert) -> str:
        return text(alert.payload)


def one_line(exc: BaseException) -> str:
    """An exception as one short line for a log, the ``runs`` row and `alert test`."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, AlertError):
        message = f"{type(exc).__name__}: {message}"
    return message[:300]
