"""`oddflights bench scale`: the nightly of R simulated receivers on a local Dask cluster of 1
and of 2 worker processes over PostgreSQL (receiver-days per minute, the speedup, peak RSS per
worker), the per-stage costs of one receiver-day measured apart, the PostgreSQL bytes a
receiver-day stores, and a capacity model from them.

Each receiver has one simulated 1 Hz day and a stand-in detector (random weights at the
default size, numpy only: scoring costs the same whatever the weights), so the nightly builds
and scores without training; training's cost for the model comes from `bench speed`'s
``train_20_epochs`` (a retrain every ``retrain_days``). Between the two cluster runs the
receivers' flights, scores and runs are deleted, so both do the same work; their score rows
are compared (they must be identical).
"""

from __future__ import annotations

import math
import os
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.errors import OddflightsError

DAY0 = date(2026, 3, 2)
NIGHT_HOURS = 4.0
# `bench speed`'s train_20_epochs (14 days x 1,000 flights; BENCHMARKS.md), for the model.
TRAIN_S = 77.4


class BenchError(OddflightsError, ValueError):
    """The scale benchmark cannot run (no PostgreSQL URL, no Dask)."""


@dataclass(frozen=True)
class ScaleConfig:
    """The benchmark's size."""

    receivers: int = 8
    flights_per_day: int = 300
    workers: tuple[int, ...] = (1, 2)
    seed: int = 11


def _stand_in_detector(images: np.ndarray) -> Any:
    """A detector of the default size with random weights, calibrated on ``images``."""
    from oddflights.flights.raster import RasterSettings
    from oddflights.model.detector import Autoencoder, fit_detector

    rng = np.random.default_rng(0)
    d, hidden = 64 * 64, 409  # the default network's shape (64 px, size*size//10 units)
    weights = Autoencoder(
        rng.normal(0, 0.05, (d, hidden)).astype(np.float32),
        np.zeros(hidden, dtype=np.float32),
        rng.normal(0, 0.05, (hidden, d)).astype(np.float32),
        np.full(d, -3.0, dtype=np.float32),
    )
    return fit_detector(
        weights,
        RasterSettings(),
        images,
        np.full(len(images), 5.0),
        score_fn="track_bce",
        percentile=98.0,
        combine="ae_turn",
    )


def _load(engine: Engine, cfg: ScaleConfig, say: Callable[[str], None]) -> dict[str, float]:
    """R receivers' simulated days and a stand-in model each; the write rate."""
    from oddflights.db.positions import write_positions
    from oddflights.db.receivers import add_receiver
    from oddflights.db.registry import insert_model
    from oddflights.receivers import Receiver
    from oddflights.simulate import SimConfig, simulate

    det = _stand_in_detector((np.random.default_rng(1).random((60, 64, 64)) < 0.03) * 1.0)
    rows = 0
    write_s = 0.0
    for i in range(cfg.receivers):
        lat, lon = 48.0 + i % 4, 2.0 + i // 4
        rec = add_receiver(engine, Receiver(f"scale{i}", lat, lon, 200.0, "UTC"))
        assert rec.id is not None
        sim = simulate(
            SimConfig(
                lat=lat,
                lon=lon,
                days=1,
                flights_per_day=cfg.flights_per_day,
                start_day=DAY0,
                seed=cfg.seed + i,
            )
        )
        t0 = time.perf_counter()
        write_positions(engine, rec.id, sim.positions)
        write_s += time.perf_counter() - t0
        rows += len(sim.positions)
        insert_model(
            engine,
            receiver_id=rec.id,
            train_from=DAY0 - timedelta(days=14),
            train_to=DAY0 - timedelta(days=1),
            validation_days=[DAY0 - timedelta(days=1)],
            config={},
            raster=det.raster.to_dict(),
            metrics={},
            threshold=det.threshold,
            calibration={},
            versions={},
            seed=0,
            status="ready",
            keras_bytes=None,
            detector_bytes=det.to_bytes(),
        )
        say(f"receiver {i + 1}/{cfg.receivers}: {len(sim.positions):,} positions")
    return {"positions": rows, "write_s": write_s, "rows_per_s": rows / write_s}


