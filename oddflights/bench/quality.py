"""Detection quality on simulated receivers: the real pipeline against labelled anomalies.

Per seed: simulate a receiver (training days with the usual few unlabelled-in-practice
anomalies, then a test day with more), run ingest → flights → train → score into a scratch
SQLite database, match the simulator's labels to the built flights (same icao24, overlapping
times), and rank the test day's flights by score. Reported for the detector (the default
settings) and for baselines on the same flights: ROC-AUC, average precision, precision@k
(k = number of anomalies), recall at the stored threshold, and ROC-AUC per anomaly kind
(that kind's anomalies against all normal flights); means and spreads over seeds.

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
from oddflights.flights.build import build_flights
from oddflights.model.metrics import precision_at_k
from oddflights.model.score import reconstruction_scores
from oddflights.model.train_config import TrainConfig
from oddflights.receivers import Receiver
from oddflights.scoring.score import load_detector, score_day, validation_scores
from oddflights.simulate import SimConfig, simulate

Progress = Callable[[str], None]
FloatArray = npt.NDArray[np.float64]

RECEIVER = Receiver("bench", lat=52.0, lon=5.0, range_km=200.0, timezone="UTC")
FIRST_DAY = date(2026, 3, 2)
NORMAL = "normal"
METRIC_KEYS = ("roc_auc", "ap", "p_at_k", "recall_at_threshold", "precision_at_threshold")
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

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, not {self.seeds}")
        if self.train_days < 2:
            raise ValueError(f"days must be at least 2 (train + validation), not {self.train_days}")
        if self.flights_per_day < 50:
            raise ValueError(f"flights per day must be at least 50, not {self.flights_per_day}")
        if self.thin < 1:
            raise ValueError(f"thin must be at least 1, not {self.thin}")

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
    train_days: list[date]  # the last one is the validation day
    test_day: date
    labels: pd.DataFrame  # the test day's simulator labels

    @property
    def fit_days(self) -> list[date]:
        return self.train_days[:-1]

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


def label_flights(flights: pd.DataFrame, labels: pd.DataFrame) -> npt.NDArray[np.str_]:
    """The simulator kind of each built flight: the label of the same icao24 whose time span
    overlaps the flight's most (``normal`` when none does)."""
    kinds = np.full(len(flights), NORMAL, dtype=object)
    if flights.empty or labels.empty:
        return kinds.astype(str)
    fl = flights[["icao24", "start_ts", "end_ts"]].reset_index(drop=True).copy()
    fl["row"] = np.arange(len(fl))
    lab = labels[["icao24", "start", "end", "kind"]].copy()
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
    val, val_fl = _day_set(data, [data.val_day])
    test, test_fl = _day_set(data, [data.test_day])
    test_fl["kind"] = label_flights(test_fl, data.labels)
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
        if y.any():
            out["recall_at_threshold"] = float(f[y].mean())
        if f.any():
            out["precision_at_threshold"] = float(y[f].mean())
    return out


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
        vals = np.array([r[key] for r in runs], dtype=np.float64)
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


def run_detector(data: SeedData, split: Split, cfg: QualityConfig) -> dict[str, Any]:
    """Train from the database, score the test day with ``score_day`` and read the stored
    scores back: the product's own path. Returns scores in ``split.test_flights`` order."""
    from oddflights.model.registry import train_from_db

    assert data.receiver.id is not None
    config = train_config(cfg, data.seed)
    model_id, result = train_from_db(
        data.engine, data.receiver, data.train_days[0], data.train_days[-1], config
    )
    n = len(split.test_flights)
    if result.status != "ready":
        # A rejected model never scores: the detector knows nothing (all scores equal).
        return {
            "scores": np.zeros(n),
            "flagged": np.zeros(n, dtype=bool),
            "status": result.status,
            "config": config.to_dict(),
        }

    def stored() -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        assert data.receiver.id is not None
        rows = query_anomalies(
            data.engine, data.receiver.id, data.test_day, model_id=model_id, include_all=True
        ).set_index("flight_id")
        rows = rows.loc[split.test_flights["flight_id"].to_numpy()]
        return rows["score"].to_numpy(dtype=np.float64), rows["is_anomaly"].to_numpy(dtype=bool)

    parts: dict[str, Any] = {}
    if str(settings.get("score_combine")) != "ae":
        # The autoencoder's own part, scored (and stored, then replaced) the same way.
        score_day(data.engine, data.receiver, data.test_day, model_id, combine="ae")
        parts["autoencoder"] = stored()
    score_day(data.engine, data.receiver, data.test_day, model_id)
    scores, flagged = stored()
    return {
        "scores": scores,
        "flagged": flagged,
        "val_scores": _validation_scores(data, model_id),
        "parts": parts,
        "status": result.status,
        "threshold": float(result.threshold),
        "config": config.to_dict(),
        "train_seconds": float(result.seconds),
        "val_f1": float(result.metrics["model"]["f1"]),
    }


