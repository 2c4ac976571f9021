"""The web page in a real browser: a uvicorn server on 127.0.0.1 over the pipeline database,
driven by the system's headless Chromium (Debian's `chromium` and `chromium-driver`).

Screenshots land in test-artifacts/ (gitignored) for a person to look at. The README's
picture is of the demo's data, not of these tests' receiver: `make screenshots` runs
`oddflights demo` into a scratch database and then this file's
test_the_demos_day_page_for_the_readme with SCREENSHOTS_DEMO_DB (that database) and
SCREENSHOTS_DIR (where web-day.png goes) set; without them that test is skipped.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
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
# Airports near the simulated receiver (52.0 N, 5.0 E) that airportsdata lists.
REAL_AIRPORTS = {"EHAM", "EHRD", "EHLE", "EHHV", "EHGR", "EHVK", "EHEH", "EHKD", "EHDL"}


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def server(pipeline_db: PipelineDb) -> Iterator[str]:
    """A real uvicorn server in a thread on a free port of 127.0.0.1; yields its base URL."""
    with _serving(pipeline_db.url) as base:
        yield base


@contextlib.contextmanager
def _serving(url: str) -> Iterator[str]:
    """The app (with the settings of now) over the database at ``url``, served by uvicorn in
    a thread on 127.0.0.1."""
    import uvicorn

    engine = open_readonly(url)
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
    # Every request the page makes, for the check that nothing is fetched from elsewhere.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
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


def _requested(driver: Any) -> list[str]:
    """The URLs the browser requested since the last call (Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _outside(urls: list[str], server: str) -> list[str]:
    """The requests to the network that went anywhere but ``server`` (Chromium's own
    chrome:// pages and data: URIs are not the network)."""
    network = [u for u in urls if u.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")]
    return [u for u in network if not u.startswith(server + "/")]


def _fill(driver: Any, svg: str, path: str) -> tuple[float, float]:
    """How much of the map's width and height the drawn path's bounding box takes."""
    share: list[float] = driver.execute_script(
        "const s = document.querySelector(arguments[0]).getBoundingClientRect();"
        "const p = document.querySelector(arguments[0] + ' ' + arguments[1])"
        ".getBoundingClientRect(); return [p.width / s.width, p.height / s.height];",
        svg,
        path,
    )
    return share[0], share[1]


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
    # The day map: basemap layers, the flagged flights numbered by rank, real airports.
    for layer in ("path.land", "path.lake"):  # the IJsselmeer is 30 km north
        assert browser.find_elements(By.CSS_SELECTOR, f"svg.day-map {layer}"), layer
    ranks = browser.find_elements(By.CSS_SELECTOR, "svg.day-map g.rank text")
    assert sorted(int(r.text) for r in ranks) == sorted(f["rank"] for f in flagged)
    labels = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "svg .airport-label")}
    assert len(labels & REAL_AIRPORTS) >= 2, labels
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web-day.png"))
    outside = _outside(_requested(browser), server)
    assert not outside, outside

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
    assert browser.find_elements(By.CSS_SELECTOR, "svg.flight-map polyline.path")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.altitude polyline.alt")
    # (Airports are drawn where the flight is; the day map checks real ones near the receiver.)
    for layer in ("path.land", "path.lake", "path.border", "circle.ring", "path.receiver"):
        assert browser.find_elements(By.CSS_SELECTOR, f"svg.flight-map {layer}"), layer
    # At its own scale: the flight fills at least half the map one way or the other.
    wide, high = _fill(browser, "svg.flight-map", "polyline.path")
    assert max(wide, high) >= 0.5, (wide, high)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#scores tbody tr")) == 1
    widths = _images_loaded(browser)
    assert widths and all(w > 0 for w in widths), widths
    browser.save_screenshot(str(ARTIFACTS / "web-flight.png"))
    assert (ARTIFACTS / "web-day.png").stat().st_size > 0
    # With no tile address set, every request of every page went to the server.
    outside = _outside(_requested(browser), server)
    assert not outside, outside


