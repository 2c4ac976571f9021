"""Nightly locks: a holder that is provably dead is taken over at once, a live one never, and
one that cannot be checked only once stale; a kill -9'd holder frees the lock on both
databases (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db import open_db
from oddflights.db.locks import (
    holder_id,
    lock_holder,
    parse_holder,
    process_space,
    process_state,
    try_lock,
    wait_until_free,
)
from oddflights.db.models import LockRow

NAME = "nightly:sim"
STALE = timedelta(hours=6)
HOST = parse_holder(holder_id()).host

needs_proc = pytest.mark.skipif(
    process_space() is None or process_state(os.getpid()) is None,
    reason="needs Linux /proc (elsewhere only the stale-hours rule applies)",
)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = open_db(f"sqlite:///{tmp_path / 'locks.db'}")
    yield engine
    engine.dispose()


def _holder(pid: int, start: int, host: str = HOST, space: str | None = None) -> str:
    return f"{host}/{space or process_space()}:{pid}:{start}:0badc0de"


def _plant(engine: Engine, holder: str, age: timedelta = timedelta(0)) -> None:
    """A lock row as a nightly that took the lock ``age`` ago would have left it."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(LockRow).values(name=NAME, holder=holder, acquired_at=datetime.now(UTC) - age)
        )


def _start_of(pid: int) -> int:
    state = process_state(pid)
    assert state is not None
    return state[1]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_holder_names_host_pid_and_start_time() -> None:
    h = parse_holder(holder_id())
    assert h.pid == os.getpid()
    if process_space() is not None:
        assert h.start == _start_of(os.getpid()) and h.space == process_space()
    # The form written before start times were recorded still parses, without one.
    old = parse_holder("box:4242:1a2b3c4d")
    assert (old.host, old.pid, old.start, old.space) == ("box", 4242, None, None)


@needs_proc
def test_a_lock_whose_process_has_exited_is_taken_over_at_once(sqlite: Engine) -> None:
    proc = subprocess.Popen(["sleep", "60"])
    holder = _holder(proc.pid, _start_of(proc.pid))
    proc.kill()
    proc.wait()
    _plant(sqlite, holder)
    lock = try_lock(sqlite, NAME, STALE)
    assert lock is not None and lock.taken_from == holder
    row = lock_holder(sqlite, NAME)
    assert row is not None and row[0] == lock.holder != holder


@needs_proc
def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(sqlite: Engine) -> None:
    # Our own PID, but recorded with another start time: the holder was an earlier process.
    holder = _holder(os.getpid(), _start_of(os.getpid()) - 1)
    _plant(sqlite, holder)
    lock = try_lock(sqlite, NAME, STALE)
    assert lock is not None and lock.taken_from == holder


@needs_proc
def test_a_lock_held_by_a_zombie_is_taken_over(sqlite: Engine) -> None:
    proc = subprocess.Popen(["sleep", "60"])
    holder = _holder(proc.pid, _start_of(proc.pid))
    os.kill(proc.pid, signal.SIGKILL)  # not reaped yet: its PID stays, as a zombie
    for _ in range(200):
        state = process_state(proc.pid)
        if state is None or state[0] == "Z":
            break
        time.sleep(0.05)
    try:
        _plant(sqlite, holder)
        lock = try_lock(sqlite, NAME, STALE)
        assert lock is not None and lock.taken_from == holder
    finally:
        proc.wait()


@needs_proc
def test_a_live_holder_on_this_host_is_never_taken_over(
    sqlite: Engine, sleeper: subprocess.Popen[bytes]
) -> None:
    _plant(sqlite, _holder(sleeper.pid, _start_of(sleeper.pid)))
    assert try_lock(sqlite, NAME, STALE) is None
    assert try_lock(sqlite, NAME, timedelta(hours=1)) is None
    # And a lock held by this very process (another thread's run) is not taken either.
    with sqlite.begin() as conn:
        conn.execute(sa.delete(LockRow))
    mine = try_lock(sqlite, NAME, STALE)
    assert mine is not None
    assert try_lock(sqlite, NAME, STALE) is None
    mine.release()
    assert lock_holder(sqlite, NAME) is None


@needs_proc
def test_holders_that_cannot_be_checked_wait_for_the_stale_hours(sqlite: Engine) -> None:
    proc = subprocess.Popen(["sleep", "60"])
    dead, start = proc.pid, _start_of(proc.pid)
    proc.kill()
    proc.wait()
    space = process_space()
    assert space is not None
    unknowable = [
        _holder(dead, start, host="another-host"),  # another machine's PIDs mean nothing here
        _holder(dead, start, space=space.split(".")[0] + ".1"),  # another container or boot
        f"{HOST}:{dead}:1a2b3c4d",  # written before start times were recorded
        f"{HOST}:{dead}:-:1a2b3c4d",  # written where /proc was missing
    ]
    for holder in unknowable:
        with sqlite.begin() as conn:
            conn.execute(sa.delete(LockRow))
        _plant(sqlite, holder, age=timedelta(hours=5))
        assert try_lock(sqlite, NAME, STALE) is None, holder
        with sqlite.begin() as conn:
            conn.execute(sa.delete(LockRow))
        _plant(sqlite, holder, age=timedelta(hours=7))
        lock = try_lock(sqlite, NAME, STALE)
        assert lock is not None and lock.taken_from == holder


_HOLD = """
import sys, time
from datetime import timedelta
from oddflights.db import open_db
from oddflights.db.locks import try_lock
engine = open_db(sys.argv[1])
lock = try_lock(engine, "nightly:sim", timedelta(hours=6))
print("held" if lock is not None else "refused", flush=True)
time.sleep(600)
"""


def test_a_holder_killed_with_9_frees_the_lock(db_url: str) -> None:
    """A real process takes the lock and is killed with -9. SQLite: the next try takes its
    row over at once. PostgreSQL: the server ends the session, and its advisory lock with it
    (that takes the server a moment to notice, hence the retries)."""
    if db_url.startswith("sqlite") and process_space() is None:
        pytest.skip("SQLite: a dead holder is recognised only with Linux /proc")
    engine = open_db(db_url)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, db_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        assert try_lock(engine, NAME, STALE) is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lock = try_lock(engine, NAME, STALE)
        tries = 1
        while lock is None and engine.dialect.name == "postgresql" and tries < 100:
            time.sleep(0.2)
            lock = try_lock(engine, NAME, STALE)
            tries += 1
        assert lock is not None
        if engine.dialect.name == "sqlite":
            assert lock.taken_from is not None
            assert parse_holder(lock.taken_from).pid == proc.pid
        lock.release()
    finally:
        proc.kill()
        proc.wait()
        engine.dispose()


def test_wait_until_free_waits_for_the_holder_and_no_longer_than_asked(engine: Engine) -> None:
    held = try_lock(engine, NAME, STALE)
    assert held is not None
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    # Held throughout: False once the time is up, having slept no longer than asked.
    assert not wait_until_free(engine, NAME, 2.5, 1.0, clock=lambda: now[0], sleep=sleep)
    assert slept == [1.0, 1.0, 0.5]

    def release_on_first_sleep(s: float) -> None:
        held.release()
        sleep(s)

    slept.clear()
    assert wait_until_free(
        engine, NAME, 60.0, 1.0, clock=lambda: now[0], sleep=release_on_first_sleep
    )
    assert slept == [1.0]
    # Free: no wait at all.
    assert wait_until_free(engine, NAME, 0.0)
