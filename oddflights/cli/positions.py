"""`oddflights positions …`: stored positions back out of the database."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from oddflights.cli.common import DAY, CliError, db_option, open_engine
from oddflights.db.receivers import get_receiver
from oddflights.ingest.export import day_positions, write_table


@click.group()
def positions() -> None:
    """Stored positions.

    Example: oddflights positions export --receiver roof --day 2026-01-15 -o day.csv
    """


@positions.command("export")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", type=DAY, required=True, help="Calendar day in the receiver's zone.")
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
def export(receiver_name: str, day: date, output: str, fmt: str | None, db_url: str | None) -> None:
    """Write a day of positions in the table format, which `oddflights ingest` reads back.

    Example: oddflights positions export --receiver roof --day 2026-01-15 -o day.parquet
    """
    the_day = day
    if fmt is None:
        fmt = "parquet" if output.endswith((".parquet", ".pq")) else "csv"
    engine = open_engine(db_url)
    receiver = get_receiver(engine, receiver_name)
    table = day_positions(engine, receiver, the_day)
    if output == "-":
        write_table(table, sys.stdout.buffer, fmt)
        return
    if not Path(output).parent.is_dir():
        raise CliError(f"cannot write {output}: its folder does not exist")
    with open(output, "wb") as out:
        write_table(table, out, fmt)
    click.echo(f"Wrote {len(table)} positions of {the_day} to {output}.", err=True)
