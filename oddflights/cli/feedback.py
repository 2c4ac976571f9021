"""`oddflights known …`, `label` and `quality`: the owner's answers to the flag list."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import click

from oddflights.cli.common import (
    DAY,
    CliError,
    db_option,
    emit_json,
    emit_rows,
    format_option,
    open_engine,
)
from oddflights.db.known import add_flight_rule, add_rule, list_rules, remove_rule
from oddflights.db.labels import flight_labels, last_scored_day, set_label
from oddflights.db.receivers import get_receiver
from oddflights.db.scores import query_anomalies, scoring_models
from oddflights.known import (
    KnownRule,
    callsign_pattern,
    check_reason,
    icao24_pattern,
    registration_pattern,
    rule_row,
    type_pattern,
)
from oddflights.labels import LABELS, flag_quality

_RULE_COLUMNS = (
    "id",
    "receiver",
    "kind",
    "pattern",
    "flight_start",
    "reason",
    "until",
    "created_at",
    "created_by",
)
_WEEK_COLUMNS = ("week", "flagged", "labelled", "unlabelled", "odd", "normal", "precision")


def _describe(rule: KnownRule) -> str:
    what = {
        "icao24": "aircraft",
        "callsign": "callsign",
        "registration": "registration",
        "type": "aircraft type",
        "flight": "flight of aircraft",
    }
    text = f"{what[rule.kind]} {rule.pattern}"
    if rule.flight_start is not None:
        text += f" starting {rule.flight_start.isoformat(timespec='seconds')}"
    if rule.reason:
        text += f" ({rule.reason})"
    text += f", until {rule.until_day}" if rule.until_day is not None else ", no end"
    return text


@click.group("known")
def known() -> None:
    """Flights you know: still scored, never flagged nor alerted.

    A rule names an aircraft (--icao24), a callsign (--callsign), a registration
    (--registration), a type code (--type) or one flight (--flight). Patterns are
    case-insensitive globs: '*' any characters, '?' one; dashes in callsign and registration
    patterns are ignored (HB-Z?? matches HBZAB). Registration and type are read from the
    aircraft table (readsb traces). Rules apply when anomalies are read, so a new rule also
    clears past days. `oddflights anomalies --include-known` shows them.

    Example: oddflights known add --receiver roof --callsign 'POLICE*' --reason police
    """


@known.command("add")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--icao24", default=None, help="Aircraft address (6 hex digits) or a glob of it.")
@click.option("--callsign", default=None, help="Callsign glob, e.g. 'POLICE*' or 'HB-Z??'.")
@click.option(
    "--registration", default=None, help="Registration glob, e.g. 'HB-Z*' (readsb traces)."
)
@click.option(
    "--type", "type_code", default=None, help="Type code glob, e.g. EC35 or 'A3??' (readsb)."
)
@click.option("--flight", "flight_id", type=int, default=None, help="One flight, by its id.")
@click.option("--reason", default=None, help="Why it is known (shown beside it).")
@click.option(
    "--until", "until_day", type=DAY, default=None, help="Last day it applies (receiver's zone)."
)
@db_option
def add(
    receiver_name: str,
    icao24: str | None,
    callsign: str | None,
    registration: str | None,
    type_code: str | None,
    flight_id: int | None,
    reason: str | None,
    until_day: date | None,
    db_url: str | None,
) -> None:
    """Add a known-flight rule.

    Example: oddflights known add --receiver roof --icao24 3c6444 --reason "club glider"
    """
    options = (
        ("--icao24", icao24),
        ("--callsign", callsign),
        ("--registration", registration),
        ("--type", type_code),
    )
    given = [n for n, v in options if v is not None]
    if flight_id is not None:
        given.append("--flight")
    if len(given) != 1:
        raise CliError(
            "give one of --icao24 HEX, --callsign PATTERN, --registration PATTERN, "
            "--type PATTERN or --flight ID" + (f" (got {', '.join(given)})" if given else "")
        )
    text = check_reason(reason)
    engine = open_engine(db_url)
    rec = get_receiver(engine, receiver_name)
    assert rec.id is not None
    if flight_id is not None:
        rule = add_flight_rule(
            engine, flight_id, receiver_id=rec.id, reason=text, until_day=until_day
        )
    elif icao24 is not None:
        rule = add_rule(
            engine, rec.id, "icao24", icao24_pattern(icao24), reason=text, until_day=until_day
        )
    elif registration is not None:
        rule = add_rule(
            engine,
            rec.id,
            "registration",
            registration_pattern(registration),
            reason=text,
            until_day=until_day,
        )
    elif type_code is not None:
        rule = add_rule(
            engine, rec.id, "type", type_pattern(type_code), reason=text, until_day=until_day
        )
    else:
        assert callsign is not None
        rule = add_rule(
            engine,
            rec.id,
            "callsign",
            callsign_pattern(callsign),
            reason=text,
            until_day=until_day,
        )
    click.echo(f"Known rule {rule.id} for {rec.name}: {_describe(rule)}.")


@known.command("list")
@click.option("--receiver", "receiver_name", default=None, help="Only this receiver's rules.")
@format_option()
@db_option
def list_(receiver_name: str | None, fmt: str, db_url: str | None) -> None:
    """List known-flight rules.

    Example: oddflights known list --format json
    """
    engine = open_engine(db_url)
    rid = get_receiver(engine, receiver_name).id if receiver_name is not None else None
    rows = [rule_row(r) for r in list_rules(engine, rid)]
    emit_rows(rows, fmt, _RULE_COLUMNS, title="Known flights")


@known.command("remove")
@click.argument("rule_id", type=int)
@db_option
def remove(rule_id: int, db_url: str | None) -> None:
    """Remove a known-flight rule: its flights are flagged again where they scored high.

    Example: oddflights known remove 3
    """
    rule = remove_rule(open_engine(db_url), rule_id)
    click.echo(f"Removed known rule {rule.id} for {rule.receiver}: {_describe(rule)}.")


@click.command("label")
@click.argument("flight_id", type=int)
@click.argument("verdict", metavar="normal|odd", type=click.Choice(LABELS, case_sensitive=False))
@click.option("--note", default=None, help="A note kept with the label.")
@db_option
def label(flight_id: int, verdict: str, note: str | None, db_url: str | None) -> None:
    """Label a flight normal or odd; the next training learns from it.

    A flight labelled normal joins the next training (even from a day before its window) and
    the threshold counts it as normal; one labelled odd is kept out of both. `oddflights
    quality` reports the flag list's precision from the labels. A new label replaces the
    flight's previous one (kept as history).

    Example: oddflights label 1234 normal --note "club glider, towing"
    """
    done = set_label(open_engine(db_url), flight_id, verdict, note=note)
    was = f" (was {done['previous']})" if done["previous"] not in (None, done["label"]) else ""
    click.echo(f"Flight {flight_id} ({done['day']}) labelled {done['label']}{was}.")


def _fmt_precision(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


@click.command("quality")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option(
    "--days", type=click.IntRange(1, 3660), default=30, show_default=True, help="Days to cover."
)
@click.option(
    "--to",
    "last",
    type=DAY,
    default=None,
    help="Last day covered [default: the newest scored day, at most yesterday].",
)
@format_option("table", "json")
@db_option
def quality(receiver_name: str, days: int, last: date | None, fmt: str, db_url: str | None) -> None:
    """How good the flag list was, from your labels: precision (flagged and labelled odd /
    flagged and labelled), flags still unlabelled, flights labelled odd that were not
    flagged, and the trend week by week (weeks start on Monday).

    Flags are read as `oddflights anomalies` shows them: the newest model's, known flights
    left out. JSON: {receiver, first, last, flagged, labelled, unlabelled, odd, normal,
    precision, missed, weeks: [{week, flagged, labelled, unlabelled, odd, normal,
    precision}]}.

    Example: oddflights quality --receiver roof --days 30
    """
    engine = open_engine(db_url)
    rec = get_receiver(engine, receiver_name)
    assert rec.id is not None
    if last is None:
        yesterday = datetime.now(rec.zone).date() - timedelta(days=1)
        newest = last_scored_day(engine, rec.id)
        if newest is None:
            raise CliError(f"receiver {rec.name} has no scored days (run `oddflights score`)")
        last = min(newest, yesterday)
    first = last - timedelta(days=days - 1)
    flags: list[tuple[int, date]] = []
    d = first
    while d <= last:
        if scoring_models(engine, rec.id, d):
            df = query_anomalies(engine, rec.id, d)
            flags.extend((int(fid), d) for fid in df["flight_id"])
        d += timedelta(days=1)
    labelled = flight_labels(engine, rec.id, first, last)
    labels = dict(zip(labelled["flight_id"].astype(int), labelled["label"], strict=True))
    days_of = dict(zip(labelled["flight_id"].astype(int), labelled["day"], strict=True))
    report: dict[str, Any] = {
        "receiver": rec.name,
        **flag_quality(flags, labels, first, last, days_of),
    }
    if fmt == "json":
        emit_json(report)
        return
    click.echo(
        f"{rec.name} {first}..{last}: {report['flagged']} flagged, {report['labelled']} "
        f"labelled ({report['odd']} odd, {report['normal']} normal), "
        f"{report['unlabelled']} unlabelled; precision "
        f"{_fmt_precision(report['precision'])}; {report['missed']} labelled odd not flagged."
    )
    rows = [{**w, "precision": _fmt_precision(w["precision"])} for w in report["weeks"]]
    emit_rows(rows, "table", _WEEK_COLUMNS, title="Week by week")
