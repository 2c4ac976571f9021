"""The alert_deliveries table on SQLite and PostgreSQL: migration 0007 up and down, one row
per (flight, target) by the flight's natural key, so a rebuilt and rescored day sends
nothing twice; a failed delivery counts its attempts and is retried until sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from oddflights.alerts import deliver_alerts
from oddflights.alerts.payload import AlertOptions
from oddflights.alerts.targets import Alert, AlertError, Target
from oddflights.db.alerts import list_deliveries, record_deliveries
from oddflights.db.engine import alembic_config, create_engine, current_revision, head_revision
from oddflights.db.engine import upgrade as upgrade_to_head
from tests.alerts.stubday import DAY, stub_day


class Keeper(Target):
    """A real target object that keeps what it is sent (or refuses while ``down``)."""

    name = "keeper"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.down = False
        self.tries = 0

    def send(self, alert: Alert) -> str:
        self.tries += 1
        if self.down:
            raise AlertError("keeper is down")
        self.sent.append(alert.payload)
        return "kept"


OPTIONS = AlertOptions(max_per_day=100)


def _flights(k: Keeper) -> list[tuple[str, str]]:
    return [(f["icao24"], f["start"]) for p in k.sent for f in p["flights"]]


def test_a_rebuilt_and_rescored_day_sends_nothing_twice(engine: Engine) -> None:
    rec = stub_day(engine, flagged=(1, 4))
    keeper = Keeper()
    out = deliver_alerts(engine, rec, DAY, [keeper], OPTIONS)
    assert out == {"alerts": {"keeper": {"sent": 2, "failed": 0}}}
    assert len(keeper.sent) == 1
    assert [f["callsign"] for f in keeper.sent[0]["flights"]] == ["CS4", "CS1"]
    # Rebuilt (new flight ids) and rescored by a new model flagging one more flight: only
    # that one is news.
    stub_day(engine, flagged=(1, 4, 5))
    deliver_alerts(engine, rec, DAY, [keeper], OPTIONS)
    assert len(keeper.sent) == 2
    assert [f["callsign"] for f in keeper.sent[1]["flights"]] == ["CS5"]
    assert keeper.sent[1]["flagged"] == 3
    stub_day(engine, flagged=(1, 4, 5))
    deliver_alerts(engine, rec, DAY, [keeper], OPTIONS)
    assert len(keeper.sent) == 2
    assert len(set(_flights(keeper))) == len(_flights(keeper)) == 3
    rows = list_deliveries(engine, rec.id, DAY)
    assert len(rows) == 3 and set(rows["status"]) == {"sent"}
    assert rows["sent_at"].notna().all() and rows["start"].dt.tz is not None


def test_a_failed_delivery_is_retried_by_the_next_days_run(engine: Engine) -> None:
    rec = stub_day(engine, flagged=(0, 3))
    keeper = Keeper()
    keeper.down = True
    out = deliver_alerts(engine, rec, DAY, [keeper], OPTIONS)
    assert out["alerts"]["keeper"] == {"sent": 0, "failed": 2, "error": "keeper is down"}
    again = deliver_alerts(engine, rec, DAY, [keeper], OPTIONS)  # still down: attempt 2
    assert again["alerts"]["keeper"]["failed"] == 2
    rows = list_deliveries(engine, rec.id, DAY)
    assert set(rows["status"]) == {"failed"} and set(rows["attempts"]) == {2}
    assert set(rows["last_error"]) == {"keeper is down"}

    keeper.down = False
    nxt = DAY + timedelta(days=1)
    stub_day(engine, nxt, flagged=(2,))
    out = deliver_alerts(engine, rec, nxt, [keeper], OPTIONS)
    assert out["alerts"]["keeper"] == {"sent": 3, "failed": 0}
    assert [p["day"] for p in keeper.sent] == [DAY.isoformat(), nxt.isoformat()]
    rows = list_deliveries(engine, rec.id, DAY)
    assert set(rows["status"]) == {"sent"} and set(rows["attempts"]) == {3}
    assert rows["last_error"].isna().all()
    deliver_alerts(engine, rec, nxt, [keeper], OPTIONS)
    assert len(keeper.sent) == 2


def test_one_row_per_flight_and_target(engine: Engine) -> None:
    rec = stub_day(engine)
    assert rec.id is not None
    assert list_deliveries(engine).empty
    flight = [(1, "abc123", datetime(2026, 5, 4, 6, 0, 0, 123000, tzinfo=UTC))]
    record_deliveries(engine, rec.id, "webhook", DAY, flight, "down")
    record_deliveries(engine, rec.id, "mqtt", DAY, flight, None)
    record_deliveries(engine, rec.id, "webhook", DAY, flight, None)
    record_deliveries(engine, rec.id, "webhook", DAY, flight, "down again")  # stays sent
    rows = list_deliveries(engine, rec.id).set_index("target")
    assert sorted(rows.index) == ["mqtt", "webhook"]
    assert rows.loc["webhook", "status"] == "sent" and rows.loc["webhook", "attempts"] == 2
    assert rows.loc["mqtt", "attempts"] == 1


def test_migration_0007_adds_and_drops_the_table(db_url: str) -> None:
    eng = create_engine(db_url)
    try:
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0006")
        assert "alert_deliveries" not in sa.inspect(eng).get_table_names()
        upgrade_to_head(eng)
        assert current_revision(eng) == head_revision()
        inspector = sa.inspect(eng)
        assert "alert_deliveries" in inspector.get_table_names()
        uniques = inspector.get_unique_constraints("alert_deliveries")
        assert [u["column_names"] for u in uniques] == [
            ["receiver_id", "icao24", "start_ts", "target"]
        ]
        with eng.begin() as conn:
            command.downgrade(alembic_config(conn), "0006")
        assert "alert_deliveries" not in sa.inspect(eng).get_table_names()
    finally:
        eng.dispose()


def test_a_known_flight_is_not_alerted(engine: Engine) -> None:
    from oddflights.db.known import add_rule

    rec = stub_day(engine, flagged=(1, 4))
    assert rec.id is not None
    add_rule(engine, rec.id, "callsign", "CS4", reason="the flying club")
    keeper = Keeper()
    out = deliver_alerts(engine, rec, DAY, [keeper], OPTIONS)
    assert out["alerts"]["keeper"]["sent"] == 1
    (payload,) = keeper.sent
    assert [f["callsign"] for f in payload["flights"]] == ["CS1"] and payload["flagged"] == 1


def test_a_target_that_fails_is_tried_once_per_run(engine: Engine) -> None:
    """Days waiting for a retry do not each wait out the timeout of a target that is down:
    after its first failure in a run, the rest are recorded failed, for the next run."""
    rec = stub_day(engine, flagged=(0,))
    keeper = Keeper()
    keeper.down = True
    deliver_alerts(engine, rec, DAY, [keeper], OPTIONS)
    nxt = DAY + timedelta(days=1)
    stub_day(engine, nxt, flagged=(1, 2))
    keeper.tries = 0
    out = deliver_alerts(engine, rec, nxt, [keeper], OPTIONS)
    assert keeper.tries == 1
    assert out["alerts"]["keeper"] == {"sent": 0, "failed": 3, "error": "keeper is down"}
    assert set(list_deliveries(engine, rec.id, nxt)["status"]) == {"failed"}
    keeper.down = False
    third = nxt + timedelta(days=1)
    stub_day(engine, third, flagged=())
    out = deliver_alerts(engine, rec, third, [keeper], OPTIONS)
    assert out["alerts"]["keeper"] == {"sent": 3, "failed": 0}
    assert [p["day"] for p in keeper.sent] == [DAY.isoformat(), nxt.isoformat()]
