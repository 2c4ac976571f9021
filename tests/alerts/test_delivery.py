"""Alerts from the nightly, end to end against a real local HTTP server: each flagged flight
is sent once (a rerun rebuilds the day's flights with new ids, a rescore rewrites its
scores: neither sends anything again); a target that is down does not stop the scoring, is
recorded in the run's row and gets the alert on the next run."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from oddflights.alerts import deliver_alerts
from oddflights.alerts.email import EmailTarget
from oddflights.alerts.payload import AlertOptions
from oddflights.alerts.webhook import WebhookTarget
from oddflights.db.alerts import list_deliveries
from oddflights.db.runs import list_runs
from oddflights.db.scores import query_anomalies
from oddflights.scoring.score import score_day
from tests.alerts.conftest import LAST, NEXT, SCORED, Scored, nightly
from tests.alerts.servers import Posted, closed_port, http_sink, smtp_sink


def _flagged_keys(scored: Scored, day: date) -> set[tuple[str, str]]:
    assert scored.rec.id is not None
    df = query_anomalies(scored.engine, scored.rec.id, day)
    df = df[df["is_anomaly"]]
    return {(r.icao24, r.start.isoformat().replace("+00:00", "Z")) for r in df.itertuples()}


def _sent_keys(posts: list[Posted]) -> list[tuple[str, str]]:
    return [(f["icao24"], f["start"]) for p in posts for f in p.body["flights"]]


def test_each_flagged_flight_is_sent_once_across_a_rerun_and_a_rescore(
    scored: Scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = SCORED[1]
    flagged = _flagged_keys(scored, day)
    assert flagged, "the simulated day should have flagged flights"
    with http_sink() as sink:
        monkeypatch.setenv("ODDFLIGHTS_ALERT_WEBHOOK_URL", f"{sink.url}/hook")
        monkeypatch.setenv("ODDFLIGHTS_ALERT_MAX_PER_DAY", "1000")
        monkeypatch.setenv("ODDFLIGHTS_ALERT_BASE_URL", "http://pi.local:8000/")
        # A rerun of a day that was scored before any target was set: its flights are new.
        first = nightly(scored.engine, scored.rec, day=day)
        assert first.ok
        (post,) = sink.posts
        assert post.path == "/hook"
        assert post.body["receiver"] == "sim" and post.body["day"] == day.isoformat()
        assert post.body["flagged"] == len(flagged)
        assert set(_sent_keys(sink.posts)) == flagged
        ranks = [f["rank"] for f in post.body["flights"]]
        assert ranks == sorted(ranks)
        for f in post.body["flights"]:
            assert f["score"] >= f["threshold"]
            assert f["url"] == f"http://pi.local:8000/flights/{f['flight_id']}"
            assert f["end"] > f["start"] and f["start"].endswith("Z")
        assert post.body["url"] == f"http://pi.local:8000/receivers/sim/{day}"
        counts = first.receivers[0].days[0].counts
        assert counts["alerts"] == {"webhook": {"sent": len(flagged), "failed": 0}}

        # A rerun rebuilds the day's flights (new ids): nothing is sent again.
        again = nightly(scored.engine, scored.rec, day=day)
        assert again.ok and len(sink.posts) == 1
        assert again.receivers[0].days[0].counts["alerts"]["webhook"] == {"sent": 0, "failed": 0}
        # A rescore rewrites the day's scores: still nothing new.
        score_day(scored.engine, scored.rec, day)
        nightly(scored.engine, scored.rec, day=day)
        deliver_alerts(scored.engine, scored.rec, day)
        assert len(sink.posts) == 1

    deliveries = list_deliveries(scored.engine, scored.rec.id, day)
    assert len(deliveries) == len(flagged)
    assert set(deliveries["status"]) == {"sent"} and set(deliveries["attempts"]) == {1}
    assert set(deliveries["target"]) == {"webhook"}


def test_a_target_that_is_down_is_recorded_and_retried_on_the_next_run(
    scored: Scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODDFLIGHTS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.setenv("ODDFLIGHTS_ALERT_MAX_PER_DAY", "1000")
    down = nightly(scored.engine, scored.rec, today=NEXT + timedelta(days=1))
    # The scoring went on: the day is done and scored, the failure is in its run's row.
    assert down.ok
    (outcome,) = down.receivers[0].days
    assert outcome.day == NEXT and outcome.status == "ok" and outcome.counts["scored"] > 50
    alerts = outcome.counts["alerts"]["webhook"]
    assert alerts["sent"] == 0 and alerts["failed"] >= 1
    assert "refused" in alerts["error"].lower()
    runs = list_runs(scored.engine, scored.rec.id)
    row = runs[runs["day"] == NEXT].iloc[0]
    assert row["status"] == "ok" and row["counts"]["alerts"]["webhook"]["failed"] >= 1
    failed = list_deliveries(scored.engine, scored.rec.id, NEXT)
    assert len(failed) == alerts["failed"] and set(failed["status"]) == {"failed"}
    assert failed["last_error"].str.contains("refused", case=False).all()

    with http_sink() as sink:
        monkeypatch.setenv("ODDFLIGHTS_ALERT_WEBHOOK_URL", sink.url)
        up = nightly(scored.engine, scored.rec, today=LAST + timedelta(days=1))
        assert up.ok
        # The failed day first, then the new one.
        days = [p.body["day"] for p in sink.posts]
        assert days[0] == NEXT.isoformat()
        assert set(_sent_keys(sink.posts[:1])) == _flagged_keys(scored, NEXT)
        assert days[1:] in ([LAST.isoformat()], [])  # the new day, if it flagged any
        n_last = len(_flagged_keys(scored, LAST))
        assert len(sink.posts) == 1 + (n_last > 0)
        retried = list_deliveries(scored.engine, scored.rec.id, NEXT)
        assert set(retried["status"]) == {"sent"} and set(retried["attempts"]) == {2}
        assert retried["last_error"].isna().all()
        # Once sent, never again.
        nightly(scored.engine, scored.rec, day=NEXT)
        assert len(sink.posts) == 1 + (n_last > 0)


def test_min_score_and_max_per_day_choose_the_best_ranked(scored: Scored) -> None:
    day = SCORED[0]
    assert scored.rec.id is not None
    flagged = query_anomalies(scored.engine, scored.rec.id, day)
    flagged = flagged[flagged["is_anomaly"]]
    assert len(flagged) >= 2
    with http_sink() as sink:
        target = WebhookTarget(sink.url)
        deliver_alerts(
            scored.engine, scored.rec, day, [target], AlertOptions(min_score=0, max_per_day=1)
        )
        (post,) = sink.posts
        (only,) = post.body["flights"]
        assert only["rank"] == int(flagged["rank"].min())
        assert post.body["flagged"] == len(flagged)
        # Above every score: nothing new to send.
        top = float(flagged["score"].max())
        deliver_alerts(scored.engine, scored.rec, day, [target], AlertOptions(min_score=top + 1))
        assert len(sink.posts) == 1


def test_a_failing_http_answer_is_a_failed_delivery(scored: Scored) -> None:
    with http_sink(status=500) as sink:
        result = deliver_alerts(scored.engine, scored.rec, SCORED[0], [WebhookTarget(sink.url)])
        assert len(sink.posts) == 1
    webhook = result["alerts"]["webhook"]
    assert webhook["sent"] == 0 and webhook["failed"] >= 1 and "HTTP 500" in webhook["error"]


def test_without_targets_nothing_is_recorded(scored: Scored) -> None:
    assert deliver_alerts(scored.engine, scored.rec, SCORED[0]) == {}
    report = nightly(scored.engine, scored.rec, day=SCORED[0])
    assert "alerts" not in report.receivers[0].days[0].counts
    assert list_deliveries(scored.engine, scored.rec.id).empty


def test_email_attaches_the_days_report(scored: Scored) -> None:
    day = SCORED[0]
    with smtp_sink() as sink:
        target = EmailTarget(f"smtp://127.0.0.1:{sink.port}", to=("me@example.org",))
        out = deliver_alerts(scored.engine, scored.rec, day, [target])
        assert out["alerts"]["email"]["failed"] == 0
    (msg,) = sink.messages
    (report,) = list(msg.iter_attachments())
    assert report.get_filename() == f"oddflights-sim-{day}.html"
    assert report.get_content_type() == "text/html"
    html = report.get_content()
    assert "<html" in html.lower() and "data:image/png;base64," in html
