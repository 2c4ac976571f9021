"""`oddflights db …`: the database schema."""

from __future__ import annotations

import click

from oddflights import config
from oddflights.cli.common import db_option
from oddflights.db.engine import open_db
from oddflights.db.engine import upgrade as migrate


@click.group()
def db() -> None:
    """The database schema.

    Example: oddflights db upgrade --db postgresql://postgres@127.0.0.1/oddflights
    """


@db.command()
@db_option
def upgrade(db_url: str | None) -> None:
    """Create or migrate the database schema to this version (safe to rerun).

    Every command does this on first use; run it by hand after upgrading oddflights.

    Example: oddflights db upgrade --db sqlite:///oddflights.db
    """
    # Opened without migrating so that the command can say what it changed.
    engine = open_db(config.get("db", db_url), migrate=False)
    before, after = migrate(engine)
    if before == after:
        click.echo(f"Database is up to date (revision {after}).")
    else:
        click.echo(f"Database migrated from {before or 'empty'} to {after}.")