def _reset(engine: Engine) -> None:
    """Forget the nightly's work (flights, scores, runs), keeping positions and models."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM scores")
        conn.exec_driver_sql("DELETE FROM flights")
        conn.exec_driver_sql("DELETE FROM runs")


def _score_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT f.receiver_id, f.icao24, f.start_ts, s.score, s.is_anomaly, s.rank"
                " FROM scores s JOIN flights f ON f.id = s.flight_id"
            )
        )


def _peak_rss_mb() -> float:
    """This process's own peak RSS (Linux ``VmHWM``; else ru_maxrss, in KiB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy (all processes; Linux ``/proc/stat``):
    the PostgreSQL server, Dask's scheduler and nannies count too, not just the workers."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / float(os.sysconf("SC_CLK_TCK"))


def _warm() -> int:
    """Import what a task imports, so that start-up is not timed as work."""
    import oddflights.scheduler.cluster
    import oddflights.scoring.score  # noqa: F401

    return 0


def _cluster_run(
    engine: Engine, n_workers: int, settings: Any, say: Callable[[str], None]
) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from oddflights.db.receivers import list_receivers
    from oddflights.scheduler.cluster import nightly_on_cluster

    receivers = list_receivers(engine)
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            resources={"TRAIN": 1},
            dashboard_address=None,
        ) as lc,
        Client(lc) as client,
    ):
        client.run(_warm)
        cpu0 = sum(client.run(time.process_time).values())
        busy0 = _machine_busy_s()
        t0 = time.perf_counter()
        report = nightly_on_cluster(
            client, engine, receivers, today=DAY0 + timedelta(days=1), settings=settings
        )
        wall = time.perf_counter() - t0
        busy1 = _machine_busy_s()
        # The workers' own CPU: the rest of the wall time is PostgreSQL, or other work on
        # the machine's cores.
        cpu = sum(client.run(time.process_time).values()) - cpu0
        rss = client.run(_peak_rss_mb)
    days = sum(1 for r in report.receivers for d in r.days if d.status == "ok")
    say(f"{n_workers} worker(s): {days} receiver-days in {wall:.1f} s")
    return {
        "workers": n_workers,
        "ok": report.ok,
        "receiver_days": days,
        "seconds": wall,
        "receiver_days_per_min": days / wall * 60,
        "workers_cpu_s": cpu,
        # Cores the whole machine kept busy meanwhile: one worker already keeps more than one
        # (PostgreSQL streams a day's positions while the worker decodes them), which bounds
        # what a second worker can add on the same cores.
        "machine_busy_cores": None if busy0 is None or busy1 is None else (busy1 - busy0) / wall,
        "peak_rss_mb_per_worker": sorted(rss.values()),
    }


def _stage_costs(engine: Engine, settings: Any) -> dict[str, float]:
    """One receiver-day's build and score, timed apart in this process."""
    from oddflights.db.receivers import list_receivers
    from oddflights.flights.build import build_flights
    from oddflights.scoring.score import score_day

    rec = list_receivers(engine)[0]
    build_flights(engine, rec, [DAY0])  # warm: imports, caches
    t0 = time.perf_counter()
    built = build_flights(engine, rec, [DAY0])
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = score_day(engine, rec, DAY0)
    score_s = time.perf_counter() - t0
    return {"build_s": build_s, "score_s": score_s, "flights": built.flights or summary.flights}


