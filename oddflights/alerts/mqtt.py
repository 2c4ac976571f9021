"""The MQTT target (paho-mqtt), made for Home Assistant.

Per receiver day it publishes, with QoS 1:

- ``homeassistant/sensor/oddflights_<receiver>/config`` (retained): MQTT discovery, so that a
  sensor "oddflights <receiver>" appears in Home Assistant with no configuration; its state
  is the day's count of odd flights, its attributes the state topic's JSON;
- ``<prefix>/<receiver>/state`` (retained): the day, the count and the top flights;
- ``<prefix>/<receiver>/flight`` (not retained): one message per alerted flight, for
  automations.

The broker is ``mqtt://USER:PASS@HOST:1883/PREFIX`` (``mqtts://`` with TLS, port 8883);
the prefix defaults to ``oddflights``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from oddflights import __version__
from oddflights.alerts.targets import Alert, AlertError, Target

DISCOVERY_PREFIX = "homeassistant"
DEFAULT_PREFIX = "oddflights"
# The state topic lists this many of the day's flights (Home Assistant keeps attributes small).
STATE_TOP = 5


def slug(receiver: str) -> str:
    """A receiver name as a Home Assistant object id (letters, digits, '_')."""
    return re.sub(r"[^a-z0-9_]", "_", receiver.lower())


@dataclass(frozen=True)
class Topics:
    """Where one receiver's messages go."""

    discovery: str
    state: str
    flight: str


def topics(prefix: str, receiver: str) -> Topics:
    """The topics of ``receiver`` under ``prefix``."""
    base = f"{prefix.strip('/')}/{receiver}"
    return Topics(
        discovery=f"{DISCOVERY_PREFIX}/sensor/oddflights_{slug(receiver)}/config",
        state=f"{base}/state",
        flight=f"{base}/flight",
    )


def discovery_config(receiver: str, state_topic: str) -> dict[str, Any]:
    """The Home Assistant discovery message of a receiver's sensor. ``name`` null: the
    entity is named after its device, "oddflights <receiver>"."""
    ident = f"oddflights_{slug(receiver)}"
    return {
        "name": None,
        "unique_id": ident,
        # Home Assistant 2025.10+ (it dropped ``object_id`` in 2026.4).
        "default_entity_id": f"sensor.{ident}",
        "state_topic": state_topic,
        "value_template": "{{ value_json.count }}",
        "json_attributes_topic": state_topic,
        "unit_of_measurement": "flights",
        "state_class": "measurement",
        "icon": "mdi:airplane-alert",
        "device": {
            "identifiers": [ident],
            "name": f"oddflights {receiver}",
            "manufacturer": "oddflights",
            "model": "ADS-B receiver",
            "sw_version": __version__,
        },
        "origin": {"name": "oddflights", "sw_version": __version__},
    }


# What the retained state keeps of each top flight.
_TOP_KEYS = (
    "rank",
    "callsign",
    "icao24",
    "registration",
    "aircraft_type",
    "score",
    "tags",
    "start",
    "url",
)


def state_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The retained state: the day, its count of odd flights and the top ones."""
    state: dict[str, Any] = {
        "receiver": payload["receiver"],
        "day": payload["day"],
        "count": payload["flagged"],
        "top": [{k: f.get(k) for k in _TOP_KEYS} for f in payload["flights"][:STATE_TOP]],
        "updated": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if "url" in payload:
        state["url"] = payload["url"]
    if payload.get("test"):
        state["test"] = True
    return state


@dataclass(frozen=True)
class MqttTarget(Target):
    """Publish each alert to the broker at ``url``."""

    url: str
    timeout_s: float = 5.0

    name = "mqtt"
    wants_quiet_days = True

    def messages(self, payload: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """(topic, JSON, retained) of each message an alert publishes, in order."""
        prefix = unquote(urlsplit(self.url).path).strip("/") or DEFAULT_PREFIX
        where = topics(prefix, payload["receiver"])
        out = [
            (where.discovery, discovery_config(payload["receiver"], where.state), True),
            (where.state, state_message(payload), True),
        ]
        for f in payload["flights"]:
            flight = {"receiver": payload["receiver"], "day": payload["day"], **f}
            if payload.get("test"):
                flight["test"] = True
            out.append((where.flight, flight, False))
        return out

    def send(self, alert: Alert) -> str:
        import paho.mqtt.client as mqtt  # only where MQTT is used

        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        host = parts.hostname or "localhost"
        port = parts.port or (8883 if tls else 1883)
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"oddflights-{os.getpid()}-{secrets.token_hex(3)}",
        )
        if parts.username is not None:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if tls:
            client.tls_set_context(ssl.create_default_context())
        client.connect_timeout = self.timeout_s
        answered = threading.Event()
        refused: list[str] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                refused.append(str(reason))
            answered.set()

        client.on_connect = on_connect
        deadline = time.monotonic() + self.timeout_s
        try:
            client.connect(host, port, keepalive=max(5, int(self.timeout_s * 2)))
        except (OSError, ValueError) as exc:
            raise AlertError(f"MQTT broker {host}:{port} not reached: {exc}") from None
        client.loop_start()
        try:
            if not answered.wait(max(0.0, deadline - time.monotonic())):
                raise AlertError(f"MQTT broker {host}:{port} did not answer")
            if refused:
                raise AlertError(f"MQTT broker {host}:{port} refused the connection: {refused[0]}")
            sent = [
                client.publish(topic, json.dumps(body), qos=1, retain=retain)
                for topic, body, retain in self.messages(alert.payload)
            ]
            for info in sent:
                try:
                    info.wait_for_publish(max(0.0, deadline - time.monotonic()))
                except (RuntimeError, ValueError) as exc:
                    raise AlertError(f"MQTT publish failed: {exc}") from None
                if not info.is_published():
                    raise AlertError(f"MQTT broker {host}:{port} did not confirm a message")
        finally:
            client.disconnect()
            client.loop_stop()
        return f"{len(sent)} messages"
