"""The command line: thin commands over the library; the only place that prints."""

from __future__ import annotations

import logging

import click

from oddflights import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="oddflights")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """oddflights: find the odd flights in your ADS-B receiver's traffic.

    Example: oddflights demo
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from oddflights.cli import db, demo, receivers, simulate

    main.add_command(db.db)
    main.add_command(receivers.receiver)
    main.add_command(simulate.simulate)
    main.add_command(demo.demo)


_register()
