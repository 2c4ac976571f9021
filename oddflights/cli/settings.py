"""`oddflights settings`: every setting, its variable, default, allowed values and current value."""

from __future__ import annotations

import click

from oddflights import config
from oddflights.cli.common import emit_rows, format_option

COLUMNS = ("name", "env", "default", "allowed", "value", "help")


@click.command("settings")
@format_option("table", "json", "csv", "markdown")
def settings(fmt: str) -> None:
    """List every setting with its environment variable, default, allowed values and current
    value.

    Environment variables change the current values (ODDFLIGHTS_RANGE_KM=250 …); a value
    outside what is allowed stops every command with one line naming it (exit 2).

    Example: oddflights settings --format json
    """
    rows = [
        {
            "name": s.name,
            "env": s.env,
            "default": s.default,
            "allowed": s.check.allowed,
            "value": config.masked(s, config.get(s.name)),  # secrets never shown
            "help": s.help,
        }
        for s in config.SETTINGS
    ]
    if fmt == "markdown":
        # The README's settings table is this output (tests/test_docs.py keeps them in step).
        click.echo("| variable | default | allowed | what it sets |\n|---|---|---|---|")
        for r in rows:
            click.echo(f"| `{r['env']}` | `{r['default']}` | {r['allowed']} | {r['help']} |")
        return
    emit_rows(rows, fmt, COLUMNS, title="Settings")
