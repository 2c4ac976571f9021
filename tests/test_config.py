"""Every setting in the table is type- and range-checked when read, from the environment and
when given explicitly (a CLI option): one line naming the setting, the value and what is
allowed. The tables below cover every setting; a new setting without bad and good examples
fails `test_every_setting_has_a_check_and_examples`."""

from __future__ import annotations

from typing import Any

import pytest

from oddflights import config

# Values each setting must refuse. Text is tried from the environment and given explicitly;
# other values (wrong types, as a caller might pass) only explicitly.
BAD: dict[str, list[Any]] = {
    "db": [
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared&uri=true",
        "sqlite:///file:kept?mode=memory&uri=true",
        "mysql://user@host/db",
        "oddflights.db",
        "postgresql://host:port/db",
        5,
    ],
    "range_km": ["far", "0", "-5", "0.5", "1001", "nan", "inf", -5.0, True],
    "flight_gap_min": ["-5", "0", "ten", "1441", "nan", -5.0, 0],
    "flight_min_points": ["1", "0", "-1", "2.5", "x", 1, 10.0],
    "flight_min_minutes": ["-1", "1441", "x", "nan", -0.5],
    "drop_ground_flights": ["maybe", "2", "-1", 1, "tru"],
    "raster_size": ["7", "0", "513", "64.0", "x", 64.0, 4],
    "raster_line_width": ["0", "-1", "17", "1.5", 0],
    "sim_anomaly_share": ["-0.1", "1", "1.5", "x", "nan", 1.0],
    "max_range_factor": ["-1", "0", "0.5", "101", "inf", -1.0],
    "sbs_timezone": ["Mars/Olympus", "utc", "Europe", "/etc/passwd", "../zoneinfo/UTC", 0],
    "ingest_chunk_lines": ["0", "-1", "1e3", "10000001", 0],
    "model_hidden": ["-1", "x", "1.5", "1000001", -1],
    "model_loss": ["hinge", "BCE", " bce", 1],
    "model_learning_rate": ["0", "-0.001", "1.5", "x", "nan", 0.0],
    "model_epochs": ["0", "-1", "10001", "2.0", 0, False],
    "model_batch_size": ["0", "-64", "x", 0],
    "model_patience": ["-1", "x", "10001", 1.5],
    "model_shift_px": ["-1", "257", "x", -2],
    "model_flip": ["maybe", "2", 1],
    "model_augment": ["seed", "Variation", "gaps", 1],
    "model_pos_weight": ["-1", "x", "inf", -1.0],
    "model_threads": ["0", "65", "-1", "2.5", "x", 0, True],
    "score_fn": ["mae", "BCE", "iou", 0],
    "threshold_percentile": ["0", "-1", "100.5", "x", "nan", 0.0],
    "threshold_method": ["rate", "Percentile", "false-alarm-rate", 1],
    "false_alarms_per_1000": ["0", "-1", "1000", "x", "nan", "inf", 0.0],
    "presumed_odd_percent": ["-1", "100", "x", "nan", -0.5],
    "validation_days": ["0", "-1", "366", "1.5", "x", 0],
    "score_combine": ["turn", "AE", "ae-turn", "rarity", 0],
    "retrain_days": ["-1", "x", "3661", "1.5"],
    "train_window_days": ["1", "0", "-1", "x", 1],
    "warmup_days": ["-1", "x", -1],
    "schedule": ["61 * * * *", "* * * *", "@daily", "0 0 31 2 *", "*/0 * * * *", "x", 5],
    "schedule_tz": ["Mars/Olympus", "utc", "Europe", "+02:00", 2],
    # APScheduler needs a grace of at least a second (0 or less: the service ran no job).
    "misfire_grace_hours": ["0", "-1", "0.001", "x", "8761", 0.0],
    # 0 or less: every lock was stale at once, and two nightlies ran together.
    "lock_stale_hours": ["-1", "0", "x", "nan", "8761", -1.0],
    "dask_scheduler": ["http://h:8786", "localhost:8786", "tcp://", "tcp://h:99999", "tcp://a b"],
    # Any text is a folder name (whether it can be written is found when writing).
    "nightly_report_dir": [5, True, b"/tmp/reports"],
    "alert_base_url": ["pi.local:8000", "ftp://pi.local/", "http://", "http://a b/", 5],
    "alert_webhook_url": ["ntfy.sh/topic", "mqtt://h/", "https://", "https://h:port/", 1],
    "alert_webhook_format": ["ntfy.sh", "JSON", "teams", 1],
    "alert_webhook_token": ["tk abc", "tk_abc\n", 5],
    "alert_mqtt_url": ["homeassistant.local", "http://h/", "mqtt://", "mqtt://h:99999/", 1],
    "alert_smtp_url": ["mail.example.org", "smtp+tls://h", "smtp://", "smtps://h:x/", 1],
    "alert_email_to": ["me", "me@", "a@b c@d", "a@b;c@d", "Me <me@x.org>", 1],
    "alert_email_from": ["oddflights", "a@b, ", "@x.org", "a@b.c,d@e.f", 1],
    "alert_min_score": ["-1", "x", "nan", "inf", -0.5],
    "alert_max_per_day": ["0", "-1", "1001", "2.5", "x", 0],
    "alert_timeout_s": ["0", "-1", "121", "x", "nan", 0.0],
    "alert_dry_run": ["maybe", "2", 1],
    "prune_keep_days": ["-1", "x", "1.5", "36501", -1, True],
    "keep_models": ["0", "-1", "x", "2.5", "10001", 0],
    "tar1090_url": ["pi.local/tar1090", "ftp://pi.local/", "http://", "http://a b/", 5],
    "tile_url": ["https://tile.example.org/", "tile.example.org/{z}/{x}/{y}.png", "{z}{x}{y}", 5],
    "tile_attribution": [5, True],
}

