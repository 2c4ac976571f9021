"""`oddflights prune`, `backup` and `restore`: keeping a long-running install in shape."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from oddflights import config
from oddflights.cli.common import CliError, db_option, emit_json, open_engine
from oddflights.db.backup import (
    backup_sqlite,
    inspect_backup,
    pg_dump_command,
    pg_restore_command,
    restore_sqlite,
    what_restore_replaces,
)
from oddflights.db.engine import create_engine, upgrade
from oddflights.db.receivers import get_receiver, list_receivers
from oddflights.scheduler.prune import prune_all, prune_receiver


def _backend(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).get_backend_name()


@click.command()
@click.option("--receiver", "receiver_name", default=None, help="Receiver name.")
@click.option("--all", "everyone", is_flag=True, help="Every receiver.")
@click.option(
    "--keep-days",
    type=click.IntRange(0, 36_500),
    required=True,
    help="Keep today and this many days before it (the receiver's zone).",
)
@click.option(
    "--keep-models",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Keep the newest N models even if unused [env ODDFLIGHTS_KEEP_MODELS; default 3].",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@db_option
def prune(
    receiver_name: str | None,
    everyone: bool,
    keep_days: int,
    keep_models: int | None,
    dry_run: bool,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Delete positions older than --keep-days, in small transactions (a live ingest keeps
    writing), and models beyond the newest --keep-models that no score uses.

    Flights, their pictures, scores, known rules and labels are kept, so rescoring a pruned
    day with a newer model still works; rebuilding its flights does not. Days not yet built
    into flights keep their positions.

    Example: oddflights prune --all --keep-days 30 --dry-run
    """
    if (receiver_name is None) == (not everyone):
        raise CliError("give --receiver NAME or --all (one of them)")
    engine = open_engine(db_url)
    try:
        if receiver_name is not None:
            rec = get_receiver(engine, receiver_name)
            results = [prune_receiver(engine, rec, keep_days, keep_models, dry_run=dry_run)]
        else:  # PostgreSQL: whole day partitions dropped first
            results = prune_all(
                engine, list_receivers(engine), keep_days, keep_models, dry_run=dry_run
            )
        if not as_json:
            for result in results:
                click.echo(result.summary())
    finally:
        engine.dispose()
    if as_json:
        emit_json([r.to_dict() for r in results])


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Backup file to write.",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
@db_option
def backup(output: Path, force: bool, db_url: str | None) -> None:
    """Copy the database to one file, consistent while ingest and the nightly run write.

    SQLite: the online backup API, one snapshot. PostgreSQL: prints the pg_dump command to
    run (no password on it: pg_dump reads PGPASSWORD or ~/.pgpass).

    Example: oddflights backup -o oddflights-2026-12-01.db
    """
    url = str(config.get("db", db_url))
    if _backend(url) == "postgresql":
        click.echo("PostgreSQL: back up with pg_dump:")
        click.echo(pg_dump_command(url, output))
        return
    info = backup_sqlite(url, output, overwrite=force)
    click.echo(
        f"Backed up to {info.path} ({info.bytes / 1e6:,.1f} MB, schema {info.revision}, "
        f"{info.receivers} receiver(s))."
    )


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Replace a database that holds data without asking.")
@db_option
def restore(file: Path, yes: bool, db_url: str | None) -> None:
    """Replace the SQLite database with a backup, after checking the backup: a sound
    oddflights database at this version's schema or an older one (then upgraded).

    Stop ingest, the nightly service and the web page first: they would go on with the
    database they had open. PostgreSQL: prints the pg_restore command.

    Example: oddflights restore oddflights-2026-12-01.db --yes
    """
    url = str(config.get("db", db_url))
    if _backend(url) == "postgresql":
        click.echo("PostgreSQL: restore a pg_dump file with pg_restore:")
        click.echo(pg_restore_command(url, file))
        return
    info = inspect_backup(file)  # before anything is asked or replaced
    held = what_restore_replaces(url)
    if held is not None and not yes:
        if not sys.stdin.isatty():
            raise CliError(f"this would replace {held}; add --yes to restore {file} over it")
        click.confirm(f"Replace {held} with {info.path}?", abort=True)
    engine = create_engine(url)  # first: it makes the default database's folder
    try:
        restore_sqlite(info.path, url)
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    note = "" if before == after else f", upgraded from schema {before} to {after}"
    click.echo(f"Restored {info.path} ({info.receivers} receiver(s){note}).")
