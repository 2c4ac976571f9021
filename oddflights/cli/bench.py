"""`oddflights bench …`: measured speed (and, later, detection quality)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from oddflights.cli.common import CliError, emit_json, emit_rows


@click.group()
def bench() -> None:
    """Benchmarks: measured numbers beside their targets.

    Example: oddflights bench speed --stage flights --flights-per-day 200
    """


@bench.command()
@click.option("--stage", "stages", multiple=True, help="Stage to run (repeatable; default all).")
@click.option("--flights-per-day", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--repeats", type=click.IntRange(1, 50), default=3, show_default=True)
@click.option(
    "--pg-url",
    default=None,
    envvar="ODDFLIGHTS_TEST_PG_URL",
    help="PostgreSQL URL for the PostgreSQL figures [env ODDFLIGHTS_TEST_PG_URL].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def speed(
    stages: tuple[str, ...], flights_per_day: int, repeats: int, pg_url: str | None, as_json: bool
) -> None:
    """Measure each stage on a simulated 1 Hz day; medians of --repeats runs.

    Example: oddflights bench speed --stage ingest --flights-per-day 1000 --json
    """
    from oddflights.bench.speed import SpeedContext, run_speed

    with tempfile.TemporaryDirectory(prefix="oddflights-bench-") as tmp:
        ctx = SpeedContext(flights_per_day, repeats, Path(tmp), pg_url=pg_url or None)
        try:
            report = run_speed(list(stages), ctx)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    if as_json:
        emit_json(report)
        return
    rows = []
    for name, r in report["stages"].items():
        meets = {True: "yes", False: "NO", None: ""}[r["meets"]]
        rows.append(
            {
                "stage": name,
                "median": f"{r['value']:,.3g}",
                "unit": r["unit"],
                "target": "" if r["target"] is None else f"{r['target']:,}",
                "meets": meets,
            }
        )
    emit_rows(rows, "table", title=f"Speed, median of {repeats} ({report['machine']['cpus']} CPUs)")
