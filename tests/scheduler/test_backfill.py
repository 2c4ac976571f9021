"""`nightly --backfill`: readsb history ingested on the first day, a model on the first night."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.receivers import get_receiver
from oddflights.db.registry import list_models
from oddflights.db.runs import list_runs
from oddflights.db.scores import scoring_models
from oddflights.scheduler.nightly import NightlySettings, run_nightly
from oddflights.simulate.traces import write_globe_history
from tests.scoring.simdb import D0, RECEIVER, THIN, TINY, simulation

DAY_MS = 86_400_000


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.slow
def test_backfill_trains_on_the_history_on_the_first_night(tmp_path: Path) -> None:
    sim = simulation(6, 80, seed=5)
    pos = sim.positions.iloc[::THIN].reset_index(drop=True)
    ms = pos["ts"].to_numpy("datetime64[ms]").astype("int64")
    for day in sorted(set((ms // DAY_MS).tolist())):
        write_globe_history(pos[(ms // DAY_MS) == day], tmp_path / "history", day * DAY_MS)
    url = f"sqlite:///{tmp_path / 'o.db'}"
    code, out = _cli(
        "receiver",
        "add",
        "sim",
        "--lat",
        str(RECEIVER.lat),
        "--lon",
        str(RECEIVER.lon),
        "--db",
        url,
    )
    assert code == 0, out
    code, out = _cli(
        "ingest",
        str(tmp_path / "history" / "globe_history"),
        "--receiver",
        "sim",
        "--json",
        "--db",
        url,
    )
    assert code == 0, out
    assert json.loads(out)["accepted"] == len(pos)
    code, out = _cli("nightly", "--receiver", "sim", "--backfill", "--day", str(D0), "--db", url)
    assert code == 2 and "--backfill" in out

    engine = open_db(url)
    try:
        rec = get_receiver(engine, "sim")
        assert rec.id is not None
        settings = NightlySettings(train_window_days=4, warmup_days=3, backfill=True)
        last = D0 + timedelta(days=5)
        report = run_nightly(
            engine, [rec], today=last + timedelta(days=1), settings=settings, train_config=TINY
        )
        assert report.ok
        days = {o.day: o for o in report.receivers[0].days}
        assert sorted(days) == [D0 + timedelta(days=i) for i in range(6)]
        assert "older than the training window" in days[D0].counts["note"]
        assert "flights" not in days[D0].counts  # not built
        for i in range(1, 5):
            history = days[D0 + timedelta(days=i)]
            assert history.status == "skipped" and "backfill" in history.counts["note"]
            assert history.counts["flights"] > 50
        # The first night's day is scored, by a model trained on the 4 days before it, not
        # left as a warm-up day.
        first_night = days[last]
        assert first_night.status == "ok" and first_night.counts["train_status"] == "ready"
        assert first_night.counts["scored"] > 50
        (model,) = list_models(engine, rec.id)
        assert (model.train_from, model.train_to) == (D0 + timedelta(days=1), last - timedelta(1))
        assert scoring_models(engine, rec.id, last) == [model.id]
        runs = list_runs(engine, rec.id)
        assert len(runs) == 6 and set(runs["status"]) == {"ok", "skipped"}
        # Done days stay done: the next run (backfill or not) has nothing to do.
        again = run_nightly(engine, [rec], today=last + timedelta(days=1), settings=settings)
        assert again.receivers[0].status == "nothing"
        assert pd.notna(runs["finished_at"]).all()
    finally:
        engine.dispose()
