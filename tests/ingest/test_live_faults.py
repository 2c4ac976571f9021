"""`oddflights ingest --live` as a real process, fed by a real TCP server on 127.0.0.1, through
faults: SIGTERM and SIGINT mid-stream, a long SQLite write lock held by another connection, and a
PostgreSQL outage made by a TCP proxy in front of the server. Every position sent is counted
against every position stored: the distinct (icao24, ts) keys must be exactly the same as those
of the same lines ingested as a file."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.positions import read_positions
from oddflights.db.receivers import add_receiver
from oddflights.ingest.sbs import parse_sbs
from oddflights.ingest.types import ParseOptions
from oddflights.ingest.writer import ingest_chunks
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate
from oddflights.simulate.writers import sbs_lines

CLI = [sys.executable, "-c", "from oddflights.cli import main; main()"]
DAY = dt.date(2024, 5, 1)
WAIT_S = 120.0
# The SQLite lock and PostgreSQL outage measured in issue 12; SQLite's busy timeout is 30 s.
LOCK_S = 40.0
OUTAGE_S = 18.0

Key = tuple[str, object]


@pytest.fixture(scope="module")
def feed_lines() -> list[bytes]:
    """An hour of a busy sky's SBS lines, as a receiver sends them: about 19,000 lines of 26
    aircraft. Each aircraft's first positions come before its callsign, and a third of them
    never send one (no MSG,1 or MSG,6): every chunk parsed from it has pd.NA values."""
    sim = simulate(
        SimConfig(
            lat=52.0, lon=4.0, days=1, flights_per_day=300, start_day=DAY, range_km=150.0,
            seed=11, anomaly_share=0.0,
        )
    )  # fmt: skip
    pos = sim.positions[~sim.positions["onground"]]
    noon = pd.Timestamp(DAY, tz="UTC") + pd.Timedelta(hours=12)
    pos = pos[(pos["ts"] >= noon) & (pos["ts"] < noon + pd.Timedelta(hours=1))]
    pos = pos.iloc[::3].reset_index(drop=True)
    lines, _ = sbs_lines(pos, np.random.default_rng(0))
    quiet = set(sorted(pos["icao24"].str.upper().unique())[::3])
    out = []
    for line in lines.to_pylist():
        fields = line.split(",")
        if fields[1] in ("1", "6") and fields[4] in quiet:
            continue
        out.append((line + "\r\n").encode())
    return out


class Feed:
    """A receiver's SBS port on 127.0.0.1: sends ``lines`` to the first client, ``batch`` lines
    every ``every_s`` seconds, and keeps the connection open after the last one (a receiver
    does not hang up). ``pause()`` stops it between two batches. ``sent`` counts the lines
    handed to the kernel."""

    def __init__(self, lines: list[bytes], batch: int, every_s: float) -> None:
        self.lines, self.batch, self.every_s = lines, batch, every_s
        self.sent = 0
        self.connected = threading.Event()
        self.finished = threading.Event()
        self.paused = threading.Event()
        self._pause = threading.Event()
        self._closed = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(WAIT_S)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.connected.set()
        with conn:
            try:
                for start in range(0, len(self.lines), self.batch):
                    if self._pause.is_set():
                        break
                    conn.sendall(b"".join(self.lines[start : start + self.batch]))
                    self.sent = min(start + self.batch, len(self.lines))
                    time.sleep(self.every_s)
                else:
                    self.finished.set()
            except OSError:
                return
            finally:
                self.paused.set()
            self._closed.wait(WAIT_S)

    def pause(self) -> int:
        """Stop sending (the connection stays open); the number of lines sent."""
        self._pause.set()
        assert self.paused.wait(WAIT_S)
        return self.sent

    def text(self) -> bytes:
        return b"".join(self.lines[: self.sent])

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        self.thread.join(WAIT_S)


class PgProxy:
    """A TCP proxy on 127.0.0.1 in front of the test PostgreSQL server. ``cut()`` starts an
    outage: open connections are closed, and new ones are accepted but never answered (a
    server gone silent). ``restore()`` ends it. The server itself is never touched."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.down = False
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._held: list[socket.socket] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                if self.down:
                    self._held.append(client)
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=10)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            _hang_up(s)

    def cut(self) -> None:
        with self._lock:
            self.down = True
            for s in self._open:
                _hang_up(s)
            self._open = []

    def restore(self) -> None:
        with self._lock:
            self.down = False
            for s in self._held:
                _hang_up(s)
            self._held = []

    def close(self) -> None:
        self.sock.close()
        self.cut()
        self.restore()


