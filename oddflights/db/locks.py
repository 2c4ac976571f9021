"""Named locks that keep two nightly runs off the same receiver.

PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection for as long
as the lock is held (the server releases it if the process dies). SQLite: a row in the
``locks`` table naming its holder (``host/space:pid:start:tag``). A row whose holder is
provably dead is taken over at once: written on this host, in this boot and PID namespace
(``space``), and the PID is gone, a zombie, or now a process with another start time (Linux
``/proc/<pid>/stat`` field 22). Any other row (another host or container, no ``/proc``, a live
holder) is taken over only once older than ``stale_after``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from oddflights.db.models import LockRow

_log = logging.getLogger(__name__)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (PostgreSQL advisory locks take bigints)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _host() -> str:
    # ':' and '/' separate the holder's fields; no real host name holds them.
    return socket.gethostname()[:64].replace(":", "_").replace("/", "_")


def process_space() -> str | None:
    """This kernel boot and PID namespace, in which PIDs mean one process each (None where
    ``/proc`` does not tell): two containers on one kernel, or two boots, do not share it."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
        ns = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return None
    inode = ns[ns.find("[") + 1 : ns.rfind("]")]
    return f"{boot[:12]}.{inode}" if boot and inode.isdigit() else None


def process_state(pid: int) -> tuple[str, int] | None:
    """A process's state letter and start time (clock ticks after boot: ``/proc/<pid>/stat``
    fields 3 and 22); None when unreadable (no such process, or no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # Field 2, the command name in parentheses, may itself hold spaces and ')'.
    fields = stat[stat.rfind(b")") + 1 :].split()
    try:
        return fields[0].decode("ascii", "replace"), int(fields[19])
    except (IndexError, ValueError):
        return None


def holder_id() -> str:
    """Who holds a lock: ``host/space:pid:start:tag`` (host, boot and PID namespace, process,
    its start time, and a random tag unique per acquisition); ``host:pid:-:tag`` without
    ``/proc``."""
    pid = os.getpid()
    space = process_space()
    state = process_state(pid) if space is not None else None
    host = _host() if state is None else f"{_host()}/{space}"
    start = "-" if state is None else str(state[1])
    return f"{host}:{pid}:{start}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Holder:
    """A parsed holder string (``space``, ``pid`` and ``start`` None when not recorded)."""

    host: str
    space: str | None
    pid: int | None
    start: int | None


def parse_holder(text: str) -> Holder:
    """The parts of a holder string; older forms (``host:pid:tag``) parse with no start."""
    parts = text.rsplit(":", 3)
    where = parts[0]
    host, _, space = where.partition("/")
    pid = start = None
    if len(parts) >= 3 and parts[1].isdigit():
        pid = int(parts[1])
    if len(parts) == 4 and parts[2].isdigit():
        start = int(parts[2])
    return Holder(host, space or None, pid, start)


def holder_is_dead(text: str) -> bool:
    """True only when the holder is provably gone: recorded on this host in this boot and PID
    namespace, and its PID is free, a zombie, or a process that started at another time.
    Anything that cannot be checked (another host or container, no start time, a process of
    another user hidden from ``/proc``) counts as alive."""
    h = parse_holder(text)
    if h.pid is None or h.pid <= 0 or h.start is None or h.space is None:
        return False
    space = process_space()
    if space is None or (h.host, h.space) != (_host(), space):
        return False
    try:
        os.kill(h.pid, 0)  # signal 0: only asks whether the PID exists
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, as another user's process: its start time decides
    state = process_state(h.pid)
    if state is None:
        return False
    letter, start = state
    return letter in ("Z", "X") or start != h.start


class Lock:
    """A held lock; ``release()`` (or leaving ``hold_lock``'s block) gives it back."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        holder: str,
        conn: Connection | None,
        taken_from: str | None = None,
    ) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder
        self._conn = conn
        self.released = False
        # The holder whose row was taken over (SQLite: a dead or stale one); None when free.
        self.taken_from = taken_from

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
    """Take the lock called ``name`` if free (on SQLite also when its holder is provably dead,
    or its row older than ``stale_after``); None if someone holds it."""
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
        dead = holder_is_dead(row.holder)
        if not dead and now - row.acquired_at < stale_after:
            return None
        # Compare-and-swap on the old holder, so that of two processes taking over a stale
        # lock at once only one wins.
        taken = conn.execute(
            sa.update(LockRow)
            .where(LockRow.name == name, LockRow.holder == row.holder)
            .values(holder=holder, acquired_at=now)
        ).rowcount
    if taken != 1:
        return None
    why = "its process has ended" if dead else f"it is older than {stale_after}"
    _log.warning("lock %s taken over from %s: %s", name, row.holder, why)
    return Lock(engine, name, holder, None, taken_from=row.holder)


def lock_holder(engine: Engine, name: str) -> tuple[str, datetime] | None:
    """Who holds a SQLite lock row and since when (None when free; PostgreSQL: always None)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(LockRow.holder, LockRow.acquired_at).where(LockRow.name == name)
        ).first()
    return None if row is None else (row.holder, row.acquired_at)


def lock_is_held(engine: Engine, name: str) -> bool:
    """Whether a live holder may have the lock, looked at without taking it: PostgreSQL from
    ``pg_locks``; SQLite from its row (False when there is none or its holder is provably
    dead)."""
    if engine.dialect.name == "postgresql":
        # A bigint advisory key shows in pg_locks as classid (high 32 bits), objid (low).
        key = advisory_key(name) & 0xFFFF_FFFF_FFFF_FFFF
        query = sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1)"
        )
        with engine.connect() as conn:
            return bool(conn.execute(query, {"hi": key >> 32, "lo": key & 0xFFFF_FFFF}).scalar())
    row = lock_holder(engine, name)
    return row is not None and not holder_is_dead(row[0])


def wait_until_free(
    engine: Engine,
    name: str,
    timeout_s: float,
    poll_s: float = 1.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Wait up to ``timeout_s`` for the lock ``name`` to have no live holder (``lock_is_held``
    False): True when it is free (it may be taken by someone else right after), False when
    still held at the end. For a retry whose dead predecessor's session still holds the lock
    until the server notices (PostgreSQL: TCP keepalives)."""
    deadline = clock() + timeout_s
    while lock_is_held(engine, name):
        left = deadline - clock()
        if left <= 0:
            return False
        sleep(min(poll_s, left))
    return True


@contextmanager
def hold_lock(engine: Engine, name: str, stale_after: timedelta) -> Iterator[Lock | None]:
    """``with hold_lock(...) as lock:`` — lock is None when another run holds it."""
    lock = try_lock(engine, name, stale_after)
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()