def _storage(engine: Engine, receiver_days: int) -> dict[str, float]:
    """PostgreSQL bytes per receiver-day (tables with their indexes and TOAST)."""
    out = {}
    with engine.connect() as conn:
        for table in ("positions", "flights", "scores"):
            # A partitioned table's own size is 0: its partitions' are summed.
            size = conn.execute(
                sa.text(
                    "SELECT pg_total_relation_size(CAST(:t AS regclass)) + coalesce(("
                    "SELECT sum(pg_total_relation_size(relid)) FROM"
                    " pg_partition_tree(CAST(:t AS regclass)) WHERE relid <> CAST(:t AS regclass)"
                    "), 0)"
                ),
                {"t": table},
            ).scalar_one()
            out[f"{table}_mb"] = float(size) / 1e6 / receiver_days
    out["total_mb"] = sum(out.values())
    return out


def capacity(
    per_day_s: float, train_s: float, retrain_days: int, receivers: int, hours: float
) -> int:
    """Workers (one thread each) to do ``receivers`` receiver-days in ``hours``: each costs
    its build and score plus its share of a retrain."""
    work = receivers * (per_day_s + train_s / max(retrain_days, 1))
    return math.ceil(work / (hours * 3600))


def run_scale(
    cfg: ScaleConfig, pg_url: str | None, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The whole benchmark on a fresh schema of the PostgreSQL at ``pg_url`` (dropped after)."""
    if not pg_url:
        raise BenchError("bench scale needs PostgreSQL: give --pg-url (or ODDFLIGHTS_TEST_PG_URL)")
    from oddflights.scheduler.cluster import require_dask

    require_dask()
    from oddflights.db import open_db
    from oddflights.scheduler.nightly import NightlySettings

    tell = say or (lambda _m: None)
    schema = "scale_" + uuid.uuid4().hex[:10]
    admin = open_db(pg_url, migrate=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = (
        sa.engine.make_url(pg_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    settings = NightlySettings(retrain_days=7, train_window_days=14, warmup_days=0)
    engine = open_db(url)
    try:
        load = _load(engine, cfg, tell)
        runs = []
        reference = None
        for n in cfg.workers:
            _reset(engine)
            runs.append(_cluster_run(engine, n, settings, tell))
            rows = _score_rows(engine)
            reference = rows if reference is None else reference
            runs[-1]["scores_identical"] = rows == reference
        storage = _storage(engine, cfg.receivers)
        stages = _stage_costs(engine, settings)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    base = runs[0]["receiver_days_per_min"]
    for r in runs:
        r["speedup"] = r["receiver_days_per_min"] / base
    # The most n workers can gain over the first run on this machine's cores when that run
    # already kept ``machine_busy_cores`` of them busy: min(n / n0, cores / its busy cores).
    busy_0 = runs[0].get("machine_busy_cores")
    cores = os.cpu_count() or 1
    for r in runs:
        r["speedup_bound"] = (
            None if not busy_0 else min(r["workers"] / runs[0]["workers"], cores / busy_0)
        )
    per_day = stages["build_s"] + stages["score_s"]
    # Per-day costs scale with flights: estimated at a 1,000-flight day.
    per_1000 = per_day * 1000 / cfg.flights_per_day
    model = {
        "per_receiver_day_s": per_day,
        "per_1000_flight_day_s": per_1000,
        "train_s": TRAIN_S,
        "workers_1000": capacity(per_1000, TRAIN_S, settings.retrain_days, 1000, NIGHT_HOURS),
        "workers_10000": capacity(per_1000, TRAIN_S, settings.retrain_days, 10000, NIGHT_HOURS),
        "positions_per_1000_flight_day": load["positions"]
        / cfg.receivers
        * 1000
        / cfg.flights_per_day,
        "pg_gb_per_day_1000": storage["total_mb"] * 1000 / cfg.flights_per_day * 1000 / 1e3,
    }
    return {
        "config": {
            "receivers": cfg.receivers,
            "flights_per_day": cfg.flights_per_day,
            "workers": list(cfg.workers),
        },
        "load": load,
        "runs": runs,
        "stages": stages,
        "storage_mb_per_receiver_day": storage,
        "capacity": model,
    }