def _hang_up(s: socket.socket) -> None:
    # shutdown() wakes a thread blocked in recv() on the socket; close() alone would not.
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


def _keys(engine: Engine, receiver: Receiver) -> set[Key]:
    assert receiver.id is not None
    stored = read_positions(engine, receiver.id)
    return set(zip(stored["icao24"].astype(str), stored["ts"], strict=True))


def _count(engine: Engine, receiver: Receiver) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM positions WHERE receiver_id = :r"),
                {"r": receiver.id},
            ).scalar_one()
        )


def _expected(engine: Engine, text: bytes) -> set[Key]:
    """The keys of ``text`` ingested as a file, under a receiver of its own."""
    other = add_receiver(engine, Receiver(f"file{time.monotonic_ns()}", 52.0, 4.0, range_km=150.0))
    parsed = parse_sbs(io.BytesIO(text), ParseOptions(other))
    ingest_chunks(engine, other, parsed, source="test")
    keys = _keys(engine, other)
    msg3 = sum(1 for line in text.splitlines() if line.startswith(b"MSG,3,"))
    assert len(keys) == msg3 > 0  # every position line counts: the comparison is not vacuous
    return keys


def _wait_for(check: Callable[[], bool], wait_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


class Ingest:
    """`oddflights ingest --live` in its own process (output to files: a full pipe would
    block it)."""

    def __init__(self, db_url: str, port: int, folder: Path) -> None:
        self.out_path, self.err_path = folder / "stdout.txt", folder / "stderr.txt"
        args = ["ingest", "--live", f"127.0.0.1:{port}", "--format", "sbs"]
        args += ["--receiver", "live", "--db", db_url, "--json"]
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen([*CLI, *args], cwd=folder, stdout=out, stderr=err)

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, times: int = 1
    ) -> tuple[int, dict[str, object], str]:
        """Send ``sig`` (``times`` times, 0.2 s apart); the exit code, the JSON summary and
        stderr."""
        for k in range(times):
            if k:
                time.sleep(0.2)
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        out = self.out_path.read_text()
        err = self.err_path.read_text()
        assert code == 0, f"exit {code}\n{out}\n{err}"
        assert "Traceback" not in out + err and "Aborted" not in out + err, err
        return code, json.loads(out), err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc.poll() is None


def _setup(db_url: str) -> tuple[Engine, Receiver]:
    from oddflights.db import open_db

    engine = open_db(db_url)
    return engine, add_receiver(engine, Receiver("live", 52.0, 4.0, range_km=150.0))


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_signal_mid_stream_stores_every_line_sent_and_exits_0(
    db_url: str, feed_lines: list[bytes], tmp_path: Path, sig: signal.Signals
) -> None:
    engine, receiver = _setup(db_url)
    feed = Feed(feed_lines, batch=50, every_s=0.05)
    ingest = Ingest(db_url, feed.port, tmp_path)
    try:
        assert feed.connected.wait(WAIT_S), ingest.err_path.read_text()
        assert _wait_for(lambda: feed.sent >= 3000)
        # The last batch went out 0.05 s ago: far less than the 2 s between commits, so only
        # the signal's flush can store it.
        sent = feed.pause()
        # An impatient Ctrl-C comes twice: the second must not cut the flush short.
        _, summary, _ = ingest.stop(sig, times=2 if sig == signal.SIGINT else 1)
        assert 0 < sent < len(feed_lines)  # mid-stream
        expected = _expected(engine, feed.text())
        assert _keys(engine, receiver) == expected
        assert summary["accepted"] == len(expected)
        assert not (tmp_path / "live.live-spool.jsonl").exists()
    finally:
        ingest.kill()
        feed.close()
        engine.dispose()


def _paced(lines: list[bytes], seconds: float, every_s: float = 0.1) -> Feed:
    return Feed(lines, batch=math.ceil(len(lines) * every_s / seconds), every_s=every_s)


