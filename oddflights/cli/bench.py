"""`oddflights bench …`: measured speed (and, later, detection quality)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from oddflights.bench.ablation import Grid, run_ablation, summarize
from oddflights.bench.quality import (
    QualityConfig,
    calibration_rows,
    false_alarm_rows,
    headline_rows,
    quality_rows,
    run_quality,
    sweep_rows,
    to_jsonable,
)
from oddflights.bench.speed import SpeedContext, run_speed
from oddflights.cli.common import emit_json, emit_rows
from oddflights.cli.progress import progress_reporter, quiet_option
from oddflights.progress import ProgressFn, Step


def _messages(what: str, progress: ProgressFn | None) -> Callable[[str], None] | None:
    """The benchmarks' own progress (a line of text each) as steps of ``what``."""
    if progress is None:
        return None
    report = progress
    return lambda message: report(Step(what, note=message))


@click.group()
def bench() -> None:
    """Benchmarks: measured numbers beside their targets.

    Example: oddflights bench speed --stage flights --flights-per-day 200
    """


@bench.command()
@click.option("--stage", "stages", multiple=True, help="Stage to run (repeatable; default all).")
@click.option("--flights-per-day", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--repeats", type=click.IntRange(1, 50), default=3, show_default=True)
@click.option(
    "--pg-url",
    default=None,
    envvar="ODDFLIGHTS_TEST_PG_URL",
    help="PostgreSQL URL for the PostgreSQL figures [env ODDFLIGHTS_TEST_PG_URL].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@quiet_option
def speed(
    stages: tuple[str, ...],
    flights_per_day: int,
    repeats: int,
    pg_url: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Measure each stage on a simulated 1 Hz day; medians of --repeats runs.

    Example: oddflights bench speed --stage ingest --flights-per-day 1000 --json
    """
    with tempfile.TemporaryDirectory(prefix="oddflights-bench-") as tmp:
        ctx = SpeedContext(flights_per_day, repeats, Path(tmp), pg_url=pg_url or None)
        with progress_reporter(quiet) as progress:
            report = run_speed(list(stages), ctx, progress)
    if as_json:
        emit_json(report)
        return
    rows = []
    for name, r in report["stages"].items():
        meets = {True: "yes", False: "NO", None: ""}[r["meets"]]
        rows.append(
            {
                "stage": name,
                "median": f"{r['value']:,.3g}",
                "unit": r["unit"],
                "target": "" if r["target"] is None else f"{r['target']:,}",
                "meets": meets,
            }
        )
    emit_rows(rows, "table", title=f"Speed, median of {repeats} ({report['machine']['cpus']} CPUs)")


@bench.command()
@click.option("--seeds", type=click.IntRange(1, 50), default=3, show_default=True)
@click.option("--first-seed", type=click.IntRange(0, None), default=0, show_default=True)
@click.option(
    "--setup",
    type=click.Choice(["varied", "classic"]),
    default="varied",
    show_default=True,
    help="varied: 14 days that differ as real ones do, then an ordinary, a reversed-runway "
    "and a coverage-change test day; classic: 8 alike days, one test day.",
)
@click.option(
    "--days",
    type=click.IntRange(2, 60),
    default=None,
    help="Training days before the test day(s), the last validation_days held out for "
    "validation and the threshold [varied 14, classic 8].",
)
@click.option("--flights-per-day", type=click.IntRange(50, 100_000), default=None, help="[500]")
@click.option("--epochs", type=click.IntRange(1, 1000), default=None, help="[model_epochs]")
@click.option("--quick", is_flag=True, help="Tiny: 1 seed, 4 days × 120 flights, 6 epochs.")
@click.option("--no-baselines", is_flag=True, help="The detector only.")
@click.option(
    "--explain-false-alarms",
    "explain",
    is_flag=True,
    help="Also list the top-scoring normal flights: tags and the part of the score "
    "(reconstruction or turn) that put them there.",
)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@quiet_option
def quality(
    seeds: int,
    first_seed: int,
    setup: str,
    days: int | None,
    flights_per_day: int | None,
    epochs: int | None,
    quick: bool,
    no_baselines: bool,
    explain: bool,
    workdir: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Detection quality on simulated receivers: the real pipeline (ingest, flights, train,
    score) against labelled anomalies, beside baselines; means and spreads over seeds.

    The headline comes first: false alarms per 1,000 normal flights and recall at the stored
    threshold, per test day. Needs scikit-learn: pip install 'oddflights[bench]'. Progress
    goes to stderr.

    Example: oddflights bench quality --seeds 3 --explain-false-alarms
    """
    if quick:
        base = QualityConfig.quick()
    else:
        base = QualityConfig.varied() if setup == "varied" else QualityConfig()
    changes: dict[str, object] = {
        "baselines": not no_baselines,
        "first_seed": first_seed,
        "setup": setup,
    }
    if not quick or seeds != 3:
        changes["seeds"] = seeds
    for name, value in (
        ("train_days", days),
        ("flights_per_day", flights_per_day),
        ("epochs", epochs),
    ):
        if value is not None:
            changes[name] = value
    cfg = dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    with progress_reporter(quiet) as progress:
        say = _messages("quality", progress)
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
            report = run_quality(cfg, workdir, say)
        else:
            with tempfile.TemporaryDirectory(prefix="oddflights-quality-") as tmp:
                report = run_quality(cfg, Path(tmp), say)
    if as_json:
        emit_json(to_jsonable(report))
        return
    emit_rows(
        headline_rows(report),
        "table",
        title=f"At the stored threshold, per test day ({cfg.setup} set-up), mean ± std over "
        f"{cfg.seeds} seed(s)",
    )
    emit_rows(
        quality_rows(report),
        "table",
        title=f"Detection quality over all test days, mean ± std over {cfg.seeds} seed(s)",
    )
    if report.get("calibration_sweep"):
        emit_rows(
            calibration_rows(report),
            "table",
            title="Other false-alarm rules on the same validation scores (mean over seeds)",
        )
    if report.get("threshold_sweep"):
        emit_rows(
            sweep_rows(report),
            "table",
            title="The detector's threshold at other percentiles of the validation days",
        )
    if explain:
        emit_rows(
            false_alarm_rows(report),
            "table",
            title="Top-scoring normal flights: where the false alarms come from",
        )


@bench.command()
@click.option("--seeds", type=click.IntRange(1, 20), default=1, show_default=True)
@click.option("--days", type=click.IntRange(2, 60), default=6, show_default=True)
@click.option("--flights-per-day", type=click.IntRange(50, 100_000), default=400, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 1000), default=None, help="[model_epochs]")
@click.option(
    "--grid",
    "grid_name",
    type=click.Choice(["full", "augmentation", "detector"]),
    default="full",
    show_default=True,
    help="full: every axis on the classic days; augmentation: none, day-to-day variation "
    "(and its halves) and the seed's shift+flip at the other defaults, on the classic and "
    "the varied days; detector: the score parts and combinations (bce, lit_bce, track_bce; ae, "
    "ae_turn, ae_turn_rarity) on one default training, on both set-ups.",
)
@click.option("--json", "as_json", is_flag=True, help="Every row (per seed) as JSON.")
@quiet_option
def ablation(
    seeds: int,
    days: int,
    flights_per_day: int,
    epochs: int | None,
    grid_name: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Loss × augmentation × score function × line width (× turn combination) on the
    quality benchmark's simulated days: the table that picks the defaults. Slow: one
    training per width, loss and augmentation per seed.

    Example: oddflights bench ablation --seeds 2 --days 5 --flights-per-day 300 --json

    Augmentation only: oddflights bench ablation --grid augmentation --seeds 3 --days 5
    --flights-per-day 300
    """
    cfg = QualityConfig(
        seeds=seeds, train_days=days, flights_per_day=flights_per_day, epochs=epochs
    )
    with (
        tempfile.TemporaryDirectory(prefix="oddflights-ablation-") as tmp,
        progress_reporter(quiet) as progress,
    ):
        presets = {"augmentation": Grid.augmentation, "detector": Grid.detector}
        grid = presets.get(grid_name, Grid)()
        rows = run_ablation(cfg, grid, Path(tmp), _messages("ablation", progress))
    if as_json:
        emit_json(to_jsonable({"rows": rows, "summary": summarize(rows)}))
        return
    table = [
        {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()}
        for r in summarize(rows)
    ]
    emit_rows(table, "table", title=f"Ablation, mean over {seeds} seed(s), best AP first")


@bench.command()
@click.option("--receivers", type=click.IntRange(1, 1000), default=8, show_default=True)
@click.option("--flights-per-day", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option(
    "--pg-url",
    default=None,
    envvar="ODDFLIGHTS_TEST_PG_URL",
    help="PostgreSQL server to measure on (a fresh schema, dropped after) "
    "[env ODDFLIGHTS_TEST_PG_URL].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@quiet_option
def scale(
    receivers: int, flights_per_day: int, pg_url: str | None, as_json: bool, quiet: bool
) -> None:
    """The nightly of R simulated receivers on 1 and on 2 local Dask worker processes over
    PostgreSQL: receiver-days per minute, the speedup, peak RSS per worker; per-stage costs,
    storage per receiver-day and the workers a 4-hour night needs. Needs the cluster extra.

    Example: oddflights bench scale --receivers 8 --flights-per-day 300 --json
    """
    from oddflights.bench.scale import ScaleConfig, run_scale

    cfg = ScaleConfig(receivers=receivers, flights_per_day=flights_per_day)
    with progress_reporter(quiet) as progress:
        report = run_scale(cfg, pg_url, _messages("scale", progress))
    if as_json:
        emit_json(report)
        return
    rows = [
        {
            "workers": r["workers"],
            "receiver_days": r["receiver_days"],
            "seconds": f"{r['seconds']:.1f}",
            "receiver_days_per_min": f"{r['receiver_days_per_min']:.2f}",
            "speedup": f"{r['speedup']:.2f}",
            "busy_cores": ""
            if r["machine_busy_cores"] is None
            else f"{r['machine_busy_cores']:.2f}",
            "speedup_bound": "" if r["speedup_bound"] is None else f"{r['speedup_bound']:.2f}",
            "peak_rss_mb": ", ".join(f"{m:.0f}" for m in r["peak_rss_mb_per_worker"]),
            "scores_identical": "yes" if r["scores_identical"] else "NO",
        }
        for r in report["runs"]
    ]
    emit_rows(rows, "table", title=f"Scale: {receivers} receivers x {flights_per_day} flights")
    cap = report["capacity"]
    click.echo(
        f"per receiver-day {cap['per_receiver_day_s']:.2f} s (build + score); "
        f"workers for a 4-hour night: {cap['workers_1000']} for 1,000 receivers, "
        f"{cap['workers_10000']} for 10,000 (1,000-flight days, weekly retrain)"
    )
