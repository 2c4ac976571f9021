"""The aircraft table (migration 0009): upserts keep the newest details, and anomalies show
registration and type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from oddflights.db.aircraft import read_aircraft, upsert_aircraft
from oddflights.db.scores import query_anomalies
from oddflights.rows import anomaly_rows
from tests.db.test_known_labels import DAY, _scored

T1 = datetime(2026, 1, 15, 10, tzinfo=UTC)


def _details(icao: str, at: datetime, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "icao24": icao,
        "registration": "PH-BXA",
        "type_code": "B738",
        "description": "BOEING 737-800",
        "operator": "KLM",
        "year": 2001,
        "seen_at": pd.Timestamp(at),
    }
    row.update(values)
    return row


def _put(engine: Engine, *rows: dict[str, object]) -> int:
    return upsert_aircraft(engine, pd.DataFrame(list(rows)))


def _row(engine: Engine, icao: str = "4840d6") -> dict[str, object]:
    (row,) = read_aircraft(engine, [icao]).to_dict("records")
    return row


def test_upsert_keeps_the_newest_details_and_when_they_changed(engine: Engine) -> None:
    assert _put(engine, _details("4840D6", T1)) == 1
    row = _row(engine)
    assert (row["registration"], row["type_code"], row["year"]) == ("PH-BXA", "B738", 2001)
    assert row["seen_at"] == row["changed_at"] == T1
    # The same details, later: seen, not changed.
    t2 = T1 + timedelta(days=1)
    _put(engine, _details("4840d6", t2))
    row = _row(engine)
    assert (row["seen_at"], row["changed_at"]) == (t2, T1)
    # A new type: changed.
    t3 = T1 + timedelta(days=2)
    _put(engine, _details("4840d6", t3, type_code="B38M", description=None))
    row = _row(engine)
    assert (row["type_code"], row["description"], row["changed_at"]) == ("B38M", None, t3)
    # An older day ingested afterwards changes nothing.
    _put(engine, _details("4840d6", T1 - timedelta(days=5), registration="OLD-REG"))
    row = _row(engine)
    assert (row["registration"], row["type_code"], row["seen_at"]) == ("PH-BXA", "B38M", t3)


def test_upsert_takes_the_newest_row_of_a_batch_and_fits_the_columns(engine: Engine) -> None:
    n = _put(
        engine,
        _details("aaaaa1", T1 + timedelta(hours=1), registration="NEW"),
        _details("aaaaa1", T1, registration="OLD"),
        _details("aaaaa2", T1, description="x" * 200, operator="A\x00B", year=None),
        _details("~12345", T1),  # not an ICAO address: not stored
    )
    assert n == 2
    assert _row(engine, "aaaaa1")["registration"] == "NEW"
    row = _row(engine, "aaaaa2")
    assert row["description"] == "x" * 80 and row["operator"] == "AB" and pd.isna(row["year"])
    assert read_aircraft(engine)["icao24"].tolist() == ["aaaaa1", "aaaaa2"]


def test_anomalies_carry_registration_and_type(engine: Engine) -> None:
    rec = _scored(engine)
    assert rec.id is not None
    before = query_anomalies(engine, rec.id, DAY)
    assert len(before) and before["registration"].isna().all()
    first = str(before["icao24"].iloc[0])
    _put(engine, _details(first, T1, registration="PH-EXA", type_code="C172"))
    after = query_anomalies(engine, rec.id, DAY)
    assert after["flight_id"].tolist() == before["flight_id"].tolist()
    mine = after["icao24"] == first
    assert set(after.loc[mine, "registration"]) == {"PH-EXA"}
    assert set(after.loc[mine, "aircraft_type"]) == {"C172"}
    assert after.loc[~mine, "registration"].isna().all()
    row = anomaly_rows(after[mine])[0]
    assert (row["registration"], row["aircraft_type"]) == ("PH-EXA", "C172")
