"""`oddflights alert test|show|list`, the alert settings (secrets from files, masked in
`oddflights settings`), and the demo's dry-run alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oddflights import config
from oddflights.alerts import configured_targets
from oddflights.cli import main
from oddflights.db import open_db
from tests.alerts.servers import closed_port, http_sink
from tests.alerts.stubday import DAY, stub_day


def test_alert_test_says_per_target_whether_it_got_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with http_sink() as sink:
        monkeypatch.setenv("ODDFLIGHTS_ALERT_WEBHOOK_URL", sink.url)
        ok = CliRunner().invoke(main, ["alert", "test", "--receiver", "home"])
        assert ok.exit_code == 0, ok.output
        assert ok.output.strip() == "webhook: ok (HTTP 200)"
        assert sink.posts[0].body["receiver"] == "home"
        monkeypatch.setenv("ODDFLIGHTS_ALERT_SMTP_URL", f"smtp://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("ODDFLIGHTS_ALERT_EMAIL_TO", "me@example.org")
        bad = CliRunner().invoke(main, ["alert", "test"])
    assert bad.exit_code == 1, bad.output
    lines = bad.output.strip().splitlines()
    assert lines[0] == "webhook: ok (HTTP 200)"
    assert (
        lines[1].startswith("email: FAILED (SMTP server 127.0.0.1:") and "not reached" in lines[1]
    )


def test_alert_test_without_targets_shows_an_alert_and_how_to_set_one() -> None:
    out = CliRunner().invoke(main, ["alert", "test"])
    assert out.exit_code == 0, out.output
    assert "[test] oddflights test: 2 odd flights on" in out.output
    assert "ntfy.sh" in out.output and "ODDFLIGHTS_ALERT_MQTT_URL" in out.output


def test_dry_run_prints_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with http_sink() as sink:
        monkeypatch.setenv("ODDFLIGHTS_ALERT_WEBHOOK_URL", sink.url)
        monkeypatch.setenv("ODDFLIGHTS_ALERT_DRY_RUN", "yes")
        assert [t.name for t in configured_targets()] == ["print"]
        out = CliRunner().invoke(main, ["alert", "test"])
    assert out.exit_code == 0 and "#1 TEST1 (abc123)" in out.output
    assert not sink.posts


def test_alert_show_and_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = open_db(url)
    rec = stub_day(engine, flagged=(1, 4))
    shown = CliRunner().invoke(
        main, ["alert", "show", "--receiver", "r1", "--day", str(DAY), "--db", url]
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"oddflights r1: 2 odd flights on {DAY}"
    assert lines[1].startswith("#1 CS4 (0000a4) 06:40-07:10 UTC, score 2.400")
    from oddflights.alerts import deliver_alerts
    from oddflights.alerts.webhook import WebhookTarget

    with http_sink() as sink:
        deliver_alerts(engine, rec, DAY, [WebhookTarget(sink.url)])
    listed = CliRunner().invoke(
        main, ["alert", "list", "--receiver", "r1", "--format", "json", "--db", url]
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["target"], r["status"], r["attempts"]) for r in rows] == [("webhook", "sent", 1)] * 2
    assert rows[0]["start"].endswith("Z")
    engine.dispose()


def test_secrets_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "smtp_url"
    secret.write_text("smtps://me:hunter2@mail.example.org:465\n", encoding="utf-8")
    monkeypatch.setenv("ODDFLIGHTS_ALERT_SMTP_URL_FILE", str(secret))
    assert config.get("alert_smtp_url") == "smtps://me:hunter2@mail.example.org:465"
    monkeypatch.setenv("ODDFLIGHTS_ALERT_SMTP_URL", "smtp://other:25")  # the variable wins
    assert config.get("alert_smtp_url") == "smtp://other:25"
    monkeypatch.delenv("ODDFLIGHTS_ALERT_SMTP_URL")
    secret.write_text("ftp://me:hunter2@x\n", encoding="utf-8")
    with pytest.raises(config.SettingError) as bad:
        config.get("alert_smtp_url")
    assert str(bad.value).startswith("ODDFLIGHTS_ALERT_SMTP_URL_FILE='ftp://me:***@x'")
    monkeypatch.setenv("ODDFLIGHTS_ALERT_SMTP_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(
        config.SettingError, match=r"ODDFLIGHTS_ALERT_SMTP_URL_FILE=.* cannot be read"
    ):
        config.check_environment()


def test_settings_never_show_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ODDFLIGHTS_ALERT_MQTT_URL", "mqtt://ha:hunter2@homeassistant.local:1883/odd"
    )
    monkeypatch.setenv(
        "ODDFLIGHTS_ALERT_WEBHOOK_URL", "https://discord.com/api/webhooks/1/Zq9sEcReT"
    )
    monkeypatch.setenv("ODDFLIGHTS_ALERT_WEBHOOK_TOKEN", "tk_secret")
    monkeypatch.setenv("ODDFLIGHTS_DB", "postgresql://odd:hunter2@127.0.0.1:1/odd")
    out = CliRunner().invoke(main, ["settings", "--format", "json"])
    assert out.exit_code == 0, out.output
    for secret in ("hunter2", "Zq9sEcReT", "tk_secret"):
        assert secret not in out.output
    values = {r["name"]: r["value"] for r in json.loads(out.output)}
    assert values["alert_mqtt_url"] == "mqtt://ha:***@homeassistant.local:1883/odd"
    assert values["alert_webhook_url"] == "https://discord.com/***"
    assert values["alert_webhook_token"] == "***"
    assert values["db"] == "postgresql://odd:***@127.0.0.1:1/odd"
