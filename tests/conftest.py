"""Fixtures: real databases. Every DB test runs on a fresh SQLite file and, when
ODDFLIGHTS_TEST_PG_URL is set, on a fresh PostgreSQL schema too."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db import open_db

PG_URL = os.environ.get("ODDFLIGHTS_TEST_PG_URL", "")
_PG_SKIP = (
    "PostgreSQL tests need ODDFLIGHTS_TEST_PG_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
)


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests never read the developer's own oddflights settings, nor write to their home:
    the default database's folder (XDG_DATA_HOME) is a temporary one."""
    for name in list(os.environ):
        if name.startswith("ODDFLIGHTS_") and name != "ODDFLIGHTS_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


def _pg_schema_url(schema: str) -> str:
    url = sa.engine.make_url(PG_URL)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema, dropped afterwards (skips the test
    without ODDFLIGHTS_TEST_PG_URL)."""
    if not PG_URL:
        pytest.skip(_PG_SKIP)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = open_db(PG_URL, migrate=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with pg_schema() as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An opened, migrated engine on a fresh database."""
    eng = open_db(db_url)
    yield eng
    eng.dispose()
