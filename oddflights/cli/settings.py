"""`oddflights settings`: every setting, its variable, default and current value."""

from __future__ import annotations

import click

from oddflights import config
from oddflights.cli.common import CliError, emit_rows, format_option


@click.command("settings")
@format_option("table", "json", "csv", "markdown")
def settings(fmt: str) -> None:
    """List every setting with its environment variable, default and current value.

    Environment variables change the current values (ODDFLIGHTS_RANGE_KM=250 …).

    Example: oddflights settings --format json
    """
    rows = []
    for s in config.SETTINGS:
        try:
            value = config.get(s.name)
        except config.SettingError as exc:
            raise CliError(str(exc)) from None
        rows.append(
            {"name": s.name, "env": s.env, "default": s.default, "value": value, "help": s.help}
        )
    if fmt == "markdown":
        # The README's settings table is this output (a test keeps the two in step).
        click.echo("| variable | default | what it sets |\n|---|---|---|")
        for r in rows:
            click.echo(f"| `{r['env']}` | `{r['default']}` | {r['help']} |")
        return
    emit_rows(rows, fmt, ("name", "env", "default", "value", "help"), title="Settings")
