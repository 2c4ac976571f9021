"""`oddflights alert test|show|list`: try the alert targets, see a day's alert, list what
was delivered."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from oddflights.alerts import configured_targets, preview_alert, send_test
from oddflights.alerts.targets import PrintTarget
from oddflights.cli.common import DAY, db_option, emit_rows, format_option, open_engine
from oddflights.db.alerts import DELIVERY_COLUMNS, list_deliveries
from oddflights.db.receivers import get_receiver

# Shown when no target is set: the two that a Raspberry Pi owner most likely has.
HINT = (
    "Send it to your phone:    ODDFLIGHTS_ALERT_WEBHOOK_URL=https://ntfy.sh/YOUR-TOPIC "
    "ODDFLIGHTS_ALERT_WEBHOOK_FORMAT=ntfy\n"
    "Or to Home Assistant:     ODDFLIGHTS_ALERT_MQTT_URL=mqtt://USER:PASS@homeassistant.local:1883"
)


@click.group()
def alert() -> None:
    """Alerts after each nightly day: webhook (JSON, ntfy, Discord/Slack), MQTT with Home
    Assistant discovery, email. Set them with ODDFLIGHTS_ALERT_… (`oddflights settings`).

    Example: oddflights alert test
    """


@alert.command("test")
@click.option("--receiver", "receiver_name", default="test", show_default=True,
              help="Receiver name the sample alert carries.")  # fmt: skip
def test(receiver_name: str) -> None:
    """Send a made-up alert to every configured target and say, for each, whether it got
    through (exit 1 if any did not). Nothing is recorded.

    Example: oddflights alert test --receiver home
    """
    targets = configured_targets()
    if not targets:
        click.echo("No alert target is set; this is what an alert looks like:\n")
        targets = [PrintTarget()]
        hint = True
    else:
        hint = False
    failed = 0
    for outcome in send_test(receiver_name, targets):
        if outcome.target == PrintTarget.name:
            click.echo(outcome.note)
            continue
        click.echo(f"{outcome.target}: {'ok' if outcome.ok else 'FAILED'} ({outcome.note})")
        failed += not outcome.ok
    if hint:
        click.echo("\n" + HINT)
    if failed:
        raise SystemExit(1)


@alert.command("show")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", type=DAY, default=None, help="The day (default: yesterday, UTC).")
@db_option
def show(receiver_name: str, day: date | None, db_url: str | None) -> None:
    """Print the alert a scored day gives (what the `print` target shows); sends nothing.

    Example: oddflights alert show --receiver home --day 2026-05-04
    """
    engine = open_engine(db_url)
    rec = get_receiver(engine, receiver_name)
    day = day or datetime.now(UTC).date() - timedelta(days=1)
    click.echo(preview_alert(engine, rec, day))


@alert.command("list")
@click.option("--receiver", "receiver_name", default=None, help="Only this receiver.")
@click.option("--day", type=DAY, default=None, help="Only this day.")
@format_option()
@db_option
def list_(receiver_name: str | None, day: date | None, fmt: str, db_url: str | None) -> None:
    """List the recorded deliveries: each flagged flight and target, sent or failed (a
    failed one is retried by the next nightly run).

    Example: oddflights alert list --receiver home --format json
    """
    engine = open_engine(db_url)
    rid = get_receiver(engine, receiver_name).id if receiver_name is not None else None
    rows: list[dict[str, Any]] = []
    for r in list_deliveries(engine, rid, day).to_dict("records"):
        row = {str(k): v for k, v in r.items()}
        for c in ("start", "tried_at", "sent_at"):
            v = row[c]
            row[c] = None if v is None or v != v else v.isoformat().replace("+00:00", "Z")
        row["day"] = row["day"].isoformat()
        row["flight_id"] = int(row["flight_id"])
        row["attempts"] = int(row["attempts"])
        rows.append(row)
    emit_rows(rows, fmt, DELIVERY_COLUMNS, title="alert deliveries")
