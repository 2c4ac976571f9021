"""Building flights in real databases: simulator days, midnight, idempotence, raster keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.flights import (
    FlightNotFound,
    RasterMismatch,
    get_flight,
    list_flights,
    read_rasters,
)
from oddflights.db.models import ModelRow, ScoreRow
from oddflights.db.positions import write_positions
from oddflights.db.receivers import add_receiver
from oddflights.flights.build import build_flights, ensure_rasters
from oddflights.flights.raster import RasterSettings, pack, rasterize
from oddflights.flights.track import read_flight_track
from oddflights.receivers import Receiver
from tests.flights.tracks import concat, track

DAY = date(2026, 1, 15)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def sim_receiver(engine: Engine) -> tuple[Receiver, pd.DataFrame]:
    """A receiver with one simulated day (with faults) written to the database."""
    from oddflights.simulate import SimConfig, simulate

    sim = simulate(
        SimConfig(
            lat=52.0,
            lon=4.5,
            days=1,
            flights_per_day=40,
            start_day=DAY,
            seed=7,
            faults=True,
        )
    )
    rec = add_receiver(engine, Receiver("sim", 52.0, 4.5, 200.0, "UTC"))
    assert rec.id is not None
    write_positions(engine, rec.id, sim.positions, "sim")
    return rec, sim.labels


def _model(engine: Engine, receiver_id: int) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(ModelRow)
                .values(
                    receiver_id=receiver_id,
                    created_at=datetime.now(UTC),
                    train_from=DAY,
                    train_to=DAY,
                    validation_days=[],
                    config={},
                    raster={},
                    metrics={},
                    calibration={},
                    versions={},
                    seed=0,
                    status="ready",
                )
                .returning(ModelRow.id)
            ).scalar_one()
        )


def test_build_a_simulated_day(engine: Engine, sim_receiver: tuple[Receiver, pd.DataFrame]) -> None:
    rec, labels = sim_receiver
    assert rec.id is not None
    summary = build_flights(engine, rec, [DAY])
    assert summary.days == 1
    assert summary.dropped["bad_position"] > 0 or summary.dropped["repeated_ts"] > 0
    flights = list_flights(engine, rec.id, DAY)
    assert len(flights) == summary.flights
    per_aircraft = flights.groupby("icao24").size()
    one_each = sum(per_aircraft.get(icao, 0) == 1 for icao in labels["icao24"])
    assert one_each / len(labels) >= 0.98
    assert (flights["day"] == DAY).all()
    assert str(flights["start_ts"].dt.tz) == "UTC"
    assert (flights["raster_key"] == "64px/1w/200km").all()
    assert (flights["path_km"] > 10).all() and (flights["min_dist_km"] < 200).all()

    rasters = read_rasters(engine, rec.id, [DAY])
    assert rasters.images.shape == (len(flights), 64, 64) and rasters.images.dtype == np.uint8
    assert rasters.flight_ids.dtype == np.int64
    assert rasters.days == [DAY] * len(flights)
    assert rasters.settings == RasterSettings(64, 1, 200.0)
    by_id = flights.set_index("flight_id")["lit_pixels"]
    sums = rasters.images.reshape(len(flights), -1).sum(axis=1)
    assert sums.tolist() == [by_id[i] for i in rasters.flight_ids]

    # The track re-read from positions is the flight that was drawn.
    first = int(rasters.flight_ids[0])
    track_df = read_flight_track(engine, first)
    row = get_flight(engine, first)
    assert len(track_df) == row["n_points"]
    redrawn = rasterize(track_df["lat"], track_df["lon"], (rec.lat, rec.lon), rasters.settings)
    assert pack(redrawn) == row["raster"]
    with pytest.raises(FlightNotFound, match="no flight with id 999999"):
        get_flight(engine, 999999)


def test_rebuild_is_idempotent_and_drops_scores(
    engine: Engine, sim_receiver: tuple[Receiver, pd.DataFrame]
) -> None:
    rec, _ = sim_receiver
    assert rec.id is not None
    build_flights(engine, rec, [DAY])
    before = list_flights(engine, rec.id, DAY)
    model_id = _model(engine, rec.id)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(ScoreRow),
            [
                {
                    "flight_id": int(fid),
                    "model_id": model_id,
                    "score": 0.1,
                    "rank": i,
                    "threshold": 0.5,
                    "is_anomaly": False,
                    "tags": [],
                }
                for i, fid in enumerate(before["flight_id"])
            ],
        )
    build_flights(engine, rec, [DAY])
    after = list_flights(engine, rec.id, DAY)
    pd.testing.assert_frame_equal(
        before.drop(columns="flight_id"), after.drop(columns="flight_id"), check_exact=False
    )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ScoreRow)).scalar_one() == 0


def test_a_flight_across_midnight_belongs_to_the_day_it_starts(engine: Engine) -> None:
    rec = add_receiver(engine, Receiver("berlin", 52.5, 13.4, 200.0, "Europe/Berlin"))
    assert rec.id is not None
    start = datetime(2026, 3, 10, 23, 50, tzinfo=BERLIN).astimezone(UTC)
    crossing = track("3c6444", start, 1800, 52.3, 12.0, heading_deg=80.0, callsign="DLH1")
    next_day = track(
        "3c6445",
        datetime(2026, 3, 11, 0, 30, tzinfo=BERLIN).astimezone(UTC),
        900,
        52.3,
        12.0,
        callsign="DLH2",
    )
    write_positions(engine, rec.id, concat(crossing, next_day), "test")
    summary = build_flights(engine, rec, [date(2026, 3, 10), date(2026, 3, 11)])
    assert summary.flights == 2
    first = list_flights(engine, rec.id, date(2026, 3, 10))
    assert first["callsign"].tolist() == ["DLH1"]
    assert first["n_points"].tolist() == [1800]
    assert first["end_ts"].iloc[0] == pd.Timestamp(start + timedelta(seconds=1799))
    second = list_flights(engine, rec.id, date(2026, 3, 11))
    assert second["callsign"].tolist() == ["DLH2"]
    # Building the second day alone does not pick up the tail of the first day's flight.
    build_flights(engine, rec, [date(2026, 3, 11)])
    assert list_flights(engine, rec.id, date(2026, 3, 11))["callsign"].tolist() == ["DLH2"]


def test_rasters_are_rebuilt_when_the_settings_change(engine: Engine) -> None:
    rec = add_receiver(engine, Receiver("r", 52.0, 4.0, 150.0, "UTC"))
    assert rec.id is not None
    t0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    write_positions(engine, rec.id, track("abc123", t0, 900, 51.5, 3.5, heading_deg=45.0))
    build_flights(engine, rec, [DAY])
    assert read_rasters(engine, rec.id, [DAY]).settings.key == "64px/1w/150km"
    small = RasterSettings(32, 1, 150.0)
    with pytest.raises(RasterMismatch, match="64px/1w/150km"):
        read_rasters(engine, rec.id, [DAY], small)
    assert ensure_rasters(engine, rec, [DAY, DAY + timedelta(days=1)], small) == [DAY]
    assert ensure_rasters(engine, rec, [DAY], small) == []
    got = read_rasters(engine, rec.id, [DAY], small)
    assert got.images.shape == (1, 32, 32) and got.images.sum() > 10
    # A day without positions builds to nothing; without flights, an empty raster set in the
    # receiver's configured frame.
    assert build_flights(engine, rec, [date(2026, 2, 1)]).flights == 0
    empty = read_rasters(engine, rec.id, [date(2026, 2, 1)])
    assert empty.images.shape == (0, 64, 64) and empty.settings.range_km == 150.0


def test_a_day_built_in_batches_equals_the_day_at_once(
    engine: Engine, sim_receiver: tuple[Receiver, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_day works a batch of aircraft at a time on compact arrays; its flights (table,
    features, rasters, track facts), dropped counts and kept points are those of the whole
    day's positions read as one frame, cut by make_flights and drawn by flights_frame, bit
    for bit, whatever the batch size."""
    from oddflights import config
    from oddflights.columns import TRACK_COLUMNS
    from oddflights.db.positions import read_positions
    from oddflights.flights import build
    from oddflights.flights.clean import CleanSettings
    from oddflights.flights.raster import pack_many
    from oddflights.flights.segment import make_flights

    rec, _ = sim_receiver
    assert rec.id is not None
    start, end = rec.day_bounds(DAY)
    positions = read_positions(
        engine, rec.id, start - build.LEAD, end + build.TAIL, columns=TRACK_COLUMNS
    )
    whole = make_flights(
        positions,
        gap_min=float(config.get("flight_gap_min")),
        clean=CleanSettings.from_config(),
        start=start,
        end=end,
    )
    want, images = build.flights_frame(whole, rec, build.raster_settings(rec))
    assert len(want) > 20 and sum(whole.dropped.values()) > 0  # the faults were cleaned
    columns = [c for c in want.columns if c != "track_tags"]
    for batch in (97, 5_000, 10_000_000):
        monkeypatch.setattr(build, "BUILD_BATCH_ROWS", batch)
        got = build.build_day(engine, rec, DAY, keep=True)
        assert got.dropped == whole.dropped
        pd.testing.assert_frame_equal(got.table.loc[:, columns], want.loc[:, columns])
        assert got.table["track_tags"].tolist() == want["track_tags"].tolist()
        assert got.flights is not None
        pd.testing.assert_frame_equal(got.flights.points, whole.points)
        assert (got.flights.offsets == whole.offsets).all()
        stored = list_flights(engine, rec.id, DAY).sort_values("flight_id")  # as inserted
        assert stored["turn_cum_deg"].tolist() == want["turn_cum_deg"].tolist()
        rasters = [get_flight(engine, int(f))["raster"] for f in stored["flight_id"]]
        assert rasters == pack_many(images)
