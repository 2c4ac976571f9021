"""Benchmark stage ``ingest``: positions per second from SBS and table files into the database,
and, for SBS into SQLite, a naive baseline measured in the same run on the same file."""

from __future__ import annotations

import io
import os
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

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
# oddflights' SBS ingest against the naive baseline (issue 17): at least 0.8× its speed while
# doing all it does beyond it (every column, the MSG,1/4 joins, validation, rejects, no
# duplicates).
NAIVE_RATIO_TARGET = 0.8
# The SBS fields the naive baseline reads: transmission type, icao24, date, time, altitude,
# latitude, longitude.
_NAIVE_FIELDS = {
    1: "tx",
    4: "icao24",
    6: "date",
    7: "time",
    11: "altitude_ft",
    14: "lat",
    15: "lon",
}


def naive_sbs_sqlite(paths: list[Path], db_path: Path) -> int:
    """The obvious way to load SBS positions: pandas ``read_csv`` of each whole file, the
    MSG,3 rows with coordinates, one timestamp parse, and ``sqlite3.executemany`` into a plain
    table (no key, no index) of a fresh SQLite file, one commit per file. No MSG,1/4 joins, no
    validation, no rejects, no duplicate check. Returns the rows written."""
    db_path.unlink(missing_ok=True)
    con = sqlite3.connect(db_path)
    try:
        con.execute(
            "CREATE TABLE positions (icao24 TEXT, ts INTEGER, lat REAL, lon REAL, altitude_ft REAL)"
        )
        rows = 0
        for path in paths:
            df = pd.read_csv(
                path,
                header=None,
                names=range(22),
                usecols=list(_NAIVE_FIELDS),
                dtype={4: str, 6: str, 7: str},
            ).rename(columns=_NAIVE_FIELDS)
            pos = df[(df["tx"] == 3) & df["lat"].notna()]
            ts = pd.to_datetime(pos["date"] + " " + pos["time"], format="%Y/%m/%d %H:%M:%S.%f")
            ts_ms = ts.dt.as_unit("ms").astype("int64")
            con.executemany(
                "INSERT INTO positions VALUES (?, ?, ?, ?, ?)",
                zip(pos["icao24"], ts_ms, pos["lat"], pos["lon"], pos["altitude_ft"], strict=True),
            )
            con.commit()
            rows += len(pos)
    finally:
        con.close()
    return rows


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


def _one(
    url: str,
    fmt: str,
    paths: list[Path],
    ctx: SpeedContext,
    baseline: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Times of ``repeats`` ingests of ``paths``; with a ``baseline``, it runs right after
    each ingest (alternating, so that both see the same load) and its times come back too."""
    engine = open_db(url)
    cfg = ctx.simulation().config
    names: list[str] = []
    cpu: list[float] = []
    naive_times: list[float] = []
    naive_rows: list[int] = []
    naive_cpu: list[float] = []
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

    times = []
    try:
        for _ in range(ctx.repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
            if baseline is not None:
                t0, c0 = time.perf_counter(), time.process_time()
                naive_rows.append(baseline())
                naive_times.append(time.perf_counter() - t0)
                naive_cpu.append(time.process_time() - c0)
    finally:
        for name in names:
            remove_receiver(engine, name)
        engine.dispose()
    return {
        "times": times,
        "cpu": cpu,
        "naive_times": naive_times,
        "naive_rows": naive_rows,
        "naive_cpu": naive_cpu,
    }


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
            naive_db = ctx.workdir / "bench-ingest-naive.db"
            with_naive = fmt == "sbs" and db == "sqlite"
            got = _one(
                url,
                fmt,
                paths,
                ctx,
                partial(naive_sbs_sqlite, paths, naive_db) if with_naive else None,
            )
            naive_db.unlink(missing_ok=True)
            times = got["times"]
            detail: dict[str, Any] = {
                "positions": n,
                "file_bytes": sum(p.stat().st_size for p in paths),
                "median_s": median(times),
                "times_s": [round(t, 3) for t in times],
                # This process's CPU seconds (the database server's are not in it):
                # on a shared machine, wall time also measures the neighbours.
                "cpu_s": [round(t, 3) for t in got["cpu"]],
                "loadavg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            }
            if with_naive:
                naive = got["naive_times"]
                naive_rate = got["naive_rows"][0] / median(naive)
                ratio = (n / median(times)) / naive_rate
                detail.update(
                    naive_positions=got["naive_rows"][0],
                    naive_median_s=median(naive),
                    naive_times_s=[round(t, 3) for t in naive],
                    naive_positions_per_s=naive_rate,
                    ratio_to_naive=ratio,
                    # Each repeat's ratio (oddflights, then the baseline right after it): on a
                    # loaded machine, less moved by load that changes between repeats.
                    ratio_to_naive_paired=median(
                        [b / a for a, b in zip(times, naive, strict=True)]
                    ),
                    naive_cpu_s=[round(t, 3) for t in got["naive_cpu"]],
                    # The same ratio in CPU seconds (both in this process): what a loaded
                    # machine disturbs least, though it cannot show the ingest's two threads
                    # overlapping.
                    ratio_to_naive_cpu=median(got["naive_cpu"]) / median(got["cpu"]),
                )
            results.append(
                StageResult(
                    name=f"{fmt}_ingest_{db}",
                    value=n / median(times),
                    unit="positions/s",
                    target=TARGET,
                    higher_is_better=True,
                    detail=detail,
                )
            )
            if with_naive:
                results.append(
                    StageResult(
                        name=f"{fmt}_ingest_{db}_vs_naive",
                        value=detail["ratio_to_naive"],
                        unit="× naive",
                        target=NAIVE_RATIO_TARGET,
                        higher_is_better=True,
                        detail={
                            "naive": "pandas read_csv + sqlite3 executemany, positions only",
                            "naive_positions_per_s": detail["naive_positions_per_s"],
                            "oddflights_positions_per_s": n / median(times),
                            "ratio_paired": detail["ratio_to_naive_paired"],
                            "ratio_cpu": detail["ratio_to_naive_cpu"],
                            "loadavg_1m": detail["loadavg_1m"],
                        },
                    )
                )
    return results