@pytest.fixture
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A tile server on 127.0.0.1 that answers every path with one plain 256 px PNG; yields
    its base URL and the paths asked for."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (214, 232, 204)).save(buf, format="PNG")
    tile, asked = buf.getvalue(), []

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            asked.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", asked
    srv.shutdown()
    srv.server_close()


def test_a_tile_url_gives_a_leaflet_map_over_those_tiles(
    pipeline_db: PipelineDb,
    browser: Any,
    tile_server: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    tiles, asked = tile_server
    monkeypatch.setenv("ODDFLIGHTS_TILE_URL", tiles + "/{z}/{x}/{y}.png")
    with _serving(pipeline_db.url) as base:
        name, day = pipeline_db.receiver.name, pipeline_db.day
        top = _api(base, f"/api/anomalies/{name}/{day}")[0]
        _requested(browser)  # forget earlier pages' requests
        browser.get(f"{base}/flights/{top['flight_id']}")
        WebDriverWait(browser, WAIT_S).until(
            ec.presence_of_element_located(
                (By.CSS_SELECTOR, "#leaflet-map img.leaflet-tile-loaded")
            )
        )
        # The track and the airports are drawn over the tiles, with the tiles' attribution.
        assert browser.find_elements(By.CSS_SELECTOR, "#leaflet-map .leaflet-overlay-pane path")
        credit = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-attribution").text
        assert "OpenStreetMap contributors" in credit, credit
        assert asked and all(p.endswith(".png") for p in asked)
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "web-flight-tiles.png"))
        # The day map: a numbered mark per flagged flight, each opening its flight.
        browser.get(f"{base}/receivers/{name}/{day}")
        WebDriverWait(browser, WAIT_S).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "#leaflet-map .rank-icon"))
        )
        marks = browser.find_elements(By.CSS_SELECTOR, "#leaflet-map .rank-icon")
        assert sorted(int(m.text) for m in marks) == sorted(
            f["rank"] for f in _api(base, f"/api/anomalies/{name}/{day}")
        )
        marks[0].click()
        WebDriverWait(browser, WAIT_S).until(ec.url_contains("/flights/"))
        # Only the server and the tile server were asked for anything.
        outside = [u for u in _outside(_requested(browser), base) if not u.startswith(tiles + "/")]
        assert not outside, outside


def test_the_demos_day_page_for_the_readme(browser: Any) -> None:
    """`make screenshots`: the day page of `oddflights demo`'s last day (its database at
    SCREENSHOTS_DEMO_DB), with the basemap's layers and real airports, saved as
    SCREENSHOTS_DIR/web-day.png for the README."""
    from selenium.webdriver.common.by import By

    # Not ODDFLIGHTS_ names: the tests clear those.
    demo_db, readme_dir = os.environ.get("SCREENSHOTS_DEMO_DB"), os.environ.get("SCREENSHOTS_DIR")
    if not demo_db or not readme_dir:
        pytest.skip("`make screenshots` sets SCREENSHOTS_DEMO_DB and SCREENSHOTS_DIR")
    with _serving(demo_db) as base:
        days = _api(base, "/api/days/demo")
        assert days, "the demo database has no days: run `oddflights demo` into it first"
        day = max(d["day"] for d in days if d.get("flagged"))
        flagged = _api(base, f"/api/anomalies/demo/{day}")
        browser.get(f"{base}/receivers/demo/{day}")
        rows = browser.find_elements(By.CSS_SELECTOR, "#flights tbody tr")
        assert len(rows) == len(flagged) > 0
        widths = _images_loaded(browser)
        assert all(w > 0 for w in widths), widths
        # (No border: the day's flights stay well inside the Netherlands.)
        for layer in ("path.land", "path.lake", "circle.ring", "path.receiver"):
            assert browser.find_elements(By.CSS_SELECTOR, f"svg.day-map {layer}"), layer
        labels = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "svg .airport-label")}
        assert "EHAM" in labels, labels  # the demo receiver sits at Schiphol
        Path(readme_dir).mkdir(parents=True, exist_ok=True)
        browser.find_element(By.CSS_SELECTOR, "main").screenshot(
            str(Path(readme_dir) / "web-day.png")
        )
        assert not _outside(_requested(browser), base)
