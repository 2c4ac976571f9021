"""Benchmark stage ``ingest``: positions per second from SBS and table files into the database."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

from oddflights.bench.speed import SpeedContext, StageResult, median, register_stage
from oddflights.columns import POSITION_COLUMNS
from oddflights.db import open_db
from oddflights.db.receivers import add_receiver, remove_receiver
from oddflights.ingest.export import write_table
from oddflights.ingest.files import ingest_input
from oddflights.ingest.table import table_frame
from oddflights.ingest.types import ParseOptions
from oddflights.receivers import Receiver
from oddflights.simulate import write_simulation

TARGET = 300_000.0


def _files(ctx: SpeedContext) -> tuple[int, dict[str, list[Path]]]:
    """The simulated day as the simulator's own SBS files (one per UTC day) and as Parquet."""
    sim = ctx.simulation()
    positions = sim.positions.loc[:, list(POSITION_COLUMNS)]
    sbs = [
        p for p in write_simulation(sim, ctx.workdir / "ingest-sbs", "sbs") if p.suffix == ".sbs"
    ]
    table = ctx.workdir / "ingest.parquet"
    buf = io.BytesIO()
    write_table(table_frame(positions), buf, "parquet")
    table.write_bytes(buf.getvalue())
    return len(positions), {"sbs": sbs, "table": [table]}


def _one(url: str, fmt: str, paths: list[Path], ctx: SpeedContext) -> dict[str, Any]:
    engine = open_db(url)
    cfg = ctx.simulation().config
    names: list[str] = []
    cpu: list[float] = []
    counter = iter(range(1_000_000))

    def run() -> None:
        # A fresh receiver each time: every repeat inserts every row (no duplicates).
        rec = add_receiver(engine, Receiver(f"bench-ingest-{next(counter)}", cfg.lat, cfg.lon))
        names.append(rec.name)
        c0 = time.process_time()
        for path in paths:
            summary = ingest_input(engine, rec, path, fmt, ParseOptions(rec), source=fmt)
            assert summary.rejected == 0
        cpu.append(time.process_time() - c0)

    try:
        times = ctx.timed(run)
    finally:
        for name in names:
            remove_receiver(engine, name)
        engine.dispose()
    return {"times": times, "cpu": cpu}


@register_stage("ingest")
def bench_ingest(ctx: SpeedContext) -> list[StageResult]:
    """SBS and table (Parquet) files of one simulated day into SQLite (and PostgreSQL)."""
    n, files = _files(ctx)
    targets = [("sqlite", f"sqlite:///{ctx.workdir / 'bench-ingest.db'}")]
    if ctx.pg_url:
        targets.append(("postgresql", ctx.pg_url))
    results = []
    for db, url in targets:
        for fmt, paths in files.items():
            load_before = os.getloadavg()
            got = _one(url, fmt, paths, ctx)
            times = got["times"]
            results.append(
                StageResult(
                    name=f"{fmt}_ingest_{db}",
                    value=n / median(times),
                    unit="positions/s",
                    target=TARGET,
                    higher_is_better=True,
                    detail={
                        "positions": n,
                        "file_bytes": sum(p.stat().st_size for p in paths),
                        "median_s": median(times),
                        "times_s": [round(t, 3) for t in times],
                        # This process's CPU seconds (the database server's are not in it):
                        # on a shared machine, wall time also measures the neighbours.
                        "cpu_s": [round(t, 3) for t in got["cpu"]],
                        "loadavg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                    },
                )
            )
    return results
