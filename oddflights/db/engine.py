"""Opening the database: engine setup, SQLite pragmas, and migrations on first use."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from oddflights.errors import OddflightsError
from oddflights.paths import data_dir

_log = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration in migrations/versions (a test checks it against Alembic's own head).
# Kept as a constant so that opening an up-to-date database does not import Alembic (~0.2 s
# of every CLI run, most of it Mako and Pygments); Alembic is loaded only to migrate.
HEAD_REVISION = "0011"

if TYPE_CHECKING:
    from alembic.config import Config


class DatabaseError(OddflightsError, RuntimeError):
    """The database cannot be opened or migrated (the message says which and why)."""

    http_status = 503  # on the web: the server's database, not the request, is at fault


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web page read while ingest writes; NORMAL is safe with WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def _safe(url: str) -> str:
    """``url`` for a message, its password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return repr(url)


def _in_memory(parsed: sa.URL) -> bool:
    """A SQLite URL whose database lives only as long as the connection: ``sqlite://``,
    ``sqlite:///``, ``:memory:``, and ``file:`` URIs that are ``:memory:``, ``mode=memory``
    or nameless (a temporary database)."""
    database = parsed.database or ""
    name, _, uri_query = database.partition("?")
    return (
        name in ("", ":memory:", "file:")
        or name.startswith("file::memory:")
        or parsed.query.get("mode") == "memory"
        or "mode=memory" in uri_query.split("&")
    )


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot hold oddflights' data, in a few words, or None when it can: it must
    parse, name SQLite or PostgreSQL, and not be an in-memory SQLite database (which would
    vanish, with everything written to it, when the command ends)."""
    try:
        parsed = sa.engine.make_url(url)
    except (ArgumentError, ValueError):
        return "not a database URL (use sqlite:///FILE or postgresql://USER@HOST/DB)"
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        return f"{backend} is not supported (use sqlite:///FILE or postgresql://USER@HOST/DB)"
    if backend == "sqlite" and _in_memory(parsed):
        return (
            "an in-memory SQLite database keeps nothing once the command ends; "
            "name a file (sqlite:///oddflights.db) or use PostgreSQL"
        )
    return None


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with oddflights' connection settings (no migration); a URL
    that cannot hold the data (see ``url_problem``) is a DatabaseError."""
    problem = url_problem(url)
    if problem is not None:
        raise DatabaseError(f"cannot use {_safe(url)}: {problem}")
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database  # url_problem refuses in-memory databases
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir() and folder == data_dir().expanduser().resolve():
            # The default's own folder is made on first use; any other missing folder is
            # more likely a typo than a wish for a new one.
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot make {folder}: {exc.strerror or exc}") from None
        if not folder.is_dir():
            raise DatabaseError(f"cannot open {url}: folder {folder} does not exist")
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"cannot open {url}: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(connection: sa.Connection) -> Config:
    """Alembic's configuration for migrating over ``connection``."""
    from alembic.config import Config  # only to migrate (see HEAD_REVISION)

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database).

    Read from Alembic's own table with plain SQL, as Alembic reads it, without importing it."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise DatabaseError(
            f"{engine.url.render_as_string()} is at several schema revisions {sorted(rows)}: "
            "it was migrated by something other than oddflights"
        )
    return str(rows[0]) if rows else None


def head_revision() -> str:
    """The newest schema revision this version of oddflights knows."""
    return HEAD_REVISION


def _failure(engine: Engine, exc: SQLAlchemyError) -> DatabaseError:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return DatabaseError(f"cannot open {engine.url.render_as_string()}: {reason}")


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply any missing migrations; returns (revision before, revision after)."""
    try:
        before = current_revision(engine)
        head = head_revision()
        if before != head:
            from alembic import command  # only to migrate (see HEAD_REVISION)

            with engine.begin() as conn:
                command.upgrade(alembic_config(conn), "head")
            _log.info("database migrated from %s to %s", before, head)
    except SQLAlchemyError as exc:
        raise _failure(engine, exc) from None
    return before, head


def open_db(url: str, *, migrate: bool = True, **kwargs: Any) -> Engine:
    """Open the database at ``url``, applying migrations on first use."""
    engine = create_engine(url, **kwargs)
    try:
        if migrate:
            upgrade(engine)
        else:
            with engine.connect():
                pass
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _failure(engine, exc) from None
    except DatabaseError:
        engine.dispose()
        raise
    return engine
