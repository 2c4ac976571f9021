"""Benchmark stage ``ingest``: positions per second from SBS and table files into the database."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from oddflights.bench.speed import SpeedContext, StageResult, median, register_stage
from oddflights.columns import POSITION_COLUMNS
from oddflights.db import open_db
from oddflights.db.receivers import add_receiver, remove_receiver
from oddflights.ingest.export import write_table
from oddflights.ingest.formats import open_input, parse_input
from oddflights.ingest.sbs import format_sbs
from oddflights.ingest.table import table_frame
from oddflights.ingest.types import ParseOptions
from oddflights.ingest.writer import ingest_chunks
from oddflights.receivers import Receiver

TARGET = 300_000.0


def _files(ctx: SpeedContext) -> tuple[int, dict[str, Path]]:
    sim = ctx.simulation()
    positions = sim.positions.loc[:, list(POSITION_COLUMNS)]
    files = {"sbs": ctx.workdir / "ingest.sbs", "table": ctx.workdir / "ingest.parquet"}
    files["sbs"].write_bytes(format_sbs(positions))
    buf = io.BytesIO()
    write_table(table_frame(positions), buf, "parquet")
    files["table"].write_bytes(buf.getvalue())
    return len(positions), files


def _one(url: str, fmt: str, path: Path, repeats: int, ctx: SpeedContext) -> dict[str, Any]:
    engine = open_db(url)
    cfg = ctx.simulation().config
    names: list[str] = []
    counter = iter(range(1_000_000))

    def run() -> None:
        # A fresh receiver each time: every repeat inserts every row (no duplicates).
        rec = add_receiver(engine, Receiver(f"bench-ingest-{next(counter)}", cfg.lat, cfg.lon))
        names.append(rec.name)
        with open_input(path) as stream:
            summary = ingest_chunks(
                engine, rec, parse_input(stream, fmt, ParseOptions(rec)), source=fmt
            )
        assert summary.rejected == 0

    try:
        times = ctx.timed(run)
    finally:
        for name in names:
            remove_receiver(engine, name)
        engine.dispose()
    return {"times": times}


@register_stage("ingest")
def bench_ingest(ctx: SpeedContext) -> list[StageResult]:
    """SBS and table (Parquet) files of one simulated day into SQLite (and PostgreSQL)."""
    n, files = _files(ctx)
    targets = [("sqlite", f"sqlite:///{ctx.workdir / 'bench-ingest.db'}")]
    if ctx.pg_url:
        targets.append(("postgresql", ctx.pg_url))
    results = []
    for db, url in targets:
        for fmt, path in files.items():
            times = _one(url, fmt, path, ctx.repeats, ctx)["times"]
            results.append(
                StageResult(
                    name=f"{fmt}_ingest_{db}",
                    value=n / median(times),
                    unit="positions/s",
                    target=TARGET,
                    higher_is_better=True,
                    detail={
                        "positions": n,
                        "file_bytes": path.stat().st_size,
                        "median_s": median(times),
                        "times_s": [round(t, 3) for t in times],
                    },
                )
            )
    return results
