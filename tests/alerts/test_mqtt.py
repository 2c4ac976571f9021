"""The MQTT target against the Mosquitto broker on this machine (127.0.0.1:1883), with a
paho subscriber: Home Assistant discovery and the day's state (both retained), one message
per flagged flight, each sent once; a broker that refuses is a failed delivery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from oddflights.alerts import deliver_alerts, send_test
from oddflights.alerts.mqtt import MqttTarget
from oddflights.alerts.payload import AlertOptions
from oddflights.db import open_db
from tests.alerts.servers import clear_retained, closed_port, mosquitto_or_skip, mqtt_subscriber
from tests.alerts.stubday import DAY, stub_day

DISCOVERY = "homeassistant/sensor/oddflights_{}/config"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    mosquitto_or_skip()
    eng = open_db(f"sqlite:///{tmp_path / 'mqtt.db'}")
    yield eng
    eng.dispose()


def test_discovery_state_and_one_message_per_flight(engine: Engine) -> None:
    name = f"r-{uuid.uuid4().hex[:6]}.x"  # a name Home Assistant's ids cannot hold as it is
    slug = name.replace("-", "_").replace(".", "_")
    prefix = f"oddtest-{uuid.uuid4().hex[:6]}"
    rec = stub_day(engine, flagged=(1, 4), name=name)
    target = MqttTarget(f"mqtt://127.0.0.1:1883/{prefix}")
    discovery = DISCOVERY.format(slug)
    state, flight = f"{prefix}/{name}/state", f"{prefix}/{name}/flight"
    options = AlertOptions(base_url="http://pi.local:8000")
    try:
        with mqtt_subscriber(discovery, f"{prefix}/#") as sub:
            out = deliver_alerts(engine, rec, DAY, [target], options)
            assert out == {"alerts": {"mqtt": {"sent": 2, "failed": 0}}}
            sub.wait_for(4)
            (config,) = sub.on(discovery)
            assert config["name"] is None  # named after its device:
            assert config["device"]["name"] == f"oddflights {name}"
            assert config["unique_id"] == f"oddflights_{slug}"
            assert config["default_entity_id"] == f"sensor.oddflights_{slug}"
            assert config["state_topic"] == state == config["json_attributes_topic"]
            assert config["value_template"] == "{{ value_json.count }}"
            (st,) = sub.on(state)
            assert st["count"] == 2 and st["day"] == DAY.isoformat()
            assert [f["callsign"] for f in st["top"]] == ["CS4", "CS1"]
            assert st["url"] == f"http://pi.local:8000/receivers/{name}/{DAY}"
            flights = sub.on(flight)
            assert [f["callsign"] for f in flights] == ["CS4", "CS1"]
            assert all(f["receiver"] == name and f["day"] == DAY.isoformat() for f in flights)
            retained = {t: r for t, _, r in sub.messages}
            assert retained[flight] is False
            # Sent once: a second delivery publishes nothing.
            deliver_alerts(engine, rec, DAY, [target], options)
            sub.wait_for(5, timeout=1.5)
            assert len(sub.messages) == 4
        # Retained: a newcomer (Home Assistant starting later) gets discovery and state.
        with mqtt_subscriber(discovery, state) as late:
            late.wait_for(2)
            assert {t for t, _, r in late.messages if r} == {discovery, state}
    finally:
        clear_retained(discovery, state)


def test_a_quiet_day_sets_the_count_to_zero(engine: Engine) -> None:
    name = f"q{uuid.uuid4().hex[:6]}"
    prefix = f"oddtest-{uuid.uuid4().hex[:6]}"
    rec = stub_day(engine, flagged=(), name=name)
    state = f"{prefix}/{name}/state"
    try:
        with mqtt_subscriber(state) as sub:
            out = deliver_alerts(engine, rec, DAY, [MqttTarget(f"mqtt://127.0.0.1/{prefix}")])
            assert out == {"alerts": {"mqtt": {"sent": 0, "failed": 0}}}
            sub.wait_for(1)
            (st,) = sub.on(state)
            assert st["count"] == 0 and st["top"] == []
    finally:
        clear_retained(state, DISCOVERY.format(name))


def test_a_broker_that_is_not_there_is_a_failed_delivery(engine: Engine) -> None:
    rec = stub_day(engine)
    target = MqttTarget(f"mqtt://127.0.0.1:{closed_port()}/x", timeout_s=2)
    out = deliver_alerts(engine, rec, DAY, [target])
    assert out["alerts"]["mqtt"]["failed"] == 2
    assert "not reached" in out["alerts"]["mqtt"]["error"]
    (outcome,) = send_test("home", [target])
    assert not outcome.ok and "not reached" in outcome.note


def test_the_sample_alert_reaches_the_broker(engine: Engine) -> None:
    prefix = f"oddtest-{uuid.uuid4().hex[:6]}"
    try:
        with mqtt_subscriber(f"{prefix}/#") as sub:
            (outcome,) = send_test("home", [MqttTarget(f"mqtt://127.0.0.1:1883/{prefix}")])
            assert outcome.ok, outcome.note
            sub.wait_for(3)
            (st,) = sub.on(f"{prefix}/home/state")
            assert st["test"] is True and st["count"] == 2
    finally:
        clear_retained(f"{prefix}/home/state", DISCOVERY.format("home"))
