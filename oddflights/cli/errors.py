"""The CLI's one-line error, in a module of its own so that the top command
(oddflights.cli) can raise it without importing what the commands need (the database…)."""

from __future__ import annotations

from typing import Any

import click


class CliError(click.ClickException):
    """A one-line error for the user, exit code 2 (bad input, not a crash). Errors of the
    core (OddflightsError) become one in the top command (oddflights.cli._Main), not here."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)
