"""`oddflights positions …`: stored positions back out of the database."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from oddflights.cli.common import CliError, db_option, open_engine


@click.group()
def positions() -> None:
    """Stored positions.

    Example: oddflights positions export --receiver roof --day 2026-01-15 -o day.csv
    """


@positions.command("export")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", required=True, help="Calendar day in the receiver's zone (YYYY-MM-DD).")
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="File to write ('-' is stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("csv", "parquet")),
    default=None,
    help="Output format [default: from the file's suffix, else csv].",
)
@db_option
def export(receiver_name: str, day: str, output: str, fmt: str | None, db_url: str | None) -> None:
    """Write a day of positions in the table format, which `oddflights ingest` reads back.

    Example: oddflights positions export --receiver roof --day 2026-01-15 -o day.parquet
    """
    from oddflights.db.receivers import ReceiverNotFound, get_receiver
    from oddflights.ingest.export import day_positions, write_table

    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise CliError(f"--day {day!r} is not a date (YYYY-MM-DD)") from None
    if fmt is None:
        fmt = "parquet" if output.endswith((".parquet", ".pq")) else "csv"
    engine = open_engine(db_url)
    try:
        receiver = get_receiver(engine, receiver_name)
    except ReceiverNotFound as exc:
        raise CliError(str(exc)) from None
    table = day_positions(engine, receiver, the_day)
    if output == "-":
        write_table(table, sys.stdout.buffer, fmt)
        return
    if not Path(output).parent.is_dir():
        raise CliError(f"cannot write {output}: its folder does not exist")
    with open(output, "wb") as out:
        write_table(table, out, fmt)
    click.echo(f"Wrote {len(table)} positions of {the_day} to {output}.", err=True)
