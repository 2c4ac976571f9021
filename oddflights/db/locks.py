"""Named locks that keep two nightly runs off the same receiver.

PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection for as long
as the lock is held (the server releases it if the process dies). SQLite: a row in the
``locks`` table; a row older than ``stale_after`` (its holder crashed) is taken over.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from oddflights.db.models import LockRow


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (PostgreSQL advisory locks take bigints)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def holder_id() -> str:
    """Who holds a lock: host, process and a random tag (unique per acquisition)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lock:
    """A held lock; ``release()`` (or leaving ``hold_lock``'s block) gives it back."""

    def __init__(self, engine: Engine, name: str, holder: str, conn: Connection | None) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder
        self._conn = conn
        self.released = False

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if self.released:
            return
        self.released = True
        if self._conn is not None:
            try:
                self._conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.name)}
                )
            finally:
                self._conn.close()
            return
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(LockRow).where(LockRow.name == self.name, LockRow.holder == self.holder)
            )


def try_lock(engine: Engine, name: str, stale_after: timedelta) -> Lock | None:
    """Take the lock called ``name`` if free (or stale, on SQLite); None if someone holds it."""
    holder = holder_id()
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}
            ).scalar_one()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return None
        return Lock(engine, name, holder, conn)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(LockRow).values(name=name, holder=holder, acquired_at=now))
        return Lock(engine, name, holder, None)
    except IntegrityError:
        pass
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(LockRow.holder, LockRow.acquired_at).where(LockRow.name == name)
        ).first()
        if row is None:
            # Released between our insert and this look: try once more.
            conn.execute(sa.insert(LockRow).values(name=name, holder=holder, acquired_at=now))
            return Lock(engine, name, holder, None)
        if now - row.acquired_at < stale_after:
            return None
        # Compare-and-swap on the old holder, so that of two processes taking over a stale
        # lock at once only one wins.
        taken = conn.execute(
            sa.update(LockRow)
            .where(LockRow.name == name, LockRow.holder == row.holder)
            .values(holder=holder, acquired_at=now)
        ).rowcount
    return Lock(engine, name, holder, None) if taken == 1 else None


def lock_holder(engine: Engine, name: str) -> tuple[str, datetime] | None:
    """Who holds a SQLite lock row and since when (None when free; PostgreSQL: always None)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(LockRow.holder, LockRow.acquired_at).where(LockRow.name == name)
        ).first()
    return None if row is None else (row.holder, row.acquired_at)


@contextmanager
def hold_lock(engine: Engine, name: str, stale_after: timedelta) -> Iterator[Lock | None]:
    """``with hold_lock(...) as lock:`` — lock is None when another run holds it."""
    lock = try_lock(engine, name, stale_after)
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()
