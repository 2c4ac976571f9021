"""The web app through Starlette's TestClient: JSON equal to the CLI's, 400/404 pages, a
read-only engine, nothing from outside, and the self-contained report."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.exc import SQLAlchemyError
from starlette.testclient import TestClient

from oddflights.cli import main
from oddflights.db import DatabaseError, open_db
from oddflights.db.models import ReceiverRow
from oddflights.db.web_queries import open_readonly
from oddflights.web.app import create_app
from oddflights.web.report import nightly_report_path, render_day_report, write_nightly_report
from tests.model.routes import made_up_detector
from tests.stub_models import stub_model
from tests.web.conftest import SMALL_DAY, UNSCORED, PipelineDb, SmallDb

EXTERNAL = re.compile(r"https?://(?!127\.0\.0\.1[:/])", re.IGNORECASE)
OUT_LINK = re.compile(r'<a class="out" rel="noopener noreferrer" target="_blank" href="[^"]*">')


def _nan_to_none(value: object) -> object:
    return None if isinstance(value, float) and value != value else value


def cli_json(*args: str) -> object:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # `oddflights anomalies` prints NaN (not JSON) for an unknown callsign; the API gives
    # null. Reported to the scoring stage; remove this once query_anomalies returns None.
    if isinstance(data, list):
        return [
            {k: _nan_to_none(v) for k, v in row.items()} if isinstance(row, dict) else row
            for row in data
        ]
    return data


@pytest.fixture
def small(small_db: SmallDb) -> Iterator[TestClient]:
    engine = open_readonly(small_db.url)
    with TestClient(create_app(engine)) as client:
        yield client
    engine.dispose()


@pytest.fixture(scope="module")
def pipeline(pipeline_db: PipelineDb) -> Iterator[TestClient]:
    engine = open_readonly(pipeline_db.url)
    with TestClient(create_app(engine)) as client:
        yield client
    engine.dispose()


# JSON endpoints mirror the CLI (SQLite and PostgreSQL)


def test_api_receivers_equals_cli(small: TestClient, small_db: SmallDb) -> None:
    got = small.get("/api/receivers").json()
    assert got == cli_json("receiver", "list", "--format", "json", "--db", small_db.url)
    assert [r["name"] for r in got] == ["empty", "r1"]


QUERIES = [
    ("", []),
    ("?all=1", ["--all"]),
    ("?top=1", ["--top", "1"]),
    ("?model=OLD", ["--model", "OLD"]),
    ("?model=OLD&all=1", ["--model", "OLD", "--all"]),
]


def test_api_anomalies_equals_cli(small: TestClient, small_db: SmallDb) -> None:
    old = str(small_db.models[0])
    for query, flags in QUERIES:
        query = query.replace("OLD", old)
        flags = [old if f == "OLD" else f for f in flags]
        got = small.get(f"/api/anomalies/r1/{SMALL_DAY}{query}").json()
        want = cli_json(
            "anomalies",
            "--receiver",
            "r1",
            "--day",
            str(SMALL_DAY),
            "--format",
            "json",
            "--db",
            small_db.url,
            *flags,
        )
        assert got == want, query
        assert got, "the fixture flags flights under both models"


def test_api_anomalies_content(small: TestClient, small_db: SmallDb) -> None:
    got = small.get(f"/api/anomalies/r1/{SMALL_DAY}").json()
    ids = small_db.flight_ids
    assert [(r["flight_id"], r["rank"], r["tags"]) for r in got] == [
        (ids[1], 1, ["circling"]),
        (ids[4], 2, ["circling"]),
    ]
    assert {r["model_id"] for r in got} == {small_db.models[1]}
    assert got[0]["start"] == "2026-05-04T06:10:00Z"


def test_api_days(small: TestClient, small_db: SmallDb) -> None:
    assert small.get("/api/days/r1").json() == [
        {"day": "2026-05-05", "flights": 2, "scored": 0, "flagged": 0, "model_id": None},
        {
            "day": "2026-05-04",
            "flights": 6,
            "scored": 6,
            "flagged": 2,
            "model_id": small_db.models[1],
        },
    ]
    assert small.get("/api/days/empty").json() == []


def test_api_flight_equals_cli_flight_and_lists_every_model(
    small: TestClient, small_db: SmallDb
) -> None:
    listed = cli_json(
        "flights", "list", "--receiver", "r1", "--day", str(SMALL_DAY), "--format", "json",
        "--db", small_db.url,
    )  # fmt: skip
    assert isinstance(listed, list)
    for i in (1, 3):  # 3 has no altitude
        fid = small_db.flight_ids[i]
        got = small.get(f"/api/flights/{fid}").json()
        scores = got.pop("scores")
        assert got.pop("receiver") == "r1" and got.pop("day") == "2026-05-04"
        assert got == next(f for f in listed if f["flight_id"] == fid)
        assert [s["model_id"] for s in scores] == sorted(small_db.models, reverse=True)
        assert scores[0]["is_anomaly"] is (i == 1)


# Bad addresses and values


BAD_PATHS = [
    ("/receivers/nobody", 404),
    ("/receivers/r1/2026-05-32", 400),
    ("/receivers/r1/2020-01-01", 404),
    ("/receivers/r1/2026-05-04?model=abc", 400),
    ("/receivers/r1/2026-05-04?model=999", 404),
    ("/receivers/r1/2026-05-04?all=maybe", 400),
    ("/flights/abc", 400),
    ("/flights/-3", 400),
    ("/flights/99999999", 404),
    ("/no/such/page", 404),
    ("/api/days/nobody", 404),
    ("/api/anomalies/r1/yesterday", 400),
    ("/api/anomalies/r1/2026-05-05", 404),
    ("/api/anomalies/r1/2026-05-04?top=0", 400),
    ("/api/flights/99999999", 404),
    ("/api/flights/1e3", 400),
    ("/img/residual/abc.png", 400),
    ("/img/residual/99999999.png", 404),
    ("/img/residual/1.png?scale=99", 400),
]


def test_bad_paths_are_400_or_404_pages(small: TestClient) -> None:
    for path, status in BAD_PATHS:
        r = small.get(path)
        assert r.status_code == status, (path, r.text)
        assert "Traceback" not in r.text
        if path.startswith(("/api/", "/img/")):
            assert r.json()["status"] == status and r.json()["error"], path
        else:
            assert r.headers["content-type"].startswith("text/html")
            assert f"<h1>{status}</h1>" in r.text, path


# Other spellings of a day or number that exists: Python's parsers take them (date.fromisoformat
# reads 20260504 and the ISO week date 2026-W19-1 as 2026-05-04; int() reads "1_0", "+3",
# " 3" and Arabic-Indic digits), so the old app answered 200. An address has one spelling.
ODD_SPELLINGS = [
    ("/receivers/r1/20260504", "/receivers/r1/2026-05-04"),
    ("/receivers/r1/2026-W19-1", "/receivers/r1/2026-05-04"),
    ("/api/anomalies/r1/20260504", "/api/anomalies/r1/2026-05-04"),
    ("/api/anomalies/r1/2026-W19-1", "/api/anomalies/r1/2026-05-04"),
    ("/api/anomalies/r1/2026-05-04?top=1_0", "/api/anomalies/r1/2026-05-04?top=10"),
    ("/api/anomalies/r1/2026-05-04?top=%2B3", "/api/anomalies/r1/2026-05-04?top=3"),
    ("/api/anomalies/r1/2026-05-04?top=%203", "/api/anomalies/r1/2026-05-04?top=3"),
    ("/api/anomalies/r1/2026-05-04?top=%D9%A3", "/api/anomalies/r1/2026-05-04?top=3"),
]


@pytest.mark.parametrize(("path", "canonical"), ODD_SPELLINGS)
def test_days_and_numbers_have_one_spelling(small: TestClient, path: str, canonical: str) -> None:
    assert small.get(canonical).status_code == 200
    r = small.get(path)
    assert r.status_code == 400, (path, r.text)
    if path.startswith("/api/"):
        error = r.json()["error"]
        assert "(use YYYY-MM-DD)" in error or "is not a whole number" in error, error
    else:
        assert "is not a day (use YYYY-MM-DD)" in r.text


def test_other_days_ask_for_yyyy_mm_dd(small: TestClient) -> None:
    for day in (
        "2026-5-4",
        "2026-05-4",
        "26-05-04",
        "2026-05-04T00:00",
        "+2026-05-04",
        "2026-02-30",
    ):
        r = small.get(f"/api/anomalies/r1/{day}")
        assert r.status_code == 400, day
        assert r.json()["error"] == f"{day!r} is not a day (use YYYY-MM-DD)"


def test_a_huge_number_is_out_of_range(small: TestClient) -> None:
    r = small.get("/api/flights/" + "9" * 5000)
    assert r.status_code == 400 and "out of range" in r.json()["error"]


def test_a_model_without_weights_is_a_404_picture(small: TestClient, small_db: SmallDb) -> None:
    r = small.get(f"/img/residual/{small_db.flight_ids[0]}.png?model={small_db.models[0]}")
    assert r.status_code == 404
    assert "has no stored detector" in r.json()["error"] and "retrain" in r.json()["error"]


def test_an_unexpected_error_is_a_plain_500(
    small_db: SmallDb, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored detector that does not hold together (a 32 px raster, weights for 64 px):
    logged, and a plain answer."""
    with np.load(io.BytesIO(made_up_detector(np.zeros((5, 64, 64))).to_bytes())) as z:
        parts = dict(z)
    header = json.loads(parts["header"].tobytes())
    header["raster"]["size"] = 32
    parts["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    bad = io.BytesIO()
    np.savez(bad, **parts)
    broken = stub_model(
        small_db.engine,
        small_db.receiver_id,
        date(2026, 5, 1),
        date(2026, 5, 2),
        seed=1,
        detector_bytes=bad.getvalue(),
    )
    engine = open_readonly(small_db.url)
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        r = client.get(f"/img/residual/{small_db.flight_ids[0]}.png?model={broken}")
    engine.dispose()
    assert r.status_code == 500
    assert "Traceback" not in r.text and "keras" not in r.text.lower()
    assert any("error on /img/residual" in m for m in caplog.messages)


def test_healthz(small: TestClient) -> None:
    r = small.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


# Read-only and offline


def test_the_apps_engine_cannot_write(small: TestClient) -> None:
    engine = small.app.state.engine  # type: ignore[attr-defined]
    with pytest.raises(SQLAlchemyError), engine.begin() as conn:
        conn.execute(sa.update(ReceiverRow).values(range_km=1.0))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.min(ReceiverRow.range_km))).scalar_one() == 200.0