# Values each setting must take, the edges of each range among them.
GOOD: dict[str, list[Any]] = {
    "db": [
        "sqlite:///oddflights.db",
        "sqlite:////var/lib/oddflights/data.db",
        "sqlite+pysqlite:///x.db",
        "postgresql://oddflights:secret@db:5432/oddflights",
        "postgresql+psycopg://u@h/d",
    ],
    "range_km": ["1", "1000", "150", "250.5", 200],
    "flight_gap_min": ["0.5", "1440", "10", 30],
    "flight_min_points": ["2", "10", "100000", 5],
    "flight_min_minutes": ["0", "1440", "2.5", 2],
    "drop_ground_flights": ["true", "False", "1", "0", "yes", "no", "on", "off", True, False],
    "raster_size": ["8", "512", "64", 32],
    "raster_line_width": ["1", "16", "2", 3],
    "sim_anomaly_share": ["0", "0.999", "0.02", 0.5],
    "max_range_factor": ["1", "100", "1.5", 2],
    "sbs_timezone": ["UTC", "Europe/Amsterdam", "America/New_York", "Etc/GMT+5"],
    "ingest_chunk_lines": ["1", "10000000", "500000"],
    "model_hidden": ["0", "64", "1000000"],
    "model_loss": ["bce", "mse", "weighted_bce", "focal", "dice"],
    "model_learning_rate": ["1", "0.003", "1e-12", 0.01],
    "model_epochs": ["1", "10000", "20"],
    "model_batch_size": ["1", "64", "1000000"],
    "model_patience": ["0", "3", "10000"],
    "model_shift_px": ["0", "2", "256"],
    "model_flip": ["yes", "off", True],
    "model_augment": ["none", "variation", "coverage", "jitter"],
    "model_pos_weight": ["0", "50.5", "1000000"],
    "model_threads": ["1", "2", "64", 4],
    "score_fn": ["bce", "mse", "recall_loss", "iou_loss", "lit_bce", "track_bce"],
    "threshold_percentile": ["100", "98", "0.001", 99.5],
    "threshold_method": ["false_alarm_rate", "percentile"],
    "false_alarms_per_1000": ["5", "0.1", "999", 10],
    "presumed_odd_percent": ["0", "2", "99.5", 1],
    "validation_days": ["1", "3", "365", 2],
    "score_combine": ["ae", "ae_turn", "ae_turn_rarity"],
    "retrain_days": ["0", "7", "3660"],
    "train_window_days": ["2", "14", "3660"],
    "warmup_days": ["0", "3", "3660"],
    "schedule": ["30 2 * * *", "* * * * *", "0 */6 * * mon-fri", "0 0 29 2 *"],
    "schedule_tz": ["UTC", "Europe/Amsterdam", "Asia/Kolkata"],
    "misfire_grace_hours": ["0.01", "6", "8760", 1],
    "lock_stale_hours": ["0.5", "6", "8760", 1],
    "dask_scheduler": ["", "tcp://127.0.0.1:8786", "tcp://dask-scheduler:8786", "tls://h:8786"],
    "nightly_report_dir": ["reports", "/var/www/oddflights", " odd name "],
    "alert_base_url": ["", "http://pi.local:8000", "https://adsb.example.org/odd/"],
    "alert_webhook_url": ["", "https://ntfy.sh/my-topic", "http://u:p@127.0.0.1:8080/hook?x=1"],
    "alert_webhook_format": ["json", "ntfy", "discord", "slack"],
    "alert_webhook_token": ["", "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"],
    "alert_mqtt_url": ["", "mqtt://ha:secret@homeassistant.local:1883/oddflights", "mqtts://b"],
    "alert_smtp_url": ["", "smtp://me%40x.org:pw@smtp.example.org:587", "smtps://h:465"],
    "alert_email_to": ["", "me@example.org", "me@example.org, you@example.org"],
    "alert_email_from": ["", "oddflights@pi.local"],
    "alert_min_score": ["0", "1.5", 2],
    "alert_max_per_day": ["1", "10", "1000", 5],
    "alert_timeout_s": ["0.1", "5", "120", 30],
    "alert_dry_run": ["true", "off", False],
    "prune_keep_days": ["0", "30", "365", 90],
    "keep_models": ["1", "3", 10],
    "tar1090_url": ["", "http://pi.local/tar1090/", "https://adsb.example.org:8443/tar1090"],
    "tile_url": [
        "",
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "http://{s}.t.lan/{z}/{x}/{y}",
    ],
    "tile_attribution": ["© OpenStreetMap contributors", "Tiles: my own server"],
}

