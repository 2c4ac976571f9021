"""Sending a receiver day's alerts to every configured target, each flagged flight once.

After the nightly has stored a day's scores, ``deliver_alerts`` sends each target the day's
flagged flights (at least ``alert_min_score``, the ``alert_max_per_day`` best ranked) that it
has not had yet, and records every delivery (``alert_deliveries``), sent or failed. A target
that fails is logged, its flights are recorded ``failed`` and are sent again by the next
nightly run (for ``RETRY_DAYS``). Nothing here fails or holds up the scoring: every target has
a timeout and its errors are caught, and what happened is returned for the run's row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from oddflights import config
from oddflights.alerts.email import EmailTarget, addresses
from oddflights.alerts.mqtt import MqttTarget
from oddflights.alerts.payload import AlertOptions, build_payload, sample_payload, select_flights
from oddflights.alerts.targets import Alert, PrintTarget, Target, one_line
from oddflights.alerts.webhook import WebhookTarget
from oddflights.db.alerts import (
    FAILED,
    SENT,
    FlightKey,
    delivery_status,
    failed_days,
    flight_key,
    record_deliveries,
)
from oddflights.db.scores import query_anomalies
from oddflights.receivers import Receiver
from oddflights.scoring.tag_text import add_tag_text

_log = logging.getLogger(__name__)

# A failed delivery is retried by the nightly runs of this many days after its day.
RETRY_DAYS = 7


def configured_targets(*, dry_run: bool | None = None) -> list[Target]:
    """The targets the settings name (webhook, MQTT, email, in that order); with
    ``alert_dry_run`` only the ``print`` target."""
    if config.get("alert_dry_run") if dry_run is None else dry_run:
        return [PrintTarget()]
    timeout = float(config.get("alert_timeout_s"))
    targets: list[Target] = []
    if url := config.get("alert_webhook_url"):
        targets.append(
            WebhookTarget(
                url,
                fmt=config.get("alert_webhook_format"),
                token=config.get("alert_webhook_token"),
                timeout_s=timeout,
            )
        )
    if url := config.get("alert_mqtt_url"):
        targets.append(MqttTarget(url, timeout_s=timeout))
    if url := config.get("alert_smtp_url"):
        targets.append(
            EmailTarget(
                url,
                to=tuple(addresses(config.get("alert_email_to"))),
                sender=config.get("alert_email_from"),
                timeout_s=timeout,
            )
        )
    return targets


def _flagged(engine: Engine, receiver_id: int, day: date) -> pd.DataFrame:
    """The day's flagged flights (known flights are not: query_anomalies clears their
    is_anomaly)."""
    df = query_anomalies(engine, receiver_id, day)
    return df[df["is_anomaly"].astype(bool)] if not df.empty else df


def _in_words(engine: Engine, receiver: Receiver, chosen: pd.DataFrame) -> pd.DataFrame:
    """``chosen`` with a ``tag_text`` column: the tags in words, naming airports."""
    records = [{str(k): v for k, v in r.items()} for r in chosen.to_dict("records")]
    add_tag_text(engine, receiver, records)
    return pd.DataFrame(records, columns=[*chosen.columns, "tag_text"])


def _report(engine: Engine, receiver: Receiver, day: date) -> str | None:
    from oddflights.web.report import render_day_report  # the web stack, only for email

    try:
        return render_day_report(engine, receiver, day)
    except Exception as exc:  # the list goes out without it
        _log.warning("alert for %s %s: report not attached: %s", receiver.name, day, exc)
        return None


def day_alert(
    engine: Engine, receiver: Receiver, day: date, options: AlertOptions | None = None
) -> Alert:
    """The alert a receiver day gives (every selected flight, whatever was sent before)."""
    assert receiver.id is not None
    options = options or AlertOptions.from_settings()
    flagged = _flagged(engine, receiver.id, day)
    chosen = _in_words(
        engine, receiver, select_flights(flagged, options) if not flagged.empty else flagged
    )
    payload = build_payload(
        receiver.name, day, chosen, flagged_total=len(flagged), base_url=options.base_url
    )
    return Alert(payload, report=partial(_report, engine, receiver, day))


def preview_alert(
    engine: Engine, receiver: Receiver, day: date, options: AlertOptions | None = None
) -> str:
    """A day's alert as the ``print`` target shows it (sends and records nothing)."""
    return PrintTarget().send(day_alert(engine, receiver, day, options))