def test_open_readonly_needs_an_existing_migrated_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no database file"):
        open_readonly(f"sqlite:///{tmp_path / 'missing.db'}")
    empty = tmp_path / "empty.db"
    open_db(f"sqlite:///{empty}", migrate=False).dispose()
    empty.touch()
    with pytest.raises(DatabaseError, match="oddflights db upgrade"):
        open_readonly(f"sqlite:///{empty}")
    assert not (tmp_path / "missing.db").exists()


def test_unscored_day_lists_its_flights(small: TestClient, small_db: SmallDb) -> None:
    r = small.get("/receivers/r1/2026-05-05")
    assert r.status_code == 200
    assert "not scored yet" in r.text and "<img" not in r.text
    assert r.text.count('class="flight-link"') == 2


def _pages(client: TestClient, receiver: str, day: date) -> dict[str, str]:
    flagged = client.get(f"/api/anomalies/{receiver}/{day}?all=1").json()
    paths = [
        "/",
        f"/receivers/{receiver}",
        f"/receivers/{receiver}/{day}",
        f"/receivers/{receiver}/{day}?all=1",
        f"/flights/{flagged[0]['flight_id']}",
        "/receivers/nobody",
    ]
    return {p: client.get(p).text for p in paths}


def test_pages_fetch_nothing_from_outside(pipeline: TestClient, pipeline_db: PipelineDb) -> None:
    pages = _pages(pipeline, pipeline_db.receiver.name, pipeline_db.day)
    for path, html in pages.items():
        # Links out (tar1090, ADS-B Exchange, OpenSky) are plain links a person may follow:
        # nothing on the page loads from them.
        inside = OUT_LINK.sub("", html)
        assert not EXTERNAL.search(inside), (path, EXTERNAL.search(inside))
        for src in re.findall(r'(?:src|href)="([^"]*)"', inside):
            assert src.startswith(("/", "#")), (path, src)
    csp = pipeline.get("/").headers["content-security-policy"]
    assert "default-src 'none'" in csp


