"""The command line: thin commands over the library; the only place that prints."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

import click

from oddflights import __version__, config
from oddflights.cli.errors import CliError
from oddflights.cli.progress import configure_logging
from oddflights.errors import OddflightsError

_HELP = {"-h", "--help"}


# Every command: its name, where it is (module in oddflights.cli : attribute), and its
# one-line summary for `oddflights --help` (the first sentence of its docstring; a test
# checks they agree). A command's module is imported only when that command runs or shows
# its own help, so `oddflights --help` loads no numpy, pandas or database, and a command
# does not pay for the others' (the web app, TensorFlow's wrappers…): click's lazily loaded
# subcommands. A command added here shows in `--help` and runs; tests/cli checks both.
COMMANDS: Mapping[str, tuple[str, str]] = {
    "alert": (
        "alert:alert",
        "Alerts after each nightly day: webhook (JSON, ntfy, Discord/Slack), MQTT with Home "
        "Assistant discovery, email.",
    ),
    "anomalies": (
        "scoring:anomalies",
        "List a day's flagged flights, most abnormal first (every scored flight with --all).",
    ),
    "backup": (
        "maintenance:backup",
        "Copy the database to one file, consistent while ingest and the nightly run write.",
    ),
    "bench": ("bench:bench", "Benchmarks: measured numbers beside their targets."),
    "db": ("db:db", "The database schema."),
    "demo": ("demo:demo", "Simulate a receiver and run every stage on it, saying what each did."),
    "docker": (
        "docker:docker",
        "Set up from the container's variables (LAT, LONG, TZ, BEASTHOST…), as the image does.",
    ),
    "explain": (
        "explain:explain",
        "Save a flight's three-panel picture (input | reconstruction | |difference|) and "
        "print its score and tags.",
    ),
    "flights": (
        "flights:flights",
        "Cut positions into flights and draw each one in the receiver's frame.",
    ),
    "health": ("docker:health", "Health checks (exit 0 healthy, 1 not), for Docker's HEALTHCHECK."),
    "ingest": (
        "ingest:ingest",
        "Ingest positions from files (gzip or not; '-' is stdin) or a live feed.",
    ),
    "known": ("feedback:known", "Flights you know: still scored, never flagged nor alerted."),
    "label": ("feedback:label", "Label a flight normal or odd; the next training learns from it."),
    "models": ("model:models", "List and inspect trained models."),
    "nightly": (
        "scoring:nightly",
        "Run the nightly job once: build, train when due, score every day not yet done.",
    ),
    "positions": ("positions:positions", "Stored positions."),
    "prune": (
        "maintenance:prune",
        "Delete positions older than --keep-days, in small transactions (a live ingest keeps "
        "writing), and models beyond the newest --keep-models that no score uses.",
    ),
    "quality": (
        "feedback:quality",
        "How good the flag list was, from your labels: precision (flagged and labelled odd / "
        "flagged and labelled), flags still unlabelled, flights labelled odd that were not "
        "flagged, and the trend week by week (weeks start on Monday).",
    ),
    "receiver": ("receivers:receiver", "Add, list and remove receivers."),
    "report": (
        "web:report",
        "Write one self-contained HTML file of a day's odd flights (pictures embedded).",
    ),
    "rescore": (
        "scoring:rescore",
        "Score a range of past days again, receiver by receiver, under each receiver's lock.",
    ),
    "restore": (
        "maintenance:restore",
        "Replace the SQLite database with a backup, after checking the backup: a sound "
        "oddflights database at this version's schema or an older one (then upgraded).",
    ),
    "runs": (
        "scoring:runs",
        "List what ran (nightly days, scoring), newest first, and how it ended.",
    ),
    "schedule": (
        "schedule:schedule",
        "Run the scheduler service: the nightly job on the cron schedule, until SIGTERM.",
    ),
    "score": (
        "scoring:score",
        "Score a receiver's flights of a day (or a range of days) and store the ranks.",
    ),
    "serve": ("web:serve", "Serve the web page: receivers, days, odd flights with their pictures."),
    "settings": (
        "settings:settings",
        "List every setting with its environment variable, default, allowed values and "
        "current value.",
    ),
    "simulate": (
        "simulate:simulate",
        "Simulate a receiver's traffic, with labelled anomalies, into OUTDIR.",
    ),
    "token": (
        "tokens:token",
        "Tokens for the web page's feedback buttons (`oddflights serve --feedback`).",
    ),
    "train": ("model:train", "Train a receiver's detector on the flights of a range of days."),
}


class _Main(click.Group):
    """The top command. Its subcommands are loaded lazily from COMMANDS.

    An OddflightsError (a bad setting, day, receiver, file format…), wherever it is raised
    (an option, or the core deep inside a run), becomes one line and exit 2 here, in one
    place for every command; anything else is a bug and keeps its traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, attr = COMMANDS[cmd_name][0].split(":")
            command = getattr(importlib.import_module(f"oddflights.cli.{module}"), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing loads every command for its summary; these come from COMMANDS.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        # A bare Command shortens the summary to the width exactly as click does its own.
        rows = [
            (name, click.Command(name, help=_summary(self, ctx, name)).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def _summary(group: click.Group, ctx: click.Context, name: str) -> str:
    """A command's one line: from COMMANDS, else (a command added by add_command) its own."""
    if name in COMMANDS:
        return COMMANDS[name][1]
    command = group.get_command(ctx, name)
    return command.get_short_help_str(limit=10_000) if command is not None else ""


@click.group(cls=_Main, context_settings={"help_option_names": sorted(_HELP)})
@click.version_option(__version__, prog_name="oddflights")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """oddflights: find the odd flights in your ADS-B receiver's traffic.

    Example: oddflights demo
    """
    # Timestamped lines when stderr is not a terminal (oddflights/cli/progress.py).
    configure_logging(logging.WARNING - 10 * min(verbose, 2))
