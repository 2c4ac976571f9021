"""Ctrl-C (SIGINT) and SIGTERM during a file ingest, in a real process: it stops once the chunk
being written is committed, keeps what it stored, says how far it got, exits 128 + the signal,
and a rerun completes the file without duplicates. Slow: real processes, a 15 MB file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from oddflights.db import open_db
from tests.conftest import pg_schema

pytestmark = pytest.mark.slow


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SIGINT on a SQLite file, SIGTERM on PostgreSQL: each signal and each database once
    (the other two pairings add a minute of CI and no code path: the handler is one)."""
    if request.node.callspec.params["sig"] == signal.SIGINT:
        yield f"sqlite:///{tmp_path / 'stop.db'}"
        return
    with pg_schema() as url:
        yield url

CLI = [sys.executable, "-c", "from oddflights.cli import main; main()"]
# Small chunks: the signal lands with many chunks still to write.
ENV = {**os.environ, "ODDFLIGHTS_INGEST_CHUNK_LINES": "2000"}
STOPPED = re.compile(
    r"Stopped by (SIG\w+): ([\d,]+) positions stored \(([\d,]+) new\); 0 of 1 file\(s\) stored "
    r"whole; (.+): the positions of its first ([\d,]+) lines \(([\d,]+) of ([\d,]+) bytes read\)"
)


@pytest.fixture(scope="module")
def big_sbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated day as SBS lines: 40 flights, about 70,000 positions."""
    out = tmp_path_factory.mktemp("sbs")
    args = ["simulate", str(out), "--days", "1", "--flights-per-day", "40", "--seed", "4"]
    args += ["--format", "sbs", "--start-day", "2026-05-01"]
    subprocess.run([*CLI, *args], check=True, capture_output=True, timeout=300)
    (path,) = sorted(out.glob("2026-05-01.sbs"))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=ENV, capture_output=True, text=True, timeout=300)


def _ingest_json(db_url: str, path: Path) -> dict[str, int]:
    done = _cli("ingest", str(path), "--receiver", "roof", "--db", db_url, "--quiet", "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _add_receiver(db_url: str) -> None:
    done = _cli("receiver", "add", "roof", "--lat", "52.0", "--lon", "4.5", "--db", db_url)
    assert done.returncode == 0, done.stderr


def _count(db_url: str) -> int:
    engine = open_db(db_url, migrate=False)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM positions")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_file_ingest_after_a_chunk_and_a_rerun_completes_it(
    db_url: str, tmp_path: Path, big_sbs: Path, sig: signal.Signals
) -> None:
    _add_receiver(db_url)
    args = ["ingest", str(big_sbs), "--receiver", "roof", "--db", db_url, "--quiet"]
    proc = subprocess.Popen(
        [*CLI, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    engine = open_db(db_url)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(sa.text("SELECT count(*) FROM positions")).scalar_one():
                    break  # the first chunk is committed
            time.sleep(0.02)
        assert proc.poll() is None, "the ingest ended before the signal"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        with engine.connect() as conn:
            run = conn.execute(
                sa.text("SELECT status, counts FROM runs WHERE kind = 'ingest'")
            ).one()
    finally:
        engine.dispose()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    found = STOPPED.search(err)
    assert found is not None, err
    name, stored, new, path, lines, read, size = found.groups()
    assert name == sig.name and path == str(big_sbs)
    stored_n, read_n = int(stored.replace(",", "")), int(read.replace(",", ""))
    assert stored == new and int(size.replace(",", "")) == big_sbs.stat().st_size
    assert 0 < read_n < big_sbs.stat().st_size
    # What is stored is exactly the positions of the bytes the message names: a file of that
    # prefix alone stores as many, and it ends after a whole line (the line count matches).
    assert _count(db_url) == stored_n
    counts = run.counts if isinstance(run.counts, dict) else json.loads(run.counts)
    assert run.status == "interrupted" and counts["accepted"] == stored_n
    prefix = tmp_path / "prefix.sbs"
    prefix.write_bytes(big_sbs.read_bytes()[:read_n])
    assert prefix.read_bytes().count(b"\n") == int(lines.replace(",", ""))
    alone = f"sqlite:///{tmp_path / 'prefix.db'}"
    _add_receiver(alone)
    assert _ingest_json(alone, prefix)["accepted"] == stored_n
    # The rerun stores the rest; the total is an undisturbed ingest's.
    again = _ingest_json(db_url, big_sbs)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    _add_receiver(clean)
    whole = _ingest_json(clean, big_sbs)["accepted"]
    assert again["duplicates"] == stored_n and stored_n + again["accepted"] == whole
    assert _count(db_url) == whole == _count(clean)
    assert out  # the summary table was printed
