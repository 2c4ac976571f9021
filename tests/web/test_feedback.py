"""The feedback buttons (`serve --feedback`) through Starlette's TestClient on SQLite and
PostgreSQL: read-only without the flag, 403 without a token or without the CSRF field, and
labels and known-flight rules written with the token's name."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

from oddflights.db import open_db
from oddflights.db.known import add_rule, list_rules
from oddflights.db.labels import flight_labels
from oddflights.db.scores import query_anomalies
from oddflights.db.tokens import create_token, revoke_token
from oddflights.db.web_queries import day_summaries, open_readonly
from oddflights.tokens import new_token, token_hash
from oddflights.web.app import create_app
from oddflights.web.feedback import COOKIE
from tests.web.conftest import SMALL_DAY, SmallDb

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def secret(small_db: SmallDb) -> str:
    value = new_token()
    create_token(small_db.engine, "alice", token_hash(value))
    return value


@pytest.fixture
def client(small_db: SmallDb) -> Iterator[TestClient]:
    engine = open_readonly(small_db.url)
    with TestClient(create_app(engine, feedback_engine=small_db.engine)) as c:
        yield c
    engine.dispose()


def _field(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def _sign_in(client: TestClient, token: str, next_: str = "/") -> Any:
    """The sign-in form's POST, with the field of a freshly fetched form."""
    nonce = _field(client.get("/login").text)
    data = {"token": token, "next": next_, "csrf": nonce}
    return client.post("/login", data=data, follow_redirects=False)


def _login(client: TestClient, secret: str) -> str:
    """Signs in; returns the CSRF field of the pages' forms."""
    r = _sign_in(client, secret)
    assert r.status_code == 303 and r.headers["location"] == "/"
    return _field(client.get("/").text)  # the footer's sign-out form


def _flagged(small_db: SmallDb) -> int:
    df = query_anomalies(small_db.engine, small_db.receiver_id, SMALL_DAY)
    return int(df["flight_id"].iloc[0])


def test_without_the_flag_nothing_can_be_written(small_db: SmallDb, secret: str) -> None:
    engine = open_readonly(small_db.url)
    with TestClient(create_app(engine)) as plain:
        fid = small_db.flight_ids[1]
        r = plain.post(f"/flights/{fid}/feedback", data={"action": "odd"})
        assert r.status_code in (404, 405)
        assert plain.post("/login", data={"token": secret}).status_code in (404, 405)
        assert "Read-only view" in plain.get("/").text
    engine.dispose()
    assert flight_labels(small_db.engine, small_db.receiver_id).empty


def test_a_post_without_a_token_is_403(client: TestClient, small_db: SmallDb) -> None:
    fid = _flagged(small_db)
    r = client.post(f"/flights/{fid}/feedback", data={"action": "odd", "csrf": "0" * 64})
    assert r.status_code == 403
    assert "sign in" in r.text
    client.cookies.set(COOKIE, "of_not-a-token")
    r = client.post(f"/flights/{fid}/feedback", data={"action": "odd", "csrf": "0" * 64})
    assert r.status_code == 403
    assert flight_labels(small_db.engine, small_db.receiver_id).empty


