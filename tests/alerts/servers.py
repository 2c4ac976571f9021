"""Real servers for the alert tests: an HTTP server that keeps what is posted to it, an
SMTP server (aiosmtpd) that keeps what it is sent, a self-signed certificate, and a
subscriber on the local Mosquitto broker."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HttpSink:
    url: str
    posts: list[Posted] = field(default_factory=list)
    status: int = 200


@contextmanager
def http_sink(status: int = 200) -> Iterator[HttpSink]:
    """A local HTTP server answering every POST with ``status``, keeping each JSON body."""
    sink = HttpSink(url="")
    sink.status = status

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(size) or b"null")
            sink.posts.append(Posted(self.path, dict(self.headers.items()), body))
            self.send_response(sink.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


@contextmanager
def smtp_sink(
    *,
    cert: tuple[Path, Path] | None = None,
    implicit_tls: bool = False,
    login: bool = False,
    host: str = "127.0.0.1",
) -> Iterator[SmtpSink]:
    """aiosmtpd on a free local port: plain, with STARTTLS (``cert``), or TLS from the first
    byte (``implicit_tls``); ``login``: AUTH required (user ``odd``, password ``s3cret``)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    sink = SmtpSink(port=closed_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            msg = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            sink.messages.append(msg)
            return "250 OK"

    def authenticator(_server: Any, _session: Any, _env: Any, _mech: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"odd",
            b"s3cret",
        )
        return AuthResult(success=ok, handled=False)

    context = None
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    kwargs: dict[str, Any] = {}
    if login:
        kwargs.update(authenticator=authenticator, auth_required=True)
    if implicit_tls:
        controller = Controller(
            Handler(), hostname=host, port=sink.port, ssl_context=context, **kwargs
        )
    else:
        controller = Controller(
            Handler(),
            hostname=host,
            port=sink.port,
            tls_context=context,
            require_starttls=context is not None,
            **kwargs,
        )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl), to trust through SSL_CERT_FILE."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def mosquitto_or_skip() -> None:
    """Skip, saying why, when the broker at 127.0.0.1:1883 does not answer."""
    try:
        socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2).close()
    except OSError as exc:
        pytest.skip(
            f"the MQTT tests need Mosquitto at {MQTT_HOST}:{MQTT_PORT} ({exc}); start it with "
            "`mosquitto -d -c /etc/mosquitto/mosquitto.conf` (.ci/run does)"
        )


@dataclass
class Subscriber:
    messages: list[tuple[str, Any, bool]] = field(default_factory=list)

    def on(self, topic: str) -> list[Any]:
        return [body for t, body, _ in self.messages if t == topic]

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < end:
            time.sleep(0.05)


@contextmanager
def mqtt_subscriber(*topics: str) -> Iterator[Subscriber]:
    """A paho client subscribed to ``topics`` (QoS 1) on the local broker."""
    import paho.mqtt.client as mqtt

    sub = Subscriber()
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")

    def on_connect(c: Any, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        c.subscribe([(t, 1) for t in topics])

    def on_subscribe(*_args: Any) -> None:
        ready.set()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        body = json.loads(msg.payload) if msg.payload else None
        sub.messages.append((msg.topic, body, bool(msg.retain)))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(MQTT_HOST, MQTT_PORT)
    client.loop_start()
    try:
        assert ready.wait(10), "the test's MQTT subscription was not confirmed"
        yield sub
    finally:
        client.disconnect()
        client.loop_stop()


def clear_retained(*topics: str) -> None:
    """Remove retained messages the tests left on the broker."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(MQTT_HOST, MQTT_PORT)
    client.loop_start()
    for t in topics:
        client.publish(t, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def outside_address() -> str:
    """An IPv4 address of this machine that is not loopback (skip without one)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for address in out:
        if "." in address and not address.startswith("127."):
            return address
    pytest.skip("this machine has no IPv4 address besides loopback")
