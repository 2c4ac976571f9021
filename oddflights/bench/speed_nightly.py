"""Speed stages ``scoring``, ``nightly`` and ``serve``: scoring a day with a trained model
(flights/s), the nightly run of a day and `oddflights score` of a past day end to end in a
fresh process (seconds and peak memory), and the web process's first picture and memory after
20 flight pages with pictures. Each fresh-process figure stands beside its baseline measured
in the same run: the bare interpreter importing the same entry point.

Setup (not timed): three thinned training days and a small model trained on them; the scored
day is the context's simulated 1 Hz day. The model's quality does not change the timing, so it
is trained for a few epochs only.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from oddflights.bench.speed import SpeedContext, StageResult, median, register_stage
from oddflights.db import open_db
from oddflights.db.flights import list_flights
from oddflights.db.positions import write_positions
from oddflights.db.receivers import add_receiver
from oddflights.flights.build import build_flights
from oddflights.model.train_config import TrainConfig
from oddflights.receivers import Receiver
from oddflights.scoring.score import score_day
from oddflights.simulate import SimConfig, simulate

TRAIN_DAYS = 3  # the nightly scores a receiver's days after its first 3 (warm-up)
TRAIN_THIN = 5
SETUP_EPOCHS = 8
# Issue 13 (scoring with the stored Detector in numpy, no TensorFlow): the nightly run of a
# 1,000-flight day with a trained model ≤ 5 s and ≤ 400 MB peak RSS (issue 7's were 15 s and
# 1.5 GB); `oddflights score` of a past day ≤ 3 s; `serve` ≤ 250 MB RSS after 20 flight pages
# with pictures, its first picture ≤ 0.5 s.
NIGHTLY_S_PER_1000 = 5.0
NIGHTLY_PEAK_RSS_MB = 400.0
SCORE_CLI_S = 3.0
SERVE_RSS_MB = 250.0
SERVE_FIRST_PICTURE_S = 0.5
SERVE_PAGES = 20


@dataclass
class _Setup:
    db_url: str
    receiver: Any
    day: Any
    model_id: int


def _setup(ctx: SpeedContext) -> _Setup:
    """A database with three training days, the 1 Hz day to score, and a trained model."""
    from oddflights.model.registry import train_from_db  # training: imports TensorFlow

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
    """Median flights/s of ``score_day`` (detector load, stored rasters, reconstruction,
    combined score, tags from the stored track facts, database write) on the simulated day,
    in this process after one warm-up run."""

    s = _setup(ctx)
    engine = open_db(s.db_url)
    try:
        summary = score_day(engine, s.receiver, s.day, s.model_id)  # warm-up (caches)
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


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli_once(db_url: str, *args: str) -> tuple[float, float | None, float]:
    """Wall seconds, peak RSS (MB; None where /proc is missing) and CPU seconds (user +
    system: what other work on a shared machine disturbs far less than the wall time) of one
    ``oddflights`` process running ``args`` (none: the interpreter importing the CLI, the
    baseline)."""
    env = {**os.environ, "ODDFLIGHTS_DB": db_url, "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = _CHILD if args else _CHILD.replace("main()", "")
    cmd = [sys.executable, "-c", child, *args]
    cpu0 = _children_cpu_s()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    cpu = _children_cpu_s() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(
            f"the benchmark's `oddflights {' '.join(args)}` exited with status "
            f"{proc.returncode}: "
            f"{proc.stderr.strip()[-500:]}"
        )
    kb = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VMHWM_KB ")]
    return seconds, (float(kb[-1]) / 1024.0 if kb else None), cpu


def cpu_reference_s() -> float:
    """Seconds a fixed single-core workload takes now (a Python loop and numpy sorts, ~0.5 s on
    the 2-CPU machine of BENCHMARKS.md): the same machine ran it 35 % slower one hour than the
    hour before (another tenant on its host), so each run's figures come with it."""
    t0 = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    values = np.random.default_rng(0).random(1_000_000)
    for _ in range(5):
        np.sort(values)
    return time.perf_counter() - t0