def test_a_post_without_the_csrf_field_is_403(
    client: TestClient, small_db: SmallDb, secret: str
) -> None:
    csrf = _login(client, secret)
    fid = _flagged(small_db)
    assert client.post(f"/flights/{fid}/feedback", data={"action": "odd"}).status_code == 403
    wrong = "0" * len(csrf)
    r = client.post(f"/flights/{fid}/feedback", data={"action": "odd", "csrf": wrong})
    assert r.status_code == 403 and "CSRF" in r.text
    # From another site's page: refused whatever the field says.
    r = client.post(
        f"/flights/{fid}/feedback",
        data={"action": "odd", "csrf": csrf},
        headers={"origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert flight_labels(small_db.engine, small_db.receiver_id).empty


def test_a_label_is_written_with_the_tokens_name(
    client: TestClient, small_db: SmallDb, secret: str
) -> None:
    csrf = _login(client, secret)
    fid = _flagged(small_db)
    before = datetime.now(UTC)
    r = client.post(
        f"/flights/{fid}/feedback",
        data={"action": "normal", "csrf": csrf, "text": "club glider"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/flights/{fid}#feedback"
    labels = flight_labels(small_db.engine, small_db.receiver_id)
    assert labels[["flight_id", "label", "note", "by"]].to_dict("records") == [
        {"flight_id": fid, "label": "normal", "note": "club glider", "by": "alice"}
    ]
    at = pd.Timestamp(labels["labelled_at"].iloc[0])
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)
    # A bad action is a 400 and writes nothing.
    r = client.post(f"/flights/{fid}/feedback", data={"action": "drop", "csrf": csrf})
    assert r.status_code == 400
    assert len(flight_labels(small_db.engine, small_db.receiver_id)) == 1


def test_known_from_the_web_greys_the_flight_on_the_day_page(
    client: TestClient, small_db: SmallDb, secret: str
) -> None:
    csrf = _login(client, secret)
    fid = _flagged(small_db)
    for _ in range(2):  # the second click adds no second rule
        r = client.post(
            f"/flights/{fid}/feedback",
            data={"action": "known", "csrf": csrf, "text": "police helicopter"},
        )
        assert r.status_code == 200
    rules = list_rules(small_db.engine, small_db.receiver_id)
    assert [(r.kind, r.reason, r.created_by) for r in rules] == [
        ("flight", "police helicopter", "alice")
    ]
    # Left out of the flag list and of the day's count, greyed with its reason on the page.
    flagged = query_anomalies(small_db.engine, small_db.receiver_id, SMALL_DAY)
    assert fid not in set(flagged["flight_id"])
    day = client.get(f"/receivers/r1/{SMALL_DAY}").text
    row = re.search(rf'<tr id="flight-{fid}" class="(\w+)">(.*?)</tr>', day, re.S)
    assert row and row.group(1) == "known" and "police helicopter" in row.group(2)
    assert f"<strong>{len(flagged)} flagged</strong>" in day
    api = client.get(f"/api/anomalies/r1/{SMALL_DAY}").json()
    assert fid not in {a["flight_id"] for a in api}


def test_day_summaries_leave_known_flights_out(small_db: SmallDb) -> None:
    before = day_summaries(small_db.engine, small_db.receiver_id)
    flagged = query_anomalies(small_db.engine, small_db.receiver_id, SMALL_DAY)
    one = flagged.iloc[0]
    add_rule(small_db.engine, small_db.receiver_id, "icao24", str(one["icao24"]), reason="x")
    after = day_summaries(small_db.engine, small_db.receiver_id)
    n = dict(zip(before["day"], before["flagged"], strict=True))[SMALL_DAY]
    assert dict(zip(after["day"], after["flagged"], strict=True))[SMALL_DAY] == n - 1
    assert n - 1 == len(query_anomalies(small_db.engine, small_db.receiver_id, SMALL_DAY))


def test_sign_in_sets_a_strict_httponly_cookie(
    client: TestClient, small_db: SmallDb, secret: str
) -> None:
    r = _sign_in(client, "of_wrong")
    assert r.status_code == 403 and f"{COOKIE}=" not in r.headers.get("set-cookie", "")
    # Without the form's own field (another site's form): refused before the token is read.
    r = client.post("/login", data={"token": secret, "next": "/"}, follow_redirects=False)
    assert r.status_code == 403 and "sign-in form" in r.text
    client.cookies.clear()
    nonce = _field(client.get("/login").text)
    client.cookies.clear()  # the field alone, without its cookie
    r = client.post("/login", data={"token": secret, "csrf": nonce}, follow_redirects=False)
    assert r.status_code == 403
    r = _sign_in(client, secret, "https://evil.example/")
    assert r.status_code == 303 and r.headers["location"] == "/"  # never off-site
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    cookie = cookie.lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert secret.lower() in cookie  # the browser keeps the token; the database its hash
    assert "Signed in as alice" in client.get("/").text


def test_a_revoked_token_writes_nothing(client: TestClient, small_db: SmallDb, secret: str) -> None:
    csrf = _login(client, secret)
    revoke_token(small_db.engine, "alice")
    fid = _flagged(small_db)
    r = client.post(f"/flights/{fid}/feedback", data={"action": "odd", "csrf": csrf})
    assert r.status_code == 403
    assert flight_labels(small_db.engine, small_db.receiver_id).empty


def test_sign_out_needs_the_csrf_field(client: TestClient, small_db: SmallDb, secret: str) -> None:
    csrf = _login(client, secret)
    assert client.post("/logout", data={}).status_code == 403
    r = client.post("/logout", data={"csrf": csrf, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()
    assert "Sign in" in client.get("/").text


def test_flight_page_has_the_buttons_only_when_signed_in(
    client: TestClient, small_db: SmallDb, secret: str
) -> None:
    fid = _flagged(small_db)
    page = client.get(f"/flights/{fid}").text
    assert 'id="sign-in"' in page and 'id="mark-known"' not in page
    csrf = _login(client, secret)
    page = client.get(f"/flights/{fid}").text
    for action in ("known", "normal", "odd"):
        assert f'id="mark-{action}"' in page
    assert f'name="csrf" value="{csrf}"' in page and "<script" not in page
    client.post(f"/flights/{fid}/feedback", data={"action": "odd", "csrf": csrf, "text": "hm"})
    page = client.get(f"/flights/{fid}").text
    assert re.search(r"Labelled <strong>odd</strong> by alice at [0-9-]+ [0-9:]+ UTC \(hm\)", page)


@pytest.mark.slow
def test_serve_feedback_listens_on_loopback_by_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    open_db(url).dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "oddflights"
    cmd = [str(exe), "serve", "--feedback", "--port", str(port), "--db", url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODDFLIGHTS_")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.startswith(f"Serving http://127.0.0.1:{port}/ (feedback on"), first
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("serve --feedback did not answer")
        assert 'name="token"' in page
        # The same server without a token: no write.
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/flights/1/feedback", data=b"action=odd&csrf=0"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=5)
        assert refused.value.code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)
