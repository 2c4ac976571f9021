"""Registration and aircraft type (the aircraft table, from readsb traces) in known-flight
rules, the web pages and the alerts, on SQLite and PostgreSQL: a stub-scored day whose
flagged flights are 0000a1 (CS1) and 0000a4 (CS4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from oddflights.alerts.deliver import day_alert
from oddflights.alerts.payload import AlertOptions, text
from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.aircraft import upsert_aircraft
from oddflights.db.known import add_rule, list_rules
from oddflights.db.scores import query_anomalies
from oddflights.db.web_queries import day_summaries
from oddflights.known import registration_pattern, type_pattern
from oddflights.web.app import create_app
from tests.alerts.stubday import DAY, stub_day

SEEN = datetime(2026, 5, 4, 12, tzinfo=UTC)


def _aircraft(engine: Engine) -> None:
    """Details for the two flagged aircraft and one unflagged one (0000a3 has none)."""
    rows = [
        ("0000a1", "HB-ZAB", "EC35", "EUROCOPTER EC-135", "Swiss police"),
        ("0000a4", "D-EXYZ", "A320", "AIRBUS A-320", None),
        ("0000a0", "PH-ABC", "C172", None, None),
    ]
    upsert_aircraft(
        engine,
        pd.DataFrame(
            [
                {
                    "icao24": icao,
                    "registration": reg,
                    "type_code": t,
                    "description": desc,
                    "operator": op,
                    "year": 2005,
                    "seen_at": pd.Timestamp(SEEN),
                }
                for icao, reg, t, desc, op in rows
            ]
        ),
    )


def _known(engine: Engine, rid: int) -> dict[str, bool]:
    df = query_anomalies(engine, rid, DAY, include_all=True)
    return dict(zip(df["icao24"], df["known"], strict=True))


def _flagged(engine: Engine, rid: int) -> list[str]:
    return query_anomalies(engine, rid, DAY)["icao24"].tolist()


def test_type_and_registration_rules_mark_flights_known(engine: Engine) -> None:
    rec = stub_day(engine)
    _aircraft(engine)
    assert rec.id is not None
    assert _flagged(engine, rec.id) == ["0000a4", "0000a1"]
    # A type glob, any case: the helicopter only.
    add_rule(engine, rec.id, "type", type_pattern("ec3?"), reason="police")
    assert _flagged(engine, rec.id) == ["0000a4"]
    assert day_summaries(engine, rec.id)["flagged"].tolist() == [1]
    # A registration glob: dashes ignored on both sides (DEXY* matches D-EXYZ).
    add_rule(engine, rec.id, "registration", registration_pattern("dexy*"))
    assert _flagged(engine, rec.id) == []
    assert day_summaries(engine, rec.id)["flagged"].tolist() == [0]
    known = _known(engine, rec.id)
    assert known["0000a1"] and known["0000a4"] and not known["0000a0"]
    # Every type: the aircraft the table knows, never those it does not.
    add_rule(engine, rec.id, "type", type_pattern("*"))
    known = _known(engine, rec.id)
    assert known["0000a0"] and not known["0000a3"] and not known["0000a2"]


def test_a_rule_that_matches_no_aircraft_changes_nothing(engine: Engine) -> None:
    rec = stub_day(engine)
    _aircraft(engine)
    assert rec.id is not None
    add_rule(engine, rec.id, "type", type_pattern("B7??"))
    add_rule(engine, rec.id, "registration", registration_pattern("HB-ZA"))  # no '*': whole
    add_rule(engine, rec.id, "callsign", "HBZAB")  # a callsign rule ignores registrations
    assert _flagged(engine, rec.id) == ["0000a4", "0000a1"]


def test_cli_adds_type_and_registration_rules(db_url: str) -> None:
    engine = open_db(db_url)
    try:
        rec = stub_day(engine)
        _aircraft(engine)
    finally:
        engine.dispose()
    db = ["--db", db_url]

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["known", "add", "--receiver", "r1", *args, *db])
        return result.exit_code, result.output

    code, out = cli("--type", "ec35", "--reason", "police")
    assert code == 0 and "aircraft type EC35 (police)" in out, out
    code, out = cli("--registration", "d-exy*")
    assert code == 0 and "registration D-EXY*" in out, out
    for bad, message in [
        (["--type", "A-320"], "not a type code pattern"),
        (["--type", "A320XXXXX"], "not a type code pattern"),
        (["--registration", "HB ZAB"], "not a registration pattern"),
        (["--registration", "--"], "not a registration pattern"),
        (["--type", "EC35", "--registration", "HB*"], "give one of"),
    ]:
        code, out = cli(*bad)
        assert code == 2 and out.count("\n") == 1 and message in out, (bad, out)
    engine = open_db(db_url)
    try:
        assert rec.id is not None
        rules = list_rules(engine, rec.id)
        assert [(r.kind, r.pattern) for r in rules] == [
            ("type", "EC35"),
            ("registration", "D-EXY*"),
        ]
        assert _flagged(engine, rec.id) == []
    finally:
        engine.dispose()


def test_pages_show_registration_and_type(engine: Engine) -> None:
    rec = stub_day(engine)
    _aircraft(engine)
    assert rec.id is not None
    flights = query_anomalies(engine, rec.id, DAY, include_all=True).set_index("icao24")
    heli, unknown = int(flights.loc["0000a1", "flight_id"]), int(flights.loc["0000a3", "flight_id"])
    with TestClient(create_app(engine, feedback_engine=engine)) as client:
        page = client.get(f"/flights/{heli}")
        assert page.status_code == 200
        assert '<span class="registration">HB-ZAB</span>' in page.text
        assert '<span class="aircraft-type">EC35</span> EUROCOPTER EC-135' in page.text
        assert "Swiss police" in page.text and "built 2005" in page.text
        page = client.get(f"/flights/{unknown}")
        assert page.status_code == 200 and 'id="aircraft"' not in page.text
        day = client.get(f"/receivers/r1/{DAY.isoformat()}")
        assert day.status_code == 200
        assert '<span class="registration">HB-ZAB</span>' in day.text
        assert '<span class="aircraft-type">A320</span>' in day.text
        # A type rule: the flight page and the day page say it is known.
        add_rule(engine, rec.id, "type", "EC35", reason="police")
        page = client.get(f"/flights/{heli}")
        assert '<span class="known-mark" id="known-state">Known: police</span>' in page.text
        day = client.get(f"/receivers/r1/{DAY.isoformat()}")
        assert '<span class="known-reason">known: police</span>' in day.text


def test_alert_payload_carries_registration_and_type(engine: Engine) -> None:
    rec = stub_day(engine)
    _aircraft(engine)
    # An aircraft the table does not know: None in the payload, nothing in the line.
    upsert_aircraft(
        engine,
        pd.DataFrame(
            [{"icao24": "0000a4", "registration": None, "type_code": None,
              "description": None, "operator": None, "year": None,
              "seen_at": pd.Timestamp(SEEN.replace(hour=13))}]
        ),
    )  # fmt: skip
    payload = day_alert(engine, rec, DAY, AlertOptions()).payload
    first, second = payload["flights"]
    assert (first["icao24"], first["registration"], first["aircraft_type"]) == (
        "0000a4",
        None,
        None,
    )
    assert (second["registration"], second["aircraft_type"]) == ("HB-ZAB", "EC35")
    lines = text(payload).splitlines()
    assert lines[1].startswith("#1 CS4 (0000a4) 06:40-07:10 UTC"), lines
    assert lines[2].startswith("#2 CS1 (0000a1) HB-ZAB EC35 06:10-06:40 UTC"), lines
