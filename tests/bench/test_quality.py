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
    FIRST_DAY,
    METRIC_KEYS,
    MIN_REVERSED_TRAIN_DAYS,
    VARIED_TEST_DAYS,
    QualityConfig,
    aggregate,
    calibration_sweep,
    false_alarm_rows,
    false_alarms_per_1000,
    headline_rows,
    label_flights,
    quality_rows,
    ranking_metrics,
    reversed_train_overrides,
    threshold_sweep,
    to_jsonable,
    varied_sim_config,
)
from oddflights.cli import main
from oddflights.simulate import day_plans


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
        top = 1000.0 if key == "false_alarms_per_1000" else 1.0
        assert value is None or 0.0 <= value <= top
    assert isinstance(entry["per_kind"], dict)


def test_quick_quality_run_has_the_json_shape_and_a_useful_detector(quick: Any) -> None:
    assert set(quick) >= {"detector", "baselines", "seeds", "parts", "config", "days"}
    assert quick["setup"] == "varied"
    # The headline per test day: false alarms per 1,000 normal flights and recall at the
    # stored threshold, each day on its own.
    assert list(quick["days"]) == ["ordinary", "reversed_runway", "coverage"]
    (seed,) = quick["seeds"]
    for name, day in quick["days"].items():
        _check_entry(day)
        per_seed = seed["days"][name]
        assert day["false_alarms_per_1000"] == pytest.approx(per_seed["false_alarms_per_1000"])
        assert per_seed["n_flights"] > 30 and per_seed["n_anomalies"] >= 2
    pooled = seed["detector"]
    assert pooled["n_flights"] == sum(d["n_flights"] for d in seed["days"].values())
    # The stored threshold is a false-alarm rule's (the default), calibrated on the
    # validation day(s).
    assert seed["calibration"]["method"] == "false_alarm_rate"
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
    assert seed["detector_status"] == "ready"
    assert seed["detector"]["n_anomalies"] >= 7
    assert seed["detector"]["n_flights"] > 100
    # One seed: the spread is 0, the mean is that seed's figure.
    assert quick["detector"]["roc_auc_std"] == 0.0
    assert quick["detector"]["roc_auc"] == pytest.approx(seed["detector"]["roc_auc"])


def test_quick_quality_explains_the_top_scoring_normal_flights(quick: Any) -> None:
    rows = quick["false_alarms"]
    assert 0 < len(rows) <= 10
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    (seed,) = quick["seeds"]
    for r in rows:
        assert r["test_day"] in VARIED_TEST_DAYS and isinstance(r["tags"], list)
        assert r["variant"] in {"", "rare_airway", "diversion", "positioning"}
        # The combined score is the larger scaled part, and "by" names that part.
        assert r["score"] == pytest.approx(max(r["reconstruction_z"], r["turn_z"]), abs=1e-9)
        want = "turn" if r["turn_z"] > r["reconstruction_z"] else "reconstruction"
        assert r["by"] == want
    # Normal flights only: the highest ones are the false alarms, when any were flagged.
    flagged = sum(r["flagged"] for r in rows)
    fa = sum(
        seed["days"][n]["false_alarms_per_1000"] * (d["n_flights"] - d["n_anomalies"]) / 1000
        for n, d in seed["days"].items()
    )
    assert flagged == min(round(fa), len(rows))
    table = false_alarm_rows(quick)
    assert [t["flight"] for t in table] == [r["flight_id"] for r in rows]


def test_quick_quality_headline_comes_per_test_day(quick: Any) -> None:
    rows = headline_rows(quick)
    assert [r["test day"] for r in rows] == list(VARIED_TEST_DAYS)
    first = rows[0]
    assert list(first)[:3] == ["test day", "false alarms / 1000", "recall@thr"]
    assert (
        first["false alarms / 1000"] == f"{quick['days']['ordinary']['false_alarms_per_1000']:.1f}"
    )


def test_varied_setup_days_are_what_they_say() -> None:
    cfg = QualityConfig.varied()
    assert (cfg.setup, cfg.train_days) == ("varied", 14)
    for seed in range(3):
        train = day_plans(
            varied_sim_config(cfg, seed, 14, FIRST_DAY, 0.02, reversed_train_overrides(cfg, seed))
        )
        assert sum(p.runway == "reversed" for p in train) >= MIN_REVERSED_TRAIN_DAYS
    test_start = FIRST_DAY + pd.Timedelta(days=14)
    overrides = {
        test_start + pd.Timedelta(days=i): o for i, o in enumerate(VARIED_TEST_DAYS.values())
    }
    ordinary, flipped, coverage = day_plans(
        varied_sim_config(cfg, 0, 3, test_start, 0.05, overrides)
    )
    assert ordinary.ordinary
    assert flipped.runway == "reversed" and not flipped.coverage_changed
    assert coverage.coverage_changed and not coverage.flipped


def test_false_alarms_per_1000_counts_normal_flights_only() -> None:
    kinds = np.array(["normal"] * 400 + ["orbit"] * 10)
    flagged = np.zeros(410, dtype=bool)
    flagged[[0, 1, 400, 401, 402]] = True
    assert false_alarms_per_1000(kinds, flagged) == pytest.approx(5.0)
    assert math.isnan(false_alarms_per_1000(["orbit"], [True]))
    m = ranking_metrics(np.arange(410.0), kinds, flagged)
    assert m["false_alarms_per_1000"] == pytest.approx(5.0)


def test_calibration_sweep_measures_each_rule_per_day() -> None:
    val = np.arange(1000, dtype=np.float64)
    test = np.array([500.0, 985.0, 990.0, 2000.0])
    kinds = np.array(["normal", "normal", "normal", "orbit"])
    sweep = calibration_sweep(val, {"day": (test, kinds)})
    assert len(sweep) == 12
    # No top set aside: the threshold sits near the top of the validation scores.
    strict = sweep["2/1000, top 0% set aside"]["day"]
    assert strict == {"false_alarms_per_1000": 0.0, "recall": 1.0}
    # 2 % set aside: the threshold falls below 980, so 985 and 990 are false alarms.
    loose = sweep["10/1000, top 2% set aside"]["day"]
    assert loose["false_alarms_per_1000"] == pytest.approx(2000 / 3)


@pytest.mark.slow
def test_quick_classic_setup_still_runs() -> None:
    report = _json(
        CliRunner().invoke(
            main, ["bench", "quality", "--quick", "--setup", "classic", "--no-baselines", "--json"]
        )
    )
    assert report["setup"] == "classic" and list(report["days"]) == ["test"]
    assert report["detector"]["roc_auc"] > 0.8
    assert report["days"]["test"]["roc_auc"] == pytest.approx(report["detector"]["roc_auc"])


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
            "variant": ["diversion", None, None],
        }
    )
    assert label_flights(flights, labels).tolist() == ["normal", "orbit", "normal", "normal"]
    # The rare-but-normal route a flight took, for explaining false alarms.
    assert label_flights(flights, labels, "variant").tolist() == ["diversion", "", "", ""]


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
