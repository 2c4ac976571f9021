"""Speed stages ``scoring`` and ``nightly``: scoring a day with a trained model (flights/s), and
the nightly run of a day end to end in a fresh process (seconds and peak memory).

Setup (not timed): three thinned training days and a small model trained on them; the scored
day is the context's simulated 1 Hz day. The model's quality does not change the timing, so it
is trained for a few epochs only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from oddflights.bench.speed import SpeedContext, StageResult, median, register_stage

TRAIN_DAYS = 3  # the nightly scores a receiver's days after its first 3 (warm-up)
TRAIN_THIN = 5
SETUP_EPOCHS = 8
# Issue 7: the nightly run of a 1,000-flight day with a trained model ≤ 15 s, peak RSS ≤ 1.5 GB.
NIGHTLY_S_PER_1000 = 15.0
NIGHTLY_PEAK_RSS_MB = 1536.0


@dataclass
class _Setup:
    db_url: str
    receiver: Any
    day: Any
    model_id: int


def _setup(ctx: SpeedContext) -> _Setup:
    """A database with three training days, the 1 Hz day to score, and a trained model."""
    from oddflights.db import open_db
    from oddflights.db.positions import write_positions
    from oddflights.db.receivers import add_receiver
    from oddflights.flights.build import build_flights
    from oddflights.model.registry import train_from_db
    from oddflights.model.train import TrainConfig
    from oddflights.receivers import Receiver
    from oddflights.simulate import SimConfig, simulate

    cached: _Setup | None = getattr(ctx, "_nightly_setup", None)
    if cached is not None:
        return cached
    sim = ctx.simulation()
    cfg = sim.config
    day = cfg.start_day
    first = day - timedelta(days=TRAIN_DAYS)
    train_sim = simulate(
        SimConfig(
            lat=cfg.lat,
            lon=cfg.lon,
            days=TRAIN_DAYS,
            flights_per_day=ctx.flights_per_day,
            start_day=first,
            seed=cfg.seed,
        )
    )
    db = ctx.workdir / "bench_nightly.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine = open_db(url)
    try:
        rec = add_receiver(engine, Receiver("bench", cfg.lat, cfg.lon, cfg.range_km, cfg.timezone))
        assert rec.id is not None
        write_positions(
            engine, rec.id, train_sim.positions.iloc[::TRAIN_THIN].reset_index(drop=True)
        )
        write_positions(engine, rec.id, sim.positions)
        train_days = [first + timedelta(days=i) for i in range(TRAIN_DAYS)]
        build_flights(engine, rec, [*train_days, day])
        # Quick to learn (the timing does not depend on how well): a faster learning rate
        # and small batches get past the collapse guard in a few epochs.
        config = TrainConfig.from_settings(
            epochs=SETUP_EPOCHS,
            patience=SETUP_EPOCHS,
            learning_rate=3e-3,
            batch_size=32,
            seed=ctx.seed,
        )
        model_id, _ = train_from_db(engine, rec, train_days[0], train_days[-1], config)
    finally:
        engine.dispose()
    setup = _Setup(url, rec, day, model_id)
    ctx._nightly_setup = setup  # type: ignore[attr-defined]
    return setup


@register_stage("scoring")
def bench_scoring(ctx: SpeedContext) -> list[StageResult]:
    """Median flights/s of ``score_day`` (model load, reconstruction, combined score, tags,
    database write) on the simulated day, in this process after one warm-up run."""
    from oddflights.db import open_db
    from oddflights.scoring.score import score_day

    s = _setup(ctx)
    engine = open_db(s.db_url)
    try:
        summary = score_day(engine, s.receiver, s.day, s.model_id)  # warm-up (graph tracing)
        times = ctx.timed(lambda: score_day(engine, s.receiver, s.day, s.model_id))
    finally:
        engine.dispose()
    return [
        StageResult(
            "scoring",
            summary.flights / median(times),
            "flights/s",
            detail={"flights": summary.flights, "runs_s": [round(t, 3) for t in times]},
        )
    ]


# The child reports its own high-water RSS: ru_maxrss would include the parent's memory at
# fork time (Linux keeps it across exec), i.e. this benchmark's own simulation.
_CHILD = """
import atexit, sys

def _hwm():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    sys.stderr.write("VMHWM_KB " + line.split()[1] + "\\n")
    except OSError:
        pass

atexit.register(_hwm)
from oddflights.cli import main
main()
"""


def _nightly_once(db_url: str, receiver: str, day: str) -> tuple[float, float | None]:
    """Wall seconds and peak RSS (MB; None where /proc is missing) of one
    ``oddflights nightly`` process."""
    env = {**os.environ, "ODDFLIGHTS_DB": db_url, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-c", _CHILD, "nightly", "--receiver", receiver, "--day", day]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"the benchmark's nightly run exited with status {proc.returncode}: "
            f"{proc.stderr.strip()[-500:]}"
        )
    kb = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VMHWM_KB ")]
    return seconds, (float(kb[-1]) / 1024.0 if kb else None)


@register_stage("nightly")
def bench_nightly(ctx: SpeedContext) -> list[StageResult]:
    """The nightly run of the simulated day (build, combined scoring, tags; the model is
    fresh so no training) in a fresh process each time: median seconds and peak RSS. The
    process pays the TensorFlow import, as every real nightly run does."""
    s = _setup(ctx)
    runs = [_nightly_once(s.db_url, s.receiver.name, s.day.isoformat()) for _ in range(ctx.repeats)]
    seconds = [r[0] for r in runs]
    rss = [r[1] for r in runs if r[1] is not None]
    scale = ctx.flights_per_day / 1000.0
    return [
        StageResult(
            "nightly_day",
            median(seconds),
            "s",
            NIGHTLY_S_PER_1000 * scale,
            higher_is_better=False,
            detail={"runs_s": [round(t, 2) for t in seconds]},
        ),
        *(
            [
                StageResult(
                    "nightly_peak_rss",
                    max(rss),
                    "MB",
                    NIGHTLY_PEAK_RSS_MB,
                    higher_is_better=False,
                    detail={"runs_mb": [round(m) for m in rss]},
                )
            ]
            if rss
            else []
        ),
    ]
