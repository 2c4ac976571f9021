"""What every command shares: the database option, days, output formats, and clean errors."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from oddflights import config
from oddflights.cli.errors import CliError  # the commands import it from here
from oddflights.days import days_between, parse_day
from oddflights.db import open_db

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "json", "csv")
_DB = config.setting("db")


class DayParam(click.ParamType):
    """A ``YYYY-MM-DD`` option, parsed by oddflights.days.parse_day (the web's parser too).

    A bad day raises DayError, which the top command prints as one line naming the option:
    ``Error: --day '20261130' is not a day (use YYYY-MM-DD)``, exit 2."""

    name = "day"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        what = max(param.opts, key=len) if param is not None and param.opts else ""
        return parse_day(str(value), what)


DAY = DayParam()


def day_range(day: date | None, first: date | None, last: date | None) -> list[date]:
    """The days named by ``--day``, or by ``--from`` and ``--to`` (both included)."""
    if day is not None:
        if first is not None or last is not None:
            raise CliError("give either --day or --from/--to, not both")
        return [day]
    if first is None or last is None:
        raise CliError("give --day D, or both --from D and --to D")
    if last < first:
        raise CliError(f"--to {last} is before --from {first}")
    return days_between(first, last)


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
    """Open (and migrate) the database of ``--db`` (or ``ODDFLIGHTS_DB``); DatabaseError
    becomes the one-line error in the top command."""
    return open_db(config.get("db", db_url))


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
        table = Table(title=title)
        for c in cols:
            table.add_column(c)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(_plain(row.get(c))) for c in cols))
        Console(file=sys.stdout, width=200 if not sys.stdout.isatty() else None).print(table)
