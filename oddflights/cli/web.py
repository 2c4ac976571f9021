"""`oddflights serve` (the read-only web page) and `oddflights report` (one day as HTML)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
import uvicorn

from oddflights import config
from oddflights.cli.common import DAY, CliError, db_option, output_file_option
from oddflights.db.engine import create_engine
from oddflights.db.web_queries import open_readonly
from oddflights.web.app import create_app
from oddflights.web.report import write_day_report


def _open_readonly(db_url: str | None) -> tuple[Any, str]:
    """The read-only engine and the URL to show (password hidden)."""
    url = str(config.get("db", db_url))
    engine = open_readonly(url)
    return engine, sa.engine.make_url(url).render_as_string(hide_password=True)


@click.command()
@click.option(
    "--host",
    default=None,
    help="Address to listen on [default: 127.0.0.1, also with --feedback: only an explicit "
    "--host opens it to other machines].",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--feedback",
    is_flag=True,
    help="Add the 'known', 'normal' and 'odd' buttons to flight pages; each write needs a "
    "token (`oddflights token create NAME`) and records its name.",
)
@db_option
def serve(host: str | None, port: int, feedback: bool, db_url: str | None) -> None:
    """Serve the web page: receivers, days, odd flights with their pictures.

    Read-only by default: the database is opened read-only and must already be at the newest
    schema. With --feedback, a signed-in browser (a token from `oddflights token create
    NAME`, given once at /login) can mark a flight known, normal or odd; those writes, and
    only those, go through a second, read-write connection. Only 127.0.0.1 is listened on
    unless --host says otherwise (0.0.0.0 in a container). JSON is at /api/receivers,
    /api/days/NAME, /api/anomalies/NAME/DAY and /api/flights/ID; health at /healthz.

    Example: oddflights serve --feedback --port 8000
    """
    host = host or "127.0.0.1"
    engine, shown = _open_readonly(db_url)
    writer = create_engine(str(config.get("db", db_url))) if feedback else None
    app = create_app(engine, feedback_engine=writer)
    mode = "read-only" if writer is None else "feedback on: writes need a token"
    click.echo(f"Serving http://{host}:{port}/ ({mode}: {shown}); Ctrl-C stops it.")
    if writer is not None and host not in ("127.0.0.1", "::1", "localhost"):
        click.echo(
            f"Feedback is open on {host}: tokens cross the network in the clear unless a "
            "TLS proxy is in front.",
            err=True,
        )
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    finally:
        engine.dispose()
        if writer is not None:
            writer.dispose()


@click.command()
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", type=DAY, required=True, help="Day (receiver's zone).")
@output_file_option("HTML")
@db_option
def report(receiver_name: str, day: date, output: Path, db_url: str | None) -> None:
    """Write one self-contained HTML file of a day's odd flights (pictures embedded).

    Nothing in the file links outside it: mail it or archive it. The nightly run writes one
    per scored day into ODDFLIGHTS_NIGHTLY_REPORT_DIR when that is set.

    Example: oddflights report --receiver home --day 2026-05-04 -o home-2026-05-04.html
    """
    engine, _ = _open_readonly(db_url)
    try:
        path = write_day_report(engine, receiver_name, day, output)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        engine.dispose()
    click.echo(f"wrote {path}")
