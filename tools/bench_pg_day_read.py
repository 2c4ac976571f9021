"""PostgreSQL day read: the binary COPY (db/pg_read.py) against the text SELECT it replaced.

One simulated receiver-day (300 flights at 1 Hz, ~0.55 M positions) is written once into the
schema ``bench_day_read`` (kept for reruns; ``--drop`` removes it). Each round reads the whole
day with both paths, alternately, on one pooled connection, and takes the wall time and the
CPU the PostgreSQL backend used (utime + stime of ``pg_backend_pid()`` from /proc: the server
must run on this machine). Prints each round and the medians.

    ODDFLIGHTS_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tools/bench_pg_day_read.py [ROUNDS] [--drop]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from oddflights.columns import POSITION_COLUMNS, TRACK_COLUMNS
from oddflights.db import open_db
from oddflights.db.pg_read import read_copy_arrays
from oddflights.db.positions import _select_arrays, read_position_arrays

SCHEMA = "bench_day_read"
DAY = date(2026, 3, 2)
FLIGHTS = 300


def schema_url(base: str, schema: str) -> str:
    url = sa.engine.make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def load(base: str) -> None:
    """The simulated day, written unless the schema already holds it."""
    from oddflights.db.positions import write_positions
    from oddflights.db.receivers import add_receiver, list_receivers
    from oddflights.receivers import Receiver
    from oddflights.simulate import SimConfig, simulate

    admin = open_db(base, migrate=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    admin.dispose()
    engine = open_db(schema_url(base, SCHEMA))
    try:
        if list_receivers(engine):
            return
        rec = add_receiver(engine, Receiver("day", 48.0, 2.0, 200.0, "UTC"))
        assert rec.id is not None
        sim = simulate(
            SimConfig(lat=48.0, lon=2.0, days=1, flights_per_day=FLIGHTS, start_day=DAY, seed=1)
        )
        write_positions(engine, rec.id, sim.positions)
        print(f"wrote {len(sim.positions):,} positions", flush=True)
    finally:
        engine.dispose()


def backend_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def same(a: object, b: object) -> bool:
    from oddflights.db.positions import PositionArrays

    assert isinstance(a, PositionArrays) and isinstance(b, PositionArrays)
    ok = a.columns == b.columns and np.array_equal(a.ts_us, b.ts_us)
    ok &= a.floats.keys() == b.floats.keys() and a.codes.keys() == b.codes.keys()
    for k in a.floats:
        ok &= np.array_equal(a.floats[k], b.floats[k], equal_nan=True)
    for k in a.codes:
        ok &= np.array_equal(a.codes[k], b.codes[k]) and a.codes[k].dtype == b.codes[k].dtype
        ok &= a.values[k].tolist() == b.values[k].tolist()
    ok &= (a.onground is None) == (b.onground is None)
    if a.onground is not None and b.onground is not None:
        ok &= np.array_equal(a.onground, b.onground)
    return bool(ok)


def main() -> None:
    base = os.environ["ODDFLIGHTS_TEST_PG_URL"]
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 5
    load(base)
    # One connection, so that every read runs in the backend whose CPU is measured.
    engine = open_db(schema_url(base, SCHEMA), pool_size=1, max_overflow=0)
    from oddflights.db.receivers import list_receivers

    rec_id = list_receivers(engine)[0].id
    assert rec_id is not None
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    with engine.connect() as conn:
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    # All columns, and what the nightly's build reads (TRACK_COLUMNS).
    track = ["icao24", "ts", *(c for c in ALL if c in TRACK_COLUMNS and c not in ("icao24", "ts"))]
    paths = {
        "select": lambda: _select_arrays(engine, rec_id, start, end, None, ALL),
        "copy": lambda: read_copy_arrays(engine, rec_id, start, end, None, ALL),
        "select track": lambda: _select_arrays(engine, rec_id, start, end, None, track),
        "copy track": lambda: read_copy_arrays(engine, rec_id, start, end, None, track),
    }
    old = paths["select"]()
    assert same(old, paths["copy"]()), "the two reads differ"
    assert same(old, read_position_arrays(engine, rec_id, start, end))
    assert same(paths["select track"](), paths["copy track"]()), "the two reads differ"
    rows = len(old)
    print(f"{rows:,} rows; load: {os.getloadavg()}", flush=True)
    times: dict[str, list[float]] = {k: [] for k in paths}
    cpus: dict[str, list[float]] = {k: [] for k in paths}
    pcpu: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(rounds):
        for name, read in paths.items() if r % 2 == 0 else reversed(paths.items()):
            c0, t0, p0 = backend_cpu_s(pid), time.perf_counter(), time.process_time()
            out = read()
            t, c = time.perf_counter() - t0, backend_cpu_s(pid) - c0
            p = time.process_time() - p0
            pcpu[name].append(p)
            assert len(out) == rows
            del out
            times[name].append(t)
            cpus[name].append(c)
            print(
                f"round {r + 1} {name:12s} {t:6.3f} s  {rows / t / 1e3:6.0f} k rows/s  "
                f"server CPU {c:5.2f} s  client CPU {p:5.2f} s",
                flush=True,
            )
    for name in paths:
        t, c = statistics.median(times[name]), statistics.median(cpus[name])
        p = statistics.median(pcpu[name])
        print(
            f"median {name:12s} {t:6.3f} s  {rows / t / 1e3:6.0f} k rows/s  "
            f"server CPU {c:5.2f} s  client CPU {p:5.2f} s"
        )
    print(f"load after: {os.getloadavg()}")
    engine.dispose()
    if "--drop" in sys.argv:
        admin = open_db(base, migrate=False)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{SCHEMA}" CASCADE')
        admin.dispose()


ALL = list(POSITION_COLUMNS)

if __name__ == "__main__":
    main()
