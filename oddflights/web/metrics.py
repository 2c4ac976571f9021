"""``/metrics`` (Prometheus text format) and ``/healthz`` (JSON), read from the database when
asked: a custom collector, so that the numbers are those of the database (written by other
processes: ingest, the nightly), not of this web server.

Series, per receiver (label ``receiver``):

- ``oddflights_positions_last_hour``: positions heard in the hour before the scrape;
- ``oddflights_last_position_timestamp_seconds``: when its newest position was heard;
- ``oddflights_nightly_last_run_timestamp_seconds`` / ``…_duration_seconds`` /
  ``oddflights_nightly_last_run_status{status=…}`` (1 for the last run's status, ok, failed,
  skipped, running or interrupted) / ``oddflights_nightly_last_run_ok``;
- ``oddflights_latest_day_flights`` / ``oddflights_latest_day_flagged`` /
  ``oddflights_latest_day_timestamp_seconds`` (the newest day with flights: its start);
- ``oddflights_models`` and ``oddflights_model_age_seconds`` (the newest model);
- ``oddflights_ingest_positions_total{format=…}`` (positions stored) and
  ``oddflights_ingest_duplicates_total{format=…}`` (already stored, skipped), by input format
  (``sbs``, ``beast``, ``avr``, ``raw``, ``table``, ``opensky``, ``readsb-trace``; a live feed
  counts under its format), and ``oddflights_ingest_rejects_total{reason=…}`` (lines rejected,
  by reason): counters summed from the ingest runs' counts, which every file ingest records
  when it ends and a live ingest every ``RECORD_EVERY_S`` while it runs;

and ``oddflights_database_size_bytes``, ``oddflights_database_up``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from oddflights.db.runs import DONE_STATUSES, FAILED, INTERRUPTED, OK, RUNNING, SKIPPED
from oddflights.db.status import (
    IngestTotals,
    ReceiverStatus,
    database_size,
    ingest_totals,
    receiver_status,
    schema_revision,
)

_log = logging.getLogger(__name__)
_STATUSES = (OK, FAILED, SKIPPED, RUNNING, INTERRUPTED)


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ("receiver",)) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _ts(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


class DatabaseCollector(Collector):
    """Reads the metrics from the database at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = _gauge("oddflights_database_up", "1 when the database answered this scrape.", ())
        try:
            now = datetime.now(UTC)
            statuses = receiver_status(self.engine, now)
            ingests = ingest_totals(self.engine)
            size = database_size(self.engine)
        except SQLAlchemyError as exc:
            _log.warning("metrics: database not readable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        db_size = _gauge("oddflights_database_size_bytes", "Size of the database.", ())
        db_size.add_metric([], size)
        yield db_size
        yield from _receiver_metrics(statuses, now)
        yield from _ingest_metrics(ingests)


def _receiver_metrics(statuses: list[ReceiverStatus], now: datetime) -> Iterator[Metric]:
    recent = _gauge("oddflights_positions_last_hour", "Positions heard in the last hour.")
    last = _gauge(
        "oddflights_last_position_timestamp_seconds", "When the newest position was heard."
    )
    run_ts = _gauge(
        "oddflights_nightly_last_run_timestamp_seconds", "When the last nightly run started."
    )
    run_s = _gauge(
        "oddflights_nightly_last_run_duration_seconds",
        "How long the last nightly run took (so far, while it runs).",
    )
    run_ok = _gauge(
        "oddflights_nightly_last_run_ok", "1 when the last nightly run ended ok or skipped."
    )
    run_status = _gauge(
        "oddflights_nightly_last_run_status",
        "1 for the status the last nightly run has.",
        ("receiver", "status"),
    )
    flights = _gauge("oddflights_latest_day_flights", "Flights of the newest day with flights.")
    flagged = _gauge(
        "oddflights_latest_day_flagged",
        "Flights flagged on the newest day with flights (by the newest model that scored it).",
    )
    day_ts = _gauge(
        "oddflights_latest_day_timestamp_seconds",
        "The newest day with flights, as midnight UTC of its date.",
    )
    models = _gauge("oddflights_models", "Models stored.")
    model_age = _gauge("oddflights_model_age_seconds", "Age of the newest model.")
    for s in statuses:
        r = [s.name]
        recent.add_metric(r, s.positions_recent)
        if s.last_position is not None:
            last.add_metric(r, s.last_position.timestamp())
        run = s.last_nightly
        if run is not None:
            run_ts.add_metric(r, run.started_at.timestamp())
            end = run.finished_at or now
            run_s.add_metric(r, max(0.0, (end - run.started_at).total_seconds()))
            run_ok.add_metric(r, 1 if run.status in DONE_STATUSES else 0)
            for status in _STATUSES:
                run_status.add_metric([s.name, status], 1 if run.status == status else 0)
        flights.add_metric(r, s.latest_day_flights)
        flagged.add_metric(r, s.latest_day_flagged)
        if s.latest_day is not None:
            start = datetime.combine(s.latest_day, time(0), tzinfo=UTC)
            day_ts.add_metric(r, start.timestamp())
        models.add_metric(r, s.models)
        if s.newest_model_at is not None:
            model_age.add_metric(r, (now - s.newest_model_at).total_seconds())
    yield from (recent, last, run_ts, run_s, run_ok, run_status)
    yield from (flights, flagged, day_ts, models, model_age)


def _ingest_metrics(totals: dict[str, IngestTotals]) -> Iterator[Metric]:
    # Labels stay bounded: receivers, the formats and the reject reasons are short fixed lists.
    positions = CounterMetricFamily(
        "oddflights_ingest_positions",
        "Positions ingested (stored: new rows), by input format.",
        labels=["receiver", "format"],
    )
    duplicates = CounterMetricFamily(
        "oddflights_ingest_duplicates",
        "Positions ingested that were already stored (skipped), by input format.",
        labels=["receiver", "format"],
    )
    rejects = CounterMetricFamily(
        "oddflights_ingest_rejects",
        "Input lines (or positions) rejected by ingest, by reason.",
        labels=["receiver", "reason"],
    )
    for name in sorted(totals):
        t = totals[name]
        for fmt in sorted(t.accepted):
            positions.add_metric([name, fmt], t.accepted[fmt])
            duplicates.add_metric([name, fmt], t.duplicates[fmt])
        for reason in sorted(t.rejected):
            rejects.add_metric([name, reason], t.rejected[reason])
    yield from (positions, duplicates, rejects)


def registry(engine: Engine) -> CollectorRegistry:
    """A registry of the database's metrics only (none of this process's own)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DatabaseCollector(engine))
    return reg


def health(engine: Engine) -> tuple[int, dict[str, Any]]:
    """``/healthz``: (HTTP status, JSON body). 200 with each receiver's last position and last
    nightly run when the database answers; 503 with the reason when it does not."""
    try:
        revision = schema_revision(engine)
        statuses = receiver_status(engine, datetime.now(UTC))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return 503, {"status": "error", "database": f"error: {reason}"}
    receivers = {}
    for s in statuses:
        run = s.last_nightly
        receivers[s.name] = {
            "last_position": _iso(s.last_position),
            "positions_last_hour": s.positions_recent,
            "last_nightly": None
            if run is None
            else {
                "day": None if run.day is None else run.day.isoformat(),
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
                "status": run.status,
            },
        }
    return 200, {"status": "ok", "database": "ok", "schema": revision, "receivers": receivers}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
