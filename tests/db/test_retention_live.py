"""Prune and backup while `oddflights ingest --live` (a real process, fed by a real TCP
server) writes into the same database: no line is lost, the rows left are exactly those
expected, and a backup taken meanwhile is sound and holds every row committed before it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from oddflights.db.backup import backup_sqlite
from oddflights.db.positions import write_positions
from oddflights.db.runs import OK, finish_run, start_run
from oddflights.scheduler.nightly import KIND
from oddflights.scheduler.prune import prune_receiver
from tests.db.test_retention import _frame_keys, positions_of
from tests.ingest.test_live_faults import (
    DAY,
    WAIT_S,
    Feed,
    Ingest,
    _count,
    _expected,
    _keys,
    _setup,
    _wait_for,
    feed_lines,  # noqa: F401 (a fixture)
)

OLD_DAYS = [DAY - timedelta(days=k) for k in range(12, 0, -1)]  # the 12 days before the feed's


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_prune_and_backup_while_live_ingest_writes(
    db_url: str,
    feed_lines: list[bytes],  # noqa: F811
    tmp_path: Path,
) -> None:
    engine, receiver = _setup(db_url)
    assert receiver.id is not None
    # 12 old days the nightly has done, 2,880 positions each: the 7 pruned are 40 chunks.
    old = positions_of(receiver, OLD_DAYS, per_day=2880, every=timedelta(seconds=30))
    write_positions(engine, receiver.id, old)
    for d in OLD_DAYS:
        finish_run(engine, start_run(engine, KIND, receiver.id, d), OK)
    # The feed: its lines over ~25 s, so that the prune runs while it is written.
    feed = Feed(feed_lines, batch=100, every_s=0.13)
    ingest = Ingest(db_url, feed.port, tmp_path)
    try:
        assert feed.connected.wait(WAIT_S), ingest.err_path.read_text()
        assert _wait_for(lambda: _count(engine, receiver) > len(old)), ingest.err_path.read_text()
        chunks: list[int] = []
        result = prune_receiver(
            engine, receiver, keep_days=5, today=DAY, chunk_rows=500, on_chunk=chunks.append
        )
        keep_from = DAY - timedelta(days=5)
        cutoff = receiver.day_bounds(keep_from)[0]
        gone = old[old["ts"] < cutoff]
        assert result.positions == len(gone) == sum(chunks) and len(chunks) > 10
        assert not feed.finished.is_set()  # the ingest was writing throughout
        backup = None
        if sa.engine.make_url(db_url).get_backend_name() == "sqlite":
            before = _count(engine, receiver)
            backup = backup_sqlite(db_url, tmp_path / "backup.db")
            assert not feed.finished.is_set()
        assert feed.finished.wait(WAIT_S)
        expected = _expected(engine, b"".join(feed.lines))
        kept = _frame_keys(old[old["ts"] >= cutoff])
        assert _wait_for(lambda: _count(engine, receiver) >= len(expected) + len(kept))
        _, summary, _ = ingest.stop()
        # No line lost, no old row left before the cut, every old row after it kept.
        assert _keys(engine, receiver) == expected | kept
        assert summary["accepted"] == len(expected)
        if backup is not None:
            conn = sqlite3.connect(backup.path)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                (n,) = conn.execute(
                    "SELECT count(*) FROM positions WHERE receiver_id = ?", (receiver.id,)
                ).fetchone()
            finally:
                conn.close()
            # Only the ingest adds rows once the prune is done: a count at least that of
            # before the backup means every row committed before it is in it.
            assert n >= before
    finally:
        ingest.kill()
        feed.close()
        engine.dispose()
