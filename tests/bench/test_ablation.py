"""The ablation keeps working: its grid, its false-alarm figure, and a tiny run of the
augmentation grid on varied simulated days."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from oddflights.bench.ablation import (
    AUGMENTATIONS,
    VARIED_TEST_DAYS,
    Grid,
    false_alarms_per_1000,
    run_ablation,
    summarize,
)
from oddflights.bench.quality import QualityConfig
from oddflights.model.detector import COMBINATIONS
from oddflights.model.score import SCORE_FNS
from oddflights.model.train_config import TrainConfig


def test_false_alarms_per_1000_counts_flagged_normal_flights_only() -> None:
    kinds = ["normal"] * 8 + ["holding", "off_route"]
    flagged = [True, False, False, False, False, False, False, False, True, True]
    assert false_alarms_per_1000(kinds, flagged) == 125.0  # 1 of 8 normal flights
    assert math.isnan(false_alarms_per_1000(["holding"], [True]))


def test_every_augmentation_is_a_valid_training_config() -> None:
    for values in AUGMENTATIONS.values():
        TrainConfig(**values)
    # The seed's is in the grid, beside none and the day-to-day variation.
    assert {"none", "variation", "shift10_flip"} <= set(Grid.augmentation().augmentations)
    assert AUGMENTATIONS["shift10_flip"] == {"shift_px": 10, "flip": True, "augment": "none"}
    with pytest.raises(ValueError, match="'mirror'"):
        Grid(augmentations=("mirror",))
    with pytest.raises(ValueError, match="'windy'"):
        Grid(setups=("windy",))


def test_the_detector_grid_holds_every_score_part_on_one_training() -> None:
    grid = Grid.detector()
    assert set(grid.score_fns) == {"bce", "lit_bce", "track_bce"} <= set(SCORE_FNS)
    assert set(grid.combines) == set(COMBINATIONS)
    assert (len(grid.losses), len(grid.augmentations), len(grid.line_widths)) == (1, 1, 1)


@pytest.mark.slow
def test_tiny_augmentation_ablation_on_varied_days(tmp_path: Path) -> None:
    cfg = QualityConfig.quick()
    grid = Grid(
        losses=("bce",),
        augmentations=("none", "variation"),
        score_fns=("bce", "track_bce"),
        line_widths=(1,),
        combines=("ae_turn", "ae_turn_rarity"),
        setups=("varied",),
    )
    rows = run_ablation(cfg, grid, tmp_path)
    assert len(rows) == 2 * 2 * 2 * len(VARIED_TEST_DAYS)
    assert {(r["score_fn"], r["combine"]) for r in rows} == {
        (f, c) for f in ("bce", "track_bce") for c in ("ae_turn", "ae_turn_rarity")
    }
    assert {r["test_day"] for r in rows} == set(VARIED_TEST_DAYS)
    for r in rows:
        assert r["setup"] == "varied" and r["status"] == "ready"
        assert 0.0 <= r["false_alarms_per_1000"] <= 1000.0
        assert r["roc_auc"] > 0.6  # a floor on the tiny setting, not the target
    summary = summarize(rows)
    assert len(summary) == len(rows) and all(s["seeds"] == 1 for s in summary)
