"""The container's environment-to-settings step, without Docker: ``from_env`` on plain dicts,
then ``oddflights docker init`` twice on a real SQLite file (and PostgreSQL when set)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.config import SettingError
from oddflights.db import open_db
from oddflights.db.receivers import get_receiver, list_receivers
from oddflights.docker_env import DockerEnvError, Feed, from_env
from tests.web.conftest import SmallDb

BASE = {"LAT": "52.37", "LONG": "4.89"}


def test_the_receiver_and_a_beast_feed_by_service_name() -> None:
    env = {
        **BASE,
        "TZ": "Europe/Amsterdam",
        "RECEIVER_NAME": "roof",
        "RANGE_KM": "250",
        "BEASTHOST": "ultrafeeder",
    }
    setup = from_env(env)
    r = setup.receiver
    assert (r.name, r.lat, r.lon, r.range_km, r.timezone) == (
        "roof",
        52.37,
        4.89,
        250.0,
        "Europe/Amsterdam",
    )
    assert setup.feed == Feed("ultrafeeder", 30005, "beast")
    assert setup.ingest_args() == [
        "ingest",
        "--live",
        "ultrafeeder:30005",
        "--receiver",
        "roof",
        "--format",
        "beast",
        "--quiet",
    ]
    assert setup.alerts == ()


def test_defaults_and_an_sbs_feed() -> None:
    setup = from_env({**BASE, "SBSHOST": "192.168.1.20", "SBSPORT": "30103"})
    r = setup.receiver
    assert (r.name, r.range_km, r.timezone) == ("home", 200.0, "UTC")
    assert setup.feed == Feed("192.168.1.20", 30103, "sbs")
    assert setup.ingest_args()[2:3] == ["192.168.1.20:30103"]
    # ODDFLIGHTS_RANGE_KM is the default range when RANGE_KM is not given.
    assert from_env({**BASE, "ODDFLIGHTS_RANGE_KM": "150"}).receiver.range_km == 150.0


def test_no_feed_is_fine_until_the_ingest_needs_one() -> None:
    setup = from_env(BASE)
    assert setup.feed is None
    with pytest.raises(DockerEnvError, match=r"set BEASTHOST .* or SBSHOST"):
        setup.ingest_args()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LONG": "4.89"}, "LAT is not set"),
        ({"LAT": "91", "LONG": "4.89"}, r"LAT='91' is outside -90\.\.90"),
        ({"LAT": "52,37", "LONG": "4.89"}, "LAT='52,37' is not a number"),
        ({"LAT": "nan", "LONG": "4.89"}, "LAT='nan' is outside"),
        ({"LAT": "52.37"}, "LONG is not set"),
        ({**BASE, "LONG": "-181"}, "LONG='-181' is outside"),
        ({**BASE, "TZ": "Mars/Olympus"}, "TZ='Mars/Olympus' is not valid"),
        ({**BASE, "RECEIVER_NAME": "my roof"}, "RECEIVER_NAME: receiver name 'my roof'"),
        ({**BASE, "RANGE_KM": "5000"}, r"RANGE_KM='5000' is not valid: must be 1\.\.1000"),
        ({**BASE, "BEASTHOST": "a", "SBSHOST": "b"}, "BEASTHOST or SBSHOST, not both"),
        ({**BASE, "BEASTPORT": "30005"}, "BEASTPORT is set but BEASTHOST is not"),
        ({**BASE, "BEASTHOST": "ultrafeeder:30005"}, "the port goes in BEASTPORT"),
        ({**BASE, "SBSHOST": "pi", "SBSPORT": "http"}, "SBSPORT='http' is not a port number"),
        ({**BASE, "SBSHOST": "pi", "SBSPORT": "70000"}, r"SBSPORT='70000' is outside 1\.\.65535"),
        (
            {**BASE, "ODDFLIGHTS_ALERT_WEBHOOK_URL": "ftp://x"},
            "ODDFLIGHTS_ALERT_WEBHOOK_URL='ftp://x' is not valid",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises((DockerEnvError, SettingError), match=message) as info:
        from_env(env)
    assert "\n" not in str(info.value)


def test_alert_settings_and_their_file_variants(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt_url"
    secret.write_text("mqtt://user:pass@broker:1883/oddflights\n", encoding="utf-8")
    env = {
        **BASE,
        "ODDFLIGHTS_ALERT_WEBHOOK_URL": "https://ntfy.sh/my-topic",
        "ODDFLIGHTS_ALERT_MQTT_URL_FILE": str(secret),
        "ODDFLIGHTS_ALERT_EMAIL_TO": "me@example.org",
    }
    assert from_env(env).alerts == ("webhook", "mqtt")
    secret.write_text("not a url\n", encoding="utf-8")
    with pytest.raises(SettingError, match="ODDFLIGHTS_ALERT_MQTT_URL_FILE="):
        from_env(env)
    env["ODDFLIGHTS_ALERT_MQTT_URL_FILE"] = str(tmp_path / "missing")
    with pytest.raises(DockerEnvError, match=r"ODDFLIGHTS_ALERT_MQTT_URL_FILE=.* cannot be read"):
        from_env(env)


def _init(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], db: str) -> tuple[int, str]:
    for name in ("LAT", "LONG", "TZ", "RECEIVER_NAME", "RANGE_KM", "BEASTHOST", "SBSHOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["docker", "init", "--print-ingest", "--db", db])
    return result.exit_code, result.output


def test_init_twice_on_a_real_database(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    env = {**BASE, "TZ": "Europe/Amsterdam", "RECEIVER_NAME": "roof", "BEASTHOST": "ultrafeeder"}
    code, out = _init(monkeypatch, env, db_url)
    assert code == 0, out
    assert "Receiver roof created: 52.3700, 4.8900, range 200 km" in out
    assert "oddflights ingest --live ultrafeeder:30005 --receiver roof --format beast" in out
    code, out = _init(monkeypatch, env, db_url)
    assert code == 0, out
    assert "Receiver roof unchanged" in out
    engine = open_db(db_url)
    try:
        assert [r.name for r in list_receivers(engine)] == ["roof"]
        # Moved before it holds any flights: updated in place, same id.
        before = get_receiver(engine, "roof")
        code, out = _init(monkeypatch, {**env, "LAT": "52.5", "RANGE_KM": "120"}, db_url)
        assert code == 0, out
        assert "Receiver roof updated: 52.5000, 4.8900, range 120 km" in out
        after = get_receiver(engine, "roof")
        assert (after.id, after.lat, after.range_km) == (before.id, 52.5, 120.0)
    finally:
        engine.dispose()


def test_a_receiver_with_flights_is_not_moved(
    monkeypatch: pytest.MonkeyPatch, small_db: SmallDb
) -> None:
    small = small_db
    r1 = get_receiver(small.engine, "r1")
    env = {"LAT": str(r1.lat), "LONG": str(r1.lon), "RECEIVER_NAME": "r1", "TZ": r1.timezone}
    env |= {"RANGE_KM": str(r1.range_km), "BEASTHOST": "readsb"}
    code, out = _init(monkeypatch, env, small.url)
    assert code == 0 and "Receiver r1 unchanged" in out, out
    code, out = _init(monkeypatch, {**env, "LAT": str(r1.lat + 1)}, small.url)
    assert code == 2
    assert "receiver 'r1' already holds" in out and "set RECEIVER_NAME to a new name" in out
    assert get_receiver(small.engine, "r1").lat == r1.lat


def test_init_says_what_is_wrong_in_one_line(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    code, out = _init(monkeypatch, {"LAT": "123", "LONG": "4.89"}, db_url)
    assert code == 2
    assert out.strip() == "Error: LAT='123' is outside -90..90"
