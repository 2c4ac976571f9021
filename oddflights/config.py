"""Settings in one table: name, default, environment variable, help.

Every setting is read the same way: an explicit value (a CLI option) wins, then the
``ODDFLIGHTS_…`` environment variable, then the default. Values are type-checked when read,
so a wrong environment variable fails at once with a message that names it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SettingError(ValueError):
    """A setting's value does not parse or is out of range."""


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Setting:
    """One setting: its name, default, type and help text."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "ODDFLIGHTS_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    # Database
    Setting("db", "sqlite:///oddflights.db", "Database URL (SQLite file or PostgreSQL)."),
    # Receivers
    Setting("range_km", 200.0, "Default receiver range: the frame is ±range_km around it.", float),
    # Flights
    Setting("flight_gap_min", 10.0, "A flight ends after this many minutes unheard.", float),
    Setting("flight_min_points", 10, "Flights with fewer cleaned positions are dropped.", int),
    Setting("flight_min_minutes", 2.0, "Flights shorter than this (minutes) are dropped.", float),
    Setting("drop_ground_flights", True, "Drop flights reported on the ground throughout.", bool),
    Setting("raster_size", 64, "Flight images are raster_size × raster_size pixels.", int),
    Setting("raster_line_width", 1, "Line width of the flight track in pixels.", int),
    # Simulator
    Setting(
        "sim_anomaly_share", 0.02, "Share of simulated flights that are labelled anomalies.", float
    ),
    # Ingest
    Setting(
        "max_range_factor",
        1.5,
        "Ingest rejects positions farther than this many receiver ranges from the receiver.",
        float,
    ),
    Setting(
        "sbs_timezone",
        "UTC",
        "Time zone of SBS timestamps (readsb writes UTC, dump1090-fa local time).",
    ),
    Setting("ingest_chunk_lines", 500_000, "Lines parsed and committed per ingest chunk.", int),
    # Model
    Setting("model_hidden", 0, "Autoencoder hidden units (0: size*size//10, 409 for 64px).", int),
    # BCE, not MSE: on ~2 %-lit images an MSE-trained dense autoencoder collapses to all-black
    # (the seed's trap). The quality benchmark picks the final default by measurement.
    Setting(
        "model_loss",
        "bce",
        "Training loss: bce, mse, weighted_bce, focal or dice.",
    ),
    Setting("model_learning_rate", 1e-3, "Adam learning rate.", float),
    Setting("model_epochs", 20, "Most training epochs (early stopping may end sooner).", int),
    Setting("model_batch_size", 64, "Training batch size.", int),
    Setting("model_patience", 3, "Epochs without val_loss improvement before stopping.", int),
    # The frame is geographic: a pixel is a place. The seed shifted by 10 px (~60 km at
    # 200 km range), which teaches the model that a route 60 km off is normal. Measured
    # (BENCHMARKS.md, `oddflights bench ablation`, 2 seeds): no shift beats ±2 px beats ±10 px
    # + flip, AP of the reconstruction score 0.77 / 0.65 / 0.26, of the combined score
    # 0.99 / 0.95 / 0.80; so none.
    Setting("model_shift_px", 0, "Training augmentation: random shift up to N pixels.", int),
    # Mirroring a geographic frame makes mirrored routes look normal, so it is off by default.
    Setting("model_flip", False, "Training augmentation: random horizontal flip.", bool),
    Setting(
        "model_pos_weight", 0.0, "Lit-pixel weight of weighted_bce (0: inverse lit share).", float
    ),
    Setting("score_fn", "bce", "Per-flight score: bce, mse, recall_loss or iou_loss.", str),
    # Measured (BENCHMARKS.md, `oddflights bench quality`, 3 seeds): on days where ~2 % of
    # flights are odd, the 98th percentile flags with precision 0.96 and recall 0.95; 99.5
    # (the first default) kept precision (0.94) but caught under half (recall 0.45).
    Setting(
        "threshold_percentile",
        98.0,
        "Anomaly threshold: this percentile of scores on the held-out validation days.",
        float,
    ),
    # Measured (BENCHMARKS.md, `oddflights bench ablation`, 2 seeds, 36 cells each): the
    # combined score lifts the mean AP over all cells from 0.56 to 0.91 and the worst kind's
    # ROC-AUC from 0.55 to 0.87 (holding patterns and go-arounds are small blobs to the
    # autoencoder, plain in the cumulative turn); so ae_turn.
    Setting(
        "score_combine",
        "ae_turn",
        "Flight score: ae (reconstruction error) or ae_turn (max of it and the cumulative "
        "turn, each scaled on the validation day).",
    ),
    # Scoring and nightly
    Setting("retrain_days", 7, "Nightly retrains when the newest model is older (days).", int),
    Setting("train_window_days", 14, "Nightly trains on this many days before the day.", int),
    Setting("warmup_days", 3, "A new receiver's first days: used to train, not scored.", int),
    Setting("schedule", "30 2 * * *", "Cron expression of the nightly run (`schedule`)."),
    Setting("schedule_tz", "UTC", "Time zone of the schedule's cron expression."),
    Setting(
        "misfire_grace_hours", 6.0, "A nightly run missed by up to this long still runs.", float
    ),
    Setting("lock_stale_hours", 6.0, "A SQLite nightly lock older than this is taken over.", float),
    # Web page and report
    Setting(
        "nightly_report_dir",
        "",
        "Folder where the nightly run writes each scored day's HTML report (empty: off).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The setting called ``name`` (KeyError names it if unknown)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown setting {name!r}") from None


def get(name: str, explicit: Any = None) -> Any:
    """The value of a setting: ``explicit`` if given, else its env variable, else the default."""
    s = setting(name)
    if explicit is not None:
        return explicit
    raw = os.environ.get(s.env)
    if raw is None or raw == "":
        return s.default
    parse = _bool if s.parse is bool else s.parse
    try:
        return parse(raw)
    except (TypeError, ValueError) as exc:
        raise SettingError(f"{s.env}={raw!r} is not valid: {exc}") from None
