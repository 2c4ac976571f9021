"""`oddflights score`, `nightly`, `rescore`, `anomalies` and `runs`.

`schedule` (APScheduler) and `explain` (Pillow) have modules of their own, so that these
commands, the nightly first, do not import what they never use."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import date
from typing import Any

import click

from oddflights import config
from oddflights.cli.common import (
    DAY,
    CliError,
    day_range,
    db_option,
    emit_json,
    emit_rows,
    format_option,
    open_engine,
)
from oddflights.cli.progress import progress_reporter, quiet_option
from oddflights.db.flights import list_flights
from oddflights.db.receivers import get_receiver, list_receivers
from oddflights.db.runs import FAILED, OK, RUN_COLUMNS, finish_run, list_runs, start_run
from oddflights.db.scores import ANOMALY_COLUMNS, query_anomalies, scoring_models
from oddflights.errors import OddflightsError
from oddflights.rows import anomaly_rows
from oddflights.scheduler.cluster import nightly_at, rescore_at
from oddflights.scheduler.nightly import (
    Interrupted,
    NightlyReport,
    NightlySettings,
    settle_shown_runs,
    sigterm_unwinds,
)
from oddflights.scoring.score import score_day
from oddflights.scoring.tag_text import add_tag_text

dask_option = click.option(
    "--dask",
    "dask",
    metavar="tcp://HOST:8786",
    default=None,
    help="Run each receiver as a task on this Dask scheduler's cluster (default: "
    "ODDFLIGHTS_DASK_SCHEDULER; empty: here, one after another). Needs PostgreSQL and the "
    "cluster extra.",
)


def _receivers(engine: Any, name: str | None, everyone: bool) -> list[Any]:
    if name is not None and everyone:
        raise CliError("give --receiver NAME or --all, not both")
    if name is None and not everyone:
        raise CliError("give --receiver NAME or --all")
    if name is not None:
        return [get_receiver(engine, name)]
    found = list_receivers(engine)
    if not found:
        raise CliError("no receivers in the database (add one with `oddflights receiver add`)")
    return found


@click.command()
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", type=DAY, default=None, help="The day to score (receiver's zone).")
@click.option("--from", "frm", type=DAY, default=None, help="First day of a range.")
@click.option("--to", type=DAY, default=None, help="Last day of a range.")
@click.option("--model", "model_id", type=int, default=None, help="Score with this model id.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@db_option
def score(
    receiver_name: str,
    day: date | None,
    frm: date | None,
    to: date | None,
    model_id: int | None,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Score a receiver's flights of a day (or a range of days) and store the ranks.

    Uses the newest ready model trained only on earlier days, or --model ID. Rescoring a day
    with the same model replaces its rows; another model adds rows of its own. JSON:
    {"receiver": …, "days": [{"day", "model_id", "flights", "anomalies", "threshold",
    "seconds"}]}.

    Example: oddflights score --receiver home --day 2026-05-04
    """
    days = day_range(day, frm, to)
    engine = open_engine(db_url)
    rec = get_receiver(engine, receiver_name)
    summaries = []
    for d in days:
        run_id = start_run(engine, "score", rec.id, d)
        try:
            s = score_day(engine, rec, d, model_id)
        except Exception as exc:
            # Recorded in `oddflights runs`, then raised: the top command prints an
            # OddflightsError as one line; anything else is a bug and keeps its traceback.
            known = isinstance(exc, OddflightsError)
            finish_run(
                engine, run_id, FAILED, error=str(exc) if known else f"{type(exc).__name__}: {exc}"
            )
            raise
        finish_run(
            engine,
            run_id,
            OK,
            {"model_id": s.model_id, "scored": s.flights, "anomalies": s.anomalies},
        )
        summaries.append(s)
        if not as_json:
            click.echo(
                f"{d}: {s.flights} flights scored with model {s.model_id}, "
                f"{s.anomalies} above threshold {s.threshold:.5g} ({s.seconds:.1f} s)"
            )
    if as_json:
        emit_json(
            {
                "receiver": rec.name,
                "days": [
                    {
                        "day": s.day.isoformat(),
                        "model_id": s.model_id,
                        "flights": s.flights,
                        "anomalies": s.anomalies,
                        "threshold": s.threshold,
                        "seconds": round(s.seconds, 3),
                    }
                    for s in summaries
                ],
            }
        )


