"""`bench scale` end to end on a tiny workload over the real PostgreSQL: a LocalCluster of 1
and then 2 worker processes. No timing is asserted: only that the figures are there,
consistent, and that both runs stored the same scores."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from oddflights.bench.scale import ScaleConfig, run_scale
from oddflights.db import open_db
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs ODDFLIGHTS_TEST_PG_URL"),
]


def _schemas() -> set[str]:
    engine = open_db(PG_URL, migrate=False)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT nspname FROM pg_namespace"))
            return {r[0] for r in rows if r[0].startswith("scale_")}
    finally:
        engine.dispose()


def test_bench_scale_reports_speedup_its_bound_and_identical_scores() -> None:
    before = _schemas()
    report = run_scale(ScaleConfig(receivers=2, flights_per_day=12, seed=3), PG_URL)
    assert _schemas() == before  # its schema is dropped after
    runs = report["runs"]
    assert [r["workers"] for r in runs] == [1, 2]
    for r in runs:
        assert r["ok"] and r["receiver_days"] == 2
        assert r["scores_identical"] is True
        assert r["receiver_days_per_min"] == pytest.approx(2 / r["seconds"] * 60)
        assert len(r["peak_rss_mb_per_worker"]) == r["workers"]
        assert all(50 < m < 4096 for m in r["peak_rss_mb_per_worker"])
        assert r["workers_cpu_s"] > 0
        cores = os.cpu_count() or 1
        if r["machine_busy_cores"] is not None:  # Linux: /proc/stat
            assert 0 < r["machine_busy_cores"] <= cores + 0.5
            # The bound: no more than n/n0, nor than the cores over the first run's busy ones.
            assert r["speedup_bound"] == pytest.approx(
                min(r["workers"], cores / runs[0]["machine_busy_cores"])
            )
    assert runs[0]["speedup"] == 1.0
    assert runs[1]["speedup"] == pytest.approx(
        runs[1]["receiver_days_per_min"] / runs[0]["receiver_days_per_min"]
    )
    cap = report["capacity"]
    assert cap["workers_1000"] >= 1 and cap["workers_10000"] >= cap["workers_1000"]
    assert report["load"]["positions"] > 0
