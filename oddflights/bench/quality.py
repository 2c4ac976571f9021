"""Detection quality on simulated receivers: the real pipeline against labelled anomalies.

Two set-ups. ``varied`` (the default): 14 training days that differ as real ones do
(``SimConfig(day_variation=True)``: runway direction, coverage, weekends, rare routes; at
least two of them in the reversed runway configuration), the last ``validation_days`` held
out for validation and the threshold, then three test days: an ordinary one, one in the
reversed runway configuration and one with a coverage change. ``classic``: the first set-up,
8 alike training days and one test day.

Per seed: simulate the receiver, run ingest → flights → train → score into a scratch SQLite
database, match the simulator's labels to the built flights (same icao24, overlapping
times), and rank each test day's flights by score. The headline is what a receiver owner
reads each morning: false alarms per 1,000 normal flights at the stored threshold and the
recall of the anomalies at it, per test day; beside them ROC-AUC, average precision,
precision@k (k = number of anomalies) and ROC-AUC per anomaly kind (that kind's anomalies
against all normal flights), for the detector and for baselines on the same flights; means
and spreads over seeds. ``false_alarms`` lists the top-scoring normal flights with their
tags and the part of the score (reconstruction or turn) that put them there.

scikit-learn (the ``bench`` extra) supplies the metrics and some baselines; it is imported
lazily so that the core package never needs it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from oddflights import config as settings
from oddflights.bench.baselines import Inputs, baseline_scores, flat, require_sklearn
from oddflights.db import open_db
from oddflights.db.flights import list_flights, read_rasters
from oddflights.db.positions import write_positions
from oddflights.db.receivers import add_receiver
from oddflights.db.registry import get_model
from oddflights.db.scores import query_anomalies
from oddflights.errors import InvalidConfig
from oddflights.flights.build import build_flights
from oddflights.model.metrics import precision_at_k
from oddflights.model.score import reconstruction_scores
from oddflights.model.threshold import false_alarm_threshold
from oddflights.model.train_config import TrainConfig
from oddflights.receivers import Receiver
from oddflights.scoring.score import load_detector, score_day, validation_scores
from oddflights.simulate import SimConfig, day_plans, simulate
from oddflights.simulate.days import DayOverride

Progress = Callable[[str], None]
FloatArray = npt.NDArray[np.float64]

RECEIVER = Receiver("bench", lat=52.0, lon=5.0, range_km=200.0, timezone="UTC")
FIRST_DAY = date(2026, 3, 2)
NORMAL = "normal"
# The headline first: what a receiver owner reads each morning.
METRIC_KEYS = (
    "false_alarms_per_1000",
    "recall_at_threshold",
    "roc_auc",
    "ap",
    "p_at_k",
    "precision_at_threshold",
)
SETUPS = ("varied", "classic")
# The varied set-up's test days, in this order after the training days.
VARIED_TEST_DAYS: dict[str, DayOverride] = {
    "ordinary": DayOverride.ordinary(),
    "reversed_runway": DayOverride(runway="reversed", outage=False, coverage="full"),
    "coverage": DayOverride(runway="usual", outage=True, coverage="reduced_range"),
}
# Training days (by index) forced into the reversed runway configuration when the draw
# gives fewer than MIN_REVERSED_TRAIN_DAYS: one fitted on, one held out (of 14).
VARIED_REVERSED_TRAIN_DAYS = (4, 12)
MIN_REVERSED_TRAIN_DAYS = 2
# Calibration rules measured on the stored validation scores (no retraining): the sweep
# that picks the false_alarms_per_1000 and presumed_odd_percent defaults.
CALIBRATION_SWEEP = tuple(
    (per_1000, odd) for per_1000 in (2.0, 5.0, 10.0) for odd in (0.0, 1.0, 2.0, 3.0)
)
EXPLAIN_TOP = 10
# Threshold percentiles (of the validation day's combined scores) whose precision and recall
# on the test day are reported beside the stored threshold's: the trade-off a user sets
# with ODDFLIGHTS_THRESHOLD_PERCENTILE.
SWEEP_PERCENTILES = (95.0, 97.0, 98.0, 99.0, 99.5)
# The seed project's configuration, kept as a baseline: MSE loss, ±10 px shift and flip.
SEED_CONFIG = {"loss": "mse", "shift_px": 10, "flip": True, "score_fn": "mse"}


@dataclass(frozen=True)
class QualityConfig:
    """The size of the experiment. ``train_days`` includes the held-out validation day (the
    last one); the test day follows it."""

    seeds: int = 3
    first_seed: int = 0
    train_days: int = 8
    flights_per_day: int = 500
    train_anomaly_share: float = 0.02
    test_anomaly_share: float = 0.05
    # Every ``thin``-th simulated 1 Hz position is stored (a receiver heard every few
    # seconds): flights stay well drawn at a fraction of the write cost.
    thin: int = 5
    epochs: int | None = None  # None: the model_epochs setting
    baselines: bool = True
    train_overrides: dict[str, Any] = field(default_factory=dict)
    # "classic" (alike days, one test day) or "varied" (VARIED_TEST_DAYS after varied days).
    setup: str = "classic"

    def __post_init__(self) -> None:
        if self.setup not in SETUPS:
            raise InvalidConfig(f"unknown set-up {self.setup!r} (choose from {', '.join(SETUPS)})")
        if self.seeds < 1:
            raise InvalidConfig(f"seeds must be at least 1, not {self.seeds}")
        if self.train_days < 2:
            raise InvalidConfig(
                f"days must be at least 2 (train + validation), not {self.train_days}"
            )
        if self.flights_per_day < 50:
            raise InvalidConfig(f"flights per day must be at least 50, not {self.flights_per_day}")
        if self.thin < 1:
            raise InvalidConfig(f"thin must be at least 1, not {self.thin}")

    @classmethod
    def varied(cls) -> QualityConfig:
        """The default benchmark: 14 varied training days, then the three test days."""
        return cls(setup="varied", train_days=14)

    @classmethod
    def quick(cls) -> QualityConfig:
        """Tiny: one seed, 4 days × 120 flights, few epochs (a test runs it). A smaller,
        faster-learning model: the default one needs more than 240 images to beat the
        trivial predictors."""
        return cls(
            seeds=1,
            train_days=3,
            flights_per_day=120,
            test_anomaly_share=0.1,
            epochs=8,
            train_overrides={
                "hidden": 128,
                "learning_rate": 3e-3,
                "batch_size": 32,
                "patience": 8,
            },
        )


@dataclass
class SeedData:
    """One seed's scratch database with its receiver, days and the test day's labels."""

    seed: int
    engine: Engine
    receiver: Receiver
    train_days: list[date]  # the last n_val_days are the validation days
    test_day: date
    labels: pd.DataFrame  # the test day's simulator labels
    n_val_days: int = 1  # the last n_val_days of train_days are held out

    @property
    def fit_days(self) -> list[date]:
        return self.train_days[: -self.n_val_days]

    @property
    def val_days(self) -> list[date]:
        return self.train_days[-self.n_val_days :]

    @property
    def val_day(self) -> date:
        return self.train_days[-1]


# --- data ---------------------------------------------------------------------------------


def prepare_seed(cfg: QualityConfig, seed: int, workdir: Path) -> SeedData:
    """Simulate one seed's receiver into a fresh SQLite database and build its flights."""

    path = workdir / f"quality-seed{seed}.db"
    path.unlink(missing_ok=True)
    engine = open_db(f"sqlite:///{path}")
    rec = add_receiver(engine, RECEIVER)
    assert rec.id is not None
    train_days = [FIRST_DAY + timedelta(days=i) for i in range(cfg.train_days)]
    test_day = FIRST_DAY + timedelta(days=cfg.train_days)

    def sim_config(days: int, start: date, share: float) -> SimConfig:
        return SimConfig(
            lat=rec.lat,
            lon=rec.lon,
            range_km=rec.range_km,
            seed=seed,
            days=days,
            flights_per_day=cfg.flights_per_day,
            start_day=start,
            anomaly_share=share,
        )

    # Same world (seed and place), two runs: the test day gets more anomalies than training
    # days so that each kind has several examples to rank.
    train_sim = simulate(sim_config(cfg.train_days, FIRST_DAY, cfg.train_anomaly_share))
    test_sim = simulate(sim_config(1, test_day, cfg.test_anomaly_share))
    for sim in (train_sim, test_sim):
        write_positions(engine, rec.id, sim.positions.iloc[:: cfg.thin].reset_index(drop=True))
    build_flights(engine, rec, [*train_days, test_day])
    return SeedData(seed, engine, rec, train_days, test_day, test_sim.labels)


