"""`oddflights ingest` and `oddflights positions export` on real databases and files."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.positions import read_positions
from oddflights.db.receivers import get_receiver
from tests.ingest.helpers import DAY, LAT, LON, assert_same_positions, sbs_bytes, sim_positions

GOOD = "MSG,3,1,1,{icao},1,2026/01/15,{t},2026/01/15,{t},,{alt},{gs},,{lat},{lon},,,0,0,0,0"
SUMMARY_KEYS = {
    "accepted",
    "duplicates",
    "rejected",
    "rejected_by_reason",
    "fields_cleared",
    "seconds",
}


def run(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def add_receiver(db_url: str, name: str = "roof") -> None:
    code, out, err = run(
        "receiver", "add", name, "--lat", str(LAT), "--lon", str(LON), "--db", db_url
    )
    assert code == 0, out + err


def ingest_json(db_url: str, *args: str, input: bytes | None = None) -> dict:
    code, out, err = run(
        "ingest", *args, "--receiver", "roof", "--json", "--db", db_url, input=input
    )
    assert code == 0, out + err
    summary = json.loads(out)
    assert set(summary) == SUMMARY_KEYS
    return summary


def stored(db_url: str, name: str = "roof") -> pd.DataFrame:
    engine = open_db(db_url)
    try:
        rec = get_receiver(engine, name)
        assert rec.id is not None
        return read_positions(engine, rec.id)
    finally:
        engine.dispose()


def test_bad_lines_are_counted_by_reason_and_kept(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    lines = [
        GOOD.format(icao="4840D6", t="10:00:01.000", alt=1000, gs="", lat=52.1, lon=4.6),
        GOOD.format(icao="4840G6", t="10:00:02.000", alt=1000, gs="", lat=52.1, lon=4.6),
        GOOD.format(icao="4840D6", t="10:00:03.000", alt=1000, gs="", lat="NaN", lon=4.6),
        GOOD.format(icao="4840D6", t="10:00:04.000", alt=1000, gs="", lat=95, lon=4.6),
        GOOD.format(icao="4840D6", t="10:00:05.000", alt=1000, gs="", lat=0, lon=0),
        GOOD.format(icao="4840D6", t="10:00:06.000", alt=70000, gs="", lat=52.1, lon=4.6),
        GOOD.format(icao="4840D6", t="10:00:07.000", alt=1000, gs="", lat=60.0, lon=4.6),
        GOOD.format(icao="4840D6", t="99:00:07.000", alt=1000, gs="", lat=52.1, lon=4.6),
        GOOD.format(icao="4840D6", t="10:00:08.000", alt=1000, gs="", lat=52.1, lon=4.6)[:40],
        "MSG,4,1,1,4840D6,1,2026/01/15,10:00:08.500,2026/01/15,10:00:08.500,,,2000,90,,,0,,,,,0",
        GOOD.format(icao="4840D6", t="10:00:09.000", alt=1000, gs="", lat=52.1, lon=4.6),
        "MSG,3,1,1,4840D6,1,2099/01/15,10:00:09.000,2099/01/15,10:00:09.000,,1000,,,52.1,4.6,,,0,0,0,0",
        "\x00\xff garbage",
        "",
    ]
    feed = tmp_path / "feed.sbs"
    feed.write_bytes("\r\n".join(lines).encode("utf-8", errors="surrogateescape"))
    rejects = tmp_path / "rejects.tsv"
    summary = ingest_json(db_url, str(feed), "--rejects", str(rejects))
    assert summary["accepted"] == 1 and summary["duplicates"] == 0
    assert summary["rejected_by_reason"] == {
        "bad_icao24": 1,
        "bad_lat_lon": 2,
        "zero_position": 1,
        "altitude_out_of_range": 1,
        "out_of_range_km": 1,
        "bad_time": 1,
        "unparsable": 2,
        "speed_out_of_range": 1,
        "future_time": 1,
    }
    assert summary["rejected"] == 11
    kept = rejects.read_text().splitlines()
    assert len(kept) == 11
    assert any(k.startswith("bad_icao24\tMSG,3,1,1,4840G6") for k in kept)
    assert sum(k.startswith("unparsable\t") for k in kept) == 2


def test_ingest_twice_adds_nothing_and_stdin_gzip_work(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    n = len(sim_positions())
    path = tmp_path / "day.sbs.gz"
    path.write_bytes(gzip.compress(sbs_bytes()))
    first = ingest_json(db_url, str(path))
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (n, 0, 0)
    again = ingest_json(db_url, "-", input=sbs_bytes())
    assert (again["accepted"], again["duplicates"]) == (0, n)
    assert_same_positions(stored(db_url), sim_positions())


def test_truncated_prefix_then_whole_file_gives_the_same_rows(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    data = sbs_bytes()
    prefix = tmp_path / "part.sbs"
    prefix.write_bytes(data[: len(data) // 2 + 17])  # cut inside a line
    whole = tmp_path / "whole.sbs"
    whole.write_bytes(data)
    part = ingest_json(db_url, str(prefix))
    assert part["rejected_by_reason"] == {"unparsable": 1}
    rest = ingest_json(db_url, str(whole))
    assert part["accepted"] + rest["accepted"] == len(sim_positions())
    assert rest["duplicates"] == part["accepted"]
    assert_same_positions(stored(db_url), sim_positions())


@pytest.mark.parametrize("damage", ["cut", "corrupt"])
def test_damaged_gzip_is_a_clear_error_and_the_repaired_file_completes_it(
    db_url: str, tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_receiver(db_url)
    monkeypatch.setenv("ODDFLIGHTS_INGEST_CHUNK_LINES", "500")  # chunks stored before the damage
    data = gzip.compress(sbs_bytes())
    bad = tmp_path / "day.sbs.gz"
    if damage == "cut":
        bad.write_bytes(data[: len(data) // 2])
    else:  # bytes in the middle of the deflate stream overwritten
        middle = len(data) // 2
        bad.write_bytes(data[:middle] + bytes(64) + data[middle + 64 :])
    code, out, err = run("ingest", str(bad), "--receiver", "roof", "--db", db_url)
    assert code == 2, out + err
    assert "cut short or damaged" in err and str(bad) in err
    assert "Traceback" not in out + err
    kept = len(stored(db_url))
    assert kept > 0  # the chunks before the damage were committed
    whole = tmp_path / "whole.sbs.gz"
    whole.write_bytes(data)
    rest = ingest_json(db_url, str(whole))
    assert rest["duplicates"] == kept and kept + rest["accepted"] == len(sim_positions())
    assert_same_positions(stored(db_url), sim_positions())


def test_a_directory_is_not_a_file(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    code, _, err = run("ingest", str(tmp_path), "--receiver", "roof", "--db", db_url)
    assert code == 2 and f"not a file: {tmp_path}" in err


def test_killed_ingest_reruns_to_exactly_the_same_rows(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    big = tmp_path / "big.sbs"
    big.write_bytes(sbs_bytes())
    # Small chunks, so that the ingest is killed between two commits.
    env = {**os.environ, "ODDFLIGHTS_INGEST_CHUNK_LINES": "100"}
    cmd = [sys.executable, "-c", "from oddflights.cli import main; main()"]
    args = ["ingest", str(big), "--receiver", "roof", "--db", db_url, "--quiet"]
    proc = subprocess.Popen([*cmd, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    engine = open_db(db_url)
    try:
        deadline = time.monotonic() + 60
        count = 0
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                count = conn.execute(sa.text("SELECT count(*) FROM positions")).scalar_one()
            if count > 0:
                proc.kill()
                break
            time.sleep(0.02)
        proc.wait(30)
    finally:
        engine.dispose()
    assert count < len(sim_positions()), "the ingest finished before it could be killed"
    done = subprocess.run([*cmd, *args, "--json"], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] + summary["duplicates"] == len(sim_positions())
    assert_same_positions(stored(db_url), sim_positions())


def _all_rows(db_url: str, name: str) -> pd.DataFrame:
    """Every stored column of a receiver's positions (source included), in key order."""
    engine = open_db(db_url)
    try:
        rec = get_receiver(engine, name)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT icao24, ts, lat, lon, altitude_ft, groundspeed_kt, track_deg, "
                    "vertical_rate_fpm, callsign, squawk, onground, source FROM positions "
                    "WHERE receiver_id = :r ORDER BY ts, icao24"
                ),
                {"r": rec.id},
            ).all()
    finally:
        engine.dispose()
    return pd.DataFrame([tuple(r) for r in rows])


