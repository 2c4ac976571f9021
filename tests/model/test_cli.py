"""`oddflights train` and `oddflights models …` on real databases."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.receivers import add_receiver
from oddflights.receivers import Receiver
from tests.model.conftest import store_route_days

D0 = date(2026, 1, 1)
REPORT_KEYS = {"precision", "recall", "f1", "iou", "mse", "bce"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def roof_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database with receiver "roof" and 3 days × 80 synthetic route flights."""
    engine = open_db(db_url)
    rec = add_receiver(engine, Receiver("roof", 52.0, 4.5))
    assert rec.id is not None
    store_route_days(engine, rec.id, [D0 + timedelta(days=i) for i in range(3)], 80)
    engine.dispose()
    # The tiny settings of the tests, through the settings table's environment variables.
    for name, value in {
        "MODEL_HIDDEN": "64",
        "MODEL_LEARNING_RATE": "0.003",
        "MODEL_BATCH_SIZE": "16",
        "MODEL_SHIFT_PX": "1",
    }.items():
        monkeypatch.setenv(f"ODDFLIGHTS_{name}", value)
    return db_url


def test_train_json_then_list_and_show(roof_db: str) -> None:
    code, out, err = run(
        "train", "--receiver", "roof", "--from", "2026-01-01", "--to", "2026-01-03",
        "--epochs", "4", "--seed", "1", "--json", "--db", roof_db,
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"model_id", "status", "metrics", "threshold", "seconds", "labels"}
    assert doc["status"] == "ready"
    assert set(doc["metrics"]) == {"model", "all_black", "mean_image"}
    for report in doc["metrics"].values():
        assert set(report) == REPORT_KEYS
    assert doc["metrics"]["model"]["f1"] > doc["metrics"]["mean_image"]["f1"]
    assert doc["metrics"]["all_black"]["f1"] == 0.0
    # Per-epoch honest metrics go to stderr when stdout is JSON.
    assert err.count("val lit-pixel P") == 4 and "epoch 4/4" in err

    code, out, _ = run("models", "list", "--format", "json", "--db", roof_db)
    assert code == 0
    (row,) = json.loads(out)
    assert row["id"] == doc["model_id"] and row["status"] == "ready"
    assert row["validation_days"] == "2026-01-03" and row["all_black_f1"] == 0.0
    code, out, _ = run("models", "list", "--receiver", "roof", "--format", "csv", "--db", roof_db)
    assert out.splitlines()[0].startswith("id,receiver,created_at")

    code, out, _ = run("models", "show", str(doc["model_id"]), "--json", "--db", roof_db)
    shown = json.loads(out)
    assert shown["metrics"] == doc["metrics"] and shown["validation_days"] == ["2026-01-03"]
    assert shown["config"]["hidden"] == 64 and shown["seed"] == 1
    code, out, _ = run("models", "show", str(doc["model_id"]), "--db", roof_db)
    assert code == 0
    assert "all_black" in out and "mean_image" in out and "f1" in out
    # The threshold's rule, in words: the default false-alarm target.
    assert "at 5 false alarms per 1,000 normal flights" in out


def test_train_show_and_every_score_row_carry_one_threshold(roof_db: str) -> None:
    """The threshold `train --json` prints is the one `models show` prints, `score` uses and
    every stored score row carries: the fitted detector's (combined score by default)."""
    engine = open_db(roof_db)
    store_route_days(engine, 1, [D0 + timedelta(days=3)], 40, seed=9)
    engine.dispose()
    code, out, err = run(
        "train", "--receiver", "roof", "--from", "2026-01-01", "--to", "2026-01-03",
        "--epochs", "3", "--json", "--db", roof_db,
    )  # fmt: skip
    assert code == 0, err
    trained = json.loads(out)
    threshold = trained["threshold"]
    code, out, _ = run("models", "show", str(trained["model_id"]), "--json", "--db", roof_db)
    shown = json.loads(out)
    assert shown["threshold"] == threshold and shown["has_detector"] is True
    assert shown["config"]["combine"] == "ae_turn"
    code, out, err = run(
        "score", "--receiver", "roof", "--day", "2026-01-04", "--json", "--db", roof_db
    )
    assert code == 0, err
    assert json.loads(out)["days"][0]["threshold"] == threshold
    code, out, _ = run(
        "anomalies", "--receiver", "roof", "--day", "2026-01-04", "--all", "--format", "json",
        "--db", roof_db,
    )  # fmt: skip
    rows = json.loads(out)
    assert len(rows) == 40 and {r["threshold"] for r in rows} == {threshold}
    assert [r["is_anomaly"] for r in rows] == [r["score"] > threshold for r in rows]


def test_train_table_output(roof_db: str) -> None:
    code, out, err = run(
        "train", "--receiver", "roof", "--from", "2026-01-01", "--to", "2026-01-03",
        "--epochs", "2", "--db", roof_db,
    )  # fmt: skip
    assert code == 0
    # Progress goes to stderr: timestamped lines, as stderr is not a terminal here.
    assert "epoch 2/20" not in err and re.search(r"^\S+Z epoch 2/2 loss ", err, re.M)
    assert "mean_image" in out and "ready" in out


def test_collapse_exits_1_and_is_stored_rejected(roof_db: str, monkeypatch) -> None:
    # A learning rate of ~0 leaves the untrained model's grey output: the guard must fire.
    monkeypatch.setenv("ODDFLIGHTS_MODEL_LEARNING_RATE", "1e-12")
    code, out, err = run(
        "train", "--receiver", "roof", "--from", "2026-01-01", "--to", "2026-01-03",
        "--epochs", "1", "--json", "--db", roof_db,
    )  # fmt: skip
    assert code == 1
    assert json.loads(out)["status"] == "rejected"
    assert "collapsed" in err and "weighted_bce" in err
    code, out, _ = run("models", "list", "--format", "json", "--db", roof_db)
    assert json.loads(out)[0]["status"] == "rejected"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--receiver", "attic"], "no receiver named 'attic'"),
        (["--receiver", "roof", "--from", "2026-13-01"], "--from '2026-13-01' is not a day"),
        (["--receiver", "roof", "--epochs", "0"], "--epochs 0 must be at least 1"),
        (["--receiver", "roof", "--validation-days", "3"], "leave no training day"),
        (["--receiver", "roof", "--from", "2026-02-01", "--to", "2026-02-03"], "no flights"),
    ],
)
def test_train_bad_arguments(roof_db: str, args: list[str], message: str) -> None:
    base = {"--from": "2026-01-01", "--to": "2026-01-03"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    flat = [x for kv in base.items() for x in kv]
    code, _, err = run("train", *flat, "--db", roof_db)
    assert code == 2, err
    assert message in err


def test_show_unknown_model(db_url: str) -> None:
    code, _, err = run("models", "show", "42", "--db", db_url)
    assert code == 2 and "no model with id 42" in err
