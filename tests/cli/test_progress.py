"""Progress of long commands: plain timestamped lines on stderr when it is not a terminal
(CliRunner's is not), none with --quiet; log lines timestamped off a terminal."""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.cli.progress import log_formatter
from oddflights.db import open_db
from oddflights.progress import Step
from tests.scoring.simdb import D0, RECEIVER, load, simulation

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
D1 = D0 + timedelta(days=1)


# Its own name: on PostgreSQL the nightly's lock is server-wide, and other tests (in other
# schemas) run nightlies of receivers called "sim".
NAME = "progress-" + uuid.uuid4().hex[:8]


@pytest.fixture
def sim_db(db_url: str) -> str:
    engine = open_db(db_url)
    load(engine, simulation(2, 20), dataclasses.replace(RECEIVER, name=NAME))
    engine.dispose()
    return db_url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_flights_build_tells_each_day(sim_db: str) -> None:
    args = ["flights", "build", "--receiver", NAME, "--from", str(D0), "--to", str(D1)]
    code, out, err = run(*args, "--json", "--db", sim_db)
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert re.fullmatch(rf"{STAMP} build 1/2 {NAME} {D0}: \d+ flights", lines[0])
    assert re.fullmatch(rf"{STAMP} build 2/2 {NAME} {D1}: \d+ flights", lines[1])
    assert out.lstrip().startswith("{")  # stdout holds the JSON alone
    code, out, err = run(*args, "--quiet", "--db", sim_db)
    assert code == 0 and err == "", err
    assert out.startswith("Built ")


def test_nightly_tells_each_day_and_stage(sim_db: str) -> None:
    code, _, err = run("nightly", "--receiver", NAME, "--day", str(D0), "--db", sim_db)
    assert code == 0, err
    steps = [re.sub(rf"^{STAMP} ", "", line) for line in err.splitlines()]
    assert len(steps) == len(err.splitlines()) == 2, err
    # Warm-up day (3 by default): built, not scored.
    assert steps == [f"nightly 0/1 {NAME} {D0}: build", f"nightly 1/1 {NAME} {D0}: skipped"]
    code, out, err = run("nightly", "--receiver", NAME, "--day", str(D1), "--quiet", "--db", sim_db)
    assert code == 0 and err == "", err
    assert f"{D1}: skipped" in out


def test_bench_speed_tells_each_stage_and_is_quiet_when_asked() -> None:
    args = ["bench", "speed", "--stage", "flights", "--flights-per-day", "5", "--repeats", "1"]
    code, _, err = run(*args, "--json")
    assert code == 0, err
    assert re.fullmatch(rf"{STAMP} bench 0/1 flights", err.strip()), err
    code, _, err = run(*args, "--json", "--quiet")
    assert code == 0 and err == ""


def test_step_lines() -> None:
    assert Step("build", 2, 5, "roof 2026-05-03").line() == "build 2/5 roof 2026-05-03"
    assert Step("quality", note="seed 1: training").line() == "quality seed 1: training"
    assert Step("rows", 7).line() == "rows 7"


def test_log_lines_carry_a_utc_time_off_a_terminal() -> None:
    record = logging.LogRecord(
        "oddflights.x", logging.WARNING, __file__, 1, "hi %s", ("you",), None
    )
    record.created = 1_780_000_000.25  # 2026-05-28T20:26:40Z
    assert log_formatter(False).format(record) == (
        "2026-05-28T20:26:40Z WARNING oddflights.x: hi you"
    )
    assert log_formatter(True).format(record) == "WARNING oddflights.x: hi you"
