"""Known-flight rules and labels in the database (SQLite and PostgreSQL): a day really scored
with a stored detector, rules applied when the anomalies are read (also after a rescore and a
rebuild), labels kept by the flight's natural key, the CLI's commands, and migration 0006."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.engine import alembic_config, create_engine, current_revision, head_revision
from oddflights.db.flights import list_flights, read_rasters
from oddflights.db.known import add_flight_rule, add_rule, list_rules, remove_rule
from oddflights.db.labels import flight_labels, label_sets, set_label
from oddflights.db.models import FlightRow, KnownRuleRow, LabelRow, ReceiverRow
from oddflights.db.receivers import add_receiver, remove_receiver
from oddflights.db.registry import insert_model
from oddflights.db.scores import query_anomalies, score_rows, scoring_models
from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import Autoencoder, fit_detector
from oddflights.receivers import Receiver
from oddflights.scoring.score import score_day
from tests.model.routes import store_route_days

D0 = date(2026, 1, 1)
DAY = D0 + timedelta(days=1)


def _detector(val_images: np.ndarray):
    """Made-up weights, thresholds at the median: about half of a day's flights flagged."""
    rng = np.random.default_rng(0)
    d, hidden = 64 * 64, 16
    weights = Autoencoder(
        rng.normal(0, 0.05, (d, hidden)).astype(np.float32),
        np.zeros(hidden, dtype=np.float32),
        rng.normal(0, 0.05, (hidden, d)).astype(np.float32),
        np.full(d, -3.0, dtype=np.float32),
    )
    return fit_detector(
        weights,
        RasterSettings(64, 3, 200.0),
        val_images,
        np.full(len(val_images), 5.0),
        score_fn="bce",
        percentile=50.0,
        combine="ae",
    )


def _scored(engine: Engine, name: str = "roof") -> Receiver:
    """A receiver with 30 route flights on D0 (validation) and DAY (scored)."""
    rec = add_receiver(engine, Receiver(name, 52.0, 4.5))
    assert rec.id is not None
    store_route_days(engine, rec.id, [D0, DAY], 30)
    det = _detector(read_rasters(engine, rec.id, [D0]).images)
    insert_model(
        engine,
        receiver_id=rec.id,
        train_from=D0,
        train_to=D0,
        validation_days=[D0],
        config={},
        raster=det.raster.to_dict(),
        metrics={},
        threshold=det.threshold,
        calibration={},
        versions={},
        seed=0,
        status="ready",
        keras_bytes=None,
        detector_bytes=det.to_bytes(),
    )
    score_day(engine, rec, DAY)
    return rec


def _flagged(engine: Engine, rec: Receiver, **kw) -> list[int]:
    assert rec.id is not None
    return query_anomalies(engine, rec.id, DAY, **kw)["flight_id"].tolist()


def test_known_flights_are_scored_but_not_flagged(engine: Engine) -> None:
    rec = _scored(engine)
    assert rec.id is not None
    flagged = _flagged(engine, rec)
    assert len(flagged) >= 5
    flights = list_flights(engine, rec.id, DAY).set_index("flight_id")
    first, second, third = flagged[:3]
    # A callsign rule with a registration-style glob, and an aircraft rule.
    with engine.begin() as conn:
        conn.execute(sa.update(FlightRow).where(FlightRow.id == first).values(callsign="HBZAB"))
    by_callsign = add_rule(engine, rec.id, "callsign", "HB-Z??", reason="club helicopter")
    by_icao24 = add_rule(engine, rec.id, "icao24", flights.loc[second, "icao24"])

    now = _flagged(engine, rec)
    assert now == [f for f in flagged if f not in (first, second)]
    # Still scored and stored, flagged as stored: the rules decide when read.
    stored = score_rows(engine, scoring_models(engine, rec.id, DAY)[0], [first, second])
    assert stored["is_anomaly"].all() and len(stored) == 2

    shown = query_anomalies(engine, rec.id, DAY, include_known=True).set_index("flight_id")
    assert shown.index.tolist() == flagged
    assert shown.loc[first, "known"] and shown.loc[first, "known_rule"] == by_callsign.id
    assert shown.loc[first, "known_reason"] == "club helicopter"
    assert shown.loc[second, "known_rule"] == by_icao24.id and not shown.loc[second, "is_anomaly"]
    assert not shown.loc[third, "known"] and shown.loc[third, "is_anomaly"]
    assert shown.loc[third, "known_rule"] is None
    every = query_anomalies(engine, rec.id, DAY, include_all=True)
    assert len(every) == 30 and set(every[every["known"]]["flight_id"]) == {first, second}
    assert not every[every["known"]]["is_anomaly"].any()
    # --top counts the flights shown, after the known ones left.
    assert _flagged(engine, rec, top=1) == [third]

    # Rescoring the day keeps every flight scored, and the rules still apply.
    score_day(engine, rec, DAY)
    assert _flagged(engine, rec) == now
    remove_rule(engine, by_icao24.id)
    assert second in _flagged(engine, rec)


