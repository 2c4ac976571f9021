"""`oddflights docker …` and `oddflights health …`: what the container runs on start and
what its HEALTHCHECK asks."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime, timedelta

import click

from oddflights import docker_env
from oddflights.cli.common import db_option, open_engine
from oddflights.db.status import receiver_status, receivers_created
from oddflights.health import live_problems, nightly_problems


@click.group()
def docker() -> None:
    """Set up from the container's variables (LAT, LONG, TZ, BEASTHOST…), as the image does.

    Example: oddflights docker init --print-ingest  (with LAT, LONG and BEASTHOST set)
    """


def _init(db_url: str | None) -> docker_env.DockerSetup:
    setup = docker_env.from_env(os.environ)
    engine = open_engine(db_url)  # creates or migrates the schema
    receiver, outcome = docker_env.apply(engine, setup)
    click.echo(docker_env.describe(receiver, outcome, setup), err=True)
    return setup


@docker.command("init")
@click.option(
    "--print-ingest", is_flag=True, help="Then print the live ingest's command line (no run)."
)
@db_option
def init(print_ingest: bool, db_url: str | None) -> None:
    """Create or migrate the database and create (or update) the receiver from LAT, LONG, TZ,
    RECEIVER_NAME and RANGE_KM. Safe on every start.

    Example: oddflights docker init  (with LAT=52.37 LONG=4.89 TZ=Europe/Amsterdam set)
    """
    setup = _init(db_url)
    if print_ingest:
        click.echo(" ".join(["oddflights", *setup.ingest_args()]))


@docker.command("ingest")
@db_option
def ingest(db_url: str | None) -> None:
    """`docker init`, then the live ingest of BEASTHOST:BEASTPORT (or SBSHOST:SBSPORT) in its
    place (same process: Docker's stop signal reaches it).

    Example: oddflights docker ingest  (with LAT, LONG and BEASTHOST=ultrafeeder set)
    """
    setup = _init(db_url)
    args = setup.ingest_args()
    if db_url is not None:
        args += ["--db", db_url]
    program = shutil.which("oddflights") or sys.argv[0]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(program, ["oddflights", *args])


@click.group()
def health() -> None:
    """Health checks (exit 0 healthy, 1 not), for Docker's HEALTHCHECK.

    Example: oddflights health live --max-age-min 10
    """


def _verdict(problems: list[str], ok: str) -> None:
    if problems:
        click.echo("unhealthy: " + "; ".join(problems))
        sys.exit(1)
    click.echo(ok)


@health.command("live")
@click.option(
    "--max-age-min",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Healthy while the newest position is at most this old.",
)
@click.option("--receiver", default=None, help="This receiver only (default: every one).")
@db_option
def live(max_age_min: float, receiver: str | None, db_url: str | None) -> None:
    """Is the live ingest hearing positions? Exit 1 when a receiver's newest position is older
    than --max-age-min.

    Example: oddflights health live --max-age-min 10
    """
    engine = open_engine(db_url)
    statuses = receiver_status(engine, datetime.now(UTC))
    limit = timedelta(minutes=max_age_min)
    _verdict(live_problems(statuses, datetime.now(UTC), limit, receiver), "healthy: live")


@health.command("nightly")
@click.option(
    "--max-age-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=26.0,
    show_default=True,
    help="Healthy while the last nightly run started at most this long ago.",
)
@click.option("--receiver", default=None, help="This receiver only (default: every one).")
@db_option
def nightly(max_age_hours: float, receiver: str | None, db_url: str | None) -> None:
    """Does the nightly run? Exit 1 when a receiver's last nightly run is older than
    --max-age-hours, or failed (a receiver newer than that has time for its first).

    Example: oddflights health nightly --max-age-hours 26
    """
    engine = open_engine(db_url)
    now = datetime.now(UTC)
    statuses = receiver_status(engine, now)
    limit = timedelta(hours=max_age_hours)
    problems = nightly_problems(statuses, receivers_created(engine), now, limit, receiver)
    _verdict(problems, "healthy: nightly")
