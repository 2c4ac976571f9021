"""Settings that used to be taken and did harm are refused by the real commands: one line
naming the variable, the value and what is allowed, exit 2, nothing done (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.positions import write_positions
from oddflights.db.receivers import get_receiver
from tests.flights.tracks import concat, track

ODDFLIGHTS = str(Path(sys.executable).with_name("oddflights"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, out: str, err: str, env: str, value: str) -> str:
    """The refusal: exit 2, nothing on stdout, one line naming the variable and value."""
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"Error: {env}={value!r} is not valid: "), err
    assert "Traceback" not in err
    return err


def flights_of(db_url: str) -> list[int]:
    code, out, err = run(
        "flights", "list", "--receiver", "roof", "--day", "2026-01-15", "--format", "json",
        "--db", db_url,
    )  # fmt: skip
    assert code == 0, err
    return [f["flight_id"] for f in json.loads(out)]


@pytest.fixture
def built(db_url: str) -> str:
    """A receiver `roof` with two flights built on 2026-01-15."""
    assert run("receiver", "add", "roof", "--lat", "52", "--lon", "4", "--db", db_url)[0] == 0
    engine = open_db(db_url)
    rec = get_receiver(engine, "roof")
    assert rec.id is not None
    t = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    positions = concat(
        track("abc123", t, 900, 51.6, 3.5, heading_deg=45.0, callsign="KLM1"),
        track("abc124", t + timedelta(hours=2), 1200, 52.4, 3.0, heading_deg=100.0),
    )
    write_positions(engine, rec.id, positions, "test")
    engine.dispose()
    code, _, err = run(
        "flights", "build", "--receiver", "roof", "--day", "2026-01-15", "--db", db_url
    )
    assert code == 0, err
    assert len(flights_of(db_url)) == 2
    return db_url


def test_a_negative_flight_gap_deletes_no_flight(
    built: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `flights build` exited 0 after deleting every flight of the day."""
    before = flights_of(built)
    monkeypatch.setenv("ODDFLIGHTS_FLIGHT_GAP_MIN", "-5")
    code, out, err = run(
        "flights", "build", "--receiver", "roof", "--day", "2026-01-15", "--db", built
    )
    assert "must be > 0" in one_line_error(code, out, err, "ODDFLIGHTS_FLIGHT_GAP_MIN", "-5")
    monkeypatch.delenv("ODDFLIGHTS_FLIGHT_GAP_MIN")
    assert flights_of(built) == before


def test_a_setting_read_deep_in_the_nightly_stops_it_at_once(
    built: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nightly reads the flight gap inside a day, where a failure is only recorded (a
    failed day, exit 1); a bad value must stop the command before any day is touched."""
    monkeypatch.setenv("ODDFLIGHTS_FLIGHT_GAP_MIN", "-5")
    code, out, err = run("nightly", "--receiver", "roof", "--day", "2026-01-15", "--db", built)
    one_line_error(code, out, err, "ODDFLIGHTS_FLIGHT_GAP_MIN", "-5")
    monkeypatch.delenv("ODDFLIGHTS_FLIGHT_GAP_MIN")
    code, out, _ = run("runs", "--format", "json", "--db", built)
    assert code == 0 and json.loads(out) == []
    assert len(flights_of(built)) == 2


@pytest.mark.parametrize("value", ["-1", "0"])
def test_a_lock_that_is_always_stale_is_refused(
    db_url: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: -1 made every nightly lock stale at once, and two nightlies ran together."""
    assert run("receiver", "add", "roof", "--lat", "52", "--lon", "4", "--db", db_url)[0] == 0
    monkeypatch.setenv("ODDFLIGHTS_LOCK_STALE_HOURS", value)
    code, out, err = run("nightly", "--all", "--db", db_url)
    one_line_error(code, out, err, "ODDFLIGHTS_LOCK_STALE_HOURS", value)
    monkeypatch.delenv("ODDFLIGHTS_LOCK_STALE_HOURS")
    code, out, _ = run("runs", "--format", "json", "--db", db_url)
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize("value", ["0", "-1"])
def test_schedule_with_no_misfire_grace_exits_at_start(db_url: str, value: str) -> None:
    """Before: the service logged a traceback and kept running with no job. A real process,
    with a timeout: it must end by itself."""
    assert run("receiver", "add", "roof", "--lat", "52", "--lon", "4", "--db", db_url)[0] == 0
    env = {**os.environ, "ODDFLIGHTS_MISFIRE_GRACE_HOURS": value}
    try:
        done = subprocess.run(
            [ODDFLIGHTS, "schedule", "--all", "--db", db_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`oddflights schedule` kept running: {exc.stdout!r} {exc.stderr!r}")
    one_line_error(
        done.returncode, done.stdout, done.stderr, "ODDFLIGHTS_MISFIRE_GRACE_HOURS", value
    )


def test_ingest_with_a_negative_range_factor_stores_and_rejects_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every position was rejected as out of range, exit 0."""
    assert run("receiver", "add", "roof", "--lat", "52", "--lon", "4", "--db", db_url)[0] == 0
    t = "2026/01/15,09:00:0{s}.000"
    line = f"MSG,3,1,1,4840d6,1,{t},{t},,35000,,,52.1,4.1,,,0,0,0,0\n"
    feed = tmp_path / "feed.sbs"
    feed.write_text("".join(line.format(s=s) for s in range(5)))
    monkeypatch.setenv("ODDFLIGHTS_MAX_RANGE_FACTOR", "-1")
    code, out, err = run("ingest", str(feed), "--receiver", "roof", "--json", "--db", db_url)
    one_line_error(code, out, err, "ODDFLIGHTS_MAX_RANGE_FACTOR", "-1")
    monkeypatch.delenv("ODDFLIGHTS_MAX_RANGE_FACTOR")
    code, out, err = run("ingest", str(feed), "--receiver", "roof", "--json", "--db", db_url)
    assert code == 0, err
    assert json.loads(out)["accepted"] == 5  # the same file is good with the default


@pytest.mark.parametrize(
    "url", ["sqlite:///", "sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true"]
)
def test_an_in_memory_database_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: `receiver add` "succeeded" into a database that vanished as the command ended."""
    monkeypatch.setenv("ODDFLIGHTS_DB", url)
    code, out, err = run("receiver", "add", "roof", "--lat", "52", "--lon", "4")
    assert "in-memory SQLite database" in one_line_error(code, out, err, "ODDFLIGHTS_DB", url)
    monkeypatch.delenv("ODDFLIGHTS_DB")
    code, out, err = run("receiver", "add", "roof", "--lat", "52", "--lon", "4", "--db", url)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"Error: db={url!r} is not valid: an in-memory SQLite database"), err


def test_every_command_checks_the_environment_but_help_still_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ODDFLIGHTS_MODEL_EPOCHS", "0")
    code, out, err = run("settings")
    one_line_error(code, out, err, "ODDFLIGHTS_MODEL_EPOCHS", "0")
    for args in (["--help"], ["flights", "build", "--help"], ["settings", "-h"]):
        code, out, _ = run(*args)
        assert code == 0 and out.startswith("Usage: "), args


def test_settings_show_what_is_allowed() -> None:
    code, out, err = run("settings", "--format", "json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["flight_gap_min"]["allowed"] == "> 0 and <= 1440"
    assert rows["raster_size"]["allowed"] == "8..512"
    assert rows["model_loss"]["allowed"] == "one of bce, mse, weighted_bce, focal, dice"
    code, out, _ = run("settings", "--format", "markdown")
    assert "| `ODDFLIGHTS_LOCK_STALE_HOURS` | `6.0` | > 0 and <= 8760 |" in out
