"""`oddflights simulate`: write days of simulated receiver traffic with labelled anomalies."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import click

from oddflights import config
from oddflights.cli.common import DAY, CliError, emit_json
from oddflights.simulate import SimConfig, write_simulation
from oddflights.simulate import simulate as run


def _start_day(day: dt.date | None, days: int) -> dt.date:
    if day is None:
        # The N days that end yesterday (UTC): a receiver's most recent complete days.
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    return day


@click.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--days", type=int, required=True, help="Number of days to simulate.")
@click.option("--flights-per-day", type=int, required=True, help="Flights per day.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--lat", type=float, default=52.0, show_default=True, help="Receiver latitude.")
@click.option("--lon", type=float, default=4.5, show_default=True, help="Receiver longitude.")
@click.option(
    "--range-km",
    type=float,
    default=None,
    help=f"Frame half-width in km [env {config.setting('range_km').env}; default 200].",
)
@click.option(
    "--timezone", default="UTC", show_default=True, help="IANA zone of the receiver's days."
)
@click.option(
    "--start-day",
    type=DAY,
    default=None,
    help="First day [default: N days ending yesterday].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "sbs", "raw", "avr", "beast", "readsb-trace"]),
    default="table",
    show_default=True,
    help="Positions as table CSV, SBS-1 (port 30003) lines, Mode S frames: raw CSV, "
    "AVR text or Beast binary (counters from midnight UTC of each file's day), or readsb "
    "history (globe_history/YYYY/MM/DD/traces/xx/trace_full_<icao>.json, gzip).",
)
@click.option("--faults", is_flag=True, help="Add duplicates, position jumps and corrupt lines.")
@click.option(
    "--day-variation",
    is_flag=True,
    help="Make days differ as real ones do: runway direction flips, outages, blocked sectors "
    "or shorter range, thinner weekends, rare routes. Each day's plan goes into labels.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def simulate(
    outdir: Path,
    days: int,
    flights_per_day: int,
    seed: int,
    lat: float,
    lon: float,
    range_km: float | None,
    timezone: str,
    start_day: dt.date | None,
    fmt: str,
    faults: bool,
    day_variation: bool,
    as_json: bool,
) -> None:
    """Simulate a receiver's traffic, with labelled anomalies, into OUTDIR.

    Writes receiver.json, labels.json (every flight and its kind) and one positions file
    per UTC day. The same options always give the same bytes. With --day-variation,
    labels.json is an object: "flights" (as above, each with its rare-route "variant"),
    "days" (each day's plan) and "rare_airway".

    Example: oddflights simulate ./sim --days 3 --flights-per-day 200
    """
    try:
        cfg = SimConfig(
            lat=lat,
            lon=lon,
            days=days,
            flights_per_day=flights_per_day,
            start_day=_start_day(start_day, max(days, 1)),
            range_km=float(config.get("range_km", range_km)),
            timezone=timezone,
            seed=seed,
            anomaly_share=float(config.get("sim_anomaly_share")),
            faults=faults,
            day_variation=day_variation,
        )
        sim = run(cfg)
        paths = write_simulation(sim, outdir, fmt)
    except OSError as exc:
        raise CliError(f"cannot write to {outdir}: {exc.strerror or exc}") from None

    kinds = Counter(k for k in sim.labels["kind"] if k != "normal")
    summary: dict[str, object] = {
        "outdir": str(outdir),
        "files": [str(p) for p in paths],
        "days": days,
        "start_day": cfg.start_day.isoformat(),
        "flights": len(sim.labels),
        "positions": len(sim.positions),
        "anomalies": dict(sorted(kinds.items())),
        "day_variation": day_variation,
    }
    varied: dict[str, int] = {}
    if day_variation:
        varied = {
            "weekend": sum(p.weekend for p in sim.days),
            "runway_flipped": sum(p.flipped for p in sim.days),
            "outage": sum(p.outage is not None for p in sim.days),
            "blocked_sector": sum(p.coverage == "blocked_sector" for p in sim.days),
            "reduced_range": sum(p.coverage == "reduced_range" for p in sim.days),
            "rare_routes": sum(any(p.rare_routes.values()) for p in sim.days),
        }
        summary["varied_days"] = varied
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"Wrote {len(paths)} files to {outdir}: {len(sim.labels)} flights, "
        f"{len(sim.positions):,} positions over {days} day(s) from {cfg.start_day}."
    )
    if varied:
        click.echo(
            "Days: "
            + ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in varied.items())
            + " (plans in labels.json)."
        )
    if kinds:
        click.echo("Anomalies: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    else:
        click.echo("Anomalies: none")
