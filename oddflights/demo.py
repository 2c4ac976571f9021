"""The demo: a simulated receiver taken through every stage, into the configured database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from oddflights.receivers import Receiver

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
    from oddflights.db.receivers import ReceiverNotFound, add_receiver, get_receiver
    from oddflights.simulate import SimConfig, simulate, write_simulation

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
    return result