@click.command()
@click.option("--receiver", "receiver_name", default=None, help="Only this receiver.")
@click.option("--all", "everyone", is_flag=True, help="Every receiver.")
@click.option("--day", type=DAY, default=None, help="Only this day, done or not.")
@click.option(
    "--backfill",
    is_flag=True,
    help="A receiver without a model trains one now on the history before yesterday "
    "(train_window_days of it; older days are skipped), not after the warm-up days.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@dask_option
@quiet_option
@db_option
def nightly(
    receiver_name: str | None,
    everyone: bool,
    day: date | None,
    backfill: bool,
    as_json: bool,
    dask: str | None,
    quiet: bool,
    db_url: str | None,
) -> None:
    """Run the nightly job once: build, train when due, score every day not yet done.

    Works through each receiver's days from the first not done to yesterday (its zone), so
    it catches up after downtime; a receiver another run is working on is left alone (exit 0).
    A failed day is recorded in `oddflights runs`, retried next time, and makes the exit
    status 1. A run that was killed is noticed by the next one: its lock is taken over at
    once when its process is gone (same host), its day is marked interrupted and redone.
    SIGTERM or Ctrl-C records the day in progress as interrupted and exits 143 or 130.

    With --backfill, a receiver whose history was ingested (readsb traces) gets a model
    on the first night: trained on the train_window_days before yesterday, which is scored.

    Progress goes to stderr (a bar on a terminal, timestamped lines otherwise; --quiet: none).

    With --dask tcp://HOST:8786 (or ODDFLIGHTS_DASK_SCHEDULER), each receiver is one task on
    that Dask cluster, in parallel, over the PostgreSQL database the workers share (see
    README, "Scaling out"); the results are those of a serial run.

    Example: oddflights nightly --all
    """
    if backfill and day is not None:
        raise CliError("--backfill works through the days not done; leave out --day")
    engine = open_engine(db_url)
    receivers = _receivers(engine, receiver_name, everyone)
    settings = dataclasses.replace(NightlySettings.from_settings(), backfill=backfill)
    address = config.get("dask_scheduler", dask)
    try:
        with sigterm_unwinds(), progress_reporter(quiet) as progress:
            report = nightly_at(
                address, engine, receivers, day, settings=settings, progress=progress
            )
    except (Interrupted, KeyboardInterrupt) as exc:
        name, code = (str(exc), 143) if isinstance(exc, Interrupted) else ("SIGINT", 130)
        click.echo(
            f"nightly run stopped by {name}: the day in progress is recorded as interrupted "
            "and the next run redoes it",
            err=True,
        )
        sys.exit(code)
    _print_report(report, as_json)


def _print_report(report: NightlyReport, as_json: bool) -> None:
    """A nightly's or a rescore's report, receiver by receiver; exit 1 when a day failed."""
    if as_json:
        emit_json(report.to_dict())
    else:
        for r in report.receivers:
            click.echo(f"{r.receiver}: {r.status} - {r.message}")
            for o in r.days:
                extra = f" ({o.error})" if o.error else ""
                counts = ", ".join(f"{k} {v}" for k, v in o.counts.items())
                click.echo(f"  {o.day}: {o.status}{extra}{': ' + counts if counts else ''}")
    if not report.ok:
        sys.exit(1)


@click.command()
@click.option("--receiver", "receiver_name", default=None, help="Only this receiver.")
@click.option("--all", "everyone", is_flag=True, help="Every receiver.")
@click.option("--from", "frm", type=DAY, required=True, help="First day (receiver's zone).")
@click.option("--to", type=DAY, required=True, help="Last day.")
@click.option("--model", "model_id", type=int, default=None, help="Score with this model id.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@dask_option
@quiet_option
@db_option
def rescore(
    receiver_name: str | None,
    everyone: bool,
    frm: date,
    to: date,
    model_id: int | None,
    as_json: bool,
    dask: str | None,
    quiet: bool,
    db_url: str | None,
) -> None:
    """Score a range of past days again, receiver by receiver, under each receiver's lock.

    Each day is scored with the newest ready model trained before it (or --model ID),
    replacing that model's rows for the day; a day that fails (no flights, no model) is
    recorded in `oddflights runs` and makes the exit status 1. With --dask (or
    ODDFLIGHTS_DASK_SCHEDULER), each receiver is one task on that Dask cluster.

    Example: oddflights rescore --all --from 2026-05-01 --to 2026-05-31
    """
    days = day_range(None, frm, to)
    engine = open_engine(db_url)
    receivers = _receivers(engine, receiver_name, everyone)
    stale = float(config.get("lock_stale_hours"))
    address = config.get("dask_scheduler", dask)
    with progress_reporter(quiet) as progress:
        report = rescore_at(
            address, engine, receivers, days, model_id, lock_stale_hours=stale, progress=progress
        )
    _print_report(report, as_json)


@click.command()
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--day", type=DAY, required=True, help="The day (receiver's zone).")
@click.option("--all", "include_all", is_flag=True, help="Every scored flight, not just flagged.")
@click.option(
    "--include-known",
    is_flag=True,
    help="Also the known flights that scored above the threshold (see `oddflights known`).",
)
@click.option("--top", type=click.IntRange(min=1), default=None, help="At most N flights.")
@click.option("--model", "model_id", type=int, default=None, help="Scores of this model.")
@format_option()
@db_option
def anomalies(
    receiver_name: str,
    day: date,
    include_all: bool,
    include_known: bool,
    top: int | None,
    model_id: int | None,
    fmt: str,
    db_url: str | None,
) -> None:
    """List a day's flagged flights, most abnormal first (every scored flight with --all).

    Without --model, the scores of the newest model that scored the day. JSON: an array of
    {flight_id, receiver, icao24, callsign, start, end, day, score, threshold, is_anomaly,
    rank, model_id, tags, tag_text, known, known_rule, known_reason}, times ISO-8601 UTC;
    tag_text has each tag in words, naming the airport of a go-around or a hold ("go-around
    at EHAM (Amsterdam Airport Schiphol)"), tags the plain names. A flight a
    known-flight rule matches (`oddflights known`) is never flagged (is_anomaly false) and
    is left out unless --include-known or --all. See a flight's picture with `oddflights
    explain FLIGHT_ID -o FILE.png`. The SQL view `anomalies_view` has the stored rows,
    before the known-flight rules.

    Example: oddflights anomalies --receiver home --day 2026-05-04 --top 10
    """
    d = day
    engine = open_engine(db_url)
    rec = get_receiver(engine, receiver_name)
    assert rec.id is not None  # read from the database
    models = scoring_models(engine, rec.id, d)
    if not models:
        if list_flights(engine, rec.id, d).empty:
            raise CliError(f"receiver {rec.name} has no flights on {d}")
        raise CliError(f"no scores for receiver {rec.name} on {d} (run `oddflights score`)")
    if model_id is not None and model_id not in models:
        raise CliError(
            f"model {model_id} has not scored {rec.name} on {d} "
            f"(models that did: {', '.join(map(str, models))})"
        )
    df = query_anomalies(
        engine,
        rec.id,
        d,
        model_id=model_id,
        include_all=include_all,
        include_known=include_known,
        top=top,
    )

    rows = anomaly_rows(df)
    add_tag_text(engine, rec, rows)
    if fmt == "table":
        for row in rows:
            row["tags"] = ", ".join(row["tags"])
            # "; ": an airport's name may hold a comma.
            row["tag_text"] = "; ".join(row["tag_text"])
            row["score"] = f"{row['score']:.5g}"
            row["threshold"] = f"{row['threshold']:.5g}"
            row["known"] = "yes" if row["known"] else ""
    elif fmt == "csv":
        for row in rows:
            row["tags"] = ";".join(row["tags"])
            row["tag_text"] = ";".join(row["tag_text"])

    title = f"{rec.name} {d}: {'scored' if include_all else 'flagged'} flights"
    columns = list(ANOMALY_COLUMNS)
    columns.insert(columns.index("tags") + 1, "tag_text")
    if fmt == "table" and not any(row["known"] for row in rows):
        # A table is read by a person: the known-flight columns only when one is shown.
        columns = [c for c in columns if not c.startswith("known")]
    aircraft_known = any(row["registration"] or row["aircraft_type"] for row in rows)
    if fmt == "table" and not aircraft_known:
        # Likewise registration and type: only when the aircraft table knows one.
        columns = [c for c in columns if c not in ("registration", "aircraft_type")]
    emit_rows(rows, fmt, columns, title=title)


@click.command()
@click.option("--receiver", "receiver_name", default=None, help="Only this receiver.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@format_option()
@db_option
def runs(receiver_name: str | None, limit: int, fmt: str, db_url: str | None) -> None:
    """List what ran (nightly days, scoring), newest first, and how it ended.

    A nightly run shown `interrupted` was killed or stopped before it finished its day; the
    next nightly run redoes that day.

    Example: oddflights runs --receiver home --format json
    """
    engine = open_engine(db_url)
    rid = get_receiver(engine, receiver_name).id if receiver_name is not None else None
    df = settle_shown_runs(engine, list_runs(engine, rid, limit))
    rows: list[dict[str, Any]] = []
    for r in df.to_dict("records"):
        row = {str(k): v for k, v in r.items()}
        for c in ("started_at", "finished_at"):
            v = row[c]
            row[c] = None if v is None or v != v else v.isoformat().replace("+00:00", "Z")
        row["day"] = row["day"].isoformat() if row["day"] is not None else None
        row["run_id"] = int(row["run_id"])
        if fmt != "json":
            row["counts"] = json.dumps(row["counts"] or {})
        rows.append(row)
    emit_rows(rows, fmt, RUN_COLUMNS, title="runs")
