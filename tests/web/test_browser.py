"""The web page in a real browser: a uvicorn server on 127.0.0.1 over the pipeline database,
driven by the system's headless Chromium (Debian's `chromium` and `chromium-driver`).

Screenshots land in test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oddflights.db.web_queries import open_readonly
from oddflights.web.app import create_app
from tests.web.conftest import PipelineDb

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)
# The first picture loads the Keras model (seconds on a busy machine).
WAIT_S = 120


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def server(pipeline_db: PipelineDb) -> Iterator[str]:
    """A real uvicorn server in a thread on a free port of 127.0.0.1; yields its base URL."""
    import uvicorn

    engine = open_readonly(pipeline_db.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(engine), log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        threading.Event().wait(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()
    engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium through chromedriver, with a fresh profile; skipped without them."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip(
            "no Chromium: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver)"
        )
    options = Options()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def _api(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=WAIT_S) as resp:
        return json.loads(resp.read())


def _images_loaded(driver: Any) -> list[int]:
    """Waits until every picture has finished loading; returns their natural widths."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)")
    )
    widths: list[int] = driver.execute_script(
        "return Array.from(document.images).map(i => i.naturalWidth)"
    )
    return widths


def test_day_page_pictures_and_click_through(
    server: str, browser: Any, pipeline_db: PipelineDb
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    name, day = pipeline_db.receiver.name, pipeline_db.day
    flagged = _api(server, f"/api/anomalies/{name}/{day}")
    assert flagged, "the fixture day has flagged flights"

    # The day page: the flagged flights by rank, every picture loaded.
    browser.get(f"{server}/receivers/{name}/{day}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#flights tbody tr")
    assert [r.get_attribute("id") for r in rows] == [f"flight-{f['flight_id']}" for f in flagged]
    assert [r.find_element(By.CSS_SELECTOR, "td").text for r in rows] == [
        str(f["rank"]) for f in flagged
    ]
    widths = _images_loaded(browser)
    assert len(widths) == len(flagged) and all(w > 0 for w in widths), widths
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web-day.png"))

    # The switch to every scored flight.
    browser.find_element(By.ID, "show-all").click()
    WebDriverWait(browser, WAIT_S).until(ec.url_contains("all=1"))
    every = browser.find_elements(By.CSS_SELECTOR, "#flights tbody tr")
    scored = _api(server, f"/api/anomalies/{name}/{day}?all=1")
    assert len(every) == len(scored) > len(flagged)
    browser.back()

    # A click on the top flight opens its page: track, altitude, scores, its picture.
    WebDriverWait(browser, WAIT_S).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "a.flight-link"))
    )
    browser.find_element(By.CSS_SELECTOR, "a.flight-link").click()
    top = flagged[0]["flight_id"]
    WebDriverWait(browser, WAIT_S).until(ec.url_contains(f"/flights/{top}"))
    WebDriverWait(browser, WAIT_S).until(ec.presence_of_element_located((By.ID, "flight-title")))
    assert browser.find_elements(By.CSS_SELECTOR, "svg.track polyline.path")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.altitude polyline.alt")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#scores tbody tr")) == 1
    widths = _images_loaded(browser)
    assert widths and all(w > 0 for w in widths), widths
    browser.save_screenshot(str(ARTIFACTS / "web-flight.png"))
    assert (ARTIFACTS / "web-day.png").stat().st_size > 0