def test_no_page_or_answer_may_be_framed(small: TestClient) -> None:
    for path in ("/", "/receivers/r1", "/api/receivers", "/receivers/nobody", "/static/style.css"):
        r = small.get(path)
        directives = [d.strip() for d in r.headers["content-security-policy"].split(";")]
        assert "frame-ancestors 'none'" in directives, (path, directives)


def test_day_page_rows_and_pictures(pipeline: TestClient, pipeline_db: PipelineDb) -> None:
    name, day = pipeline_db.receiver.name, pipeline_db.day
    flagged = pipeline.get(f"/api/anomalies/{name}/{day}").json()
    html = pipeline.get(f"/receivers/{name}/{day}").text
    rows = re.findall(r'<tr id="flight-(\d+)"', html)
    assert [int(r) for r in rows] == [f["flight_id"] for f in flagged]
    every = pipeline.get(f"/receivers/{name}/{day}?all=1").text
    scored = pipeline.get(f"/api/anomalies/{name}/{day}?all=1").json()
    assert len(re.findall(r'<tr id="flight-(\d+)"', every)) == len(scored) > len(flagged)
    for src in re.findall(r'<img class="residual" src="([^"]+)"', html):
        r = pipeline.get(src.replace("&amp;", "&"))
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_flight_page_draws_track_altitude_and_scores(
    pipeline: TestClient, pipeline_db: PipelineDb
) -> None:
    top = pipeline.get(f"/api/anomalies/{pipeline_db.receiver.name}/{pipeline_db.day}").json()[0]
    html = pipeline.get(f"/flights/{top['flight_id']}").text
    assert '<svg class="map flight-map"' in html and '<svg class="profile altitude"' in html
    assert html.count('class="ring"') >= 3  # in the inset of the receiver's frame at least
    assert '<path class="land"' in html  # the simulated receiver is over the Netherlands
    assert '<polyline class="path"' in html and '<polyline class="alt"' in html
    assert '<polyline class="speed"' in html
    assert "globe.adsbexchange.com/?icao=" in html
    assert f"model={pipeline_db.model_id}" in html
    assert f"{top['score']:.4g}" in html


