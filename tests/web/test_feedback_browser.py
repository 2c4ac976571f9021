"""The feedback buttons in a real browser: a uvicorn server with `--feedback` over a copy of
the pipeline database, driven by the system's headless Chromium. Signs in with a token,
marks the top flagged flight known, reloads the day page and finds it greyed with its reason;
a POST without the token is refused."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oddflights.db import open_db
from oddflights.db.known import list_rules
from oddflights.db.tokens import create_token
from oddflights.db.web_queries import open_readonly
from oddflights.tokens import new_token, token_hash
from oddflights.web.app import create_app
from tests.web.conftest import PipelineDb
from tests.web.test_browser import ARTIFACTS, CHROMIUM_FLAGS, WAIT_S, _find

pytestmark = pytest.mark.slow  # a Chromium process and the trained pipeline fixture


@dataclass
class FeedbackServer:
    base: str
    url: str  # the database copy's URL
    token: str


@pytest.fixture(scope="module")
def feedback_server(
    pipeline_db: PipelineDb, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FeedbackServer]:
    """`serve --feedback` in a thread over a copy of the pipeline database (the other tests
    share the original and must not see this test's rules)."""
    import uvicorn

    path = tmp_path_factory.mktemp("feedback") / "copy.db"
    with sqlite3.connect(pipeline_db.path) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    url = f"sqlite:///{path}"
    writer = open_db(url)
    secret = new_token()
    create_token(writer, "browser-test", token_hash(secret))
    reader = open_readonly(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(reader, feedback_engine=writer)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        threading.Event().wait(0.05)
    assert srv.started, "uvicorn did not start"
    yield FeedbackServer(f"http://127.0.0.1:{port}", url, secret)
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()
    reader.dispose()
    writer.dispose()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile (no cookies); skipped without it."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("no Chromium: apt-get install -y chromium chromium-driver")
    options = Options()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-feedback')}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def _post(url: str, fields: dict[str, str]) -> int:
    """The status of a plain form POST made without the browser (no cookie)."""
    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=WAIT_S) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_mark_a_flight_known_and_see_it_greyed(
    feedback_server: FeedbackServer, chromium: Any, pipeline_db: PipelineDb
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, name, day = feedback_server.base, pipeline_db.receiver.name, pipeline_db.day
    with urllib.request.urlopen(f"{base}/api/anomalies/{name}/{day}", timeout=WAIT_S) as r:
        flagged = json.loads(r.read())
    assert flagged, "the fixture day has flagged flights"
    fid = flagged[0]["flight_id"]
    wait = WebDriverWait(chromium, WAIT_S)

    # Not signed in: no buttons, and a POST without the token is refused.
    chromium.get(f"{base}/flights/{fid}")
    assert not chromium.find_elements(By.ID, "mark-known")
    action = {"action": "known", "text": "x", "csrf": "0" * 64}
    assert _post(f"{base}/flights/{fid}/feedback", action) == 403

    # Sign in once with the token: back on the flight page, with the buttons.
    chromium.find_element(By.ID, "sign-in").click()
    wait.until(ec.presence_of_element_located((By.ID, "token")))
    chromium.find_element(By.ID, "token").send_keys(feedback_server.token)
    chromium.find_element(By.ID, "sign-in-button").click()
    wait.until(ec.presence_of_element_located((By.ID, "mark-known")))
    assert f"/flights/{fid}" in chromium.current_url
    assert "Signed in as browser-test" in chromium.find_element(By.TAG_NAME, "footer").text
    # The cookie is HttpOnly: the page's scripts cannot read the token.
    assert "oddflights_token" not in chromium.execute_script("return document.cookie")

    # Mark it known, with a reason.
    chromium.find_element(By.NAME, "text").send_keys("flying club")
    chromium.find_element(By.ID, "mark-known").click()
    wait.until(ec.presence_of_element_located((By.ID, "known-state")))
    assert "flying club" in chromium.find_element(By.ID, "known-state").text
    ARTIFACTS.mkdir(exist_ok=True)
    chromium.save_screenshot(str(Path(ARTIFACTS) / "web-flight-feedback.png"))
    engine = open_db(feedback_server.url)
    rules = list_rules(engine, pipeline_db.receiver.id)
    engine.dispose()
    assert [(r.kind, r.reason, r.created_by) for r in rules] == [
        ("flight", "flying club", "browser-test")
    ]

    # The day page, reloaded: the flight is still listed, greyed, with its reason.
    chromium.get(f"{base}/receivers/{name}/{day}")
    chromium.refresh()
    wait.until(ec.presence_of_element_located((By.ID, f"flight-{fid}")))
    row = chromium.find_element(By.ID, f"flight-{fid}")
    assert row.get_attribute("class") == "known"
    assert "known: flying club" in row.text
    grey = row.find_element(By.CSS_SELECTOR, "td").value_of_css_property("background-color")
    assert grey in ("rgba(238, 240, 242, 1)", "rgb(238, 240, 242)"), grey
    others = [
        r.get_attribute("class")
        for r in chromium.find_elements(By.CSS_SELECTOR, "#flights tbody tr")
        if r.get_attribute("id") != f"flight-{fid}"
    ]
    assert others and set(others) == {"flagged"}
    chromium.save_screenshot(str(Path(ARTIFACTS) / "web-day-known.png"))
