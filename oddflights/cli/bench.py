"""`oddflights bench …`: measured speed (and, later, detection quality)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from oddflights.cli.common import CliError, emit_json, emit_rows


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
def speed(
    stages: tuple[str, ...], flights_per_day: int, repeats: int, pg_url: str | None, as_json: bool
) -> None:
    """Measure each stage on a simulated 1 Hz day; medians of --repeats runs.

    Example: oddflights bench speed --stage ingest --flights-per-day 1000 --json
    """
    from oddflights.bench.speed import SpeedContext, run_speed

    with tempfile.TemporaryDirectory(prefix="oddflights-bench-") as tmp:
        ctx = SpeedContext(flights_per_day, repeats, Path(tmp), pg_url=pg_url or None)
        try:
            report = run_speed(list(stages), ctx)
        except ValueError as exc:
            raise CliError(str(exc)) from None
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
    "--days",
    type=click.IntRange(2, 60),
    default=None,
    help="Training days before the test day, the last held out for validation [default 8].",
)
@click.option("--flights-per-day", type=click.IntRange(50, 100_000), default=None, help="[500]")
@click.option("--epochs", type=click.IntRange(1, 1000), default=None, help="[model_epochs]")
@click.option("--quick", is_flag=True, help="Tiny: 1 seed, 4 days × 120 flights, 6 epochs.")
@click.option("--no-baselines", is_flag=True, help="The detector only.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def quality(
    seeds: int,
    first_seed: int,
    days: int | None,
    flights_per_day: int | None,
    epochs: int | None,
    quick: bool,
    no_baselines: bool,
    workdir: Path | None,
    as_json: bool,
) -> None:
    """Detection quality on simulated receivers: the real pipeline (ingest, flights, train,
    score) against labelled anomalies, beside baselines; means and spreads over seeds.

    Needs scikit-learn: pip install 'oddflights[bench]'. Progress goes to stderr.

    Example: oddflights bench quality --seeds 3 --json
    """
    import dataclasses

    from oddflights.bench.baselines import MissingSklearn
    from oddflights.bench.quality import (
        QualityConfig,
        quality_rows,
        run_quality,
        sweep_rows,
        to_jsonable,
    )

    base = QualityConfig.quick() if quick else QualityConfig()
    changes: dict[str, object] = {"baselines": not no_baselines, "first_seed": first_seed}
    if not quick or seeds != 3:
        changes["seeds"] = seeds
    for name, value in (
        ("train_days", days),
        ("flights_per_day", flights_per_day),
        ("epochs", epochs),
    ):
        if value is not None:
            changes[name] = value
    try:
        cfg = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    except ValueError as exc:
        raise CliError(str(exc)) from None

    def progress(message: str) -> None:
        click.echo(message, err=True)

    try:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
            report = run_quality(cfg, workdir, progress)
        else:
            with tempfile.TemporaryDirectory(prefix="oddflights-quality-") as tmp:
                report = run_quality(cfg, Path(tmp), progress)
    except MissingSklearn as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit_json(to_jsonable(report))
        return
    emit_rows(
        quality_rows(report),
        "table",
        title=f"Detection quality, mean ± std over {cfg.seeds} seed(s) (test day)",
    )
    if report.get("threshold_sweep"):
        emit_rows(
            sweep_rows(report),
            "table",
            title="The detector's threshold at other percentiles of the validation day",
        )


@bench.command()
@click.option("--seeds", type=click.IntRange(1, 20), default=1, show_default=True)
@click.option("--days", type=click.IntRange(2, 60), default=6, show_default=True)
@click.option("--flights-per-day", type=click.IntRange(50, 100_000), default=400, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 1000), default=None, help="[model_epochs]")
@click.option("--json", "as_json", is_flag=True, help="Every row (per seed) as JSON.")
def ablation(
    seeds: int, days: int, flights_per_day: int, epochs: int | None, as_json: bool
) -> None:
    """Loss × augmentation × score function × line width (× turn combination) on the
    quality benchmark's simulated days: the table that picks the defaults. Slow: one
    training per width, loss and augmentation per seed.

    Example: oddflights bench ablation --seeds 2 --days 5 --flights-per-day 300 --json
    """
    from oddflights.bench.ablation import Grid, run_ablation, summarize
    from oddflights.bench.baselines import MissingSklearn
    from oddflights.bench.quality import QualityConfig, to_jsonable

    try:
        cfg = QualityConfig(
            seeds=seeds, train_days=days, flights_per_day=flights_per_day, epochs=epochs
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        with tempfile.TemporaryDirectory(prefix="oddflights-ablation-") as tmp:
            rows = run_ablation(cfg, Grid(), Path(tmp), lambda m: click.echo(m, err=True))
    except MissingSklearn as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit_json(to_jsonable({"rows": rows, "summary": summarize(rows)}))
        return
    table = [
        {k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()}
        for r in summarize(rows)
    ]
    emit_rows(table, "table", title=f"Ablation, mean over {seeds} seed(s), best AP first")
