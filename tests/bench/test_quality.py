"""The benchmarks keep working: the quick quality run, honest ranking metrics, label matching,
and one cheap speed stage (the combined score's scaling: tests/model/test_detector.py)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from oddflights.bench.baselines import MissingSklearn, require_sklearn
from oddflights.bench.quality import (
    METRIC_KEYS,
    aggregate,
    label_flights,
    quality_rows,
    ranking_metrics,
    threshold_sweep,
    to_jsonable,
)
from oddflights.cli import main


@pytest.fixture(autouse=True, scope="module")
def _sklearn() -> None:
    # The bench extra (in the dev extra too); without it these tests skip with the reason.
    pytest.importorskip("sklearn")


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    # Progress lines go to stderr; stdout is one JSON document.
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def quick() -> Any:
    return _json(CliRunner().invoke(main, ["bench", "quality", "--quick", "--json"]))


def _check_entry(entry: dict[str, Any]) -> None:
    for key in METRIC_KEYS:
        assert key in entry and f"{key}_std" in entry
        value = entry[key]
        assert value is None or 0.0 <= value <= 1.0
    assert isinstance(entry["per_kind"], dict)


def test_quick_quality_run_has_the_json_shape_and_a_useful_detector(quick: Any) -> None:
    assert set(quick) >= {"detector", "baselines", "seeds", "parts", "config"}
    _check_entry(quick["detector"])
    assert quick["detector"]["roc_auc"] > 0.8  # a floor on the tiny setting, not the target
    assert quick["detector"]["ap"] > quick["baselines"]["lit_pixels"]["ap"]
    assert set(quick["baselines"]) == {
        "seed_config",
        "lit_pixels",
        "pca_error",
        "isolation_forest",
        "knn_distance",
        "turn_cum",
    }
    for entry in quick["baselines"].values():
        _check_entry(entry)
    # Every kind the simulator knows appears on the quick test day (10 % anomalies).
    assert set(quick["detector"]["per_kind"]) == {
        "holding",
        "orbit",
        "survey",
        "glider",
        "go_around",
        "off_route",
        "helicopter",
    }
    # The stored threshold's trade-off at other percentiles: a lower percentile flags more.
    sweep = quick["threshold_sweep"]
    assert list(sweep) == ["95", "97", "98", "99", "99.5"]
    flagged = [sweep[p]["flagged_share"] for p in sweep]
    recall = [sweep[p]["recall"] for p in sweep]
    assert flagged == sorted(flagged, reverse=True) and flagged[0] > flagged[-1]
    assert recall == sorted(recall, reverse=True)
    (seed,) = quick["seeds"]
    assert seed["detector_status"] == "ready"
    assert seed["detector"]["n_anomalies"] >= 7
    assert seed["detector"]["n_flights"] > 100
    # One seed: the spread is 0, the mean is that seed's figure.
    assert quick["detector"]["roc_auc_std"] == 0.0
    assert quick["detector"]["roc_auc"] == pytest.approx(seed["detector"]["roc_auc"])


def test_quick_quality_table_lists_detector_parts_and_baselines(quick: Any) -> None:
    rows = {r["detector"]: r for r in quality_rows(quick)}
    assert list(rows)[:2] == ["detector", "part: autoencoder"]
    assert "pca_error" in rows and "turn_cum" in rows
    assert rows["detector"]["roc_auc"] == f"{quick['detector']['roc_auc']:.3f}"


def test_a_constant_score_ranks_at_chance() -> None:
    kinds = np.array(["normal"] * 90 + ["orbit"] * 6 + ["survey"] * 4)
    m = ranking_metrics(np.full(100, 0.3), kinds, np.zeros(100, dtype=bool))
    assert m["roc_auc"] == 0.5
    assert m["ap"] == pytest.approx(0.1)  # the anomaly share, not 1.0
    assert m["p_at_k"] == pytest.approx(0.1)
    assert m["recall_at_threshold"] == 0.0
    assert m["per_kind"] == {"orbit": 0.5, "survey": 0.5}


def test_ranking_metrics_per_kind_and_recall() -> None:
    kinds = np.array(["normal"] * 6 + ["orbit", "orbit", "survey"])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9, 0.8, 0.55])
    m = ranking_metrics(scores, kinds, scores > 0.7)
    assert m["per_kind"]["orbit"] == 1.0
    assert m["per_kind"]["survey"] == pytest.approx(5 / 6)  # above 5 of the 6 normal flights
    assert m["recall_at_threshold"] == pytest.approx(2 / 3)
    assert m["precision_at_threshold"] == 1.0  # flagged: the two orbits only
    assert m["p_at_k"] == pytest.approx(2 / 3)  # top 3: orbit, orbit, a normal 0.6
    nothing_flagged = ranking_metrics(scores, kinds, scores > 5.0)
    assert math.isnan(nothing_flagged["precision_at_threshold"])  # undefined, not 0 or 1
    no_anomalies = ranking_metrics([0.1, 0.2], ["normal", "normal"])
    assert math.isnan(no_anomalies["roc_auc"])
    assert to_jsonable(no_anomalies)["roc_auc"] is None


def test_threshold_sweep_counts_flags_precision_and_recall() -> None:
    val = np.arange(100, dtype=np.float64)  # percentiles 95, 97, ... sit at 94.05, 96.03, ...
    test = np.array([10.0, 50.0, 95.0, 96.0, 98.0, 99.5])
    kinds = np.array(["normal", "normal", "normal", "orbit", "survey", "orbit"])
    sweep = threshold_sweep(val, test, kinds)
    assert sweep["95"] == {"flagged_share": 4 / 6, "precision": 0.75, "recall": 1.0}
    assert sweep["99.5"]["flagged_share"] == pytest.approx(1 / 6)  # only 99.5 > 98.505
    assert sweep["99.5"]["recall"] == pytest.approx(1 / 3)


def test_aggregate_gives_means_and_spreads() -> None:
    runs = [
        {"roc_auc": 0.9, "ap": 0.5, "p_at_k": 0.4, "recall_at_threshold": 0.2},
        {"roc_auc": 1.0, "ap": 0.7, "p_at_k": 0.6, "recall_at_threshold": 0.4},
    ]
    runs[0]["precision_at_threshold"], runs[1]["precision_at_threshold"] = 1.0, math.nan
    runs[0]["per_kind"] = {"orbit": 1.0}
    runs[1]["per_kind"] = {"orbit": 0.8, "survey": 0.6}
    agg = aggregate(runs)
    assert agg["roc_auc"] == pytest.approx(0.95)
    assert agg["roc_auc_std"] == pytest.approx(np.std([0.9, 1.0], ddof=1))
    assert agg["per_kind"] == pytest.approx({"orbit": 0.9, "survey": 0.6})
    assert agg["per_kind_std"]["survey"] == 0.0
    # A seed where nothing was flagged has no precision: the mean is over the others.
    assert agg["precision_at_threshold"] == 1.0


def test_labels_match_flights_by_aircraft_and_time_overlap() -> None:
    t = pd.Timestamp("2026-03-02 10:00", tz="UTC")
    m = pd.Timedelta(minutes=1)
    flights = pd.DataFrame(
        {
            "icao24": ["abc123", "abc123", "def456", "0a0a0a"],
            "start_ts": [t, t + 60 * m, t, t],
            "end_ts": [t + 30 * m, t + 90 * m, t + 20 * m, t + 20 * m],
        }
    )
    labels = pd.DataFrame(
        {
            "icao24": ["ABC123", "abc123", "def456"],
            "start": [t - 5 * m, t + 55 * m, t + 25 * m],  # the last one does not overlap
            "end": [t + 31 * m, t + 95 * m, t + 40 * m],
            "kind": ["normal", "orbit", "survey"],
        }
    )
    assert label_flights(flights, labels).tolist() == ["normal", "orbit", "normal", "normal"]


def test_missing_sklearn_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(MissingSklearn, match=r"pip install 'oddflights\[bench\]'"):
        require_sklearn()


def test_core_package_does_not_import_sklearn() -> None:
    import subprocess

    code = (
        "import sys, oddflights.cli, oddflights.scoring.score, oddflights.model.score; "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_speed_quick_run_of_one_cheap_stage() -> None:
    result = CliRunner().invoke(
        main,
        [*("bench", "speed", "--stage", "flights", "--flights-per-day", "40"), "--json"],
    )
    report = _json(result)
    assert set(report) >= {"stages", "machine"}
    assert report["stages"]
    for stage in report["stages"].values():
        assert {"value", "unit", "target", "meets"} <= set(stage)
        assert stage["value"] > 0
    assert report["machine"]["cpus"] >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--flights-per-day", "10"], "10"),
        (["--days", "1"], "1"),
    ],
)
def test_bad_quality_arguments_are_one_line_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["bench", "quality", *args])
    assert result.exit_code == 2
    assert message in result.output
