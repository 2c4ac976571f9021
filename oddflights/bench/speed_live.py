"""Benchmark stage ``live``: the live TCP client fed as fast as a local server can send.

A thread on 127.0.0.1 sends a simulated day's SBS lines (or Beast/AVR frames) and closes; the
client parses, validates and writes them to SQLite as it would from a receiver. The figure is
input lines (or frames) per second from connect to the last row stored.
"""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from oddflights.bench.speed import SpeedContext, StageResult, median, register_stage
from oddflights.db import open_db
from oddflights.db.receivers import add_receiver
from oddflights.ingest.live import run_live
from oddflights.ingest.types import ParseOptions
from oddflights.receivers import Receiver
from oddflights.simulate.modes_encode import beast_bytes, encode_positions
from oddflights.simulate.writers import sbs_lines

TARGET_LINES_PER_S = 50_000
# Enough input for a steady figure without making the benchmark minutes long.
MAX_LINES = 600_000


def _serve(payload: bytes, stop: threading.Event) -> int:
    server = socket.create_server(("127.0.0.1", 0))
    port = int(server.getsockname()[1])

    def send() -> None:
        with server:
            server.settimeout(30)
            conn, _ = server.accept()
            with conn:
                conn.sendall(payload)
        stop.set()  # the client drains what was sent, flushes and returns

    threading.Thread(target=send, daemon=True).start()
    return port


def _payloads(ctx: SpeedContext) -> dict[str, tuple[bytes, int]]:
    sim = ctx.simulation()
    lines, _ = sbs_lines(sim.positions, np.random.default_rng(0))
    text = lines.to_pylist()[:MAX_LINES]
    sbs = ("\r\n".join(text) + "\r\n").encode()
    ts, frames = encode_positions(sim.positions)
    ts, frames = ts[:MAX_LINES], frames[:MAX_LINES]
    first = sim.positions["ts"].min()
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return {"sbs": (sbs, len(text)), "beast": (beast_bytes(ts, frames, start), len(ts))}


@register_stage("live")
def bench_live(ctx: SpeedContext) -> list[StageResult]:
    """Lines per second through the live client (SBS and Beast) into SQLite."""
    sim = ctx.simulation()
    cfg = sim.config
    results = []
    for fmt, (payload, n_lines) in _payloads(ctx).items():
        runs: list[float] = []
        accepted: list[int] = []
        for k in range(ctx.repeats):
            db = Path(ctx.workdir) / f"live-{fmt}-{k}.db"
            db.unlink(missing_ok=True)
            engine = open_db(f"sqlite:///{db}")
            receiver = add_receiver(
                engine, Receiver("bench", cfg.lat, cfg.lon, range_km=cfg.range_km)
            )
            stop = threading.Event()
            port = _serve(payload, stop)
            summary = run_live(
                engine, receiver, "127.0.0.1", port, fmt,
                options=ParseOptions(receiver), stop=stop,
                spool_path=Path(ctx.workdir) / f"live-{fmt}.spool", max_backoff_s=1.0,
                close_timeout_s=None,  # the figure counts every row written
            )  # fmt: skip
            engine.dispose()
            runs.append(summary.seconds)
            accepted.append(summary.accepted)
        results.append(
            StageResult(
                name=f"live_{fmt}_sqlite",
                value=n_lines / median(runs),
                unit="lines/s",
                target=TARGET_LINES_PER_S,
                higher_is_better=True,
                detail={"lines": n_lines, "accepted": accepted, "seconds": runs},
            )
        )
    return results
