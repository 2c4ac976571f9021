"""`oddflights train` and `oddflights models …`: train, list and inspect detectors."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from oddflights.cli.common import (
    DAY,
    CliError,
    db_option,
    emit_json,
    emit_rows,
    format_option,
    open_engine,
)
from oddflights.cli.progress import progress_reporter, quiet_option
from oddflights.db.receivers import get_receiver
from oddflights.db.registry import get_model, list_models
from oddflights.model.metrics import METRIC_NAMES, report_table
from oddflights.progress import ProgressFn, Step

_REPORTS = ("model", "all_black", "mean_image")
_LIST_COLUMNS = (
    "id",
    "receiver",
    "created_at",
    "train_from",
    "train_to",
    "validation_days",
    "status",
    "f1",
    "all_black_f1",
    "mean_image_f1",
    "threshold",
    "seed",
)


class ModelRejected(click.ClickException):
    """The collapse guard rejected the model: exit 1 (the run worked, the model did not)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"Rejected: {self.format_message()}", err=True)


def _epoch_reporter(epochs: int, progress: ProgressFn) -> Any:
    """A Keras callback that reports each epoch's loss and honest validation metrics."""
    import keras  # lazy: TensorFlow is loaded by training alone

    class EpochReporter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            note = (
                f"loss {logs.get('loss', float('nan')):.4f}  "
                f"val_loss {logs.get('val_loss', float('nan')):.4f}  "
                f"val lit-pixel P {logs.get('val_lit_precision', 0.0):.3f} "
                f"R {logs.get('val_lit_recall', 0.0):.3f} "
                f"F1 {logs.get('val_lit_f1', 0.0):.3f} "
                f"IoU {logs.get('val_lit_iou', 0.0):.3f}"
            )
            progress(Step("epoch", epoch + 1, epochs, note))

    return EpochReporter()


