"""`oddflights explain`: a flight's picture, score and tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from oddflights.cli.common import CliError, db_option, open_engine, output_file_option
from oddflights.db.flights import get_flight
from oddflights.db.receivers import get_receiver
from oddflights.db.scores import query_anomalies, scoring_models
from oddflights.scoring.pictures import residual_png
from oddflights.scoring.tag_text import add_tag_text


def _verdict(row: Any) -> str:
    """FLAGGED, normal, or known (with the rule's reason)."""
    if row["known"]:
        reason = f": {row['known_reason']}" if row["known_reason"] else ""
        return f"known (rule {row['known_rule']}{reason})"
    return "FLAGGED" if row["is_anomaly"] else "normal"


@click.command()
@click.argument("flight_id", type=int)
@output_file_option("PNG")
@click.option(
    "--model", "model_id", type=int, default=None, help="Model (default: newest that scored it)."
)
@click.option("--scale", type=click.IntRange(1, 16), default=4, show_default=True)
@db_option
def explain(
    flight_id: int, output: Path, model_id: int | None, scale: int, db_url: str | None
) -> None:
    """Save a flight's three-panel picture (input | reconstruction | |difference|) and print
    its score and tags.

    Example: oddflights explain 1234 -o flight-1234.png
    """
    engine = open_engine(db_url)
    flight = get_flight(engine, flight_id)
    models = scoring_models(engine, flight["receiver_id"], flight["day"])
    if model_id is None:
        if not models:
            raise CliError(f"flight {flight_id} has not been scored (pass --model ID)")
        model_id = models[0]
    png = residual_png(engine, flight_id, model_id, scale)
    try:
        output.write_bytes(png)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror}") from None
    line = f"flight {flight_id} ({flight['icao24']}, {flight['callsign'] or 'no callsign'})"
    if model_id in models:
        df = query_anomalies(
            engine, flight["receiver_id"], flight["day"], model_id=model_id, include_all=True
        )
        row = df[df["flight_id"] == flight_id]
        if not row.empty:
            r = row.iloc[0]
            line += (
                f": score {r['score']:.5g} (threshold {r['threshold']:.5g}), rank {r['rank']}"
                f", {_verdict(r)}"
                f", tags: {', '.join(r['tags']) or 'none'}"
            )
            if list(r["tags"]):
                said = [dict(r)]
                add_tag_text(engine, get_receiver(engine, str(r["receiver"])), said)
                line += f"\n  in words: {'; '.join(said[0]['tag_text'])}"
    click.echo(line)
    click.echo(f"wrote {output}")
