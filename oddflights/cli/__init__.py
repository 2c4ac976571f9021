"""The command line: thin commands over the library; the only place that prints."""

from __future__ import annotations

import logging
from typing import Any

import click

from oddflights import __version__, config
from oddflights.cli.common import CliError

_HELP = {"-h", "--help"}


class _Main(click.Group):
    """The top command. A bad setting, wherever a command reads it (an option, or the core
    deep inside a run), becomes one line and exit 2 here, in one place for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            # Every ODDFLIGHTS_… variable is checked before any work: a setting the core
            # reads late, or in a step whose failures are only recorded (a nightly day),
            # cannot half-run a command. ctx.args: the arguments after the command's name;
            # help is always shown.
            if not _HELP.intersection(ctx.args):
                config.check_environment()
            return super().invoke(ctx)
        except config.SettingError as exc:
            raise CliError(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": sorted(_HELP)})
@click.version_option(__version__, prog_name="oddflights")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """oddflights: find the odd flights in your ADS-B receiver's traffic.

    Example: oddflights demo
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from oddflights.cli import bench, db, demo, receivers, settings, simulate

    main.add_command(db.db)
    from oddflights.cli import model as model_cli

    main.add_command(model_cli.train)
    main.add_command(model_cli.models)
    main.add_command(receivers.receiver)
    main.add_command(simulate.simulate)
    main.add_command(demo.demo)
    main.add_command(bench.bench)
    main.add_command(settings.settings)
    from oddflights.cli import ingest as ingest_cli
    from oddflights.cli import positions as positions_cli

    main.add_command(ingest_cli.ingest)
    main.add_command(positions_cli.positions)
    from oddflights.cli import flights as flights_cli

    main.add_command(flights_cli.flights)
    from oddflights.cli import scoring as scoring_cli

    for command in (
        scoring_cli.score,
        scoring_cli.nightly,
        scoring_cli.schedule,
        scoring_cli.anomalies,
        scoring_cli.explain,
        scoring_cli.runs,
    ):
        main.add_command(command)
    from oddflights.cli import web as web_cli

    main.add_command(web_cli.serve)
    main.add_command(web_cli.report)


_register()
