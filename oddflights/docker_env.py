"""The container's configuration, the way sdr-enthusiasts images (ultrafeeder, readsb) are
configured: plain environment variables read on start.

``LAT``, ``LONG``, ``TZ``, ``RECEIVER_NAME`` and ``RANGE_KM`` describe the receiver;
``BEASTHOST``/``BEASTPORT`` (Beast, port 30005) or ``SBSHOST``/``SBSPORT`` (SBS/BaseStation,
port 30003) say where its feed is; the alert settings are the usual ``ODDFLIGHTS_ALERT_…``
variables, each secret one also as ``ODDFLIGHTS_ALERT_…_FILE`` (a Docker secret).

``from_env`` is a pure function of a variables dict (it reads only ``…_FILE`` files), so the
whole mapping is tested without Docker; ``apply`` stores the receiver (created, or updated
while it holds no flights) and is safe to run on every start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.db.receivers import (
    ReceiverNotFound,
    add_receiver,
    get_receiver,
    receiver_data_counts,
    update_receiver,
)
from oddflights.errors import OddflightsError
from oddflights.receivers import Receiver, ReceiverError

DEFAULT_NAME = "home"
PORTS = {"beast": 30005, "sbs": 30003}
# The alert targets and the setting that switches each on (for the start-up summary).
_TARGETS = {
    "webhook": "alert_webhook_url",
    "mqtt": "alert_mqtt_url",
    "email": "alert_smtp_url",
}


class DockerEnvError(OddflightsError, ValueError):
    """A container variable is missing or wrong (one line naming it)."""


@dataclass(frozen=True)
class Feed:
    """Where the live ingest connects: readsb's Beast or SBS output."""

    host: str
    port: int
    format: Literal["beast", "sbs"]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DockerSetup:
    """What the variables ask for."""

    receiver: Receiver
    feed: Feed | None  # None: no BEASTHOST/SBSHOST (the scheduler and web containers)
    alerts: tuple[str, ...]  # the alert targets switched on: webhook, mqtt, email

    def ingest_args(self) -> list[str]:
        """``oddflights`` arguments of the live ingest; DockerEnvError without a feed."""
        if self.feed is None:
            raise DockerEnvError(
                "set BEASTHOST (e.g. BEASTHOST=ultrafeeder, Beast on port 30005) or SBSHOST "
                "(SBS on port 30003) to say where readsb's feed is"
            )
        return [
            "ingest",
            "--live",
            self.feed.address,
            "--receiver",
            self.receiver.name,
            "--format",
            self.feed.format,
            "--quiet",
        ]


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _number(env: Mapping[str, str], name: str, low: float, high: float, example: str) -> float:
    raw = _text(env, name)
    if raw == "":
        raise DockerEnvError(f"{name} is not set: give it in degrees, e.g. {name}={example}")
    try:
        value = float(raw)
    except ValueError:
        raise DockerEnvError(f"{name}={raw!r} is not a number (e.g. {name}={example})") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise DockerEnvError(f"{name}={raw!r} is outside {low:g}..{high:g}")
    return value


def _feed(env: Mapping[str, str]) -> Feed | None:
    given = {kind: _text(env, f"{kind.upper()}HOST") for kind in PORTS}
    chosen = [kind for kind, host in given.items() if host]
    if len(chosen) > 1:
        raise DockerEnvError("set BEASTHOST or SBSHOST, not both (one feed per container)")
    stray = [f"{k.upper()}PORT" for k in PORTS if _text(env, f"{k.upper()}PORT") and not given[k]]
    if not chosen:
        if stray:
            raise DockerEnvError(f"{stray[0]} is set but {stray[0][:-4]}HOST is not")
        return None
    kind = chosen[0]
    host, port_var = given[kind], f"{kind.upper()}PORT"
    if any(c.isspace() for c in host) or ":" in host or "/" in host:
        raise DockerEnvError(
            f"{kind.upper()}HOST={host!r} must be a host name or address alone "
            f"(the port goes in {port_var})"
        )
    raw = _text(env, port_var)
    if raw == "":
        port = PORTS[kind]
    else:
        try:
            port = int(raw)
        except ValueError:
            raise DockerEnvError(f"{port_var}={raw!r} is not a port number") from None
        if not 1 <= port <= 65535:
            raise DockerEnvError(f"{port_var}={raw!r} is outside 1..65535")
    return Feed(host, port, "beast" if kind == "beast" else "sbs")


