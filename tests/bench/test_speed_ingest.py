"""`bench speed --stage ingest` reports the naive baseline (pandas read_csv + sqlite3
executemany of the same SBS file, in the same run) and the ratio to it. No timing is asserted:
only that the figures are there, consistent and sane."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from oddflights.bench.speed import SpeedContext
from oddflights.bench.speed_ingest import NAIVE_RATIO_TARGET, bench_ingest, naive_sbs_sqlite


def test_ingest_stage_carries_the_naive_baseline_and_the_ratio(tmp_path: Path) -> None:
    ctx = SpeedContext(flights_per_day=3, repeats=2, workdir=tmp_path)
    results = {r.name: r for r in bench_ingest(ctx)}
    assert set(results) == {
        "sbs_ingest_sqlite",
        "sbs_ingest_sqlite_vs_naive",
        "table_ingest_sqlite",
    }
    sbs = results["sbs_ingest_sqlite"].detail
    n = sbs["positions"]
    # The naive load reads the same file's positions: as many rows as oddflights stores.
    assert sbs["naive_positions"] == n > 100
    assert len(sbs["naive_times_s"]) == len(sbs["times_s"]) == 2
    assert all(t > 0 for t in sbs["naive_times_s"])
    assert sbs["naive_positions_per_s"] == pytest.approx(n / sbs["naive_median_s"])
    oddflights_rate = results["sbs_ingest_sqlite"].value
    assert sbs["ratio_to_naive"] == pytest.approx(oddflights_rate / sbs["naive_positions_per_s"])
    assert 0 < sbs["ratio_to_naive"] < 100
    assert len(sbs["naive_cpu_s"]) == 2 and 0 < sbs["ratio_to_naive_cpu"] < 100
    pairs = [b / a for a, b in zip(sbs["times_s"], sbs["naive_times_s"], strict=True)]
    assert sbs["ratio_to_naive_paired"] == pytest.approx(sum(pairs) / 2, rel=0.05)
    ratio = results["sbs_ingest_sqlite_vs_naive"]
    assert ratio.value == sbs["ratio_to_naive"] and ratio.target == NAIVE_RATIO_TARGET
    assert ratio.meets == (ratio.value >= NAIVE_RATIO_TARGET)
    assert ratio.to_json()["detail"]["oddflights_positions_per_s"] == oddflights_rate
    # Only SBS into SQLite has a baseline; its scratch database is gone.
    assert "ratio_to_naive" not in results["table_ingest_sqlite"].detail
    assert not (tmp_path / "bench-ingest-naive.db").exists()


def test_naive_baseline_stores_the_positions_it_read(tmp_path: Path) -> None:
    sbs = tmp_path / "a.sbs"
    sbs.write_text(
        "MSG,1,1,1,4CA2B3,1,2026/01/15,06:00:00.000,2026/01/15,06:00:00.000,RYR1,,,,,,,,,,,0\n"
        "MSG,3,1,1,4CA2B3,1,2026/01/15,06:00:01.500,2026/01/15,06:00:01.500,,3000,,,52.1,4.5,,,,,,0\n"
        "MSG,4,1,1,4CA2B3,1,2026/01/15,06:00:02.000,2026/01/15,06:00:02.000,,,250,90,,,0,,,,,0\n"
        "MSG,3,1,1,4CA2B3,1,2026/01/15,06:00:03.000,2026/01/15,06:00:03.000,,3100,,,,,,,,,,0\n"
    )
    db = tmp_path / "naive.db"
    assert naive_sbs_sqlite([sbs], db) == 1
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT * FROM positions").fetchall()
    assert rows == [("4CA2B3", 1768456801500, 52.1, 4.5, 3000.0)]