def test_until_is_inclusive_and_other_receivers_are_untouched(engine: Engine) -> None:
    rec = _scored(engine)
    other = _scored(engine, "other")
    assert rec.id is not None and other.id is not None
    target = _flagged(engine, rec)[0]
    icao24 = list_flights(engine, rec.id, DAY).set_index("flight_id").loc[target, "icao24"]
    ended = add_rule(engine, rec.id, "icao24", icao24, until_day=DAY - timedelta(days=1))
    assert target in _flagged(engine, rec)
    add_rule(engine, rec.id, "icao24", icao24, until_day=DAY)
    assert target not in _flagged(engine, rec)
    # The other receiver has a flight with the same address: its list is unchanged.
    other_flights = list_flights(engine, other.id, DAY)
    assert icao24 in set(other_flights["icao24"])
    before = query_anomalies(engine, other.id, DAY, include_all=True)
    assert not before["known"].any()
    assert [r.id for r in list_rules(engine, rec.id)] == [ended.id, ended.id + 1]
    assert list_rules(engine, other.id) == []


def test_flight_rules_and_labels_outlive_a_rebuild(engine: Engine) -> None:
    rec = _scored(engine)
    assert rec.id is not None
    target, labelled = _flagged(engine, rec)[:2]
    rule = add_flight_rule(engine, target, receiver_id=rec.id, reason="test flight")
    assert rule.kind == "flight" and rule.flight_start is not None
    set_label(engine, labelled, "odd", note="first thought")
    done = set_label(engine, labelled, "normal", created_by="web:phone")
    assert done["previous"] == "odd" and done["label"] == "normal"
    # Rebuilding the day gives the flights new ids (a later day's flights hold the next ones,
    # also on SQLite, which reuses the largest ids); the rule and the label follow them.
    store_route_days(engine, rec.id, [DAY + timedelta(days=1)], 5)
    store_route_days(engine, rec.id, [DAY], 30)
    score_day(engine, rec, DAY)
    shown = query_anomalies(engine, rec.id, DAY, include_known=True)
    known = shown[shown["known"]]
    assert len(known) == 1 and known["flight_id"].iloc[0] != target
    assert known["known_reason"].iloc[0] == "test flight"
    labels = flight_labels(engine, rec.id)
    assert len(labels) == 1 and labels["label"].iloc[0] == "normal"
    assert labels["flight_id"].iloc[0] != labelled and labels["by"].iloc[0] == "web:phone"
    assert label_sets(engine, rec.id, DAY) == ({int(labels["flight_id"].iloc[0])}, set())
    assert label_sets(engine, rec.id, D0) == (set(), set())
    with engine.connect() as conn:  # the history is kept
        assert conn.execute(sa.select(sa.func.count()).select_from(LabelRow)).scalar() == 2
    # Removing the receiver removes its rules and labels.
    remove_receiver(engine, rec.name)
    with engine.connect() as conn:
        for table in (KnownRuleRow, LabelRow):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_known_label_quality(db_url: str, tmp_path) -> None:
    engine = open_db(db_url)
    try:
        rec = _scored(engine)
        other = _scored(engine, "other")
        assert rec.id is not None and other.id is not None
        flights = list_flights(engine, rec.id, DAY).set_index("flight_id")
        other_flight = str(list_flights(engine, other.id, DAY)["flight_id"].iloc[0])
        flagged = _flagged(engine, rec)
    finally:
        engine.dispose()
    db = ["--db", db_url]
    icao24 = flights.loc[flagged[0], "icao24"].upper()
    code, out = _cli(
        "known", "add", "--receiver", "roof", "--icao24", icao24, "--reason", "ok", *db
    )
    assert code == 0 and "Known rule 1 for roof: aircraft" in out, out
    code, out = _cli("known", "add", "--receiver", "roof", "--callsign", "police*", *db)
    assert code == 0 and "callsign POLICE*" in out, out
    code, out = _cli("known", "add", "--receiver", "roof", "--flight", str(flagged[1]), *db)
    assert code == 0 and "flight of aircraft" in out, out
    for bad, message in [
        (["--icao24", "3c64"], "has 4 characters"),
        (["--icao24", "xyz123"], "not an aircraft address"),
        (["--callsign", "PO LICE"], "not a callsign pattern"),
        (["--icao24", "3c6444", "--callsign", "X*"], "give one of"),
        ([], "give one of"),
        (["--flight", "99999"], "no flight with id 99999"),
        (["--until", "2026-13-01", "--icao24", "3c6444"], "--until '2026-13-01' is not a day"),
    ]:
        code, out = _cli("known", "add", "--receiver", "roof", *bad, *db)
        assert code == 2 and out.count("\n") == 1 and message in out, (bad, out)
    code, out = _cli("known", "add", "--receiver", "nobody", "--icao24", "3c6444", *db)
    assert code == 2 and "no receiver named 'nobody'" in out
    code, out = _cli("known", "add", "--receiver", "roof", "--flight", other_flight, *db)
    assert code == 2 and "another receiver's" in out, out

    code, out = _cli("known", "list", "--format", "json", *db)
    rules = json.loads(out)
    assert [(r["id"], r["kind"], r["receiver"]) for r in rules] == [
        (1, "icao24", "roof"),
        (2, "callsign", "roof"),
        (3, "flight", "roof"),
    ]
    assert rules[0]["pattern"] == icao24.lower() and rules[0]["reason"] == "ok"
    code, out = _cli("known", "list", "--format", "csv", *db)
    assert code == 0 and out.splitlines()[0].startswith("id,receiver,kind,pattern")

    args = ["anomalies", "--receiver", "roof", "--day", str(DAY), "--format", "json", *db]
    code, out = _cli(*args)
    rows = json.loads(out)
    assert [r["flight_id"] for r in rows] == flagged[2:]
    assert not any(r["known"] for r in rows)
    code, out = _cli(*args, "--include-known")
    rows = json.loads(out)
    assert [r["flight_id"] for r in rows] == flagged
    assert [r["known_rule"] for r in rows[:2]] == [1, 3] and rows[0]["known_reason"] == "ok"
    assert not rows[0]["is_anomaly"]
    table = [a for a in args if a not in ("--format", "json")]
    code, out = _cli(*table, "--include-known")
    assert code == 0 and "known_reason" in out and "yes" in out, out
    code, out = _cli(*table)
    assert code == 0 and "known" not in out, out
    code, out = _cli("explain", str(flagged[0]), "-o", str(tmp_path / "x.png"), *db)
    assert code == 0 and "known (rule 1: ok)" in out, out

    code, out = _cli("known", "remove", "3", *db)
    assert code == 0 and "Removed known rule 3" in out
    code, out = _cli("known", "remove", "3", *db)
    assert code == 2 and "no known-flight rule with id 3" in out

    # Labels: 2 of the shown flags odd, 1 normal, the rest unlabelled; one unflagged flight
    # labelled odd (missed).
    shown = flagged[1:]
    unflagged = next(f for f in flights.index if f not in flagged)
    for fid, verdict in [(shown[0], "odd"), (shown[1], "odd"), (shown[2], "Normal")]:
        code, out = _cli("label", str(fid), verdict, "--note", "seen it", *db)
        assert code == 0 and f"Flight {fid} ({DAY}) labelled {verdict.lower()}." in out, out
    code, out = _cli("label", str(unflagged), "odd", *db)
    assert code == 0
    code, out = _cli("label", str(shown[2]), "odd", *db)
    assert "labelled odd (was normal)" in out
    code, out = _cli("label", str(shown[2]), "normal", *db)
    code, out = _cli("label", "99999", "odd", *db)
    assert code == 2 and "no flight with id 99999" in out
    code, out = _cli("label", str(shown[0]), "weird", *db)
    assert code == 2

    code, out = _cli("quality", "--receiver", "roof", "--days", "7", "--format", "json", *db)
    assert code == 0, out
    q = json.loads(out)
    assert (q["first"], q["last"]) == (str(DAY - timedelta(days=6)), str(DAY))
    assert q["flagged"] == len(shown) and (q["odd"], q["normal"]) == (2, 1)
    assert q["unlabelled"] == len(shown) - 3 and q["missed"] == 1
    assert q["precision"] == pytest.approx(2 / 3)
    assert [w["week"] for w in q["weeks"]] == ["2025-12-27", "2025-12-29"]
    assert q["weeks"][-1]["flagged"] == len(shown)
    code, out = _cli("quality", "--receiver", "roof", *db)
    assert code == 0 and "precision 67 %" in out and "Week by week" in out, out
    code, out = _cli("quality", "--receiver", "other", "--to", str(D0), *db)
    assert code == 0 and "0 flagged" in out and "precision -" in out, out


def test_migration_0006_up_and_down(db_url: str) -> None:
    from alembic import command

    eng = create_engine(db_url)
    try:
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0005")
        assert "known_rules" not in sa.inspect(eng).get_table_names()
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0006")
        names = set(sa.inspect(eng).get_table_names())
        assert {"known_rules", "labels"} <= names
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        with eng.begin() as conn:
            rid = conn.execute(
                sa.insert(ReceiverRow)
                .values(name="r", lat=1.0, lon=2.0, range_km=200.0, timezone="UTC", created_at=t0)
                .returning(ReceiverRow.id)
            ).scalar_one()
            conn.execute(
                sa.insert(KnownRuleRow).values(
                    receiver_id=rid,
                    kind="callsign",
                    pattern="POLICE*",
                    created_at=t0,
                    created_by="cli",
                )
            )
        with eng.begin() as conn:
            command.downgrade(alembic_config(conn), "0005")
        assert not {"known_rules", "labels"} & set(sa.inspect(eng).get_table_names())
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        assert current_revision(eng) == head_revision()
    finally:
        eng.dispose()
