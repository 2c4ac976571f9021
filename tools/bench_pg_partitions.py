"""COPY into PostgreSQL positions, one table (schema 0010) against day partitions (0011).

Each round writes the same prepared rows (one receiver, 600 aircraft, one UTC day) into a
fresh schema at each revision, alternately, and times ``write_prepared`` (the COPY straight
into positions); the day's partition is made before the clock starts, as ingest makes it once
a day. Prints each round, the medians and the median of the per-round ratios, then what making
one day's partition costs.

    ODDFLIGHTS_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tools/bench_pg_partitions.py [ROWS] [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import command

from oddflights.db import open_db
from oddflights.db import partitions as parts
from oddflights.db.engine import alembic_config, create_engine
from oddflights.db.positions import prepare_positions, write_prepared
from oddflights.db.receivers import add_receiver
from oddflights.receivers import Receiver

T0 = datetime(2026, 3, 10, tzinfo=UTC)


def positions(n: int) -> pd.DataFrame:
    """``n`` positions of 600 aircraft, each every 20 s, from T0 (n <= 2.5 M stays in a day)."""
    rng = np.random.default_rng(1)
    k = np.arange(n)
    icao = np.array([f"{i:06x}" for i in range(600)])
    return pd.DataFrame(
        {
            "icao24": icao[k % 600],
            "ts": pd.Timestamp(T0) + pd.to_timedelta((k // 600) * 20.0 + (k % 600) * 0.01, "s"),
            "lat": 52 + rng.normal(size=n),
            "lon": 5 + rng.normal(size=n),
            "altitude_ft": rng.uniform(0, 40_000, n),
            "groundspeed_kt": rng.uniform(0, 500, n),
            "track_deg": rng.uniform(0, 360, n),
            "vertical_rate_fpm": rng.normal(size=n) * 500,
            "callsign": "KLM123",
            "squawk": "1000",
            "onground": False,
        }
    )


def schema_url(base: str, schema: str) -> str:
    url = sa.engine.make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def main() -> None:
    base = os.environ["ODDFLIGHTS_TEST_PG_URL"]
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    df = positions(n)
    admin = open_db(base, migrate=False)
    times: dict[str, list[float]] = {"0010": [], "0011": []}
    for r in range(rounds):
        for rev in times:
            schema = "b_" + uuid.uuid4().hex[:10]
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            eng = create_engine(schema_url(base, schema))
            try:
                with eng.begin() as conn:
                    command.upgrade(alembic_config(conn), rev)
                rec = add_receiver(eng, Receiver("b", 52.0, 5.0))
                assert rec.id is not None
                prepared = prepare_positions("postgresql", rec.id, df, "bench")
                parts.ensure_for_batch(eng, *prepared.span)
                t = time.perf_counter()
                assert write_prepared(eng, prepared).accepted == n
                times[rev].append(time.perf_counter() - t)
            finally:
                eng.dispose()
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            print(f"round {r} {rev}: {n / times[rev][-1] / 1e3:.0f} k rows/s", flush=True)
    for rev, ts in times.items():
        m = statistics.median(ts)
        print(f"{rev}: median {m:.2f} s, {n / m / 1e3:.0f} k rows/s")
    ratio = statistics.median(b / a for a, b in zip(times["0010"], times["0011"], strict=True))
    print(f"median per-round time ratio 0011/0010: {ratio:.3f}")
    schema = "b_" + uuid.uuid4().hex[:10]
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    eng = open_db(schema_url(base, schema))
    made = []
    for i in range(5):
        day = (T0 + timedelta(days=10 * i)).date()
        t = time.perf_counter()
        parts.ensure_partitions(eng, day, day + timedelta(days=2))
        made.append((time.perf_counter() - t) / 3)
    eng.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()
    print(f"making a day's partition: median {statistics.median(made) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