@register_stage("nightly")
def bench_nightly(ctx: SpeedContext) -> list[StageResult]:
    """The nightly run of the simulated day (build, combined scoring, tags; the model is
    fresh so no training) and `oddflights score` of that (past) day, in a fresh process each
    time: median seconds and peak RSS, beside the interpreter importing the CLI alone. No
    TensorFlow: the stored Detector scores with numpy."""
    s = _setup(ctx)
    args = ("nightly", "--receiver", s.receiver.name, "--day", s.day.isoformat())
    # The load average beside the figures: on a shared machine the wall times follow it,
    # the CPU times much less.
    load = [round(x, 1) for x in os.getloadavg()]
    reference = [cpu_reference_s()]
    runs = [_cli_once(s.db_url, *args) for _ in range(ctx.repeats)]
    reference.append(cpu_reference_s())
    seconds = [r[0] for r in runs]
    rss = [r[1] for r in runs if r[1] is not None]
    scale = ctx.flights_per_day / 1000.0
    base = _cli_once(s.db_url)
    score_args = ("score", "--receiver", s.receiver.name, "--day", s.day.isoformat())
    scores = [_cli_once(s.db_url, *score_args) for _ in range(ctx.repeats)]
    load_after = [round(x, 1) for x in os.getloadavg()]
    return [
        StageResult(
            "nightly_day",
            median(seconds),
            "s",
            NIGHTLY_S_PER_1000 * scale,
            higher_is_better=False,
            detail={
                "runs_s": [round(t, 2) for t in seconds],
                "cpu_s": [round(r[2], 2) for r in runs],
                "load_avg_before_after": [load, load_after],
            },
        ),
        StageResult(
            "score_past_day",
            median([r[0] for r in scores]),
            "s",
            SCORE_CLI_S,
            higher_is_better=False,
            detail={
                "runs_s": [round(r[0], 2) for r in scores],
                "cpu_s": [round(r[2], 2) for r in scores],
                "peak_rss_mb": [round(r[1]) for r in scores if r[1] is not None],
            },
        ),
        StageResult(
            "cpu_reference",
            median(reference),
            "s",
            higher_is_better=False,
            detail={"before_after_s": [round(t, 3) for t in reference]},
        ),
        StageResult(
            "cli_import_baseline",
            base[0],
            "s",
            higher_is_better=False,
            detail={
                "cpu_s": round(base[2], 2),
                "peak_rss_mb": None if base[1] is None else round(base[1]),
            },
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


# The web process: the app over a read-only engine, the first picture timed, then flight pages
# with their pictures; it reports its resident memory (VmRSS) idle and at the end.
_SERVE_CHILD = """
import json, sys, time

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return None

from starlette.testclient import TestClient
from oddflights.db.web_queries import open_readonly
from oddflights.web.app import create_app

url, model_id, ids = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3:]]
app = create_app(open_readonly(url))
idle = rss_mb()
with TestClient(app) as client:
    t0 = time.perf_counter()
    first = client.get(f"/img/residual/{ids[0]}.png?model={model_id}")
    first_s = time.perf_counter() - t0
    assert first.status_code == 200, first.text
    for fid in ids:
        assert client.get(f"/flights/{fid}").status_code == 200
        assert client.get(f"/img/residual/{fid}.png?model={model_id}").status_code == 200
print(json.dumps({"first_s": first_s, "idle_mb": idle, "rss_mb": rss_mb()}))
"""


def _serve_once(db_url: str, model_id: int, flight_ids: list[int]) -> dict[str, Any]:
    """One fresh web process's first-picture seconds and memory (see _SERVE_CHILD)."""
    cmd = [sys.executable, "-c", _SERVE_CHILD, db_url, str(model_id), *map(str, flight_ids)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the benchmark's web process failed: {proc.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@register_stage("serve")
def bench_serve(ctx: SpeedContext) -> list[StageResult]:
    """The web process: the first picture's seconds and the resident memory after
    SERVE_PAGES flight pages with pictures, beside the same process's memory before any
    request (the baseline), in a fresh process each time."""
    s = _setup(ctx)
    engine = open_db(s.db_url)
    try:
        score_day(engine, s.receiver, s.day, s.model_id)
        assert s.receiver.id is not None
        ids = list_flights(engine, s.receiver.id, s.day)["flight_id"].tolist()[:SERVE_PAGES]
    finally:
        engine.dispose()
    load = [round(x, 1) for x in os.getloadavg()]
    runs = [_serve_once(s.db_url, s.model_id, ids) for _ in range(ctx.repeats)]
    rss = [r["rss_mb"] for r in runs if r["rss_mb"] is not None]
    idle = [r["idle_mb"] for r in runs if r["idle_mb"] is not None]
    return [
        StageResult(
            "serve_first_picture",
            median([r["first_s"] for r in runs]),
            "s",
            SERVE_FIRST_PICTURE_S,
            higher_is_better=False,
            detail={"runs_s": [round(r["first_s"], 3) for r in runs], "load_avg": load},
        ),
        *(
            [
                StageResult(
                    "serve_rss_after_pages",
                    max(rss),
                    "MB",
                    SERVE_RSS_MB,
                    higher_is_better=False,
                    detail={"pages": len(ids), "runs_mb": [round(m) for m in rss]},
                ),
                StageResult(
                    "serve_idle_rss_baseline",
                    max(idle),
                    "MB",
                    higher_is_better=False,
                    detail={"runs_mb": [round(m) for m in idle]},
                ),
            ]
            if rss and idle
            else []
        ),
    ]