def default_validation_days(n_days: int) -> int:
    """How many of ``n_days`` training days ``train_from_db`` holds out by default."""
    return max(1, min(int(settings.get("validation_days")), n_days // 2))


def varied_sim_config(
    cfg: QualityConfig, seed: int, days: int, start: date, share: float, overrides: Any
) -> SimConfig:
    """The varied set-up's simulation of ``days`` days from ``start``."""
    return SimConfig(
        lat=RECEIVER.lat,
        lon=RECEIVER.lon,
        range_km=RECEIVER.range_km,
        seed=seed,
        days=days,
        flights_per_day=cfg.flights_per_day,
        start_day=start,
        anomaly_share=share,
        day_variation=True,
        day_overrides=overrides,
    )


def reversed_train_overrides(cfg: QualityConfig, seed: int) -> dict[date, DayOverride]:
    """Overrides that put at least MIN_REVERSED_TRAIN_DAYS training days in the reversed
    runway configuration (nothing when the draw already does)."""
    plans = day_plans(varied_sim_config(cfg, seed, cfg.train_days, FIRST_DAY, 0.0, {}))
    have = sum(p.runway == "reversed" for p in plans)
    out: dict[date, DayOverride] = {}
    for i in VARIED_REVERSED_TRAIN_DAYS:
        if have >= MIN_REVERSED_TRAIN_DAYS:
            break
        if i < len(plans) and plans[i].runway != "reversed":
            out[plans[i].day] = DayOverride(runway="reversed")
            have += 1
    return out


def prepare_days(cfg: QualityConfig, seed: int, workdir: Path) -> dict[str, SeedData]:
    """One seed's receiver in a fresh SQLite database with its flights built: one SeedData
    per test day (``test`` for classic, VARIED_TEST_DAYS' names for varied), all on the
    same database and training days, holding out the detector's validation days."""
    n_val = default_validation_days(cfg.train_days)
    if cfg.setup == "classic":
        data = prepare_seed(cfg, seed, workdir)
        return {"test": replace(data, n_val_days=n_val)}
    path = workdir / f"quality-varied-seed{seed}.db"
    path.unlink(missing_ok=True)
    engine = open_db(f"sqlite:///{path}")
    rec = add_receiver(engine, RECEIVER)
    assert rec.id is not None
    train_days = [FIRST_DAY + timedelta(days=i) for i in range(cfg.train_days)]
    test_days = {
        name: FIRST_DAY + timedelta(days=cfg.train_days + i)
        for i, name in enumerate(VARIED_TEST_DAYS)
    }
    train_sim = simulate(
        varied_sim_config(
            cfg,
            seed,
            cfg.train_days,
            FIRST_DAY,
            cfg.train_anomaly_share,
            reversed_train_overrides(cfg, seed),
        )
    )
    overrides = {test_days[name]: o for name, o in VARIED_TEST_DAYS.items()}
    first_test = test_days[next(iter(VARIED_TEST_DAYS))]
    test_sim = simulate(
        varied_sim_config(cfg, seed, len(test_days), first_test, cfg.test_anomaly_share, overrides)
    )
    for sim in (train_sim, test_sim):
        write_positions(engine, rec.id, sim.positions.iloc[:: cfg.thin].reset_index(drop=True))
    build_flights(engine, rec, [*train_days, *test_days.values()])
    return {
        name: SeedData(seed, engine, rec, train_days, day, test_sim.labels, n_val)
        for name, day in test_days.items()
    }


def label_flights(
    flights: pd.DataFrame, labels: pd.DataFrame, column: str = "kind"
) -> npt.NDArray[np.str_]:
    """The simulator kind of each built flight: the label of the same icao24 whose time span
    overlaps the flight's most (``normal`` when none does). ``column="variant"``: the rare
    route a normal flight took instead (``""`` for the usual routes)."""
    empty = NORMAL if column == "kind" else ""
    kinds = np.full(len(flights), empty, dtype=object)
    if flights.empty or labels.empty or column not in labels:
        return kinds.astype(str)
    fl = flights[["icao24", "start_ts", "end_ts"]].reset_index(drop=True).copy()
    fl["row"] = np.arange(len(fl))
    lab = labels[["icao24", "start", "end", column]].rename(columns={column: "kind"})
    lab["kind"] = lab["kind"].where(lab["kind"].notna(), empty)
    fl["icao24"] = fl["icao24"].astype(str).str.lower()
    lab["icao24"] = lab["icao24"].astype(str).str.lower()
    both = fl.merge(lab, on="icao24")
    f0, f1 = (both[c].astype("datetime64[ns, UTC]") for c in ("start_ts", "end_ts"))
    l0, l1 = (both[c].astype("datetime64[ns, UTC]") for c in ("start", "end"))
    overlap = f1.where(f1 < l1, l1) - f0.where(f0 > l0, l0)
    both["overlap"] = overlap.dt.total_seconds()
    both = both[both["overlap"] > 0].sort_values("overlap", ascending=False)
    best = both.drop_duplicates("row")
    kinds[best["row"].to_numpy()] = best["kind"].to_numpy()
    return kinds.astype(str)


@dataclass
class Split:
    """Rasters and features of the fit days, the validation day and the test day."""

    train: npt.NDArray[np.uint8]
    val: npt.NDArray[np.uint8]
    test: npt.NDArray[np.uint8]
    train_flights: pd.DataFrame
    val_flights: pd.DataFrame
    test_flights: pd.DataFrame  # in the order of ``test``; with a ``kind`` column

    def inputs(self) -> Inputs:
        """What the baselines see."""
        return Inputs(
            flat(self.train),
            flat(self.val),
            flat(self.test),
            self.train_flights["turn_cum_deg"].to_numpy(dtype=np.float64),
            self.val_flights["turn_cum_deg"].to_numpy(dtype=np.float64),
            self.test_flights["turn_cum_deg"].to_numpy(dtype=np.float64),
        )


def _day_set(data: SeedData, days: Sequence[date]) -> tuple[npt.NDArray[np.uint8], pd.DataFrame]:
    assert data.receiver.id is not None
    rs = read_rasters(data.engine, data.receiver.id, list(days))
    table = pd.concat(
        [list_flights(data.engine, data.receiver.id, d) for d in days], ignore_index=True
    ).set_index("flight_id")
    return rs.images, table.loc[rs.flight_ids].reset_index()


def load_split(data: SeedData) -> Split:
    """The stored rasters (as built with the current settings) of every split."""
    train, train_fl = _day_set(data, data.fit_days)
    val, val_fl = _day_set(data, data.val_days)
    test, test_fl = _day_set(data, [data.test_day])
    test_fl["kind"] = label_flights(test_fl, data.labels)
    test_fl["variant"] = label_flights(test_fl, data.labels, "variant")
    return Split(train, val, test, train_fl, val_fl, test_fl)


# --- metrics ------------------------------------------------------------------------------


def ranking_metrics(
    scores: npt.ArrayLike, kinds: npt.ArrayLike, flagged: npt.ArrayLike | None = None
) -> dict[str, Any]:
    """ROC-AUC, average precision, precision@k (k = anomalies), recall of ``flagged`` among
    anomalies, and ROC-AUC per kind (its anomalies against all normal flights).

    Ties are handled as scikit-learn does: a constant score has ROC-AUC 0.5 and AP equal to
    the anomaly share. NaN where a figure is undefined (no anomalies, no normal flights)."""
    require_sklearn()
    from sklearn.metrics import average_precision_score, roc_auc_score

    s = np.asarray(scores, dtype=np.float64)
    k = np.asarray(kinds).astype(str)
    y = k != NORMAL
    out: dict[str, Any] = dict.fromkeys(METRIC_KEYS, math.nan)
    out["per_kind"] = {}
    out["n_flights"], out["n_anomalies"] = len(s), int(y.sum())
    if 0 < y.sum() < len(y):
        out["roc_auc"] = float(roc_auc_score(y, s))
        out["ap"] = float(average_precision_score(y, s))
        out["p_at_k"] = float(precision_at_k(s, y, int(y.sum())))
        for kind in sorted(set(k[y])):
            keep = (k == kind) | ~y
            out["per_kind"][kind] = float(roc_auc_score(k[keep] == kind, s[keep]))
    if flagged is not None:
        f = np.asarray(flagged, dtype=bool)
        out["false_alarms_per_1000"] = false_alarms_per_1000(k, f)
        if y.any():
            out["recall_at_threshold"] = float(f[y].mean())
        if f.any():
            out["precision_at_threshold"] = float(y[f].mean())
    return out


def false_alarms_per_1000(kinds: npt.ArrayLike, flagged: npt.ArrayLike) -> float:
    """Normal flights flagged per 1,000 normal flights (NaN when there are none)."""
    normal = np.asarray(kinds).astype(str) == NORMAL
    n = int(normal.sum())
    return 1000.0 * float(np.asarray(flagged, dtype=bool)[normal].sum()) / n if n else math.nan


def threshold_sweep(
    val_scores: npt.ArrayLike, test_scores: npt.ArrayLike, kinds: npt.ArrayLike
) -> dict[str, dict[str, float]]:
    """For each of SWEEP_PERCENTILES: the threshold at that percentile of ``val_scores``, and
    the share of test flights it flags, their precision and the recall of the anomalies."""
    val = np.asarray(val_scores, dtype=np.float64)
    test = np.asarray(test_scores, dtype=np.float64)
    y = np.asarray(kinds).astype(str) != NORMAL
    out = {}
    for p in SWEEP_PERCENTILES:
        flagged = test > float(np.percentile(val, p))
        out[f"{p:g}"] = {
            "flagged_share": float(flagged.mean()) if len(test) else math.nan,
            "precision": float(y[flagged].mean()) if flagged.any() else math.nan,
            "recall": float(flagged[y].mean()) if y.any() else math.nan,
        }
    return out


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation (``*_std``) over seeds of ranking_metrics() results."""
    out: dict[str, Any] = {}
    for key in METRIC_KEYS:
        vals = np.array([r.get(key, math.nan) for r in runs], dtype=np.float64)
        out[key] = _mean(vals)
        out[f"{key}_std"] = _std(vals)
    kinds = sorted({kind for r in runs for kind in r["per_kind"]})
    out["per_kind"] = {
        kind: _mean(np.array([r["per_kind"].get(kind, math.nan) for r in runs])) for kind in kinds
    }
    out["per_kind_std"] = {
        kind: _std(np.array([r["per_kind"].get(kind, math.nan) for r in runs])) for kind in kinds
    }
    return out


def _mean(vals: FloatArray) -> float:
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else math.nan


def _std(vals: FloatArray) -> float:
    vals = vals[np.isfinite(vals)]
    return float(vals.std(ddof=1)) if vals.size > 1 else 0.0


# --- detectors ----------------------------------------------------------------------------


def train_config(cfg: QualityConfig, seed: int, **overrides: Any) -> Any:
    """The TrainConfig of the default settings (plus the experiment's overrides)."""

    values = {**cfg.train_overrides, **overrides}
    base = TrainConfig.from_settings(seed=seed, epochs=cfg.epochs)
    return replace(base, **values) if values else base


def run_detector(
    tests: dict[str, SeedData], splits: dict[str, Split], cfg: QualityConfig
) -> dict[str, Any]:
    """Train from the database (its default validation days), score every test day with
    ``score_day`` and read the stored scores back: the product's own path. Returns per test
    day the scores, flags, tags and both parts of the score in ``split.test_flights`` order."""
    from oddflights.model.registry import train_from_db  # training: imports TensorFlow

    data = next(iter(tests.values()))
    assert data.receiver.id is not None
    config = train_config(cfg, data.seed)
    model_id, result = train_from_db(
        data.engine, data.receiver, data.train_days[0], data.train_days[-1], config
    )
    out: dict[str, Any] = {
        "status": result.status,
        "config": config.to_dict(),
        "train_seconds": float(result.seconds),
        "calibration": result.calibration,
        "days": {},
    }
    if result.status != "ready":
        # A rejected model never scores: the detector knows nothing (all scores equal).
        for name, split in splits.items():
            n = len(split.test_flights)
            out["days"][name] = {"scores": np.zeros(n), "flagged": np.zeros(n, dtype=bool)}
        return out
    detector = load_detector(data.engine, model_id)

    def stored(day_data: SeedData, split: Split) -> pd.DataFrame:
        assert day_data.receiver.id is not None
        rows = query_anomalies(
            data.engine,
            day_data.receiver.id,
            day_data.test_day,
            model_id=model_id,
            include_all=True,
        ).set_index("flight_id")
        return rows.loc[split.test_flights["flight_id"].to_numpy()]

    combined = str(settings.get("score_combine")) != "ae"
    for name, day_data in tests.items():
        split = splits[name]
        day: dict[str, Any] = {}
        if combined:
            # The autoencoder's own part, scored (and stored, then replaced) the same way.
            score_day(data.engine, data.receiver, day_data.test_day, model_id, combine="ae")
            ae = stored(day_data, split)
            day["ae"] = ae["score"].to_numpy(dtype=np.float64)
            day["ae_flagged"] = ae["is_anomaly"].to_numpy(dtype=bool)
        score_day(data.engine, data.receiver, day_data.test_day, model_id)
        rows = stored(day_data, split)
        day["scores"] = rows["score"].to_numpy(dtype=np.float64)
        day["flagged"] = rows["is_anomaly"].to_numpy(dtype=bool)
        day["tags"] = [list(t or []) for t in rows["tags"]]
        if combined:
            turn = split.test_flights["turn_cum_deg"].to_numpy(dtype=np.float64)
            day["ae_z"] = detector.ae_scale(day["ae"])
            day["turn_z"] = detector.turn_scale(turn)
            if detector.combine == "ae_turn_rarity" and detector.rarity_scale is not None:
                # the third part, from the same stored rasters the test day was scored on
                day["rarity_z"] = detector.rarity_scale(detector.rarity_scores(split.test))
        out["days"][name] = day
    out.update(
        {
            "threshold": float(detector.threshold),
            "val_scores": _validation_scores(data, model_id),
            "val_f1": float(result.metrics["model"]["f1"]),
        }
    )
    return out


def _validation_scores(data: SeedData, model_id: int) -> FloatArray | None:
    """The validation days' scores as the stored detector sees them (combined, or the
    autoencoder's alone), for the threshold and calibration sweeps."""

    return validation_scores(
        data.engine, get_model(data.engine, model_id), load_detector(data.engine, model_id)
    )


def run_seed_config(split: Split, cfg: QualityConfig, seed: int) -> dict[str, Any]:
    """The seed project's configuration trained on the same rasters (arrays, not the DB)."""
    from oddflights.model.train import train_model  # training: imports TensorFlow

    config = train_config(cfg, seed, **SEED_CONFIG)
    result = train_model(split.train, split.val, config)
    scores = reconstruction_scores(result.model, split.test, config.score_fn)
    return {
        "scores": scores,
        "flagged": scores > result.threshold,
        "status": result.status,
        "model": result.model,
        "threshold": result.threshold,
    }


def calibration_sweep(
    val_scores: npt.ArrayLike, days: dict[str, tuple[FloatArray, npt.ArrayLike]]
) -> dict[str, dict[str, dict[str, float]]]:
    """For each (false alarms per 1000, presumed odd %) of CALIBRATION_SWEEP: the threshold
    set on ``val_scores`` by that rule, and per test day (scores, kinds) the false alarms per
    1,000 normal flights and the recall it gives."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for per_1000, odd in CALIBRATION_SWEEP:
        thr = false_alarm_threshold(val_scores, per_1000, odd).threshold
        out[f"{per_1000:g}/1000, top {odd:g}% set aside"] = {
            name: {
                "false_alarms_per_1000": false_alarms_per_1000(kinds, scores > thr),
                "recall": _recall(kinds, scores > thr),
            }
            for name, (scores, kinds) in days.items()
        }
    return out


def _recall(kinds: npt.ArrayLike, flagged: npt.ArrayLike) -> float:
    y = np.asarray(kinds).astype(str) != NORMAL
    return float(np.asarray(flagged, dtype=bool)[y].mean()) if y.any() else math.nan


def explain_false_alarms(
    seed: int, splits: dict[str, Split], det: dict[str, Any], top: int = EXPLAIN_TOP
) -> list[dict[str, Any]]:
    """The ``top`` highest-scoring normal flights over the test days: day, flight, score,
    whether flagged, tags, both scaled parts and the part that put it there (the larger)."""
    rows: list[dict[str, Any]] = []
    for name, split in splits.items():
        day = det["days"].get(name)
        if day is None:
            continue
        fl = split.test_flights
        for i in np.flatnonzero(fl["kind"].to_numpy() == NORMAL):
            ae_z = float(day["ae_z"][i]) if "ae_z" in day else math.nan
            turn_z = float(day["turn_z"][i]) if "turn_z" in day else math.nan
            rarity_z = float(day["rarity_z"][i]) if "rarity_z" in day else math.nan
            parts = {"reconstruction": ae_z, "turn": turn_z, "rarity": rarity_z}
            known = {k: v for k, v in parts.items() if math.isfinite(v)}
            rows.append(
                {
                    "seed": seed,
                    "test_day": name,
                    "flight_id": int(fl["flight_id"].iloc[i]),
                    "callsign": str(fl["callsign"].iloc[i]) if "callsign" in fl else "",
                    "score": float(day["scores"][i]),
                    "flagged": bool(day["flagged"][i]),
                    # the rare-but-normal route it took ("" for a usual one)
                    "variant": str(fl["variant"].iloc[i]) if "variant" in fl else "",
                    "tags": list(day.get("tags", [[]] * len(fl))[i]),
                    "reconstruction_z": ae_z,
                    "turn_z": turn_z,
                    "rarity_z": rarity_z,
                    "turn_cum_deg": float(fl["turn_cum_deg"].iloc[i]),
                    "by": max(known, key=lambda k: known[k]) if known else "reconstruction",
                }
            )
    rows.sort(key=lambda r: -r["score"])
    return rows[:top]


def evaluate_seed(
    cfg: QualityConfig, seed: int, workdir: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """One seed: data, detector, baselines; ranking_metrics() of each, per test day and
    over all test days together."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    tests = prepare_days(cfg, seed, workdir)
    splits = {name: load_split(data) for name, data in tests.items()}
    first = splits[next(iter(splits))]
    kinds_by_day = {name: sp.test_flights["kind"].to_numpy() for name, sp in splits.items()}
    kinds = np.concatenate(list(kinds_by_day.values()))
    say(
        f"seed {seed}: {len(first.train)} training, {len(first.val)} validation and "
        f"{len(kinds)} test flights on {len(splits)} test day(s) "
        f"({int((kinds != NORMAL).sum())} labelled anomalies) in {time.perf_counter() - t0:.0f} s"
    )
    det = run_detector(tests, splits, cfg)
    days = det["days"]

    def pooled(key: str) -> FloatArray:
        return np.concatenate([np.asarray(days[n][key]) for n in splits])

    scores, flagged = pooled("scores"), pooled("flagged")
    out: dict[str, Any] = {
        "seed": seed,
        "detector": ranking_metrics(scores, kinds, flagged),
        "days": {
            n: ranking_metrics(days[n]["scores"], kinds_by_day[n], days[n]["flagged"])
            for n in splits
        },
        "detector_status": det["status"],
        "calibration": det["calibration"],
        "train_seconds": det["train_seconds"],
        "baselines": {},
    }
    if det.get("val_scores") is not None:
        out["threshold_sweep"] = threshold_sweep(det["val_scores"], scores, kinds)
        out["calibration_sweep"] = calibration_sweep(
            det["val_scores"], {n: (days[n]["scores"], kinds_by_day[n]) for n in splits}
        )
    if det["status"] == "ready":
        out["false_alarms"] = explain_false_alarms(seed, splits, det)
    headline = ", ".join(
        f"{n} {m['false_alarms_per_1000']:.1f}/1000 recall {m['recall_at_threshold']:.2f}"
        for n, m in out["days"].items()
    )
    say(
        f"seed {seed}: detector ROC-AUC {out['detector']['roc_auc']:.3f} ({det['status']}); "
        f"{headline}"
    )
    if det["status"] == "ready" and "ae" in days[next(iter(splits))]:
        out["parts"] = {"autoencoder": ranking_metrics(pooled("ae"), kinds, pooled("ae_flagged"))}
    if cfg.baselines:
        seed_run = run_seed_config(first, cfg, seed)
        rest = [
            reconstruction_scores(seed_run["model"], sp.test, str(SEED_CONFIG["score_fn"]))
            for sp in list(splits.values())[1:]
        ]
        seed_scores = np.concatenate([seed_run["scores"], *rest])
        out["baselines"]["seed_config"] = ranking_metrics(
            seed_scores, kinds, seed_scores > seed_run["threshold"]
        )
        inputs = replace(
            first.inputs(),
            test=np.concatenate([flat(sp.test) for sp in splits.values()]),
            test_turn=np.concatenate(
                [
                    sp.test_flights["turn_cum_deg"].to_numpy(dtype=np.float64)
                    for sp in splits.values()
                ]
            ),
        )
        percentile = float(det["config"]["threshold_percentile"])
        for name, (val, test) in baseline_scores(inputs).items():
            flagged_b = test > np.percentile(val, percentile)
            out["baselines"][name] = ranking_metrics(test, kinds, flagged_b)
    out["seconds"] = time.perf_counter() - t0
    next(iter(tests.values())).engine.dispose()
    return out


def _mean_nested(dicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The mean of equally shaped nested dicts of numbers (NaN ignored)."""
    if not dicts:
        return {}
    out: dict[str, Any] = {}
    for key, value in dicts[0].items():
        if isinstance(value, dict):
            out[key] = _mean_nested([d[key] for d in dicts])
        else:
            out[key] = _mean(np.array([d[key] for d in dicts], dtype=np.float64))
    return out


def run_quality(
    cfg: QualityConfig, workdir: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Every seed, then means and spreads: ``{"setup", "days", "detector", "parts",
    "baselines", "threshold_sweep", "calibration_sweep", "false_alarms", "seeds",
    "config"}``. ``days``: per test day (the headline); ``detector``: all test days
    together; ``parts``: the combined score's own parts, when it is combined;
    ``false_alarms``: the top-scoring normal flights of every seed."""
    require_sklearn()
    seeds = [
        evaluate_seed(cfg, s, workdir, progress)
        for s in range(cfg.first_seed, cfg.first_seed + cfg.seeds)
    ]
    names = list(seeds[0]["baselines"])
    part_names = list(seeds[0].get("parts", {}))
    day_names = list(seeds[0]["days"])
    sweeps = [s["threshold_sweep"] for s in seeds if "threshold_sweep" in s]
    false_alarms = sorted(
        (r for s in seeds for r in s.get("false_alarms", [])), key=lambda r: -r["score"]
    )
    return {
        "setup": cfg.setup,
        "days": {n: aggregate([s["days"][n] for s in seeds]) for n in day_names},
        "detector": aggregate([s["detector"] for s in seeds]),
        "threshold_sweep": _mean_nested(sweeps),
        "calibration_sweep": _mean_nested(
            [s["calibration_sweep"] for s in seeds if "calibration_sweep" in s]
        ),
        "false_alarms": false_alarms,
        "parts": {n: aggregate([s["parts"][n] for s in seeds if "parts" in s]) for n in part_names},
        "baselines": {n: aggregate([s["baselines"][n] for s in seeds]) for n in names},
        "seeds": seeds,
        "config": {**asdict(cfg), "train_config": train_config(cfg, cfg.first_seed).to_dict()},
    }


# --- output -------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """``value`` with NaN/inf as None and numpy scalars as Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pm(mean: float | None, std: float | None, digits: int = 3) -> str:
    if mean is None or not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std else f"{mean:.{digits}f}"


def quality_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per detector: the four figures (mean ± std), then ROC-AUC per kind."""
    entries = {
        "detector": report["detector"],
        **{f"part: {n}": m for n, m in report.get("parts", {}).items()},
        **report["baselines"],
    }
    kinds = sorted({k for e in entries.values() for k in e["per_kind"]})
    rows = []
    for name, m in entries.items():
        row: dict[str, Any] = {"detector": name}
        for key in METRIC_KEYS:
            row[key] = _pm(m[key], m.get(f"{key}_std"))
        for kind in kinds:
            row[kind] = _pm(m["per_kind"].get(kind, math.nan), 0.0)
        rows.append(row)
    return rows


def headline_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline, one row per test day (mean ± std over seeds): false alarms per 1,000
    normal flights and recall at the stored threshold, ROC-AUC, AP and the worst kind."""
    rows = []
    for name, m in report.get("days", {}).items():
        per_kind = [v for v in m["per_kind"].values() if v is not None and math.isfinite(v)]
        rows.append(
            {
                "test day": name,
                "false alarms / 1000": _pm(
                    m["false_alarms_per_1000"], m.get("false_alarms_per_1000_std"), digits=1
                ),
                "recall@thr": _pm(m["recall_at_threshold"], m.get("recall_at_threshold_std")),
                "roc_auc": _pm(m["roc_auc"], m.get("roc_auc_std")),
                "ap": _pm(m["ap"], m.get("ap_std")),
                "worst kind": f"{min(per_kind):.3f}" if per_kind else "–",
            }
        )
    return rows


def calibration_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per calibration rule of the sweep: false alarms per 1,000 and recall on each
    test day (means over seeds)."""
    rows = []
    for rule, days in report.get("calibration_sweep", {}).items():
        row: dict[str, Any] = {"rule": rule}
        for name, m in days.items():
            row[f"{name} FA/1000"] = _pm(m["false_alarms_per_1000"], 0.0, digits=1)
            row[f"{name} recall"] = _pm(m["recall"], 0.0)
        rows.append(row)
    return rows


def false_alarm_rows(report: dict[str, Any], top: int = EXPLAIN_TOP) -> list[dict[str, Any]]:
    """The top-scoring normal flights (all seeds): where the false alarms come from."""
    return [
        {
            "seed": r["seed"],
            "test day": r["test_day"],
            "flight": r["flight_id"],
            "callsign": r["callsign"],
            "score": f"{r['score']:.3f}",
            "flagged": "yes" if r["flagged"] else "no",
            "by": r["by"],
            "route": r.get("variant") or "usual",
            "reconstruction z": f"{r['reconstruction_z']:.2f}",
            "turn z": f"{r['turn_z']:.2f}",
            # only the ae_turn_rarity combination has it (NaN, or None from JSON, otherwise)
            "rarity z": _z(r.get("rarity_z")),
            "turn °": f"{r['turn_cum_deg']:.0f}",
            "tags": ", ".join(r["tags"]),
        }
        for r in report.get("false_alarms", [])[:top]
    ]


def _z(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.2f}"


def sweep_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per threshold percentile: test-day share flagged, precision, recall (means)."""
    return [
        {
            "percentile": p,
            "flagged": _pm(m["flagged_share"], 0.0),
            "precision": _pm(m["precision"], 0.0),
            "recall": _pm(m["recall"], 0.0),
        }
        for p, m in report.get("threshold_sweep", {}).items()
    ]