def _validation_scores(data: SeedData, model_id: int) -> FloatArray | None:
    """The validation day's scores as the stored detector sees them (combined, or the
    autoencoder's alone), for the threshold sweep."""

    return validation_scores(
        data.engine, get_model(data.engine, model_id), load_detector(data.engine, model_id)
    )


def run_seed_config(split: Split, cfg: QualityConfig, seed: int) -> dict[str, Any]:
    """The seed project's configuration trained on the same rasters (arrays, not the DB)."""
    from oddflights.model.train import train_model

    config = train_config(cfg, seed, **SEED_CONFIG)
    result = train_model(split.train, split.val, config)
    scores = reconstruction_scores(result.model, split.test, config.score_fn)
    return {"scores": scores, "flagged": scores > result.threshold, "status": result.status}


def evaluate_seed(
    cfg: QualityConfig, seed: int, workdir: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """One seed: data, detector, baselines; ranking_metrics() of each."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    data = prepare_seed(cfg, seed, workdir)
    split = load_split(data)
    kinds = split.test_flights["kind"].to_numpy()
    say(
        f"seed {seed}: {len(split.train)} training, {len(split.val)} validation and "
        f"{len(split.test)} test flights ({int((kinds != NORMAL).sum())} labelled anomalies) "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    det = run_detector(data, split, cfg)
    out: dict[str, Any] = {
        "seed": seed,
        "detector": ranking_metrics(det["scores"], kinds, det["flagged"]),
        "detector_status": det["status"],
        "baselines": {},
    }
    if det.get("val_scores") is not None:
        out["threshold_sweep"] = threshold_sweep(det["val_scores"], det["scores"], kinds)
    say(f"seed {seed}: detector ROC-AUC {out['detector']['roc_auc']:.3f} ({det['status']})")
    if det.get("parts"):
        out["parts"] = {
            name: ranking_metrics(sc, kinds, fl) for name, (sc, fl) in det["parts"].items()
        }
    if cfg.baselines:
        seed_run = run_seed_config(split, cfg, seed)
        out["baselines"]["seed_config"] = ranking_metrics(
            seed_run["scores"], kinds, seed_run["flagged"]
        )
        percentile = float(det["config"]["threshold_percentile"])
        for name, (val, test) in baseline_scores(split.inputs()).items():
            flagged = test > np.percentile(val, percentile)
            out["baselines"][name] = ranking_metrics(test, kinds, flagged)
    out["seconds"] = time.perf_counter() - t0
    data.engine.dispose()
    return out


def run_quality(
    cfg: QualityConfig, workdir: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Every seed, then means and spreads: ``{"detector", "parts", "baselines", "seeds",
    "config"}`` (``parts``: the combined score's own parts, when it is combined)."""
    require_sklearn()
    seeds = [
        evaluate_seed(cfg, s, workdir, progress)
        for s in range(cfg.first_seed, cfg.first_seed + cfg.seeds)
    ]
    names = list(seeds[0]["baselines"])
    part_names = list(seeds[0].get("parts", {}))
    sweeps = [s["threshold_sweep"] for s in seeds if "threshold_sweep" in s]
    sweep = {
        p: {k: _mean(np.array([sw[p][k] for sw in sweeps], dtype=np.float64)) for k in sweeps[0][p]}
        for p in (sweeps[0] if sweeps else {})
    }
    return {
        "detector": aggregate([s["detector"] for s in seeds]),
        "threshold_sweep": sweep,
        "parts": {n: aggregate([s["parts"][n] for s in seeds]) for n in part_names},
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


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None or not math.isfinite(mean):
        return "–"
    return f"{mean:.3f} ± {std:.3f}" if std else f"{mean:.3f}"


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
