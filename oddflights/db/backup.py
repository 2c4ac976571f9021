"""Backups: a consistent copy of a SQLite database while it is written, and its restore.

The copy uses SQLite's online backup API in one step: it reads one snapshot of the database
inside a read transaction, which in WAL mode does not stop a live ingest from writing (its
rows committed after the snapshot are simply not in the copy). A backup in several steps
would restart whenever another connection writes, and under a live feed might never end.

A restore checks the file before it touches anything: a SQLite database that passes
``PRAGMA quick_check``, with oddflights' tables, at a schema revision this version knows (the
same as the code's, or older: it is upgraded after the restore). The restore itself is the
backup API the other way round, so the target file is replaced page by page inside one write
transaction: no reader ever sees half of it.

PostgreSQL has its own tools; ``pg_dump_command`` and ``pg_restore_command`` say which.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from oddflights.db.engine import _MIGRATIONS, head_revision
from oddflights.errors import OddflightsError

# Tables whose presence makes a file an oddflights database.
_OURS = ("alembic_version", "receivers", "positions", "flights", "models", "runs")
# Waiting for a writer's lock (the restore's write, the backup's first read).
_BUSY_MS = 30_000


class BackupError(OddflightsError, ValueError):
    """A backup cannot be written, or a file cannot be restored (the message says why)."""


@dataclass(frozen=True)
class BackupInfo:
    """A backup file: where, how big, and the schema revision it holds."""

    path: Path
    bytes: int
    revision: str
    receivers: int


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL (absolute); BackupError for any other URL."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise BackupError(f"{_shown(url)} is not a SQLite file")
    return Path(parsed.database).expanduser().resolve()


def _shown(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    uri = path.as_uri() + ("?mode=ro" if readonly else "")
    conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
    return conn


def backup_sqlite(url: str, out: Path, *, overwrite: bool = False) -> BackupInfo:
    """Copy the SQLite database at ``url`` to ``out`` (a single file, not in WAL mode),
    consistent as of one moment even while others write. Written to a temporary file first,
    so that a failed backup leaves no half file under ``out``."""
    src_path = sqlite_path(url)
    out = out.expanduser().resolve()
    if not src_path.is_file():
        raise BackupError(f"no database file at {src_path}")
    if out == src_path:
        raise BackupError(f"{out} is the database itself; name another file")
    if out.exists() and not overwrite:
        raise BackupError(f"{out} exists; name a new file (or --force to replace it)")
    if not out.parent.is_dir():
        raise BackupError(f"folder {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    tmp.unlink(missing_ok=True)
    # Not mode=ro: a read-only connection cannot make the -shm file a WAL database needs
    # when no other connection has it open. Nothing is written through it.
    src = _connect(src_path)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # pages=-1: all in one step, one snapshot
            # The copy is one file: no -wal beside it to lose when it is moved or mailed.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"backup of {src_path} failed: {exc}") from None
    finally:
        src.close()
    os.replace(tmp, out)
    return inspect_backup(out)


def known_revisions() -> list[str]:
    """Every schema revision this version of oddflights knows, newest first."""
    from alembic.script import ScriptDirectory  # Alembic only where it is needed

    script = ScriptDirectory(str(_MIGRATIONS))
    return [r.revision for r in script.walk_revisions()]


def inspect_backup(path: Path) -> BackupInfo:
    """What a backup file holds; BackupError in one line when it is not a sound oddflights
    SQLite database at a schema revision this version can use (its own, or an older one)."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise BackupError(f"no file at {path}")
    with path.open("rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise BackupError(f"{path} is not a SQLite database")
    try:
        conn = _connect(path, readonly=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened: {exc}") from None
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"{path} is damaged: {check[0] if check else 'no answer'}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = [t for t in _OURS if t not in tables]
        if missing:
            raise BackupError(f"{path} is not an oddflights database (no {', '.join(missing)})")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        receivers = int(conn.execute("SELECT count(*) FROM receivers").fetchone()[0])
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from None
    finally:
        conn.close()
    revision = None if row is None else str(row[0])
    if revision not in known_revisions():
        raise BackupError(
            f"{path} is at schema revision {revision or 'none'}, which this version of "
            f"oddflights (at {head_revision()}) does not know: restore it with a newer one"
        )
    return BackupInfo(path, path.stat().st_size, revision, receivers)


def restore_sqlite(backup: Path, url: str) -> BackupInfo:
    """Replace the SQLite database at ``url`` with ``backup``, checked first (see
    ``inspect_backup``); returns what was restored. The caller upgrades the schema after."""
    info = inspect_backup(backup)
    target = sqlite_path(url)
    if target == info.path:
        raise BackupError(f"{target} is the database itself")
    if not target.parent.is_dir():
        raise BackupError(f"folder {target.parent} does not exist")
    src = _connect(info.path, readonly=True)
    try:
        dst = _connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"restore into {target} failed: {exc}") from None
    finally:
        src.close()
    return info


def what_restore_replaces(url: str) -> str | None:
    """What a restore into the SQLite database at ``url`` would replace, in words (None:
    nothing, the file does not exist yet or holds no receiver), so that it can be confirmed."""
    path = sqlite_path(url)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        conn = _connect(path, readonly=True)
        try:
            n = int(conn.execute("SELECT count(*) FROM receivers").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return f"{path}, which is not an oddflights database"
    return None if n == 0 else f"the database {path} ({n} receiver(s))"


def _libpq_url(url: str) -> str:
    # pg_dump reads libpq URIs: no SQLAlchemy driver suffix, and never the password (it comes
    # from PGPASSWORD or ~/.pgpass, not from a command line others can see).
    parsed = sa.engine.make_url(url)
    bare = sa.engine.URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return bare.render_as_string(hide_password=False)


def pg_dump_command(url: str, out: Path) -> str:
    """The ``pg_dump`` command that backs up the PostgreSQL database at ``url`` to ``out``."""
    return shlex.join(
        ["pg_dump", "--format=custom", f"--file={out}", f"--dbname={_libpq_url(url)}"]
    )


def pg_restore_command(url: str, backup: Path) -> str:
    """The ``pg_restore`` command that restores ``backup`` (pg_dump's custom format)."""
    return shlex.join(
        ["pg_restore", "--clean", "--if-exists", f"--dbname={_libpq_url(url)}", str(backup)]
    )
