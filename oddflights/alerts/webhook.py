"""The webhook target: one HTTP POST of JSON per receiver day, as it is (``json``), as an
ntfy publish (``ntfy``), or as a chat message (``discord``: ``{"content"}``, ``slack``:
``{"text"}``). Plain urllib with a timeout; the URL never appears in an error, since its
path may be the secret (Discord's and Slack's hooks, an ntfy topic)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from oddflights import __version__
from oddflights.alerts.payload import body_text, title
from oddflights.alerts.targets import Alert, AlertError, Target

FORMATS = ("json", "ntfy", "discord", "slack")
# ntfy takes messages up to 4,096 bytes; Discord's content up to 2,000 characters.
NTFY_MESSAGE_CHARS = 3_500
CHAT_CHARS = 1_900


@dataclass(frozen=True)
class WebhookTarget(Target):
    """POST each alert to ``url`` in ``fmt``; ``token`` is sent as a Bearer token."""

    url: str
    fmt: str = "json"
    token: str = ""
    timeout_s: float = 5.0

    name = "webhook"

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"webhook format {self.fmt!r} is not one of {', '.join(FORMATS)}")

    def request(self, alert: Alert) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The address, headers and JSON body this alert is posted with."""
        parts = urlsplit(self.url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"oddflights/{__version__}",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        payload = alert.payload
        if self.fmt == "json":
            return url, headers, payload
        if self.fmt == "ntfy":
            # ntfy's JSON publish goes to the server's root with the topic in the body; the
            # setting is the topic's address, as ntfy's apps show it (https://ntfy.sh/TOPIC).
            path, _, topic = parts.path.rstrip("/").rpartition("/")
            if not topic:
                raise AlertError("the ntfy webhook address needs a topic: https://HOST/TOPIC")
            root = urlunsplit((parts.scheme, netloc, path + "/", "", ""))
            body: dict[str, Any] = {
                "topic": topic,
                "title": title(payload),
                "message": body_text(payload, NTFY_MESSAGE_CHARS),
                "priority": 3,
                "tags": ["airplane"],
            }
            if "url" in payload:
                body["click"] = payload["url"]
            return root, headers, body
        words = title(payload) + "\n" + body_text(payload, CHAT_CHARS - 200)
        return url, headers, {"content" if self.fmt == "discord" else "text": words}

    def send(self, alert: Alert) -> str:
        url, headers, body = self.request(alert)
        data = json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            raise AlertError(f"webhook answered HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise AlertError(f"webhook not reached: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise AlertError(f"webhook not reached: {exc}") from None
        return f"HTTP {status}"
