"""The ablation that picks the defaults: loss × augmentation × score function × line width,
each with the reconstruction error alone and combined with the cumulative turn.

Every cell is trained on the same simulated flights (arrays read from the scratch database,
as ``train_from_db`` reads them) and ranked on the same labelled test day as
``oddflights bench quality``. Score functions and the combination need no retraining, so a
seed costs one training per (line width, loss, augmentation).

Two set-ups: ``classic`` (the quality benchmark's days, all alike) and ``varied`` (days that
differ as real ones do, ``SimConfig(day_variation=True)``, ranked on three test days: an
ordinary one, one in the reversed runway configuration, which two training days also have,
and one with an outage and the range cut to 70 %). Each row also gives the false alarms per
1,000 normal flights at the detector's threshold, the figure a receiver owner reads.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from oddflights.bench.quality import (
    FIRST_DAY,
    NORMAL,
    RECEIVER,
    VARIED_TEST_DAYS,
    Progress,
    QualityConfig,
    SeedData,
    load_split,
    prepare_seed,
    ranking_metrics,
    train_config,
    varied_sim_config,
)
from oddflights.db import open_db
from oddflights.db.positions import write_positions
from oddflights.db.receivers import add_receiver
from oddflights.flights.build import build_flights
from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import fit_detector
from oddflights.simulate import simulate
from oddflights.simulate.days import DayOverride

# "augment" is always given so that the model_augment setting never leaks into a cell.
AUGMENTATIONS: dict[str, dict[str, Any]] = {
    "none": {"shift_px": 0, "flip": False, "augment": "none"},
    "shift2": {"shift_px": 2, "flip": False, "augment": "none"},
    "shift10_flip": {"shift_px": 10, "flip": True, "augment": "none"},  # the seed's
    "variation": {"shift_px": 0, "flip": False, "augment": "variation"},
    "coverage": {"shift_px": 0, "flip": False, "augment": "coverage"},
    "jitter": {"shift_px": 0, "flip": False, "augment": "jitter"},
}
SETUPS = ("classic", "varied")
# Training days (by index) forced into the reversed runway configuration, so that the
# reversed test day's configuration is one training has seen (the rest stays as drawn).
VARIED_REVERSED_TRAIN_DAYS = (1, 2)


@dataclass(frozen=True)
class Grid:
    """The axes of the ablation."""

    losses: Sequence[str] = ("bce", "weighted_bce")
    augmentations: Sequence[str] = ("none", "variation", "shift10_flip")
    score_fns: Sequence[str] = ("bce", "mse", "recall_loss")
    line_widths: Sequence[int] = (1, 2)
    combines: Sequence[str] = ("ae", "ae_turn")
    setups: Sequence[str] = ("classic",)

    def __post_init__(self) -> None:
        for aug in self.augmentations:
            if aug not in AUGMENTATIONS:
                raise ValueError(
                    f"unknown augmentation {aug!r} (choose from {', '.join(AUGMENTATIONS)})"
                )
        for setup in self.setups:
            if setup not in SETUPS:
                raise ValueError(f"unknown set-up {setup!r} (choose from {', '.join(SETUPS)})")

    @classmethod
    def augmentation(cls) -> Grid:
        """Augmentation only, at the other defaults (bce loss and score, 1 px lines), on both
        set-ups: one training per augmentation, set-up and seed."""
        return cls(
            losses=("bce",),
            augmentations=("none", "variation", "coverage", "jitter", "shift10_flip"),
            score_fns=("bce",),
            line_widths=(1,),
            setups=SETUPS,
        )

    @classmethod
    def detector(cls) -> Grid:
        """The detector's score parts only (issue 14 item 5): the two-sided, the one-sided
        and the per-track reconstruction scores, each alone, with the turn, and with the
        turn and the pixel rarity, on one default training per set-up and seed."""
        return cls(
            losses=("bce",),
            augmentations=("none",),
            score_fns=("bce", "lit_bce", "track_bce"),
            line_widths=(1,),
            combines=("ae", "ae_turn", "ae_turn_rarity"),
            setups=SETUPS,
        )


def false_alarms_per_1000(kinds: Any, flagged: Any) -> float:
    """Normal flights flagged per 1,000 normal flights (NaN when there are none)."""
    normal = np.asarray(kinds).astype(str) == NORMAL
    n = int(normal.sum())
    return 1000.0 * float(np.asarray(flagged, dtype=bool)[normal].sum()) / n if n else math.nan


def _cell(scores: Any, kinds: Any, flagged: Any) -> dict[str, Any]:
    m = ranking_metrics(scores, kinds, flagged)
    per_kind = [v for v in m["per_kind"].values() if math.isfinite(v)]
    return {
        "roc_auc": m["roc_auc"],
        "ap": m["ap"],
        "p_at_k": m["p_at_k"],
        "recall_at_threshold": m["recall_at_threshold"],
        "false_alarms_per_1000": false_alarms_per_1000(kinds, flagged),
        "min_kind_roc_auc": min(per_kind) if per_kind else math.nan,
        "per_kind": m["per_kind"],
    }


def prepare_varied_seed(cfg: QualityConfig, seed: int, workdir: Path) -> dict[str, SeedData]:
    """One seed's varied days in a fresh SQLite database: ``cfg.train_days`` days with
    day-to-day variation (the last held out), then one test day per ``VARIED_TEST_DAYS``;
    one SeedData per test day, all on the same database and training days."""
    path = workdir / f"ablation-varied-seed{seed}.db"
    path.unlink(missing_ok=True)
    engine = open_db(f"sqlite:///{path}")
    rec = add_receiver(engine, RECEIVER)
    assert rec.id is not None
    train_days = [FIRST_DAY + timedelta(days=i) for i in range(cfg.train_days)]
    reversed_days = {
        train_days[i]: DayOverride(runway="reversed")
        for i in VARIED_REVERSED_TRAIN_DAYS
        if i < len(train_days) - 1
    }

    def sim(days: int, start: Any, share: float, overrides: dict[Any, DayOverride]) -> Any:
        return simulate(varied_sim_config(cfg, seed, days, start, share, overrides))

    runs = [sim(cfg.train_days, FIRST_DAY, cfg.train_anomaly_share, reversed_days)]
    out: dict[str, SeedData] = {}
    for i, (name, override) in enumerate(VARIED_TEST_DAYS.items()):
        day = FIRST_DAY + timedelta(days=cfg.train_days + i)
        runs.append(sim(1, day, cfg.test_anomaly_share, {day: override}))
        out[name] = SeedData(seed, engine, rec, train_days, day, runs[-1].labels)
    for run in runs:
        write_positions(engine, rec.id, run.positions.iloc[:: cfg.thin].reset_index(drop=True))
    return out


def _prepare(cfg: QualityConfig, seed: int, workdir: Path, setup: str) -> dict[str, SeedData]:
    if setup == "varied":
        return prepare_varied_seed(cfg, seed, workdir)
    return {"test": prepare_seed(cfg, seed, workdir)}


def run_ablation(
    cfg: QualityConfig, grid: Grid, workdir: Path, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """One row per (set-up, seed, width, loss, augmentation, score function, combination,
    test day)."""
    from oddflights.model.train import train_model  # training: imports TensorFlow

    say = progress or (lambda _msg: None)
    rows: list[dict[str, Any]] = []
    for setup, seed in itertools.product(
        grid.setups, range(cfg.first_seed, cfg.first_seed + cfg.seeds)
    ):
        tests = _prepare(cfg, seed, workdir, setup)
        first = next(iter(tests.values()))
        days = [*first.train_days, *(d.test_day for d in tests.values())]
        for width in grid.line_widths:
            settings = RasterSettings(64, width, first.receiver.range_km)
            build_flights(first.engine, first.receiver, days, settings)
            splits = {name: load_split(data) for name, data in tests.items()}
            split = splits[next(iter(splits))]
            val_turn = split.val_flights["turn_cum_deg"].to_numpy(dtype=np.float64)
            for loss, aug in itertools.product(grid.losses, grid.augmentations):
                t0 = time.perf_counter()
                config = train_config(cfg, seed, loss=loss, **AUGMENTATIONS[aug])
                result = train_model(split.train, split.val, config)
                for fn, combine in itertools.product(grid.score_fns, grid.combines):
                    det = fit_detector(
                        result.detector.autoencoder,
                        settings,
                        split.val,
                        val_turn,
                        score_fn=fn,
                        percentile=config.threshold_percentile,
                        combine=combine,
                        rule=config.threshold_rule(),  # the stored threshold's rule
                        train_images=split.train,  # for the pixel rarity
                    )
                    for name, test in splits.items():
                        kinds = test.test_flights["kind"].to_numpy()
                        turn = test.test_flights["turn_cum_deg"].to_numpy(dtype=np.float64)
                        s = det.decision_function(test.test, turn)
                        if result.status != "ready":
                            s = np.zeros_like(s)  # a rejected model never scores
                        rows.append(
                            {
                                "setup": setup,
                                "test_day": name,
                                "seed": seed,
                                "line_width": width,
                                "loss": loss,
                                "augmentation": aug,
                                "score_fn": fn,
                                "combine": combine,
                                "status": result.status,
                                **_cell(s, kinds, s > det.threshold),
                            }
                        )
                say(
                    f"{setup} seed {seed} width {width} {loss} {aug}: {result.status}, "
                    f"{time.perf_counter() - t0:.0f} s"
                )
        first.engine.dispose()
    return rows


SUMMARY_METRICS = (
    "roc_auc",
    "ap",
    "p_at_k",
    "recall_at_threshold",
    "false_alarms_per_1000",
    "min_kind_roc_auc",
)


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over seeds per cell, best AP first."""
    keys = ("setup", "test_day", "line_width", "loss", "augmentation", "score_fn", "combine")
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for key, group in cells.items():
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        for m in SUMMARY_METRICS:
            vals = np.array([g[m] for g in group], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            row[m] = float(vals.mean()) if vals.size else math.nan
        row["seeds"] = len(group)
        out.append(row)
    return sorted(out, key=lambda r: -(r["ap"] if math.isfinite(r["ap"]) else -1.0))
