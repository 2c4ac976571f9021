"""``/metrics`` parses with prometheus_client's own parser and moves with an ingest;
``/healthz`` reports the database, each receiver's last position and last nightly run, and
503 when the database cannot be read. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.runs import FAILED, OK, finish_run, start_run
from oddflights.db.web_queries import open_readonly
from oddflights.web.app import create_app
from tests.ingest.helpers import format_sbs, sim_positions
from tests.web.conftest import SMALL_DAY, SmallDb

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def at(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def client(small_db: SmallDb) -> TestClient:
    engine = open_readonly(small_db.url)
    with TestClient(create_app(engine)) as c:
        yield c
    engine.dispose()


def test_metrics_parse_and_move_with_an_ingest(
    client: TestClient, small_db: SmallDb, tmp_path: Path
) -> None:
    first = scrape(client)
    assert at(first, "oddflights_database_up") == 1
    assert (at(first, "oddflights_database_size_bytes") or 0) > 0
    assert at(first, "oddflights_positions_last_hour", receiver="r1") == 0
    assert at(first, "oddflights_last_position_timestamp_seconds", receiver="r1") is None
    # The newest day of r1 has 2 flights, not yet scored; 2 stub models.
    assert at(first, "oddflights_latest_day_flights", receiver="r1") == 2
    assert at(first, "oddflights_latest_day_flagged", receiver="r1") == 0
    assert at(first, "oddflights_models", receiver="r1") == 2
    assert at(first, "oddflights_models", receiver="empty") == 0
    age = at(first, "oddflights_model_age_seconds", receiver="r1")
    assert age is not None and 0 <= age < 3600
    assert at(first, "oddflights_nightly_last_run_timestamp_seconds", receiver="r1") is None

    # An SBS file whose last position was heard a minute ago, ingested by the real command.
    pos = sim_positions().copy()
    shift = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=1) - pos["ts"].max()).floor("s")
    pos["ts"] = pos["ts"] + shift
    in_hour = int((pos["ts"] >= pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=50)).sum())
    sbs = tmp_path / "now.sbs"
    sbs.write_bytes(format_sbs(pos.sort_values("ts", kind="stable")))
    result = CliRunner().invoke(
        main, ["ingest", str(sbs), "--format", "sbs", "--receiver", "r1", "--db", small_db.url]
    )
    assert result.exit_code == 0, result.output
    run_id = start_run(small_db.engine, "nightly", small_db.receiver_id, SMALL_DAY)
    finish_run(small_db.engine, run_id, FAILED, error="boom")

    second = scrape(client)
    recent = at(second, "oddflights_positions_last_hour", receiver="r1")
    assert recent is not None and recent >= in_hour > 0
    last = at(second, "oddflights_last_position_timestamp_seconds", receiver="r1")
    assert last is not None and abs(last - pos["ts"].max().timestamp()) < 1
    assert at(second, "oddflights_positions_last_hour", receiver="empty") == 0
    assert at(second, "oddflights_nightly_last_run_ok", receiver="r1") == 0
    assert at(second, "oddflights_nightly_last_run_status", receiver="r1", status="failed") == 1
    assert at(second, "oddflights_nightly_last_run_status", receiver="r1", status="ok") == 0
    duration = at(second, "oddflights_nightly_last_run_duration_seconds", receiver="r1")
    assert duration is not None and duration >= 0


def test_healthz_reports_receivers_and_the_last_nightly(
    client: TestClient, small_db: SmallDb
) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["schema"]
    assert body["receivers"]["r1"] == {
        "last_position": None,
        "positions_last_hour": 0,
        "last_nightly": None,
    }
    run_id = start_run(small_db.engine, "nightly", small_db.receiver_id, date(2026, 5, 4))
    finish_run(small_db.engine, run_id, OK)
    r = client.get("/healthz")
    assert r.status_code == 200
    nightly = r.json()["receivers"]["r1"]["last_nightly"]
    assert nightly["status"] == "ok" and nightly["day"] == "2026-05-04"
    started = datetime.fromisoformat(nightly["started_at"])
    assert started.tzinfo is not None and started <= datetime.now(UTC)


def test_a_database_that_cannot_be_read_is_503(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    url = f"sqlite:///{path}"
    open_db(url).dispose()
    engine = open_readonly(url)
    with TestClient(create_app(engine)) as c:
        engine.dispose()  # no connection kept open on the old file
        path.write_bytes(b"not a database any more" * 100)
        r = c.get("/healthz")
        assert r.status_code == 503
        assert r.json()["status"] == "error" and "error" in r.json()["database"]
        samples = scrape(c)
        assert at(samples, "oddflights_database_up") == 0
    engine.dispose()
