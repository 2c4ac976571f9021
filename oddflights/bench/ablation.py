"""The ablation that picks the defaults: loss × augmentation × score function × line width,
each with the reconstruction error alone and combined with the cumulative turn.

Every cell is trained on the same simulated flights (arrays read from the scratch database,
as ``train_from_db`` reads them) and ranked on the same labelled test day as
``oddflights bench quality``. Score functions and the combination need no retraining, so a
seed costs one training per (line width, loss, augmentation).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oddflights.bench.quality import (
    Progress,
    QualityConfig,
    load_split,
    prepare_seed,
    ranking_metrics,
    train_config,
)
from oddflights.flights.build import build_flights
from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import fit_detector

AUGMENTATIONS: dict[str, dict[str, Any]] = {
    "none": {"shift_px": 0, "flip": False},
    "shift2": {"shift_px": 2, "flip": False},
    "shift10_flip": {"shift_px": 10, "flip": True},
}


@dataclass(frozen=True)
class Grid:
    """The axes of the ablation."""

    losses: Sequence[str] = ("bce", "weighted_bce")
    augmentations: Sequence[str] = ("none", "shift2", "shift10_flip")
    score_fns: Sequence[str] = ("bce", "mse", "recall_loss")
    line_widths: Sequence[int] = (1, 2)
    combines: Sequence[str] = ("ae", "ae_turn")


def _cell(scores: Any, kinds: Any, flagged: Any) -> dict[str, Any]:
    m = ranking_metrics(scores, kinds, flagged)
    per_kind = [v for v in m["per_kind"].values() if math.isfinite(v)]
    return {
        "roc_auc": m["roc_auc"],
        "ap": m["ap"],
        "p_at_k": m["p_at_k"],
        "recall_at_threshold": m["recall_at_threshold"],
        "min_kind_roc_auc": min(per_kind) if per_kind else math.nan,
        "per_kind": m["per_kind"],
    }


def run_ablation(
    cfg: QualityConfig, grid: Grid, workdir: Path, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """One row per (seed, width, loss, augmentation, score function, combination)."""
    from oddflights.model.train import train_model

    say = progress or (lambda _msg: None)
    rows: list[dict[str, Any]] = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        data = prepare_seed(cfg, seed, workdir)
        for width in grid.line_widths:
            settings = RasterSettings(64, width, data.receiver.range_km)
            build_flights(data.engine, data.receiver, [*data.train_days, data.test_day], settings)
            split = load_split(data)
            kinds = split.test_flights["kind"].to_numpy()
            val_turn = split.val_flights["turn_cum_deg"].to_numpy(dtype=np.float64)
            test_turn = split.test_flights["turn_cum_deg"].to_numpy(dtype=np.float64)
            for loss, aug in itertools.product(grid.losses, grid.augmentations):
                t0 = time.perf_counter()
                config = train_config(cfg, seed, loss=loss, **AUGMENTATIONS[aug])
                result = train_model(split.train, split.val, config)
                for fn in grid.score_fns:
                    for combine in grid.combines:
                        det = fit_detector(
                            result.detector.autoencoder,
                            settings,
                            split.val,
                            val_turn,
                            score_fn=fn,
                            percentile=config.threshold_percentile,
                            combine=combine,
                        )
                        s, thr = det.decision_function(split.test, test_turn), det.threshold
                        if result.status != "ready":
                            s = np.zeros_like(s)  # a rejected model never scores
                        rows.append(
                            {
                                "seed": seed,
                                "line_width": width,
                                "loss": loss,
                                "augmentation": aug,
                                "score_fn": fn,
                                "combine": combine,
                                "status": result.status,
                                **_cell(s, kinds, s > thr),
                            }
                        )
                say(
                    f"seed {seed} width {width} {loss} {aug}: {result.status}, "
                    f"{time.perf_counter() - t0:.0f} s"
                )
        data.engine.dispose()
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over seeds per cell, best AP first."""
    keys = ("line_width", "loss", "augmentation", "score_fn", "combine")
    cells: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, group in cells.items():
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        for m in ("roc_auc", "ap", "p_at_k", "recall_at_threshold", "min_kind_roc_auc"):
            vals = np.array([g[m] for g in group], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            row[m] = float(vals.mean()) if vals.size else math.nan
        row["seeds"] = len(group)
        out.append(row)
    return sorted(out, key=lambda r: -(r["ap"] if math.isfinite(r["ap"]) else -1.0))
