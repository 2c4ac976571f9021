"""`oddflights demo`: the whole product on a simulated receiver."""

from __future__ import annotations

from pathlib import Path

import click

from oddflights.cli.alert import HINT as ALERT_HINT
from oddflights.cli.common import db_option, emit_rows, open_engine
from oddflights.demo import run_demo


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("oddflights-demo"),
    show_default=True,
    help="Scratch folder for the simulated receiver's files.",
)
@click.option("--days", type=click.IntRange(2, 60), default=6, show_default=True)
@click.option("--flights-per-day", type=click.IntRange(20, 5000), default=300, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@db_option
def demo(workdir: Path, days: int, flights_per_day: int, seed: int, db_url: str | None) -> None:
    """Simulate a receiver and run every stage on it, saying what each did.

    Results go into the configured database (ODDFLIGHTS_DB or --db; `make run` gives
    ./oddflights.db), so later commands can look at them. Safe to rerun.

    Example: oddflights demo --days 6 --flights-per-day 300
    """
    engine = open_engine(db_url)
    click.echo(f"oddflights demo: database {engine.url.render_as_string()}")
    result = run_demo(
        engine,
        workdir,
        n_days=days,
        flights_per_day=flights_per_day,
        seed=seed,
        on_step=lambda s: click.echo(f"[{s.stage}] {s.message}"),
    )
    last = result.days[-1]
    if result.flagged.empty:
        click.echo(f"No flights flagged on {last}.")
    else:
        click.echo(f"Flagged flights on {last} (receiver {result.receiver.name}):")
        rows = [
            {
                "rank": r["rank"],
                "flight": r["flight_id"],
                "icao24": r["icao24"],
                "callsign": r["callsign"] or "",
                "start (UTC)": f"{r['start']:%H:%M}",
                "score": f"{r['score']:.4f}",
                "threshold": f"{r['threshold']:.4f}",
                "tags": " ".join(r["tags"] or []),
            }
            for r in result.flagged.to_dict("records")
        ]
        emit_rows(rows, "table")
    name = result.receiver.name
    db_arg = "" if db_url is None else f" --db {db_url}"
    if result.report is not None:
        click.echo(f"Report: {result.report.resolve()}")
    click.echo(
        f"All scored flights: oddflights anomalies --receiver {name} --day {last} --all{db_arg}"
    )
    click.echo(
        f"Web page: oddflights serve{db_arg}, then open "
        f"http://127.0.0.1:8000/receivers/{name}/{last}"
    )
    if result.alert:
        click.echo("\nThe alert the nightly would send for that day (a dry run; nothing sent):")
        click.echo(result.alert)
        click.echo(f"\n{ALERT_HINT}")
    if not result.ok:
        raise click.ClickException("some days failed; see `oddflights runs`")
