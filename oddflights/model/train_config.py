"""The training settings stored with every model (no TensorFlow needed to read them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from oddflights import config as settings
from oddflights.model.detector import COMBINATIONS
from oddflights.model.score import SCORE_FNS

LOSSES = ("bce", "mse", "weighted_bce", "focal", "dice")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model (stored with it)."""

    hidden: int = 0  # 0: size*size//10
    loss: str = "bce"
    learning_rate: float = 1e-3
    epochs: int = 20
    batch_size: int = 64
    patience: int = 3
    shift_px: int = 0  # the measured default (BENCHMARKS.md): no shift in a geographic frame
    flip: bool = False
    pos_weight: float = 0.0  # weighted_bce only; 0: inverse lit share of the training images
    score_fn: str = "bce"
    threshold_percentile: float = 98.0
    combine: str = "ae_turn"  # how the fitted detector scores (oddflights.model.detector)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r} (choose from {', '.join(LOSSES)})")
        if self.score_fn not in SCORE_FNS:
            raise ValueError(
                f"unknown score function {self.score_fn!r} (choose from {', '.join(SCORE_FNS)})"
            )
        if self.combine not in COMBINATIONS:
            raise ValueError(
                f"unknown score combination {self.combine!r} "
                f"(choose from {', '.join(COMBINATIONS)})"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("hidden", "patience", "shift_px", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        if not 0.0 < self.threshold_percentile <= 100.0:
            raise ValueError(f"threshold percentile {self.threshold_percentile} is outside 0..100")

    @classmethod
    def from_settings(cls, **explicit: Any) -> TrainConfig:
        """The config from the settings table; ``explicit`` values (not None) win."""
        names = {
            "hidden": "model_hidden",
            "loss": "model_loss",
            "learning_rate": "model_learning_rate",
            "epochs": "model_epochs",
            "batch_size": "model_batch_size",
            "patience": "model_patience",
            "shift_px": "model_shift_px",
            "flip": "model_flip",
            "pos_weight": "model_pos_weight",
            "score_fn": "score_fn",
            "threshold_percentile": "threshold_percentile",
            "combine": "score_combine",
        }
        values = {f: settings.get(s, explicit.get(f)) for f, s in names.items()}
        values["seed"] = explicit.get("seed") if explicit.get("seed") is not None else 0
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config stored with a model; keys it does not know (``pos_weight_used``) are
        left out and missing ones take their defaults (models stored before they existed)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
