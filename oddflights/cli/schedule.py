"""`oddflights schedule`: the scheduler service."""

from __future__ import annotations

import click

from oddflights.cli.common import CliError, db_option, open_engine
from oddflights.db.receivers import get_receiver
from oddflights.scheduler.service import cron_trigger, run_service


@click.command()
@click.option("--receiver", "receiver_name", default=None, help="Only this receiver.")
@click.option("--all", "everyone", is_flag=True, help="Every receiver (also those added later).")
@db_option
def schedule(receiver_name: str | None, everyone: bool, db_url: str | None) -> None:
    """Run the scheduler service: the nightly job on the cron schedule, until SIGTERM.

    The schedule is ODDFLIGHTS_SCHEDULE (default "30 2 * * *") in the zone
    ODDFLIGHTS_SCHEDULE_TZ (default UTC). The job is kept in the database's
    `apscheduler_jobs` table; a run missed while the service was down runs at start-up
    (within ODDFLIGHTS_MISFIRE_GRACE_HOURS). Run one scheduler per database.

    Example: oddflights schedule --all
    """
    if everyone == (receiver_name is not None):
        raise CliError("give --receiver NAME or --all (one of them)")
    engine = open_engine(db_url)
    names = None if everyone else [get_receiver(engine, str(receiver_name)).name]
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    cron_trigger()  # a bad schedule stops here, before the service starts
    run_service(url, names, on_event=lambda line: click.echo(line))
