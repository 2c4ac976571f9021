"""The webhook target against a local HTTP server: plain JSON, ntfy's JSON publish (to the
server's root, the topic in the body), Discord's and Slack's message bodies, a token or a
URL's user as authorization, and errors that never show the (secret) address."""

from __future__ import annotations

import base64

from oddflights.alerts import send_test
from oddflights.alerts.payload import sample_payload, text
from oddflights.alerts.targets import Alert
from oddflights.alerts.webhook import CHAT_CHARS, WebhookTarget
from tests.alerts.servers import closed_port, http_sink


def test_plain_json_is_the_payload_as_it_is() -> None:
    with http_sink() as sink:
        (out,) = send_test("home", [WebhookTarget(f"{sink.url}/in?k=1")])
        assert out.ok and out.note == "HTTP 200"
    (post,) = sink.posts
    assert post.path == "/in?k=1" and post.headers["Content-Type"] == "application/json"
    body = post.body
    assert body["receiver"] == "home" and body["test"] is True and body["flagged"] == 2
    first = body["flights"][0]
    assert set(first) == {
        "flight_id", "rank", "score", "threshold", "tags", "tag_text", "callsign", "icao24",
        "registration", "aircraft_type", "start", "end",
    }  # fmt: skip
    assert first["registration"] == "PH-TST" and first["aircraft_type"] == "C172"
    assert body["flights"][1]["registration"] is None
    assert first["start"].endswith("Z") and "url" not in first


def test_ntfy_publish_with_a_token() -> None:
    with http_sink() as sink:
        target = WebhookTarget(f"{sink.url}/odd-topic", fmt="ntfy", token="tk_abc")
        alert = Alert(sample_payload("home", base_url="http://pi.local:8000"))
        assert target.send(alert) == "HTTP 200"
    (post,) = sink.posts
    assert post.path == "/"  # ntfy's JSON publish goes to the root
    assert post.headers["Authorization"] == "Bearer tk_abc"
    body = post.body
    assert body["topic"] == "odd-topic" and body["priority"] == 3
    assert body["title"].startswith("[test] oddflights home: 2 odd flights on ")
    assert (
        "TEST1 (abc123)" in body["message"] and "http://pi.local:8000/flights/1" in body["message"]
    )
    assert body["click"].startswith("http://pi.local:8000/receivers/home/")
    assert body["tags"] == ["airplane"]


def test_ntfy_behind_a_path_with_a_user() -> None:
    with http_sink() as sink:
        host = sink.url.removeprefix("http://")
        target = WebhookTarget(f"http://me:p%40ss@{host}/ntfy/odd", fmt="ntfy")
        assert target.send(Alert(sample_payload("home"))) == "HTTP 200"
    (post,) = sink.posts
    assert post.path == "/ntfy/" and post.body["topic"] == "odd"
    assert post.headers["Authorization"] == "Basic " + base64.b64encode(b"me:p@ss").decode()


def test_discord_and_slack_bodies() -> None:
    payload = sample_payload("home")
    payload["flights"] = payload["flights"] * 40  # a long day: cut to what chats take
    payload["flagged"] = len(payload["flights"])
    with http_sink() as sink:
        WebhookTarget(sink.url, fmt="discord").send(Alert(payload))
        WebhookTarget(sink.url, fmt="slack").send(Alert(payload))
    discord, slack = (p.body for p in sink.posts)
    assert list(discord) == ["content"] and list(slack) == ["text"]
    assert discord["content"] == slack["text"]
    assert len(discord["content"]) <= CHAT_CHARS and discord["content"].endswith("…")
    assert discord["content"].splitlines()[0] == text(payload).splitlines()[0]


def test_an_error_does_not_show_the_address() -> None:
    target = WebhookTarget(f"http://127.0.0.1:{closed_port()}/api/webhooks/123/SECRET-TOKEN")
    (out,) = send_test("home", [target])
    assert not out.ok and "refused" in out.note.lower()
    assert "SECRET" not in out.note
    with http_sink(status=404) as sink:
        (out,) = send_test("home", [WebhookTarget(f"{sink.url}/SECRET")])
    assert not out.ok and out.note == "webhook answered HTTP 404 Not Found"
