"""The training settings stored with every model (no TensorFlow needed to read them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from oddflights import config as settings
from oddflights.errors import InvalidConfig
from oddflights.model.augment import AUGMENTS
from oddflights.model.detector import COMBINATIONS
from oddflights.model.score import SCORE_FNS
from oddflights.model.threshold import ThresholdRule

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
    # Day-to-day variation (oddflights.model.augment): one of its AUGMENTS.
    augment: str = "none"
    pos_weight: float = 0.0  # weighted_bce only; 0: inverse lit share of the training images
    score_fn: str = "track_bce"  # the measured default (oddflights.config, BENCHMARKS.md)
    threshold_percentile: float = 98.0
    # The threshold rule (oddflights.model.threshold): a target false-alarm rate on the
    # held-out days after setting aside the presumed odd top, or the percentile above.
    threshold_method: str = "false_alarm_rate"
    false_alarms_per_1000: float = 5.0
    presumed_odd_percent: float = 2.0
    combine: str = "ae_turn"  # how the fitted detector scores (oddflights.model.detector)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise InvalidConfig(f"unknown loss {self.loss!r} (choose from {', '.join(LOSSES)})")
        if self.score_fn not in SCORE_FNS:
            raise InvalidConfig(
                f"unknown score function {self.score_fn!r} (choose from {', '.join(SCORE_FNS)})"
            )
        if self.augment not in AUGMENTS:
            raise InvalidConfig(
                f"unknown augmentation {self.augment!r} (choose from {', '.join(AUGMENTS)})"
            )
        if self.combine not in COMBINATIONS:
            raise InvalidConfig(
                f"unknown score combination {self.combine!r} "
                f"(choose from {', '.join(COMBINATIONS)})"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidConfig(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("hidden", "patience", "shift_px", "seed"):
            if getattr(self, name) < 0:
                raise InvalidConfig(f"{name} must not be negative, not {getattr(self, name)}")
        self.threshold_rule()  # ValueError for a rule out of range

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
            "augment": "model_augment",
            "pos_weight": "model_pos_weight",
            "score_fn": "score_fn",
            "threshold_percentile": "threshold_percentile",
            "threshold_method": "threshold_method",
            "false_alarms_per_1000": "false_alarms_per_1000",
            "presumed_odd_percent": "presumed_odd_percent",
            "combine": "score_combine",
        }
        values = {f: settings.get(s, explicit.get(f)) for f, s in names.items()}
        values["seed"] = explicit.get("seed") if explicit.get("seed") is not None else 0
        return cls(**values)

    def threshold_rule(self) -> ThresholdRule:
        """How the detector's threshold is set from the validation days' scores."""
        return ThresholdRule(
            method=self.threshold_method,
            false_alarms_per_1000=self.false_alarms_per_1000,
            presumed_odd_percent=self.presumed_odd_percent,
            percentile=self.threshold_percentile,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config stored with a model; keys it does not know (``pos_weight_used``) are
        left out and missing ones take their defaults (models stored before they existed)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        # Models stored before the threshold rule existed used the percentile.
        values.setdefault("threshold_method", "percentile")
        return cls(**values)
