"""The email target (smtplib): the day's list inline, as text and simple HTML, with the day's
HTML report (oddflights.web.report) attached.

``smtp://USER:PASS@HOST:587`` uses STARTTLS whenever the server offers it, and refuses to
send a password without it (except to a server on this machine); ``smtps://…:465`` is TLS
from the first byte. Certificates are checked against the system's trust store.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from oddflights.alerts.payload import html_list, text, title
from oddflights.alerts.targets import Alert, AlertError, Target


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def addresses(value: str) -> list[str]:
    """``a@x, b@y`` as a list."""
    return [a.strip() for a in value.split(",") if a.strip()]


@dataclass(frozen=True)
class EmailTarget(Target):
    """Mail each alert to ``to`` through the server at ``url``."""

    url: str
    to: tuple[str, ...]
    sender: str = ""
    timeout_s: float = 5.0

    name = "email"

    def __post_init__(self) -> None:
        if not self.to:
            raise AlertError("email alerts need ODDFLIGHTS_ALERT_EMAIL_TO (who gets them)")

    def from_address(self) -> str:
        """The sender: as set, else the SMTP user when it is an address."""
        if self.sender:
            return self.sender
        user = unquote(urlsplit(self.url).username or "")
        return user if "@" in user else "oddflights@localhost"

    def message(self, alert: Alert) -> EmailMessage:
        """The email of an alert: text and HTML alternatives, the report attached."""
        payload = alert.payload
        msg = EmailMessage()
        msg["Subject"] = title(payload)
        msg["From"] = self.from_address()
        msg["To"] = ", ".join(self.to)
        msg["Message-ID"] = make_msgid(domain="oddflights")
        msg.set_content(text(payload) + "\n")
        msg.add_alternative(
            "<!doctype html><html><body>" + html_list(payload) + "</body></html>", subtype="html"
        )
        report = alert.report()
        if report is not None:
            msg.add_attachment(
                report.encode("utf-8"),
                maintype="text",
                subtype="html",
                filename=f"oddflights-{payload['receiver']}-{payload['day']}.html",
            )
        return msg

    def send(self, alert: Alert) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        implicit = parts.scheme == "smtps"
        port = parts.port or (465 if implicit else 587)
        user = unquote(parts.username or "")
        password = unquote(parts.password or "")
        msg = self.message(alert)
        context = ssl.create_default_context()
        try:
            server: smtplib.SMTP
            if implicit:
                server = smtplib.SMTP_SSL(host, port, timeout=self.timeout_s, context=context)
            else:
                server = smtplib.SMTP(host, port, timeout=self.timeout_s)
            with server:
                server.ehlo()
                if not implicit:
                    if server.has_extn("starttls"):
                        server.starttls(context=context)
                        server.ehlo()
                    elif password and not _loopback(host):
                        raise AlertError(
                            f"SMTP server {host}:{port} does not offer STARTTLS; not sending "
                            "the password in clear (use smtps://)"
                        )
                if user:
                    server.login(user, password)
                refused = server.send_message(msg, self.from_address(), list(self.to))
        except AlertError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise AlertError(
                f"SMTP server {host}:{port} refused the login ({exc.smtp_code})"
            ) from None
        except smtplib.SMTPException as exc:
            raise AlertError(f"SMTP server {host}:{port}: {' '.join(str(exc).split())}") from None
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            raise AlertError(f"SMTP server {host}:{port} not reached: {exc}") from None
        # Some addresses refused, the others took it: sent (a retry would mail them twice).
        note = f", refused {', '.join(sorted(refused))}" if refused else ""
        return f"mailed {len(self.to) - len(refused)}{note}"