def _setting(env: Mapping[str, str], s: config.Setting) -> object:
    """The setting's value from ``env`` (or its ``…_FILE``), checked as config.get does."""
    raw = env.get(s.env, "")
    if raw == "" and s.secret and env.get(s.env + "_FILE", ""):
        path = env[s.env + "_FILE"]
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read().removesuffix("\n").removesuffix("\r")
        except OSError as exc:
            raise DockerEnvError(
                f"{s.env}_FILE={path!r} cannot be read: {exc.strerror or exc}"
            ) from None
        return s.value(text, s.env + "_FILE")
    return s.current_default() if raw == "" else s.value(raw, s.env)


def from_env(env: Mapping[str, str]) -> DockerSetup:
    """The receiver, feed and alert targets the variables describe; DockerEnvError (or the
    setting's SettingError) in one line for a missing or wrong value."""
    lat = _number(env, "LAT", -90, 90, "52.37")
    lon = _number(env, "LONG", -180, 180, "4.89")
    name = _text(env, "RECEIVER_NAME") or DEFAULT_NAME
    zone = _text(env, "TZ") or "UTC"
    raw_range = _text(env, "RANGE_KM")
    range_s = config.setting("range_km")
    range_km = range_s.value(raw_range, "RANGE_KM") if raw_range else _setting(env, range_s)
    problem = config.TIME_ZONE.problem(zone)
    if problem is not None:
        raise DockerEnvError(f"TZ={zone!r} is not valid: {problem}")
    try:
        receiver = Receiver(name, lat, lon, float(range_km), zone)  # type: ignore[arg-type]
    except ReceiverError as exc:  # the name: the rest is checked above
        raise DockerEnvError(f"RECEIVER_NAME: {exc}") from None
    values = {s.name: _setting(env, s) for s in config.SETTINGS if s.name.startswith("alert_")}
    alerts = tuple(target for target, key in _TARGETS.items() if values[key])
    return DockerSetup(receiver, _feed(env), alerts)


Outcome = Literal["created", "updated", "unchanged"]


def _same(a: Receiver, b: Receiver) -> bool:
    return (a.lat, a.lon, a.range_km, a.timezone) == (b.lat, b.lon, b.range_km, b.timezone)


def apply(engine: Engine, setup: DockerSetup) -> tuple[Receiver, Outcome]:
    """Store the receiver: created on first start, left alone when unchanged, updated while it
    holds no flights. A receiver with flights keeps its place: its flights' images are drawn
    around it, so a move would misplace them (DockerEnvError says what to do instead)."""
    wanted = setup.receiver
    try:
        stored = get_receiver(engine, wanted.name)
    except ReceiverNotFound:
        return add_receiver(engine, wanted), "created"
    if _same(stored, wanted):
        return stored, "unchanged"
    assert stored.id is not None
    flights = receiver_data_counts(engine, stored.id)["flights"]
    if flights:
        raise DockerEnvError(
            f"receiver {stored.name!r} already holds {flights} flights at {stored.lat:g}, "
            f"{stored.lon:g} (range {stored.range_km:g} km, {stored.timezone}); LAT/LONG/"
            "RANGE_KM/TZ now differ: set RECEIVER_NAME to a new name, or put the old values back"
        )
    return update_receiver(engine, wanted), "updated"


def describe(receiver: Receiver, outcome: Outcome, setup: DockerSetup) -> str:
    """One line for the container's log."""
    feed = "no feed" if setup.feed is None else f"{setup.feed.format} feed {setup.feed.address}"
    alerts = ", ".join(setup.alerts) or "none"
    return (
        f"Receiver {receiver.name} {outcome}: {receiver.lat:.4f}, {receiver.lon:.4f}, "
        f"range {receiver.range_km:g} km, days in {receiver.timezone}; {feed}; alerts: {alerts}."
    )
