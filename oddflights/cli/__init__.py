"""The command line: thin commands over the library; the only place that prints."""

from __future__ import annotations

import logging
from typing import Any

import click

from oddflights import __version__, config
from oddflights.cli import (
    alert,
    bench,
    db,
    demo,
    docker,
    feedback,
    flights,
    ingest,
    maintenance,
    model,
    positions,
    receivers,
    scoring,
    settings,
    simulate,
    tokens,
    web,
)
from oddflights.cli.common import CliError
from oddflights.cli.progress import configure_logging
from oddflights.errors import OddflightsError

_HELP = {"-h", "--help"}


class _Main(click.Group):
    """The top command. An OddflightsError (a bad setting, day, receiver, file format…),
    wherever it is raised (an option, or the core deep inside a run), becomes one line and
    exit 2 here, in one place for every command; anything else is a bug and keeps its
    traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            # Every ODDFLIGHTS_… variable is checked before any work: a setting the core
            # reads late, or in a step whose failures are only recorded (a nightly day),
            # cannot half-run a command. ctx.args: the arguments after the command's name;
            # help is always shown.
            if not _HELP.intersection(ctx.args):
                config.check_environment()
            return super().invoke(ctx)
        except OddflightsError as exc:
            raise CliError(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": sorted(_HELP)})
@click.version_option(__version__, prog_name="oddflights")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """oddflights: find the odd flights in your ADS-B receiver's traffic.

    Example: oddflights demo
    """
    # Timestamped lines when stderr is not a terminal (oddflights/cli/progress.py).
    configure_logging(logging.WARNING - 10 * min(verbose, 2))


for _command in (
    db.db,
    model.train,
    model.models,
    receivers.receiver,
    simulate.simulate,
    demo.demo,
    bench.bench,
    settings.settings,
    ingest.ingest,
    positions.positions,
    flights.flights,
    scoring.score,
    scoring.nightly,
    scoring.schedule,
    scoring.anomalies,
    scoring.explain,
    scoring.runs,
    feedback.known,
    feedback.label,
    feedback.quality,
    web.serve,
    web.report,
    tokens.token,
    alert.alert,
    maintenance.prune,
    maintenance.backup,
    maintenance.restore,
    docker.docker,
    docker.health,
):
    main.add_command(_command)
