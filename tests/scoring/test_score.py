"""Scoring a simulated receiver day with a really trained model (SQLite; the DB parts also run
on PostgreSQL in test_db_scores.py)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.flights import list_flights, read_rasters
from oddflights.db.registry import get_detector_bytes, get_model, get_model_row, insert_model
from oddflights.db.scores import query_anomalies, score_rows
from oddflights.flights.build import build_flights
from oddflights.flights.raster import RasterSettings
from oddflights.model.detector import Scale
from oddflights.model.registry import load_model, train_from_db
from oddflights.model.score import reconstruct, score_images
from oddflights.model.threshold import calibrate
from oddflights.receivers import Receiver
from oddflights.scoring.pictures import residual_png
from oddflights.scoring.score import (
    ScoringError,
    load_detector,
    rank_scores,
    score_day,
    validation_scores,
)
from oddflights.simulate import Simulation
from tests.scoring.simdb import D0, TINY, labels_of, load, simulation

DAYS = [D0 + timedelta(days=i) for i in range(4)]
SCORED = DAYS[-1]


@dataclass
class Scored:
    path: Path
    url: str
    engine: Engine
    receiver: Receiver
    sim: Simulation
    model_id: int
    first: pd.DataFrame  # the first scoring's rows


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scored]:
    """4 days × 150 flights; train on days 1-3 (day 3 held out), score day 4."""
    path = tmp_path_factory.mktemp("scoring") / "sim.db"
    url = f"sqlite:///{path}"
    engine = open_db(url)
    sim = simulation(4, 150)
    rec = load(engine, sim)
    build_flights(engine, rec, DAYS)
    model_id, result = train_from_db(engine, rec, DAYS[0], DAYS[2], TINY)
    assert result.status == "ready", result.collapse
    score_day(engine, rec, SCORED)
    assert rec.id is not None
    ids = list_flights(engine, rec.id, SCORED)["flight_id"].tolist()
    first = score_rows(engine, model_id, ids)
    yield Scored(path, url, engine, rec, sim, model_id, first)
    engine.dispose()


def _ranked(s: Scored) -> pd.DataFrame:
    assert s.receiver.id is not None
    df = query_anomalies(s.engine, s.receiver.id, SCORED, model_id=s.model_id, include_all=True)
    labels = labels_of(s.sim, SCORED)[["icao24", "kind"]]
    return df.merge(labels, on="icao24", how="left")


def test_labelled_anomalies_rank_well_above_normal_flights(scored: Scored) -> None:
    df = _ranked(scored)
    n = len(df)
    assert n >= 140
    odd = df[df["kind"].notna() & (df["kind"] != "normal")]
    assert len(odd) >= 5
    # Floors, not exact numbers: the median labelled anomaly is in the top 10 %, most are in
    # the top fifth, and the anomalies' median score is far above the normal flights'.
    assert odd["rank"].median() <= 0.10 * n
    assert (odd["rank"] <= 0.2 * n).mean() >= 0.7
    normal = df[df["kind"] == "normal"]
    assert odd["score"].median() > normal["score"].quantile(0.9)


def test_ranks_are_a_permutation_and_flags_follow_the_threshold(scored: Scored) -> None:
    df = _ranked(scored)
    assert sorted(df["rank"]) == list(range(1, len(df) + 1))
    assert (df.sort_values("rank")["score"].diff().dropna() <= 0).all()
    assert (df["is_anomaly"] == (df["score"] > df["threshold"])).all()
    info = get_model(scored.engine, scored.model_id)
    detector = load_detector(scored.engine, scored.model_id)
    # The default score combines the reconstruction error with the cumulative turn, so its
    # threshold is the combination's, calibrated on the model's validation day: the stored
    # detector's, the model's, and every row's are one number.
    assert detector.combine == "ae_turn"
    assert (df["threshold"] == detector.threshold).all() and info.threshold == detector.threshold
    val = validation_scores(scored.engine, info, detector)
    assert val is not None
    assert detector.threshold == calibrate(val, TINY.threshold_rule()).threshold


def test_ties_are_ranked_by_flight_id() -> None:
    ids = np.array([30, 10, 20, 40], dtype=np.int64)
    scores = np.array([0.5, 0.5, 0.9, 0.5])
    assert rank_scores(ids, scores).tolist() == [3, 2, 1, 4]


def test_shape_tags_name_the_simulated_kinds(scored: Scored) -> None:
    df = _ranked(scored)
    tags = {k: set(t) for k, t in zip(df["kind"], df["tags"], strict=True) if k != "normal"}
    expected = {"holding": "holding", "orbit": "circling", "survey": "survey"}
    for kind, tag in expected.items():
        if kind in tags:
            assert tag in tags[kind], (kind, tags[kind])
    normal = df[df["kind"] == "normal"]
    shape = {"circling", "holding", "survey"}
    tagged = normal["tags"].apply(lambda t: bool(shape & set(t)))
    assert tagged.mean() <= 0.05


def test_rescoring_with_the_same_model_gives_identical_rows(scored: Scored) -> None:
    summary = score_day(scored.engine, scored.receiver, SCORED, scored.model_id)
    again = score_rows(scored.engine, scored.model_id, scored.first["flight_id"].tolist())
    assert summary.flights == len(scored.first)
    pd.testing.assert_frame_equal(again, scored.first)


def _copy_model(s: Scored, status: str, with_detector: bool = True) -> int:
    info, data = get_model_row(s.engine, s.model_id)
    return insert_model(
        s.engine,
        receiver_id=info.receiver_id,
        train_from=info.train_from,
        train_to=info.train_to,
        validation_days=info.validation_days,
        config=info.config.to_dict(),
        raster=info.raster.to_dict(),
        metrics=info.metrics,
        threshold=info.threshold,
        calibration=info.calibration,
        versions=info.versions,
        seed=info.seed,
        status=status,
        keras_bytes=data,
        detector_bytes=get_detector_bytes(s.engine, s.model_id) if with_detector else None,
    )


def test_another_model_adds_rows_and_a_rejected_one_is_refused(scored: Scored) -> None:
    other = _copy_model(scored, "ready")
    score_day(scored.engine, scored.receiver, SCORED, other)
    ids = scored.first["flight_id"].tolist()
    pd.testing.assert_frame_equal(score_rows(scored.engine, scored.model_id, ids), scored.first)
    assert len(score_rows(scored.engine, other, ids)) == len(ids)
    rejected = _copy_model(scored, "rejected")
    with pytest.raises(ScoringError, match="rejected"):
        score_day(scored.engine, scored.receiver, SCORED, rejected)


def test_no_model_and_no_flights_are_clear_errors(scored: Scored) -> None:
    with pytest.raises(ScoringError, match="no ready model"):
        score_day(scored.engine, scored.receiver, DAYS[0])
    with pytest.raises(ScoringError, match="no flights"):
        score_day(scored.engine, scored.receiver, SCORED + timedelta(days=1))


def test_residual_png_is_three_panels(scored: Scored) -> None:
    fid = int(scored.first["flight_id"].iloc[0])
    png = residual_png(scored.engine, fid, scored.model_id)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png))
    assert image.width > 3 * 64 * 4


def _cli(s: Scored, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--db", s.url])
    return result.exit_code, result.output


def test_cli_anomalies_json_csv_and_table(scored: Scored) -> None:
    code, out = _cli(
        scored,
        "anomalies",
        "--receiver",
        "sim",
        "--day",
        SCORED.isoformat(),
        "--all",
        "--top",
        "5",
        "--model",
        str(scored.model_id),
        "--format",
        "json",
    )
    assert code == 0, out
    rows = json.loads(out)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert set(rows[0]) == {
        "flight_id",
        "receiver",
        "icao24",
        "callsign",
        "start",
        "end",
        "day",
        "score",
        "threshold",
        "is_anomaly",
        "rank",
        "model_id",
        "tags",
        "tag_text",
        "registration",
        "aircraft_type",
        "known",
        "known_rule",
        "known_reason",
    }
    assert rows[0]["known"] is False and rows[0]["known_rule"] is None
    assert rows[0]["start"].endswith("Z") and rows[0]["day"] == SCORED.isoformat()
    assert isinstance(rows[0]["tags"], list)
    code, out = _cli(
        scored, "anomalies", "--receiver", "sim", "--day", str(SCORED), "--format", "csv"
    )
    assert code == 0 and out.startswith("flight_id,receiver,icao24")
    code, out = _cli(scored, "anomalies", "--receiver", "sim", "--day", str(SCORED), "--all")
    assert code == 0 and "sim" in out


def test_cli_explain_writes_the_picture(scored: Scored, tmp_path: Path) -> None:
    fid = int(scored.first["flight_id"].iloc[0])
    out_png = tmp_path / "f.png"
    code, out = _cli(scored, "explain", str(fid), "-o", str(out_png))
    assert code == 0, out
    assert out_png.read_bytes()[:4] == b"\x89PNG" and "score" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "--receiver", "nobody", "--day", "2026-05-04"], "no receiver named 'nobody'"),
        (["score", "--receiver", "sim", "--day", "2026-13-01"], "--day '2026-13-01' is not a day"),
        (["score", "--receiver", "sim", "--day", "2026-05-01"], "no ready model"),
        (["score", "--receiver", "sim", "--day", "2026-06-01"], "no flights on 2026-06-01"),
        (["score", "--receiver", "sim", "--from", "2026-05-04"], "--from D and --to D"),
        (["score", "--receiver", "sim", "--day", "2026-05-04", "--model", "999"], "no model"),
        (["anomalies", "--receiver", "sim", "--day", "2026-06-01"], "no flights on 2026-06-01"),
        (["anomalies", "--receiver", "sim", "--day", "2026-05-01"], "no scores"),
        (["explain", "999999", "-o", "x.png"], "no flight with id 999999"),
        (["nightly"], "--receiver NAME or --all"),
    ],
)
def test_cli_bad_input_is_one_clear_line(scored: Scored, args: list[str], message: str) -> None:
    code, out = _cli(scored, *args)
    assert code == 2, out
    assert message in out
    assert "Traceback" not in out


def test_cli_score_json_records_a_run(scored: Scored) -> None:
    code, out = _cli(scored, "score", "--receiver", "sim", "--day", str(SCORED), "--json")
    assert code == 0, out
    payload = json.loads(out)
    assert payload["days"][0]["flights"] == len(scored.first)
    code, out = _cli(scored, "runs", "--receiver", "sim", "--format", "json")
    runs = json.loads(out)
    assert runs[0]["kind"] == "score" and runs[0]["status"] == "ok"


def test_other_raster_settings_are_redrawn_from_tracks(scored: Scored, tmp_path: Path) -> None:
    """A day rebuilt with other raster settings is scored from its tracks, drawn the model's
    way: the scores match those from the stored rasters."""
    path = tmp_path / "copy.db"
    with scored.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(scored.path, path)
    engine = open_db(f"sqlite:///{path}")
    try:
        rec = scored.receiver
        assert rec.id is not None
        build_flights(engine, rec, [SCORED], RasterSettings(64, 2, 200.0))
        assert set(list_flights(engine, rec.id, SCORED)["raster_key"]) == {"64px/2w/200km"}
        score_day(engine, rec, SCORED, scored.model_id)
        redrawn = query_anomalies(
            engine, rec.id, SCORED, model_id=scored.model_id, include_all=True
        )
        before = _ranked(scored)
        merged = before.merge(redrawn, on=["icao24", "start"], suffixes=("", "_new"))
        assert len(merged) == len(before)
        assert np.allclose(merged["score"], merged["score_new"], rtol=1e-4, atol=1e-6)
    finally:
        engine.dispose()


def test_the_builds_tracks_are_the_tracks_read_back(scored: Scored, tmp_path: Path) -> None:
    """The nightly hands the build's cleaned tracks to scoring instead of reading the positions
    again: they must be the same tracks, giving the same scores and tags."""
    from oddflights.scoring.score import day_tracks
    from oddflights.scoring.tags import Context, tags_for

    copy = tmp_path / "copy.db"
    shutil.copy(scored.path, copy)
    engine = open_db(f"sqlite:///{copy}")
    try:
        rec = scored.receiver
        assert rec.id is not None
        built = build_flights(engine, rec, [SCORED], keep=True).built[SCORED]
        flights = list_flights(engine, rec.id, SCORED)
        handed = day_tracks(engine, rec, flights, built)
        read = day_tracks(engine, rec, flights)
        assert len(handed) == len(flights) >= 140
        assert handed.flight_ids.tolist() == read.flight_ids.tolist()
        assert handed.offsets.tolist() == read.offsets.tolist()
        for name in ("lat", "lon", "t_s", "altitude_ft", "groundspeed_kt"):
            np.testing.assert_allclose(getattr(handed, name), getattr(read, name), atol=1e-6)
        ctx = Context((rec.lat, rec.lon), None, np.zeros((0, 2)))
        images = np.zeros((len(flights), 8, 8), dtype=np.uint8)
        assert tags_for(handed.flight_ids, images, handed, ctx) == tags_for(
            read.flight_ids, images, read, ctx
        )
        ids = flights["flight_id"].tolist()
        score_day(engine, rec, SCORED, scored.model_id, built=built)
        with_handoff = score_rows(engine, scored.model_id, ids)
        score_day(engine, rec, SCORED, scored.model_id)
        read_back = score_rows(engine, scored.model_id, ids)
        pd.testing.assert_frame_equal(with_handoff, read_back)
        assert with_handoff["tags"].map(len).sum() > 0
    finally:
        engine.dispose()


def test_numpy_detector_scores_and_ranks_equal_the_keras_path(scored: Scored) -> None:
    """The scoring path as it was before the Detector (Keras reconstructions; the combined
    score's scales refitted from the validation day's rasters), recomputed here: the stored
    rows have the same ranks and flags, the same scores to float32 rounding, and numpy's
    reconstructions equal Keras' on the same weights."""
    rec, engine = scored.receiver, scored.engine
    assert rec.id is not None
    info = get_model(engine, scored.model_id)
    model, _ = load_model(engine, scored.model_id)
    detector = load_detector(engine, scored.model_id)

    def parts(days: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rs = read_rasters(engine, rec.id, days, info.raster)
        flights = pd.concat([list_flights(engine, rec.id, d) for d in days])
        turn = flights.set_index("flight_id").loc[rs.flight_ids, "turn_cum_deg"].to_numpy()
        keras_recon = reconstruct(model, rs.images)
        numpy_recon = detector.reconstruct(rs.images)
        assert float(np.abs(keras_recon - numpy_recon).max()) <= 1e-5
        ae = score_images(rs.images, keras_recon, info.config.score_fn)
        return rs.flight_ids, rs.images, ae, turn

    _, _, val_ae, val_turn = parts(info.validation_days)
    ae_scale, turn_scale = Scale.fit(val_ae), Scale.fit(val_turn)
    val_both = np.maximum(ae_scale(val_ae), turn_scale(val_turn))
    old_threshold = calibrate(val_both, info.config.threshold_rule()).threshold
    ids, _, day_ae, day_turn = parts([SCORED])
    old = np.maximum(ae_scale(day_ae), turn_scale(day_turn))

    rows = score_rows(engine, scored.model_id, ids.tolist()).set_index("flight_id").loc[ids]
    assert rows["rank"].tolist() == rank_scores(ids, old).tolist()
    assert rows["is_anomaly"].tolist() == (old > old_threshold).tolist()
    np.testing.assert_allclose(rows["score"], old, rtol=1e-5, atol=1e-7)
    assert detector.threshold == pytest.approx(old_threshold, rel=1e-5)


def test_a_model_without_detector_must_be_retrained(scored: Scored, tmp_path: Path) -> None:
    """A model stored before detectors whose validation rasters were gone has no detector:
    scoring, the CLI and the picture say in one line that it must be retrained."""
    bare = _copy_model(scored, "ready", with_detector=False)
    try:
        assert not get_model(scored.engine, bare).has_detector
        with pytest.raises(ScoringError, match=f"model {bare} has no stored detector.*retrain"):
            score_day(scored.engine, scored.receiver, SCORED, bare)
        # The newest ready model is the one without detector: it is not silently skipped.
        with pytest.raises(ScoringError, match="retrain it with `oddflights train"):
            score_day(scored.engine, scored.receiver, SCORED)
        code, out = _cli(scored, "score", "--receiver", "sim", "--day", str(SCORED))
        assert code == 2 and "retrain" in out and "Traceback" not in out
        assert len(out.strip().splitlines()) == 1
        fid = str(int(scored.first["flight_id"].iloc[0]))
        code, out = _cli(
            scored, "explain", fid, "--model", str(bare), "-o", str(tmp_path / "x.png")
        )
        assert code == 2 and "retrain" in out
    finally:
        # The bare model must not stay the newest ready one for the other tests.
        with scored.engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM models WHERE id = {bare}")


def _copy(scored: Scored, tmp_path: Path) -> Engine:
    path = tmp_path / "copy.db"
    with scored.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(scored.path, path)
    return open_db(f"sqlite:///{path}")


def test_the_build_stores_each_flights_track_facts(scored: Scored, tmp_path: Path) -> None:
    """Every built flight carries its TrackFacts, equal to those worked out from its track
    read back from the positions; a rebuild works them out again."""
    from oddflights.db.flights import read_track_tags
    from oddflights.scoring.score import day_tracks
    from oddflights.scoring.tags import TrackFacts, facts_key, facts_of

    engine = _copy(scored, tmp_path)
    try:
        rec = scored.receiver
        assert rec.id is not None
        key = facts_key((rec.lat, rec.lon))
        flights = list_flights(engine, rec.id, SCORED)
        stored = read_track_tags(engine, rec.id, SCORED)
        tracks = day_tracks(engine, rec, flights)
        read_back = dict(
            zip(tracks.flight_ids.tolist(), facts_of(tracks, (rec.lat, rec.lon)), strict=True)
        )
        assert set(stored) == set(read_back) == set(flights["flight_id"])
        for fid, value in stored.items():
            facts = TrackFacts.from_json(value, key)
            assert facts is not None, fid
            assert facts.tags == read_back[fid].tags
            assert facts.low_xy.tobytes() == read_back[fid].low_xy.tobytes()
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE flights SET track_tags = NULL")
        build_flights(engine, rec, [SCORED])
        again = read_track_tags(engine, rec.id, SCORED)
        assert len(again) == len(stored) and all(v is not None for v in again.values())
    finally:
        engine.dispose()


def test_a_rescore_needs_no_positions(scored: Scored, tmp_path: Path) -> None:
    """Rescoring a past day uses the stored rasters and track facts: with the day's positions
    gone, the rows (scores, ranks, flags and tags) are the same. (The airports still come
    from the training days' positions.)"""
    from oddflights.scoring.tags import TRACK_TAGS

    tagged = scored.first["tags"].map(lambda t: bool(set(t) & {*TRACK_TAGS, "go_around"}))
    assert tagged.any()  # else tags from tracks would not be tested
    engine = _copy(scored, tmp_path)
    try:
        start, _ = scored.receiver.day_bounds(SCORED)
        # Through the table's own column type: however ts is stored, only the scored day's
        # positions go (the training days' give the airports).
        from sqlalchemy import delete

        from oddflights.db.models import PositionRow

        with engine.begin() as conn:
            gone = conn.execute(delete(PositionRow).where(PositionRow.ts >= start)).rowcount
        assert gone > 10_000
        score_day(engine, scored.receiver, SCORED, scored.model_id)
        again = score_rows(engine, scored.model_id, scored.first["flight_id"].tolist())
        pd.testing.assert_frame_equal(again, scored.first)
    finally:
        engine.dispose()


def test_flights_without_stored_facts_are_tagged_from_their_positions(
    scored: Scored, tmp_path: Path
) -> None:
    """Rows built before migration 0005 (no facts), or whose facts were worked out under
    other tag parameters, are tagged from the positions read back: the same rows."""
    engine = _copy(scored, tmp_path)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE flights SET track_tags = NULL WHERE id % 2 = 0")
            conn.exec_driver_sql(
                "UPDATE flights SET track_tags = json_set(track_tags, '$.key', 'stale') "
                "WHERE id % 3 = 0 AND track_tags IS NOT NULL"
            )
            stale = conn.exec_driver_sql(
                "SELECT count(*) FROM flights WHERE track_tags IS NULL "
                "OR json_extract(track_tags, '$.key') = 'stale'"
            ).scalar_one()
        assert stale >= len(scored.first) // 2
        score_day(engine, scored.receiver, SCORED, scored.model_id)
        again = score_rows(engine, scored.model_id, scored.first["flight_id"].tolist())
        pd.testing.assert_frame_equal(again, scored.first)
    finally:
        engine.dispose()