def _outage_run(
    engine: Engine,
    receiver: Receiver,
    feed: Feed,
    ingest_url: str,
    folder: Path,
    spool: Path,
    outage: tuple[Callable[[], None], Callable[[], None]],
    outage_s: float,
) -> None:
    """Run the ingest through an outage (``outage`` = start, end) while the feed sends; then
    check that every line is stored and the spool is gone."""
    expected = _expected(engine, b"".join(feed.lines))
    ingest = Ingest(ingest_url, feed.port, folder)
    start, end = outage
    try:
        assert _wait_for(lambda: _count(engine, receiver) > 0), ingest.err_path.read_text()
        start()
        try:
            deadline = time.monotonic() + outage_s
            spooled = _wait_for(spool.exists, outage_s)
            time.sleep(max(0.0, deadline - time.monotonic()))
            assert ingest.alive(), ingest.err_path.read_text()
        finally:
            end()
        assert spooled, "the outage never reached the spool"
        assert feed.finished.wait(WAIT_S)
        assert _wait_for(lambda: _count(engine, receiver) >= len(expected))
        assert _wait_for(lambda: not spool.exists())
        _, summary, err = ingest.stop()
        assert "spooling" in err
        assert _keys(engine, receiver) == expected
        accepted, duplicates = summary["accepted"], summary["duplicates"]
        assert isinstance(accepted, int) and isinstance(duplicates, int)
        assert accepted <= len(expected) <= accepted + duplicates
        assert not spool.exists()
    finally:
        ingest.kill()


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_write_lock_longer_than_busy_timeout_loses_nothing(
    db_url: str, feed_lines: list[bytes], tmp_path: Path, lock_s: float = LOCK_S
) -> None:
    engine, receiver = _setup(db_url)
    path = sa.engine.make_url(db_url).database
    assert path is not None
    locker = sqlite3.connect(path, isolation_level=None, timeout=WAIT_S)

    def lock() -> None:
        locker.execute("BEGIN IMMEDIATE")
        locker.execute("CREATE TABLE held_lock (x INTEGER)")  # a write, held uncommitted

    def unlock() -> None:
        locker.execute("ROLLBACK")

    feed = _paced(feed_lines, lock_s + 20.0)
    try:
        _outage_run(
            engine, receiver, feed, db_url, tmp_path,
            tmp_path / "live.live-spool.jsonl", (lock, unlock), lock_s,
        )  # fmt: skip
    finally:
        locker.close()
        feed.close()
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_outage_loses_nothing(
    db_url: str, feed_lines: list[bytes], tmp_path: Path, outage_s: float = OUTAGE_S
) -> None:
    engine, receiver = _setup(db_url)  # migrated through the real port
    url = sa.engine.make_url(db_url)
    proxy = PgProxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    feed = _paced(feed_lines, outage_s + 25.0)
    try:
        _outage_run(
            engine, receiver, feed, via_proxy, tmp_path,
            tmp_path / "live.live-spool.jsonl", (proxy.cut, proxy.restore), outage_s,
        )  # fmt: skip
    finally:
        proxy.close()
        feed.close()
        engine.dispose()


def test_feed_lines_carry_missing_callsigns_everywhere(feed_lines: list[bytes]) -> None:
    """The faults above are only meaningful with the values that broke the spool (pd.NA):
    every 200 lines (under a second of the paced feeds) carry some."""
    from oddflights.ingest.live import make_feed

    receiver = Receiver("live", 52.0, 4.0, range_km=150.0)
    feed = make_feed("sbs", ParseOptions(receiver))
    for start in range(0, len(feed_lines), 200):
        chunk = feed.feed(b"".join(feed_lines[start : start + 200]))
        assert chunk.positions["callsign"].isna().any(), start
    assert len(feed_lines) > 15_000


def _msg3(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(b"MSG,3,"))