@pytest.mark.slow
# One seed: each run already kills at three random points (a second seed cost CI a minute).
@pytest.mark.parametrize("seed", [34])
def test_ingest_killed_at_random_points_ends_with_a_clean_runs_rows(
    db_url: str, tmp_path: Path, seed: int
) -> None:
    """kill -9 at three seeded random points of a multi-chunk file ingest (each after a
    random number of stored rows, plus a random few ms so that it lands anywhere in a chunk),
    then a rerun to completion: every stored column equals that of an undisturbed run."""
    rng = random.Random(seed)
    add_receiver(db_url)
    add_receiver(db_url, "clean")
    big = tmp_path / "big.sbs"
    big.write_bytes(sbs_bytes())
    total = len(sim_positions())
    env = {**os.environ, "ODDFLIGHTS_INGEST_CHUNK_LINES": "50"}
    cmd = [sys.executable, "-c", "from oddflights.cli import main; main()", "ingest", str(big)]
    args = ["--db", db_url, "--quiet", "--json", "--format", "sbs"]
    engine = open_db(db_url)
    rec_id = get_receiver(engine, "roof").id
    kills = []
    try:
        for _ in range(3):
            before = len(read_positions(engine, rec_id, columns=("icao24", "ts")))
            target = rng.randint(before + 1, max(before + 1, total - 200))
            proc = subprocess.Popen(
                [*cmd, "--receiver", "roof", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            count = before
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline and count < target:
                with engine.connect() as conn:
                    count = conn.execute(
                        sa.text("SELECT count(*) FROM positions WHERE receiver_id = :r"),
                        {"r": rec_id},
                    ).scalar_one()
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.03))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills.append(count)
            proc.wait(30)
    finally:
        engine.dispose()
    assert len(kills) >= 2 and all(0 < k < total for k in kills), kills
    done = subprocess.run(
        [*cmd, "--receiver", "roof", *args], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted"] + summary["duplicates"] == total and summary["rejected"] == 0
    clean = subprocess.run(
        [*cmd, "--receiver", "clean", *args], env=env, capture_output=True, timeout=120
    )
    assert clean.returncode == 0, clean.stderr
    got, want = _all_rows(db_url, "roof"), _all_rows(db_url, "clean")
    assert len(want) == total
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trip(db_url: str, tmp_path: Path, fmt: str) -> None:
    add_receiver(db_url)
    ingest_json(db_url, "-", input=sbs_bytes())
    out = tmp_path / f"day.{fmt}"
    code, _, err = run(
        "positions",
        "export",
        "--receiver",
        "roof",
        "--day",
        DAY.isoformat(),
        "-o",
        str(out),
        "--db",
        db_url,
    )
    assert code == 0, err
    add_receiver(db_url, "copy")
    code, res, err = run("ingest", str(out), "--receiver", "copy", "--json", "--db", db_url)
    assert code == 0, err
    assert json.loads(res)["accepted"] == len(sim_positions())
    assert_same_positions(stored(db_url, "copy"), stored(db_url, "roof"), atol=0)


def test_summary_table_and_clean_errors(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    code, out, _ = run("ingest", "-", "--receiver", "roof", "--db", db_url, input=sbs_bytes())
    assert code == 0 and "accepted" in out and "duplicates" in out
    odd = tmp_path / "odd.txt"
    odd.write_text("hello\n")
    cases = [
        (["ingest", str(odd), "--receiver", "roof"], "cannot tell the format"),
        (["ingest", str(odd), "--receiver", "nobody"], "no receiver named 'nobody'"),
        (["ingest", "--receiver", "roof"], "give one or more files"),
        (["ingest", str(tmp_path / "missing.sbs"), "--receiver", "roof"], "no such file"),
        (["ingest", str(odd), "--receiver", "roof", "--sbs-timezone", "Mars/Base"], "Mars/Base"),
        (["ingest", "--live", "nohost", "--receiver", "roof", "--format", "sbs"], "HOST:PORT"),
        (["positions", "export", "--receiver", "roof", "--day", "15/01"], "--day '15/01'"),
    ]
    for args, message in cases:
        code, _, err = run(*args, "--db", db_url)
        assert code == 2 and message in err, (args, err)
