"""`oddflights flights …`: build a receiver's flights, list them, and draw one."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from oddflights.cli.common import (
    DAY,
    CliError,
    day_range,
    db_option,
    emit_json,
    emit_rows,
    format_option,
    open_engine,
    output_file_option,
)
from oddflights.cli.progress import progress_reporter, quiet_option
from oddflights.db.flights import get_flight, list_flights
from oddflights.db.receivers import get_receiver
from oddflights.flights.build import build_flights
from oddflights.flights.raster import RasterSettings, unpack
from oddflights.flights.render import to_png

_LIST_COLUMNS = (
    "flight_id",
    "icao24",
    "callsign",
    "start",
    "end",
    "n_points",
    "path_km",
    "turn_deg",
    "net_turn_deg",
    "alt_min_ft",
    "alt_max_ft",
    "min_dist_km",
    "lit_pixels",
)


@click.group()
def flights() -> None:
    """Cut positions into flights and draw each one in the receiver's frame.

    Example: oddflights flights build --receiver roof --day 2026-01-15
    """


@flights.command("build")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", type=DAY, default=None, help="One day (receiver's zone).")
@click.option("--from", "first", type=DAY, default=None, help="First day.")
@click.option("--to", "last", type=DAY, default=None, help="Last day (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@quiet_option
@db_option
def build(
    receiver_name: str,
    day: date | None,
    first: date | None,
    last: date | None,
    as_json: bool,
    quiet: bool,
    db_url: str | None,
) -> None:
    """Build (or rebuild) a receiver's flights for some days; replaces the days' flights and
    drops their scores.

    Example: oddflights flights build --receiver roof --from 2026-01-01 --to 2026-01-07 --json
    """
    days = day_range(day, first, last)
    engine = open_engine(db_url)
    receiver = get_receiver(engine, receiver_name)
    with progress_reporter(quiet) as progress:
        summary = build_flights(engine, receiver, days, progress=progress)
    if as_json:
        emit_json(
            {
                "days": summary.days,
                "flights": summary.flights,
                "dropped": summary.dropped,
                "seconds": round(summary.seconds, 3),
            }
        )
        return
    dropped = ", ".join(f"{k} {v}" for k, v in summary.dropped.items() if v) or "nothing"
    click.echo(
        f"Built {summary.flights} flights over {summary.days} day(s) for {receiver.name} "
        f"in {summary.seconds:.1f} s (dropped: {dropped})."
    )


def _maybe_float(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


@flights.command("list")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", type=DAY, required=True, help="Day (receiver's zone).")
@format_option("table", "json", "csv")
@db_option
def list_(receiver_name: str, day: date, fmt: str, db_url: str | None) -> None:
    """List a receiver day's flights (times in UTC).

    Example: oddflights flights list --receiver roof --day 2026-01-15 --format json
    """
    the_day = day
    engine = open_engine(db_url)
    receiver = get_receiver(engine, receiver_name)
    assert receiver.id is not None  # read from the database
    df = list_flights(engine, receiver.id, the_day)
    rows: list[dict[str, Any]] = []
    for r in df.to_dict("records"):
        rows.append(
            {
                "flight_id": int(r["flight_id"]),
                "icao24": r["icao24"],
                "callsign": r["callsign"],
                "start": _iso(r["start_ts"].to_pydatetime()),
                "end": _iso(r["end_ts"].to_pydatetime()),
                "n_points": int(r["n_points"]),
                "path_km": round(float(r["path_km"]), 1),
                "turn_deg": round(float(r["turn_cum_deg"]), 1),
                "net_turn_deg": round(float(r["turn_net_deg"]), 1),
                "alt_min_ft": _maybe_float(r["alt_min_ft"]),
                "alt_max_ft": _maybe_float(r["alt_max_ft"]),
                "min_dist_km": round(float(r["min_dist_km"]), 1),
                "lit_pixels": int(r["lit_pixels"]),
            }
        )
    emit_rows(rows, fmt, _LIST_COLUMNS, title=f"Flights of {receiver.name} on {the_day}")


@flights.command("show")
@click.argument("flight_id", type=int)
@output_file_option("PNG")
@click.option(
    "--scale",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Screen pixels per raster pixel.",
)
@db_option
def show(flight_id: int, output: Path, scale: int, db_url: str | None) -> None:
    """Save a flight's raster as a PNG picture.

    Example: oddflights flights show 42 -o flight42.png --scale 8
    """
    engine = open_engine(db_url)
    flight = get_flight(engine, flight_id)
    settings = RasterSettings.from_key(flight["raster_key"])
    try:
        output.write_bytes(to_png(unpack(flight["raster"], settings.size), scale=scale))
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror}") from None
    click.echo(
        f"Wrote {output} (flight {flight_id}, {flight['icao24']}, {settings.key}, "
        f"{flight['lit_pixels']} lit pixels)."
    )
