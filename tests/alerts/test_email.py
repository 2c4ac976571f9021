"""The email target against aiosmtpd in the test: plain (a relay on this machine), STARTTLS
with a login, and SMTPS, each with a certificate the test made; the day's list inline as
text and HTML, the day's HTML report attached; a server that refuses is a failed delivery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from oddflights.alerts import deliver_alerts, send_test
from oddflights.alerts.email import EmailTarget
from oddflights.alerts.targets import AlertError
from oddflights.db import open_db
from tests.alerts.servers import closed_port, outside_address, self_signed, smtp_sink
from tests.alerts.stubday import DAY, stub_day


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = open_db(f"sqlite:///{tmp_path / 'mail.db'}")
    yield eng
    eng.dispose()


def test_the_days_list_inline_as_text_and_html(engine: Engine) -> None:
    rec = stub_day(engine, flagged=(1, 4))
    with smtp_sink() as sink:
        target = EmailTarget(
            f"smtp://127.0.0.1:{sink.port}", to=("me@example.org", "you@example.org")
        )
        out = deliver_alerts(engine, rec, DAY, [target])
        assert out == {"alerts": {"email": {"sent": 2, "failed": 0}}}
        deliver_alerts(engine, rec, DAY, [target])  # sent once
    (msg,) = sink.messages
    assert sink.envelopes == [("oddflights@localhost", ["me@example.org", "you@example.org"])]
    assert msg["Subject"] == f"oddflights r1: 2 odd flights on {DAY}"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert plain.index("CS4") < plain.index("CS1") and "circling" in plain
    assert "<ol>" in html.get_content() and "CS4" in html.get_content()
    # The stub model has no detector, so the report (its pictures) cannot be made: the list
    # goes out without it (test_delivery attaches a real one).
    assert not list(msg.iter_attachments())


def test_starttls_with_a_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # trust the test's certificate
    with smtp_sink(cert=cert, login=True) as sink:
        url = f"smtp://odd:s3cret@127.0.0.1:{sink.port}"
        (ok,) = send_test("home", [EmailTarget(url, to=("me@example.org",))])
        assert ok.ok, ok.note
        (bad,) = send_test("home", [EmailTarget(url.replace("s3cret", "nope"), to=("a@b.c",))])
        assert not bad.ok and "refused the login" in bad.note and "nope" not in bad.note
    (msg,) = sink.messages
    assert msg["Subject"].startswith("[test] oddflights home: 2 odd flights")
    assert not list(msg.iter_attachments())  # a sample has no report


def test_smtps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    with smtp_sink(cert=cert, implicit_tls=True) as sink:
        (ok,) = send_test("home", [EmailTarget(f"smtps://127.0.0.1:{sink.port}", to=("a@b.c",))])
        assert ok.ok, ok.note
    assert len(sink.messages) == 1


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)  # not trusted: SSL_CERT_FILE is not set
    with smtp_sink(cert=cert, implicit_tls=True) as sink:
        (bad,) = send_test("home", [EmailTarget(f"smtps://127.0.0.1:{sink.port}", to=("a@b.c",))])
    assert not bad.ok and "certificate" in bad.note.lower()
    assert not sink.messages


def test_no_password_in_clear_to_a_server_elsewhere() -> None:
    host = outside_address()  # not loopback: the password would cross a network
    with smtp_sink(host=host) as sink:  # no STARTTLS offered
        url = f"smtp://odd:s3cret@{host}:{sink.port}"
        (bad,) = send_test("home", [EmailTarget(url, to=("a@b.c",))])
        assert not bad.ok and "STARTTLS" in bad.note and "s3cret" not in bad.note
        # Without a password (a relay that needs none) it goes out.
        (ok,) = send_test("home", [EmailTarget(f"smtp://{host}:{sink.port}", to=("a@b.c",))])
        assert ok.ok, ok.note
    assert len(sink.messages) == 1


def test_a_server_that_is_down_is_a_failed_delivery(engine: Engine) -> None:
    rec = stub_day(engine)
    target = EmailTarget(f"smtp://127.0.0.1:{closed_port()}", to=("a@b.c",), timeout_s=2)
    out = deliver_alerts(engine, rec, DAY, [target])
    assert out["alerts"]["email"]["failed"] == 2
    assert "not reached" in out["alerts"]["email"]["error"]


def test_email_needs_someone_to_send_to() -> None:
    with pytest.raises(AlertError, match="ODDFLIGHTS_ALERT_EMAIL_TO"):
        EmailTarget("smtp://127.0.0.1", to=())
