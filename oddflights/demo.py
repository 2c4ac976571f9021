"""The demo: a simulated receiver taken through every stage, into the configured database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.alerts import preview_alert
from oddflights.alerts.payload import AlertOptions
from oddflights.db.receivers import ReceiverNotFound, add_receiver, get_receiver
from oddflights.db.scores import query_anomalies
from oddflights.ingest.files import ingest_input
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParseOptions
from oddflights.receivers import Receiver
from oddflights.scheduler.nightly import run_nightly
from oddflights.scoring.pictures import residual_png
from oddflights.simulate import SimConfig, simulate, write_simulation
from oddflights.web.report import write_day_report

StepFn = Callable[[str, str], None]

# A receiver near Amsterdam: busy enough to be interesting, days in its own zone.
DEMO_RECEIVER = Receiver("demo", lat=52.31, lon=4.76, range_km=200.0, timezone="Europe/Amsterdam")


@dataclass(frozen=True)
class DemoStep:
    """One thing the demo did, in words."""

    stage: str
    message: str


@dataclass
class DemoResult:
    """Where the demo put things and what it did."""

    workdir: Path
    receiver: Receiver
    days: list[date]
    steps: list[DemoStep] = field(default_factory=list)
    # The last day's flagged flights (ANOMALY_COLUMNS of oddflights.db.scores), empty if none.
    flagged: pd.DataFrame = field(default_factory=pd.DataFrame)
    pictures: list[Path] = field(default_factory=list)
    report: Path | None = None
    # The last day's alert as the dry-run ``print`` target shows it (nothing is sent).
    alert: str = ""
    ok: bool = True


def demo_days(n_days: int, today: date | None = None) -> list[date]:
    """The ``n_days`` calendar days ending yesterday (UTC)."""
    today = today or datetime.now(UTC).date()
    return [today - timedelta(days=n_days - i) for i in range(n_days)]


def run_demo(
    engine: Engine,
    workdir: Path,
    *,
    n_days: int = 6,
    flights_per_day: int = 300,
    seed: int = 7,
    on_step: Callable[[DemoStep], None] | None = None,
) -> DemoResult:
    """Simulate a receiver into ``workdir`` and run every stage on it, reporting each step."""
    days = demo_days(n_days)
    result = DemoResult(workdir=workdir, receiver=DEMO_RECEIVER, days=days)

    def step(stage: str, message: str) -> None:
        s = DemoStep(stage, message)
        result.steps.append(s)
        if on_step is not None:
            on_step(s)

    rec = DEMO_RECEIVER
    sim = simulate(
        SimConfig(
            lat=rec.lat,
            lon=rec.lon,
            range_km=rec.range_km,
            timezone=rec.timezone,
            days=n_days,
            flights_per_day=flights_per_day,
            start_day=days[0],
            seed=seed,
        )
    )
    files = write_simulation(sim, workdir / "feed", fmt="sbs")
    kinds = sim.labels["kind"].value_counts()
    odd = ", ".join(f"{n} {k}" for k, n in kinds.items() if k != "normal")
    step(
        "simulate",
        f"simulated {len(sim.labels)} flights over {n_days} days ({days[0]} to {days[-1]}), "
        f"{len(sim.positions):,} positions as SBS files in {workdir / 'feed'} "
        f"({len(files)} files); labelled anomalies: {odd or 'none'}",
    )

    try:
        rec = get_receiver(engine, DEMO_RECEIVER.name)
        step("receiver", f"using receiver {rec.name!r} already in the database")
    except ReceiverNotFound:
        rec = add_receiver(engine, DEMO_RECEIVER)
        step("receiver", f"added receiver {rec.name!r} at {rec.lat}, {rec.lon} ({rec.timezone})")
    result.receiver = rec

    _ingest(engine, rec, files, step)
    result.ok = _nightly(engine, rec, days, step)
    result.flagged = _flagged(engine, rec, days[-1])
    # Linked to the web page the demo points at, unless a base URL is set.
    options = AlertOptions.from_settings()
    options = replace(options, base_url=options.base_url or "http://127.0.0.1:8000")
    result.alert = preview_alert(engine, rec, days[-1], options)
    result.pictures = _pictures(engine, result.flagged, workdir / "pictures")
    if result.pictures:
        step("pictures", f"saved {len(result.pictures)} flight pictures in {workdir / 'pictures'}")
    result.report = _report(engine, rec, days[-1], workdir)
    step("report", f"wrote the day's report to {result.report}")
    return result


def _report(engine: Engine, rec: Receiver, day: date, workdir: Path) -> Path:
    return write_day_report(engine, rec, day, workdir / f"report-{rec.name}-{day}.html")


def _ingest(engine: Engine, rec: Receiver, files: list[Path], step: StepFn) -> None:
    total: IngestSummary | None = None
    for path in sorted(p for p in files if p.suffix == ".sbs"):
        summary = ingest_input(
            engine, rec, path, "sbs", ParseOptions(receiver=rec), source=path.name
        )
        total = summary if total is None else total + summary
    if total is not None:
        step(
            "ingest",
            f"ingested {total.accepted:,} positions ({total.duplicates:,} already stored, "
            f"{total.rejected:,} rejected) in {total.seconds:.1f} s",
        )


def _nightly(engine: Engine, rec: Receiver, days: list[date], step: StepFn) -> bool:
    report = run_nightly(engine, [rec], today=days[-1] + timedelta(days=1))
    for outcome in report.receivers:
        if not outcome.days:
            step("nightly", f"nothing to do for {outcome.receiver}: {outcome.message or 'done'}")
        for d in outcome.days:
            counts = ", ".join(f"{k} {v}" for k, v in d.counts.items())
            extra = f": {d.error}" if d.error else ""
            step("nightly", f"{d.day}: {d.status} ({counts}){extra}")
    return report.ok


def _flagged(engine: Engine, rec: Receiver, day: date) -> pd.DataFrame:
    assert rec.id is not None
    return query_anomalies(engine, rec.id, day)


def _pictures(engine: Engine, flagged: pd.DataFrame, folder: Path, most: int = 5) -> list[Path]:
    paths = []
    for row in flagged.head(most).to_dict("records"):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"flight-{row['flight_id']}.png"
        path.write_bytes(residual_png(engine, int(row["flight_id"]), int(row["model_id"])))
        paths.append(path)
    return paths
