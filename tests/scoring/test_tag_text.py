"""Tags in words naming a real airport (oddflights.scoring.tag_text) wherever flagged flights
are listed: `oddflights anomalies`, the JSON API, the day page and the alerts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from oddflights.alerts.deliver import day_alert
from oddflights.alerts.payload import AlertOptions, text
from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.flights import FLIGHT_COLUMNS, list_flights, replace_day_flights
from oddflights.db.receivers import add_receiver
from oddflights.db.scores import replace_scores
from oddflights.flights.raster import RasterSettings, pack_many, project
from oddflights.receivers import Receiver
from oddflights.web.app import create_app
from tests.model.routes import made_up_detector
from tests.stub_models import stub_flight, stub_model

DAY = date(2026, 5, 4)
CENTRE = (52.0, 5.0)
SCHIPHOL = "go-around at EHAM (Amsterdam Airport Schiphol)"
RASTER_KEY = RasterSettings(64, 3, 200.0).key  # made_up_detector's


@dataclass
class Day:
    url: str
    engine: Engine
    receiver: Receiver
    ids: list[int]


def _xy(lat: float, lon: float) -> list[float]:
    x, y = project(np.array([lat]), np.array([lon]), *CENTRE)
    return [float(x[0]), float(y[0])]


@pytest.fixture
def day(db_url: str) -> Iterator[Day]:
    """Five flights: 0 went around over Schiphol's runways (its low point stored with it, as
    the build stores it), 1 went around with no low point known, 2 circled, 3 flew circuits
    at Lelystad and 4 made a low approach at Schiphol (their places stored likewise)."""
    engine = open_db(db_url)
    rec = add_receiver(engine, Receiver("r1", *CENTRE, timezone="UTC"))
    assert rec.id is not None
    start = datetime(2026, 5, 4, 6, tzinfo=UTC)
    rows = [stub_flight(i, start, raster_key=RASTER_KEY) for i in range(5)]
    flights = pd.DataFrame(rows, columns=list(FLIGHT_COLUMNS))
    flights["track_tags"] = [
        {"key": "k", "tags": ["go_around"], "low_xy": [_xy(52.31, 4.73)]},
        {"key": "k", "tags": ["go_around"], "low_xy": []},
        None,
        {"key": "k", "tags": [], "low_xy": [], "circuit_xy": [_xy(52.46, 5.52)]},
        {"key": "k", "tags": [], "low_xy": [], "approach_xy": [_xy(52.30, 4.78)]},
    ]
    images = np.zeros((5, 64, 64), dtype=np.uint8)
    replace_day_flights(engine, rec.id, DAY, flights, pack_many(images))
    ids = list_flights(engine, rec.id, DAY).sort_values("start_ts")["flight_id"].tolist()
    det = made_up_detector(images)  # for `explain`'s picture
    model = stub_model(
        engine,
        rec.id,
        DAY - timedelta(days=3),
        DAY - timedelta(days=1),
        raster=det.raster.to_dict(),
        detector_bytes=det.to_bytes(),
    )
    scores = pd.DataFrame(
        {
            "flight_id": ids,
            "score": [3.0, 2.0, 1.0, 0.9, 0.8],
            "rank": [1, 2, 3, 4, 5],
            "threshold": 0.5,
            "is_anomaly": True,
            "tags": [
                ["go_around", "low_slow"],
                ["go_around"],
                ["circling"],
                ["circuits", "low_slow"],
                ["low_approach"],
            ],
        }
    )
    replace_scores(engine, rec.id, DAY, model, scores)
    yield Day(db_url, engine, rec, [int(i) for i in ids])
    engine.dispose()


EXPECTED = [
    [SCHIPHOL, "low and slow"],
    ["go-around"],
    ["circling"],
    ["circuits at EHLE (Lelystad Airport)", "low and slow"],
    ["low approach at EHAM (Amsterdam Airport Schiphol)"],
]


def test_the_cli_lists_the_tags_in_words_beside_the_plain_names(day: Day) -> None:
    args = ["anomalies", "--receiver", "r1", "--day", DAY.isoformat(), "--db", day.url]
    out = CliRunner().invoke(main, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert [r["flight_id"] for r in got] == day.ids
    assert [r["tags"] for r in got] == [
        ["go_around", "low_slow"],
        ["go_around"],
        ["circling"],
        ["circuits", "low_slow"],
        ["low_approach"],
    ]
    assert [r["tag_text"] for r in got] == EXPECTED
    csv_out = CliRunner().invoke(main, [*args, "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    head, first = csv_out.output.splitlines()[:2]
    assert ",tags,tag_text," in head and f"go_around;low_slow,{SCHIPHOL};low and slow," in first
    table = CliRunner().invoke(main, args)
    assert table.exit_code == 0 and "go-around at EHAM" in table.output, table.output


def test_explain_says_the_tags_in_words(day: Day, tmp_path: Path) -> None:
    png = tmp_path / "f.png"
    out = CliRunner().invoke(main, ["explain", str(day.ids[0]), "-o", str(png), "--db", day.url])
    assert out.exit_code == 0, out.output
    assert "tags: go_around, low_slow" in out.output
    assert f"in words: {SCHIPHOL}; low and slow" in out.output


def test_the_api_and_the_pages_name_the_airport(day: Day) -> None:
    with TestClient(create_app(day.engine)) as client:
        got = client.get(f"/api/anomalies/r1/{DAY.isoformat()}").json()
        page = client.get(f"/receivers/r1/{DAY.isoformat()}")
        flight_page = client.get(f"/flights/{day.ids[0]}")
        circuits_page = client.get(f"/flights/{day.ids[3]}")
    assert [r["tag_text"] for r in got] == EXPECTED
    assert got[0]["tags"] == ["go_around", "low_slow"]
    assert page.status_code == 200 and SCHIPHOL in page.text
    assert flight_page.status_code == 200 and SCHIPHOL in flight_page.text
    assert "circuits at EHLE (Lelystad Airport)" in page.text
    assert "circuits at EHLE (Lelystad Airport)" in circuits_page.text


def test_the_alert_names_the_airport(day: Day) -> None:
    payload = day_alert(day.engine, day.receiver, DAY, AlertOptions()).payload
    assert [f["tag_text"] for f in payload["flights"]] == EXPECTED
    assert payload["flights"][0]["tags"] == ["go_around", "low_slow"]
    assert f"{SCHIPHOL}; low and slow" in text(payload)


def test_circuits_and_low_approaches_found_in_a_track_name_the_airport() -> None:
    """Without stored places (a flight built before they were kept), the texts find them in
    the track; far from listed airports they name the strip found in the data."""
    from oddflights.scoring.tag_text import tag_texts
    from tests.scoring.test_tags import _lap, _leg

    rec = Receiver("r1", *CENTRE, timezone="UTC")
    lx, ly = _xy(52.4603, 5.52722)  # Lelystad's runway
    legs = [leg for _ in range(3) for leg in _lap()] + [_leg(0, 0, 1, 0, 0, 0, 15.0)]
    x, y, alt, kt = (np.concatenate([leg[k] for leg in legs]) for k in range(4))
    track = {"x": x + lx, "y": y + ly, "t": np.arange(len(x)) * 2.5, "alt": alt, "speed": kt}
    none = np.zeros((0, 2))
    assert tag_texts(["circuits", "low_slow"], rec, none, track=track) == [
        "circuits at EHLE (Lelystad Airport)",
        "low and slow",
    ]
    # Over the North Sea, 30 km off the coast: only a strip found in the data fits.
    sea = {**track, "x": x - 120.0, "y": y + 60.0}
    strip = np.array([[-119.5, 60.0]])
    got = tag_texts(["circuits"], rec, strip, track=sea)
    assert got[0].startswith("circuits near a strip at "), got
    assert tag_texts(["circuits", "low_approach"], rec, none, track=sea) == [
        "circuits",
        "low approach",
    ]