# The report


def test_report_is_self_contained(pipeline_db: PipelineDb, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    args = ["report", "--receiver", pipeline_db.receiver.name, "--day", str(pipeline_db.day)]
    result = CliRunner().invoke(main, [*args, "-o", str(out), "--db", pipeline_db.url])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert 'src="http' not in html and not EXTERNAL.search(html)
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', html)
    flagged = cli_json(
        "anomalies", "--receiver", pipeline_db.receiver.name, "--day", str(pipeline_db.day),
        "--format", "json", "--db", pipeline_db.url,
    )  # fmt: skip
    assert isinstance(flagged, list) and len(srcs) == len(flagged) >= 1
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in html and "<script" not in html
    for f in flagged:
        assert f'id="flight-{f["flight_id"]}"' in html


def test_report_cli_errors_are_one_line(pipeline_db: PipelineDb, tmp_path: Path) -> None:
    out = str(tmp_path / "r.html")
    for args, message in [
        (["--receiver", "nobody", "--day", "2026-05-04"], "no receiver named 'nobody'"),
        (["--receiver", "sim", "--day", "05/04/2026"], "--day '05/04/2026' is not a day"),
        (["--receiver", "sim", "--day", "2020-01-01"], "has no flights on 2020-01-01"),
    ]:
        result = CliRunner().invoke(main, ["report", *args, "-o", out, "--db", pipeline_db.url])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "Traceback" not in result.output


def test_nightly_report_setting(
    pipeline_db: PipelineDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_readonly(pipeline_db.url)
    try:
        assert nightly_report_path("sim", pipeline_db.day) is None
        assert write_nightly_report(engine, pipeline_db.receiver, pipeline_db.day) is None
        monkeypatch.setenv("ODDFLIGHTS_NIGHTLY_REPORT_DIR", str(tmp_path / "reports"))
        path = write_nightly_report(engine, pipeline_db.receiver, UNSCORED)
    finally:
        engine.dispose()
    assert path == tmp_path / "reports" / f"sim-{UNSCORED}.html"
    assert "not scored" in path.read_text(encoding="utf-8")


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2
    assert "no database file" in result.stderr


def test_core_errors_become_pages_in_one_handler(small: TestClient) -> None:
    # ReceiverNotFound comes straight from the database layer, DayError from the shared day
    # parser: the app's one OddflightsError handler gives each its status, as a page or JSON.
    r = small.get("/receivers/nobody")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "no receiver named &#39;nobody&#39;" in r.text and "Traceback" not in r.text
    r = small.get("/api/days/nobody")
    assert r.status_code == 404
    assert r.json()["error"].startswith("no receiver named 'nobody'")
    r = small.get("/receivers/r1/20261130")
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]
    source = (Path(__file__).resolve().parents[2] / "oddflights" / "web" / "app.py").read_text()
    assert source.count("OddflightsError: oddflights_error") == 1
    assert "raise NotFound(str(exc))" not in source


def test_the_web_and_the_cli_say_the_same_about_a_bad_day(
    small: TestClient, small_db: SmallDb, tmp_path: Path
) -> None:
    web = small.get("/api/anomalies/r1/20261130").json()["error"]
    assert web == "'20261130' is not a day (use YYYY-MM-DD)"
    args = ["report", "--receiver", "r1", "--day", "20261130", "-o", str(tmp_path / "r.html")]
    cli = CliRunner().invoke(main, [*args, "--db", small_db.url])
    assert cli.exit_code == 2 and cli.stderr == f"Error: --day {web}\n"


def test_a_tile_url_makes_the_maps_leaflet_maps(
    pipeline_db: PipelineDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ODDFLIGHTS_TILE_URL set, the flight and day maps are Leaflet's (served from here)
    over those tiles, and the page may load images from the tiles' host, nothing else."""
    monkeypatch.setenv("ODDFLIGHTS_TILE_URL", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    monkeypatch.setenv("ODDFLIGHTS_TILE_ATTRIBUTION", "© Example <tiles>")
    name, day = pipeline_db.receiver.name, pipeline_db.day
    engine = open_readonly(pipeline_db.url)
    try:
        with TestClient(create_app(engine)) as client:
            flagged = client.get(f"/api/anomalies/{name}/{day}").json()
            r = client.get(f"/flights/{flagged[0]['flight_id']}")
            csp = r.headers["content-security-policy"]
            assert "img-src 'self' data: https://*.tile.example.org;" in csp
            assert "script-src 'self'" in csp and "default-src 'none'" in csp
            assert '<script src="/static/leaflet/leaflet.js"></script>' in r.text
            assert '<svg class="map' not in r.text  # the tile map replaces the SVG one
            data = _map_data(r.text)
            assert data["tiles"]["url"] == "https://{s}.tile.example.org/{z}/{x}/{y}.png"
            assert data["tiles"]["attribution"] == "© Example &lt;tiles&gt;"
            assert len(data["flights"]) == 1 and len(data["flights"][0]["track"]) > 10
            assert "EHAM" in {a[2] for a in data["airports"]}
            page = client.get(f"/receivers/{name}/{day}").text
            ranks = [(f["rank"], f["href"]) for f in _map_data(page)["flights"]]
            assert ranks == [(f["rank"], f"/flights/{f['flight_id']}") for f in flagged]
            for path in ("/static/leaflet/leaflet.js", "/static/leaflet/leaflet.css"):
                assert client.get(path).status_code == 200, path
    finally:
        engine.dispose()
    # The report stays self-contained: inline SVG maps, no script, whatever the setting.
    html = render_day_report(open_readonly(pipeline_db.url), name, day)
    assert "<script" not in html and '<svg class="map day-map"' in html


def _map_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="map-data">(.*?)</script>', html, re.S)
    assert found, "no map data on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data
