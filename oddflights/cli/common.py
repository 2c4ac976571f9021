"""What every command shares: the database option, output formats, and clean errors."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from oddflights import config

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "json", "csv")
_DB = config.setting("db")


class CliError(click.ClickException):
    """A one-line error for the user, exit code 2 (bad input, not a crash)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def db_option(func: F) -> F:
    """``--db URL``: the database, default from ``ODDFLIGHTS_DB``."""
    return click.option(
        "--db",
        "db_url",
        default=None,
        metavar="URL",
        help=f"Database URL [env {_DB.env}; default {_DB.default}].",
    )(func)


def output_file_option(what: str) -> Callable[[F], F]:
    """``-o/--output FILE`` (required): the file a command writes, e.g. ``"PNG"``."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help=f"{what} file to write.",
    )


def format_option(*choices: str) -> Callable[[F], F]:
    """``--format table|json|csv`` (or the given subset)."""
    allowed = choices or FORMATS

    def decorate(func: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(allowed),
            default=allowed[0],
            show_default=True,
            help="Output format.",
        )(func)

    return decorate


def open_engine(db_url: str | None) -> Any:
    """Open (and migrate) the database, turning failures into a clean CLI error."""
    from oddflights.db import DatabaseError, open_db

    url = config.get("db", db_url)
    try:
        return open_db(url)
    except DatabaseError as exc:
        raise CliError(str(exc)) from None


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def emit_json(payload: Any) -> None:
    """Print one JSON document (the machine-readable output of every command)."""
    click.echo(json.dumps(payload, default=_plain, indent=2, sort_keys=False))


def emit_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    columns: Iterable[str] | None = None,
    title: str | None = None,
) -> None:
    """Print rows as a Rich table, a JSON array or CSV."""
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if fmt == "json":
        emit_json([{c: row.get(c) for c in cols} for row in rows])
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _plain(row.get(c)) for c in cols})
        click.echo(buf.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for c in cols:
            table.add_column(c)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(_plain(row.get(c))) for c in cols))
        Console(file=sys.stdout, width=200 if not sys.stdout.isatty() else None).print(table)