def _key(row: dict[Any, Any]) -> FlightKey:
    return flight_key(str(row["icao24"]), row["start"])


def _deliver_target(
    engine: Engine, receiver: Receiver, day: date, target: Target, options: AlertOptions
) -> dict[str, Any]:
    assert receiver.id is not None
    out: dict[str, Any] = {"sent": 0, "failed": 0}
    retry = (
        failed_days(engine, receiver.id, target.name, day - timedelta(days=RETRY_DAYS), day)
        if target.records
        else []
    )
    for d in sorted({*retry, day}):
        flagged = _flagged(engine, receiver.id, d)
        chosen = _in_words(
            engine, receiver, select_flights(flagged, options) if not flagged.empty else flagged
        )
        status = delivery_status(engine, receiver.id, target.name, [d]) if target.records else {}
        rows = chosen.to_dict("records")
        # The day being done: every chosen flight not sent yet. An earlier day: only the
        # flights whose delivery failed (a flight flagged there later, by a rescore, is not
        # news the next night).
        todo = [
            r
            for r in rows
            if (status.get(_key(r)) != SENT if d == day else status.get(_key(r)) == FAILED)
        ]
        if not todo and not (d == day and not rows and target.wants_quiet_days):
            continue
        payload = build_payload(
            receiver.name,
            d,
            pd.DataFrame(todo, columns=chosen.columns),
            flagged_total=len(flagged),
            base_url=options.base_url,
        )
        alert = Alert(payload, report=partial(_report, engine, receiver, d))
        error = out.get("error")
        if error is None:
            try:
                note = target.send(alert)
                if isinstance(target, PrintTarget):
                    _log.info("alert (dry run) for %s %s:\n%s", receiver.name, d, note)
            except Exception as exc:  # a target's failure is recorded, never the night's
                error = one_line(exc)
                _log.warning(
                    "alert to %s for %s %s failed: %s", target.name, receiver.name, d, error
                )
        # else: the target failed on an earlier day just now; its other days wait for the
        # next run rather than each waiting out its timeout again.
        if target.records and todo:
            record_deliveries(
                engine,
                receiver.id,
                target.name,
                d,
                [(int(r["flight_id"]), _key(r).icao24, _key(r).start) for r in todo],
                error,
            )
        out["failed" if error else "sent"] += len(todo)
        if error:
            out["error"] = error
    return out


def deliver_alerts(
    engine: Engine,
    receiver: Receiver,
    day: date,
    targets: list[Target] | None = None,
    options: AlertOptions | None = None,
) -> dict[str, Any]:
    """Send the day's new flagged flights (and the failed ones of earlier days) to every
    target (default: the configured ones). Returns ``{"alerts": {target: {"sent", "failed",
    "error"?}}}`` for the run's row, or ``{}`` without targets. Never raises an Exception."""
    try:
        targets = configured_targets() if targets is None else targets
        options = options or AlertOptions.from_settings()
    except Exception as exc:
        _log.warning("alerts for %s %s not sent: %s", receiver.name, day, one_line(exc))
        return {"alerts": {"error": one_line(exc)}}
    if not targets:
        return {}
    summary: dict[str, Any] = {}
    for target in targets:
        try:
            summary[target.name] = _deliver_target(engine, receiver, day, target, options)
        except Exception as exc:  # e.g. the database, mid-delivery: the next run retries
            _log.warning("alerts to %s for %s %s: %s", target.name, receiver.name, day, exc)
            summary[target.name] = {"error": one_line(exc)}
    return {"alerts": summary}


@dataclass(frozen=True)
class TestOutcome:
    """How a sample alert went to one target."""

    target: str
    ok: bool
    note: str


def send_test(receiver: str, targets: list[Target] | None = None) -> list[TestOutcome]:
    """Send a made-up alert for ``receiver`` to every target (default: the configured ones);
    records nothing."""
    targets = configured_targets() if targets is None else targets
    alert = Alert(sample_payload(receiver, str(config.get("alert_base_url"))))
    out = []
    for target in targets:
        try:
            out.append(TestOutcome(target.name, True, target.send(alert)))
        except Exception as exc:
            out.append(TestOutcome(target.name, False, one_line(exc)))
    return out