NAMES = [s.name for s in config.SETTINGS]


def _cases(table: dict[str, list[Any]], text_only: bool = False) -> list[Any]:
    return [
        pytest.param(name, value, id=f"{name}={value!r}")
        for name, values in table.items()
        for value in values
        if isinstance(value, str) or not text_only
    ]


def test_every_setting_has_a_check_and_examples() -> None:
    assert sorted(BAD) == sorted(NAMES), "give every setting values it must refuse"
    assert sorted(GOOD) == sorted(NAMES), "give every setting values it must take"
    for s in config.SETTINGS:
        assert isinstance(s.check, config.Check), s.name
        assert BAD[s.name] and GOOD[s.name], s.name
        assert s.check.allowed, s.name


@pytest.mark.parametrize("s", config.SETTINGS, ids=NAMES)
def test_the_default_passes_its_own_check(s: config.Setting) -> None:
    assert s.value(s.default) == s.default
    assert config.get(s.name) == s.current_default()
    assert s.value(str(s.default), s.env) == s.default
    assert s.value(s.current_default()) == s.current_default()


@pytest.mark.parametrize(("name", "value"), _cases(BAD, text_only=True))
def test_a_bad_value_from_the_environment_is_one_line_naming_it(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = config.setting(name)
    monkeypatch.setenv(s.env, value)
    with pytest.raises(config.SettingError) as raised:
        config.get(name)
    message = str(raised.value)
    assert message.startswith(f"{s.env}={value!r} is not valid: "), message
    assert "\n" not in message
    _says_what_is_allowed(s, message)
    with pytest.raises(config.SettingError, match=s.env):
        config.check_environment()


@pytest.mark.parametrize(("name", "value"), _cases(BAD))
def test_a_bad_explicit_value_is_refused_too(name: str, value: Any) -> None:
    s = config.setting(name)
    with pytest.raises(config.SettingError) as raised:
        config.get(name, value)
    message = str(raised.value)
    assert message.startswith(f"{name}={value!r} is not valid: "), message
    assert "\n" not in message
    _says_what_is_allowed(s, message)


def _says_what_is_allowed(s: config.Setting, message: str) -> None:
    if s.check is config.DATABASE_URL:
        assert "sqlite:///" in message and "postgresql" in message.lower(), message
    elif s.check is config.CRON:
        assert "cron expression" in message, message
    else:
        assert s.check.allowed in message, message


@pytest.mark.parametrize(("name", "value"), _cases(GOOD))
def test_good_values_are_taken(name: str, value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    s = config.setting(name)
    got = config.get(name, value)
    assert isinstance(got, type(s.default))
    if isinstance(value, str):
        monkeypatch.setenv(s.env, value)
        assert config.get(name) == got
        config.check_environment()


def test_numbers_are_read_as_their_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODDFLIGHTS_RASTER_SIZE", " 32 ")
    monkeypatch.setenv("ODDFLIGHTS_FLIGHT_GAP_MIN", "15")
    assert config.get("raster_size") == 32 and type(config.get("raster_size")) is int
    assert config.get("flight_gap_min") == 15.0 and type(config.get("flight_gap_min")) is float
    assert type(config.get("flight_gap_min", 7)) is float
    monkeypatch.setenv("ODDFLIGHTS_RASTER_SIZE", "")  # empty: unset, the default
    assert config.get("raster_size") == 64


def test_a_database_password_is_not_shown() -> None:
    with pytest.raises(config.SettingError) as raised:
        config.get("db", "postgresql://odd:hunter2@db:port/odd")
    assert "hunter2" not in str(raised.value) and "odd:***@db" in str(raised.value)


def test_the_allowed_words_match_the_model_and_scoring_choices() -> None:
    from oddflights.model.augment import AUGMENTS
    from oddflights.model.detector import COMBINATIONS
    from oddflights.model.score import SCORE_FNS
    from oddflights.model.train_config import LOSSES

    assert config.setting("model_loss").check.choices == tuple(LOSSES)
    assert config.setting("score_fn").check.choices == tuple(SCORE_FNS)
    assert config.setting("score_combine").check.choices == tuple(COMBINATIONS)
    assert config.setting("model_augment").check.choices == tuple(AUGMENTS)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared&uri=true",
        "sqlite:///file:kept?mode=memory&uri=true",
    ],
)
def test_the_database_layer_refuses_in_memory_sqlite_too(url: str) -> None:
    """Library callers (open_db) as well as settings: such a database vanishes with the
    connection, and everything written to it."""
    from oddflights.db import DatabaseError, open_db

    with pytest.raises(DatabaseError, match="in-memory SQLite database keeps nothing"):
        open_db(url)
