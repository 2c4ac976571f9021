"""`oddflights receiver …`: the receivers whose traffic is watched."""

from __future__ import annotations

import click

from oddflights import config
from oddflights.cli.common import CliError, db_option, emit_rows, format_option, open_engine
from oddflights.db.receivers import (
    add_receiver,
    get_receiver,
    list_receivers,
    receiver_data_counts,
    remove_receiver,
)
from oddflights.receivers import Receiver

_COLUMNS = ("name", "lat", "lon", "range_km", "timezone")


@click.group()
def receiver() -> None:
    """Add, list and remove receivers.

    Example: oddflights receiver add roof --lat 52.37 --lon 4.89 --timezone Europe/Amsterdam
    """


@receiver.command("add")
@click.argument("name")
@click.option("--lat", type=float, required=True, help="Latitude in degrees (-90..90).")
@click.option("--lon", type=float, required=True, help="Longitude in degrees (-180..180).")
@click.option(
    "--range-km",
    type=float,
    default=None,
    help=f"Frame half-width in km [env {config.setting('range_km').env}; default 200].",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="IANA zone whose calendar days are the receiver's days.",
)
@db_option
def add(
    name: str, lat: float, lon: float, range_km: float | None, timezone: str, db_url: str | None
) -> None:
    """Add a receiver.

    Example: oddflights receiver add roof --lat 52.37 --lon 4.89 --range-km 250
    """
    rec = Receiver(name, lat, lon, float(config.get("range_km", range_km)), timezone)
    stored = add_receiver(open_engine(db_url), rec)
    click.echo(
        f"Added receiver {stored.name} at {stored.lat:.4f}, {stored.lon:.4f} "
        f"(range {stored.range_km:g} km, days in {stored.timezone})."
    )


@receiver.command("list")
@format_option("table", "json", "csv")
@db_option
def list_(fmt: str, db_url: str | None) -> None:
    """List receivers.

    Example: oddflights receiver list --format json
    """
    rows = [{c: getattr(r, c) for c in _COLUMNS} for r in list_receivers(open_engine(db_url))]
    emit_rows(rows, fmt, _COLUMNS, title="Receivers")


@receiver.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Also delete the receiver's positions and flights.")
@db_option
def remove(name: str, yes: bool, db_url: str | None) -> None:
    """Remove a receiver (and, with --yes, all data recorded for it).

    Example: oddflights receiver remove roof --yes
    """
    engine = open_engine(db_url)
    rec = get_receiver(engine, name)
    assert rec.id is not None
    counts = receiver_data_counts(engine, rec.id)
    if any(counts.values()) and not yes:
        raise CliError(
            f"receiver {name!r} holds {counts['positions']} positions and "
            f"{counts['flights']} flights; pass --yes to delete them too"
        )
    removed = remove_receiver(engine, name)
    click.echo(
        f"Removed receiver {name} ({removed['positions']} positions, {removed['flights']} flights)."
    )
