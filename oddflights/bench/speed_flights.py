"""Benchmark stage `flights`: build a simulated 1 Hz day from SQLite, the day's read alone,
the bytes a position takes (SQLite, and PostgreSQL when a URL is given), and rasterize alone."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.bench.speed import SpeedContext, StageResult, median, register_stage
from oddflights.columns import TRACK_COLUMNS
from oddflights.db import open_db
from oddflights.db.positions import read_position_arrays, read_positions, write_positions
from oddflights.db.receivers import add_receiver
from oddflights.db.types import to_millis
from oddflights.flights.build import LEAD, TAIL, build_flights, flights_frame, raster_settings
from oddflights.flights.raster import rasterize_many
from oddflights.flights.segment import make_flights
from oddflights.receivers import Receiver

# Targets from issue 4, for a 1,000-flight day on the 2-core dev machine.
BUILD_S_PER_1000 = 10.0
RASTER_FLIGHTS_PER_S = 5_000.0
# Issue 17: a day's positions read back from SQLite (as the build reads them).
DAY_READ_ROWS_PER_S = 1_000_000.0


def cpu_timed(ctx: SpeedContext, fn: Any) -> list[float]:
    """CPU seconds of this process taken by each of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(ctx.repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return times


# Issue 17: bytes a stored position takes.
BYTES_PER_POSITION = 50.0


def sqlite_bytes(engine: Engine, path: Path, rows: int) -> StageResult:
    """The SQLite file's bytes per position (after a WAL checkpoint), with dbstat's pages of
    positions and its dictionaries, and the bytes those pages hold (SQLite's page splits on
    append leave its b-tree pages ~88 % full; a VACUUM packs them)."""
    tables = ("positions", "callsigns", "sqlite_autoindex_callsigns_1", "position_sources")
    marks = ", ".join("?" * len(tables))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            pages, used = conn.exec_driver_sql(
                f"SELECT sum(pgsize), sum(pgsize - unused) FROM dbstat WHERE name IN ({marks})",
                tables,
            ).one()
        except sa.exc.OperationalError:  # a SQLite built without dbstat
            pages = used = None
    size = path.stat().st_size
    return StageResult(
        name="positions_bytes_sqlite",
        value=size / rows,
        unit="B/position",
        target=BYTES_PER_POSITION,
        higher_is_better=False,
        detail={
            "positions": rows,
            "file_bytes": size,
            "table_pages_bytes_per_position": None if pages is None else round(pages / rows, 2),
            "table_used_bytes_per_position": None if used is None else round(used / rows, 2),
        },
    )


def postgres_bytes(pg_url: str, positions: pd.DataFrame) -> StageResult:
    """pg_total_relation_size of positions (its partitions', indexes and TOAST included) per
    position, the day written into a fresh schema that is dropped after."""
    schema = "bytes_" + uuid.uuid4().hex[:10]
    admin = open_db(pg_url, migrate=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = (
        sa.engine.make_url(pg_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = open_db(url)
    try:
        receiver = add_receiver(engine, Receiver("bench", 52.0, 4.5, 400.0, "UTC"))
        assert receiver.id is not None
        write_positions(engine, receiver.id, positions, "bench")
        with engine.begin() as conn:
            # A partitioned table's own size is 0: its partitions (day partitions) summed.
            size = conn.exec_driver_sql(
                "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('positions')"
            ).scalar_one()
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    return StageResult(
        name="positions_bytes_postgresql",
        value=int(size) / len(positions),
        unit="B/position",
        target=None,
        higher_is_better=False,
        detail={"positions": len(positions), "relation_bytes": int(size)},
    )


@register_stage("flights")
def bench_flights(ctx: SpeedContext) -> list[StageResult]:
    """Median seconds to build one day's flights (database read and write included), the
    median time of each step, and rasterizing alone in flights/s."""

    sim = ctx.simulation()
    cfg = sim.config
    day = cfg.start_day
    db = ctx.workdir / "bench_flights.db"
    db.unlink(missing_ok=True)
    engine = open_db(f"sqlite:///{db}")
    try:
        receiver = add_receiver(
            engine, Receiver("bench", cfg.lat, cfg.lon, cfg.range_km, cfg.timezone)
        )
        assert receiver.id is not None
        write_positions(engine, receiver.id, sim.positions, "bench")
        n_positions = len(sim.positions)
        storage = [sqlite_bytes(engine, db, n_positions)]  # before flights fill the file
        summary = build_flights(engine, receiver, [day])
        build_times = ctx.timed(lambda: build_flights(engine, receiver, [day]))

        # The steps one by one, to show where the time goes.
        start, end = receiver.day_bounds(day)
        steps: dict[str, list[float]] = {"read": [], "cut_clean": [], "features_raster": []}
        flights: Any = None
        for _ in range(ctx.repeats):
            t0 = time.perf_counter()
            positions = read_positions(
                engine, receiver.id, start - LEAD, end + TAIL, columns=TRACK_COLUMNS
            )
            t1 = time.perf_counter()
            flights = make_flights(positions, start=start, end=end)
            t2 = time.perf_counter()
            flights_frame(flights, receiver, raster_settings(receiver))
            t3 = time.perf_counter()
            steps["read"].append(t1 - t0)
            steps["cut_clean"].append(t2 - t1)
            steps["features_raster"].append(t3 - t2)
        # The day's read alone, as build_day does it (compact typed columns), beside the
        # DataFrame reader of the same rows (the in-run baseline).
        rid = receiver.id

        def day_read() -> int:
            got = read_position_arrays(engine, rid, start - LEAD, end + TAIL, columns=TRACK_COLUMNS)
            return len(got)

        def frame_read() -> int:
            got = read_positions(engine, rid, start - LEAD, end + TAIL, columns=TRACK_COLUMNS)
            return len(got)

        def plain_read() -> int:
            # The plainest read of the same rows: SELECT * and fetchall on the raw driver.
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                got = raw.execute(
                    "SELECT * FROM positions WHERE receiver_id = ? AND ts >= ? AND ts < ?",
                    (rid, to_millis(start - LEAD), to_millis(end + TAIL)),
                ).fetchall()
            return len(got)

        read_rows = day_read()
        read_times = ctx.timed(day_read)
        frame_times = ctx.timed(frame_read)
        plain_times = ctx.timed(plain_read)
        read_cpu = cpu_timed(ctx, day_read)
        plain_cpu = cpu_timed(ctx, plain_read)
    finally:
        engine.dispose()
    if ctx.pg_url:
        storage.append(postgres_bytes(ctx.pg_url, sim.positions))

    settings = raster_settings(receiver)
    pts = flights.points
    lat = pts["lat"].to_numpy(dtype="float64")
    lon = pts["lon"].to_numpy(dtype="float64")
    centre = (receiver.lat, receiver.lon)
    n_flights = len(flights.offsets) - 1
    rasterize_many(lat, lon, flights.offsets, centre, settings)  # warm up
    raster_times = ctx.timed(lambda: rasterize_many(lat, lon, flights.offsets, centre, settings))

    build_s = median(build_times)
    scale = ctx.flights_per_day / 1000.0
    return [
        StageResult(
            name="flights_build_sqlite",
            value=build_s,
            unit="s/day",
            target=BUILD_S_PER_1000 * scale,
            higher_is_better=False,
            detail={
                "flights": summary.flights,
                "positions": n_positions,
                "positions_per_s": n_positions / build_s if build_s else None,
                "dropped": summary.dropped,
                "step_median_s": {k: round(median(v), 3) for k, v in steps.items()},
                "runs_s": [round(t, 3) for t in build_times],
            },
        ),
        StageResult(
            name="day_read_sqlite",
            value=read_rows / median(read_times),
            unit="rows/s",
            target=DAY_READ_ROWS_PER_S,
            higher_is_better=True,
            detail={
                "rows": read_rows,
                "dataframe_rows_per_s": round(read_rows / median(frame_times)),
                "speedup_vs_dataframe": round(median(frame_times) / median(read_times), 2),
                "select_star_fetchall_rows_per_s": round(read_rows / median(plain_times)),
                "speedup_vs_select_star": round(median(plain_times) / median(read_times), 2),
                "runs_s": [round(t, 3) for t in read_times],
                "dataframe_runs_s": [round(t, 3) for t in frame_times],
                "select_star_runs_s": [round(t, 3) for t in plain_times],
                # Rows per CPU second of this process: what a loaded machine disturbs least.
                "cpu_rows_per_s": round(read_rows / median(read_cpu)),
                "select_star_cpu_rows_per_s": round(read_rows / median(plain_cpu)),
                "loadavg_1m": round(os.getloadavg()[0], 2),
            },
        ),
        *storage,
        StageResult(
            name="flights_rasterize",
            value=n_flights / median(raster_times),
            unit="flights/s",
            target=RASTER_FLIGHTS_PER_S,
            higher_is_better=True,
            detail={
                "flights": n_flights,
                "points": len(lat),
                "settings": settings.key,
                "runs_s": [round(t, 4) for t in raster_times],
            },
        ),
    ]
