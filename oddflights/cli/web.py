"""`oddflights serve` (the read-only web page) and `oddflights report` (one day as HTML)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from oddflights import config
from oddflights.cli.common import DAY, CliError, db_option, output_file_option
from oddflights.db.web_queries import open_readonly
from oddflights.web.app import create_app
from oddflights.web.report import write_day_report


def _open_readonly(db_url: str | None) -> tuple[Any, str]:
    """The read-only engine and the URL to show (password hidden)."""
    url = str(config.get("db", db_url))
    engine = open_readonly(url)
    return engine, sa.engine.make_url(url).render_as_string(hide_password=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@db_option
def serve(host: str, port: int, db_url: str | None) -> None:
    """Serve the read-only web page: receivers, days, odd flights with their pictures.

    The database is opened read-only and must already be at the newest schema. Only
    127.0.0.1 is listened on unless --host says otherwise (0.0.0.0 in a container). JSON is
    at /api/receivers, /api/days/NAME, /api/anomalies/NAME/DAY and /api/flights/ID; health at
    /healthz.

    Example: oddflights serve --port 8000
    """
    import uvicorn  # lazy: the server and its event loop are for `serve` alone

    engine, shown = _open_readonly(db_url)
    app = create_app(engine)
    click.echo(f"Serving http://{host}:{port}/ (read-only: {shown}); Ctrl-C stops it.")
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    finally:
        engine.dispose()


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