def _reports(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {r: {m: float(metrics[r][m]) for m in METRIC_NAMES} for r in _REPORTS if r in metrics}


def _print_table(metrics: dict[str, Any], title: str) -> None:
    emit_rows(report_table(_reports(metrics)), "table", ("metric", *_REPORTS), title=title)


@click.command("train")
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option("--from", "first", type=DAY, required=True, help="First day.")
@click.option("--to", "last", type=DAY, required=True, help="Last day.")
@click.option("--epochs", type=int, default=None, help="Most epochs [setting model_epochs].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--validation-days",
    type=int,
    default=None,
    help="Hold out the last N days of the range for validation and the threshold "
    "[setting validation_days, at most half the range].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@quiet_option
@db_option
def train(
    receiver_name: str,
    first: date,
    last: date,
    epochs: int | None,
    seed: int,
    validation_days: int | None,
    as_json: bool,
    quiet: bool,
    db_url: str | None,
) -> None:
    """Train a receiver's detector on the flights of a range of days.

    The last day(s) of the range are held out whole for validation: the honest lit-pixel
    metrics beside the all-black and mean-image predictors, and the anomaly threshold. A model
    that does not beat those trivial predictors is stored as rejected and the command exits 1.

    Example: oddflights train --receiver roof --from 2026-01-01 --to 2026-01-14 --epochs 20
    """
    # Lazy: these import TensorFlow, which only training may load.
    from oddflights.model.registry import train_from_db
    from oddflights.model.train import READY, TrainConfig

    if epochs is not None and epochs < 1:
        raise CliError(f"--epochs {epochs} must be at least 1")
    if seed < 0:
        raise CliError(f"--seed {seed} must not be negative")
    cfg = TrainConfig.from_settings(epochs=epochs, seed=seed)
    engine = open_engine(db_url)
    try:
        receiver = get_receiver(engine, receiver_name)
        with progress_reporter(quiet) as progress:
            callbacks = [] if progress is None else [_epoch_reporter(cfg.epochs, progress)]
            model_id, result = train_from_db(
                engine,
                receiver,
                first,
                last,
                cfg,
                validation_days=validation_days,
                callbacks=callbacks,
            )
    finally:
        engine.dispose()
    if as_json:
        emit_json(
            {
                "model_id": model_id,
                "status": result.status,
                "metrics": _reports(result.metrics),
                "threshold": result.threshold,
                "seconds": round(result.seconds, 3),
                "labels": result.extra.get("labels"),
            }
        )
    else:
        _print_table(result.metrics, f"Model {model_id} on the validation day(s)")
        click.echo(
            f"Model {model_id}: {result.status}, threshold {result.threshold:.6g} "
            f"({_decides(result.config)}: {result.detector.n_validation} flights), "
            f"{result.seconds:.1f} s."
        )
        if used := _labels_used(result.extra.get("labels")):
            click.echo(f"Your labels: {used}.")
    if result.status != READY:
        raise ModelRejected(
            f"model {model_id} {result.collapse}. It is stored as rejected and will not score. "
            "Try: ODDFLIGHTS_MODEL_LOSS=weighted_bce, more epochs (--epochs), or thicker lines "
            "(raster line width)."
        )


@click.group("models")
def models() -> None:
    """List and inspect trained models.

    Example: oddflights models list --receiver roof
    """


@models.command("list")
@click.option("--receiver", "receiver_name", default=None, help="Only this receiver's models.")
@format_option()
@db_option
def list_cmd(receiver_name: str | None, fmt: str, db_url: str | None) -> None:
    """List stored models with their validation F1 beside the trivial predictors'.

    Example: oddflights models list --receiver roof --format json
    """
    engine = open_engine(db_url)
    try:
        receiver_id = None
        if receiver_name is not None:
            receiver_id = get_receiver(engine, receiver_name).id
        infos = list_models(engine, receiver_id)
    finally:
        engine.dispose()
    rows = [
        {
            "id": i.id,
            "receiver": i.receiver,
            "created_at": i.created_at.isoformat(timespec="seconds"),
            "train_from": i.train_from.isoformat(),
            "train_to": i.train_to.isoformat(),
            "validation_days": ",".join(d.isoformat() for d in i.validation_days),
            "status": i.status,
            "f1": _f1(i.metrics, "model"),
            "all_black_f1": _f1(i.metrics, "all_black"),
            "mean_image_f1": _f1(i.metrics, "mean_image"),
            "threshold": i.threshold,
            "seed": i.seed,
        }
        for i in infos
    ]
    emit_rows(rows, fmt, _LIST_COLUMNS, title="Models")


def _f1(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name, {}).get("f1")
    return None if value is None else round(float(value), 4)


@models.command("show")
@click.argument("model_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the model's metadata as JSON.")
@db_option
def show(model_id: int, as_json: bool, db_url: str | None) -> None:
    """Show one model: its days, settings, threshold and metrics beside the baselines.

    Example: oddflights models show 3
    """
    engine = open_engine(db_url)
    try:
        info = get_model(engine, model_id)
    finally:
        engine.dispose()
    if as_json:
        emit_json(
            {
                "model_id": info.id,
                "receiver": info.receiver,
                "created_at": info.created_at,
                "train_from": info.train_from,
                "train_to": info.train_to,
                "validation_days": info.validation_days,
                "status": info.status,
                "metrics": _reports(info.metrics),
                "threshold": info.threshold,
                "calibration": info.calibration,
                "labels": info.metrics.get("labels"),
                "config": info.config.to_dict(),
                "raster": info.raster.to_dict(),
                "has_detector": info.has_detector,
                "versions": info.versions,
                "seed": info.seed,
            }
        )
        return
    click.echo(
        f"Model {info.id} ({info.status}) for {info.receiver}: trained on "
        f"{info.train_from}..{info.train_to}, validated on "
        f"{', '.join(d.isoformat() for d in info.validation_days)}; seed {info.seed}."
    )
    if not info.has_detector:
        click.echo("No detector: stored before detectors and not convertible; retrain it.")
    elif info.threshold is not None:
        click.echo(f"Threshold {info.threshold:.6g}: {_decides(info.config)}.")
    _print_table(info.metrics, "Validation metrics (lit pixels at 0.5)")
    settings = ", ".join(f"{k}={v}" for k, v in info.config.to_dict().items())
    click.echo(f"Settings: {settings}")
    click.echo(f"Raster: {info.raster.key}; versions: {info.versions}")


def _labels_used(counts: dict[str, int] | None) -> str:
    """What the owner's labels did to a training, in words ("" when nothing)."""
    if not counts:
        return ""
    words = {
        "odd_left_out": "{} labelled odd left out",
        "normal_added": "{} labelled normal added from earlier days",
        "normal_in_validation": "{} labelled normal counted as normal by the threshold",
        "normal_redrawn_left_out": "{} labelled normal left out (drawn with other settings)",
    }
    return ", ".join(text.format(counts[k]) for k, text in words.items() if counts.get(k))


def _decides(cfg: Any) -> str:
    """How the detector's threshold was set, in words (TrainConfig ``cfg``)."""
    what = {
        "ae": cfg.score_fn,
        "ae_turn": f"max of scaled {cfg.score_fn} and turn",
        "ae_turn_rarity": f"max of scaled {cfg.score_fn}, turn and pixel rarity",
    }.get(cfg.combine, f"{cfg.combine} of {cfg.score_fn}")
    if cfg.threshold_method == "false_alarm_rate":
        return (
            f"{what} at {cfg.false_alarms_per_1000:g} false alarms per 1,000 normal flights on "
            f"the validation flights (top {cfg.presumed_odd_percent:g} % set aside as odd)"
        )
    return f"{what} at the {cfg.threshold_percentile:g}th percentile of the validation flights"