def test_a_receiver_whose_positions_are_all_out_of_range_is_warned_of_early_once(
    db_url: str, feed_lines: list[bytes], tmp_path: Path
) -> None:
    """Every position is beyond the receiver's range (it is set up on the other side of the
    world): one line on stderr says so while the feed is still coming, and the ingest goes
    on counting them."""
    from oddflights.db import open_db
    from oddflights.ingest.writer import FAR_WARNING_POSITIONS

    engine = open_db(db_url)
    add_receiver(engine, Receiver("live", -33.9, 151.2, range_km=150.0))
    feed = Feed(feed_lines, batch=500, every_s=0.05)
    ingest = Ingest(db_url, feed.port, tmp_path)
    warning = "is the receiver's location or range wrong?"
    try:
        assert feed.connected.wait(WAIT_S), ingest.err_path.read_text()
        assert _wait_for(lambda: feed.sent >= 6000)
        sent = feed.pause()
        assert _msg3(feed.text()) > FAR_WARNING_POSITIONS  # enough for the warning
        # Early: while the ingest runs, with most of the feed not sent.
        assert _wait_for(lambda: warning in ingest.err_path.read_text())
        assert ingest.alive() and sent < len(feed_lines) / 2
        _, summary, err = ingest.stop()
        lines = [line for line in err.splitlines() if warning in line]
        assert len(lines) == 1 and lines[0].startswith("Warning: receiver 'live' at -33.9000")
        assert summary["accepted"] == 0
        assert summary["rejected_by_reason"] == {"out_of_range_km": _msg3(feed.text())}
    finally:
        ingest.kill()
        feed.close()
        engine.dispose()


def _opened(pid: int, path: str) -> bool:
    """Whether process ``pid`` has the file ``path`` open."""
    target = os.path.realpath(path)
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == target:
                    return True
    return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_signal_while_the_database_opens_exits_0_without_a_traceback(
    db_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    """A stop (docker stop, Ctrl-C) that comes while the ingest still opens the database:
    it ends cleanly once the database is open (summary, exit 0), reading nothing."""
    engine, _ = _setup(db_url)
    engine.dispose()
    path = sa.engine.make_url(db_url).database
    assert path is not None
    # Held by another connection, the database makes the ingest wait in its first statement
    # on it, so the signal surely comes while it opens the database.
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA journal_mode=DELETE")  # else WAL lets it read past the lock
    locker.execute("BEGIN EXCLUSIVE")
    receiver_port = socket.create_server(("127.0.0.1", 0))
    ingest = Ingest(db_url, receiver_port.getsockname()[1], tmp_path)
    try:
        assert _wait_for(lambda: _opened(ingest.proc.pid, path)), ingest.err_path.read_text()
        ingest.proc.send_signal(sig)
        locker.execute("ROLLBACK")
        locker.close()
        _, summary, _ = ingest.stop(sig, times=0)  # signalled above: only wait for the exit
        assert summary["accepted"] == 0 and summary["spooled"] == 0
        receiver_port.setblocking(False)
        with pytest.raises(BlockingIOError):
            receiver_port.accept()  # stopped before reading: it never connected
    finally:
        locker.close()
        ingest.kill()
        receiver_port.close()


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stop_while_the_database_is_locked_names_the_spool_in_the_summary(
    db_url: str, feed_lines: list[bytes], tmp_path: Path
) -> None:
    """SIGTERM while the database is locked: the rows go to the spool, and the summary says
    how many positions are left there and where."""
    engine, _ = _setup(db_url)
    path = sa.engine.make_url(db_url).database
    assert path is not None
    locker = sqlite3.connect(path, isolation_level=None, timeout=WAIT_S)
    locker.execute("BEGIN IMMEDIATE")
    locker.execute("CREATE TABLE held_lock (x INTEGER)")  # a write, held uncommitted
    lines = feed_lines[:3000]
    feed = Feed(lines, batch=500, every_s=0.05)
    ingest = Ingest(db_url, feed.port, tmp_path)
    spool = tmp_path / "live.live-spool.jsonl"
    try:
        assert feed.finished.wait(WAIT_S), ingest.err_path.read_text()
        _, summary, err = ingest.stop()
        assert summary["accepted"] == 0
        assert summary["spooled"] == _msg3(b"".join(lines)) > 0
        assert summary["spool"] == str(spool) and spool.exists()
        assert f"are left in {spool}" in err
    finally:
        locker.close()
        ingest.kill()
        feed.close()
        engine.dispose()
