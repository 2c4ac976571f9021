"""`oddflights flights …` on real databases, including bad input."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.positions import write_positions
from oddflights.db.receivers import get_receiver
from tests.flights.tracks import concat, track


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def loaded(db_url: str) -> str:
    """A receiver `roof` with two flights on 2026-01-15 and one on the 16th."""
    assert run("receiver", "add", "roof", "--lat", "52", "--lon", "4", "--db", db_url)[0] == 0
    engine = open_db(db_url)
    rec = get_receiver(engine, "roof")
    assert rec.id is not None
    t = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    positions = concat(
        track("abc123", t, 900, 51.6, 3.5, heading_deg=45.0, callsign="KLM1"),
        track("abc124", t.replace(hour=11), 1200, 52.4, 3.0, heading_deg=100.0, callsign=None),
        track("abc125", t.replace(day=16), 600, 52.0, 4.0, callsign="EZY9"),
        track("abc126", t, 60, 52.0, 4.0),  # one minute: too short
    )
    write_positions(engine, rec.id, positions, "test")
    engine.dispose()
    return db_url


def test_build_list_show(loaded: str, tmp_path: Path) -> None:
    db = loaded
    code, out, err = run(
        "flights",
        "build",
        "--receiver",
        "roof",
        "--from",
        "2026-01-15",
        "--to",
        "2026-01-16",
        "--json",
        "--db",
        db,
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["days"] == 2 and summary["flights"] == 3
    assert summary["dropped"]["too_short"] == 1
    assert summary["seconds"] >= 0
    code, out, _ = run("flights", "build", "--receiver", "roof", "--day", "2026-01-15", "--db", db)
    assert code == 0 and "Built 2 flights over 1 day(s) for roof" in out

    code, out, _ = run(
        "flights",
        "list",
        "--receiver",
        "roof",
        "--day",
        "2026-01-15",
        "--format",
        "json",
        "--db",
        db,
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["icao24"] for r in rows] == ["abc123", "abc124"]
    first = rows[0]
    assert {
        "flight_id",
        "icao24",
        "callsign",
        "start",
        "end",
        "n_points",
        "path_km",
        "turn_deg",
        "lit_pixels",
    } <= set(first)
    assert first["start"] == "2026-01-15T09:00:00Z" and first["end"] == "2026-01-15T09:14:59Z"
    assert first["callsign"] == "KLM1" and rows[1]["callsign"] is None
    assert first["n_points"] == 900 and first["lit_pixels"] > 5
    assert first["path_km"] == pytest.approx(900 * 400 * 1.852 / 3600, rel=0.01)
    assert abs(first["turn_deg"]) < 5

    code, out, _ = run(
        "flights",
        "list",
        "--receiver",
        "roof",
        "--day",
        "2026-01-15",
        "--format",
        "csv",
        "--db",
        db,
    )
    assert code == 0 and out.splitlines()[0].startswith("flight_id,icao24,callsign,start,end")
    code, out, _ = run("flights", "list", "--receiver", "roof", "--day", "2026-01-15", "--db", db)
    assert code == 0 and "abc124" in out

    png = tmp_path / "f.png"
    code, out, err = run(
        "flights", "show", str(first["flight_id"]), "-o", str(png), "--scale", "2", "--db", db
    )
    assert code == 0, err
    img = np.asarray(Image.open(io.BytesIO(png.read_bytes())))
    assert img.shape == (128, 128)
    assert set(np.unique(img)) == {0, 255}
    assert (img == 255).sum() == first["lit_pixels"] * 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--receiver", "roof", "--day", "2026-13-01"], "--day '2026-13-01' is not a day"),
        (
            ["build", "--receiver", "roof", "--day", "2026-01-15", "--from", "2026-01-01"],
            "either --day or --from/--to",
        ),
        (["build", "--receiver", "roof", "--from", "2026-01-01"], "both --from D and --to D"),
        (
            ["build", "--receiver", "roof", "--from", "2026-01-05", "--to", "2026-01-01"],
            "--to 2026-01-01 is before --from 2026-01-05",
        ),
        (["build", "--receiver", "nope", "--day", "2026-01-15"], "no receiver named 'nope'"),
        (["list", "--receiver", "roof", "--day", "yesterday"], "--day 'yesterday' is not a day"),
        (["list", "--receiver", "nope", "--day", "2026-01-15"], "no receiver named 'nope'"),
        (["show", "12345", "-o", "x.png"], "no flight with id 12345"),
    ],
)
def test_bad_input_is_one_line(loaded: str, args: list[str], message: str) -> None:
    code, _, err = run("flights", *args, "--db", loaded)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
