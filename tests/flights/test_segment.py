"""Cutting and cleaning on hand-made tracks and on simulator days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from oddflights.flights.clean import CleanSettings, speed_check
from oddflights.flights.segment import make_flights
from tests.flights.tracks import concat, track

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def test_one_clean_track_is_one_flight() -> None:
    fs = make_flights(track("abc123", T0, 600, 52.0, 4.0))
    assert len(fs.table) == 1
    row = fs.table.iloc[0]
    assert row["icao24"] == "abc123" and row["callsign"] == "TEST1"
    assert row["n_points"] == 600
    assert row["start_ts"] == pd.Timestamp(T0)
    assert row["end_ts"] == pd.Timestamp(T0 + timedelta(seconds=599))
    assert fs.offsets.tolist() == [0, 600]
    assert sum(fs.dropped.values()) == 0


def test_no_positions_no_flights() -> None:
    empty = track("abc123", T0, 600, 52.0, 4.0).iloc[:0]
    fs = make_flights(empty, start=T0, end=T0 + timedelta(days=1))
    assert len(fs.table) == 0 and fs.offsets.tolist() == [0]
    assert sum(fs.dropped.values()) == 0


def test_gap_over_ten_minutes_cuts_and_shorter_gap_does_not() -> None:
    a = track("abc123", T0, 300, 52.0, 4.0)
    b = track("abc123", T0 + timedelta(seconds=300 + 9 * 60), 300, 52.0, 4.5)
    c = track("abc123", T0 + timedelta(seconds=1200 + 11 * 60), 300, 52.0, 5.0)
    fs = make_flights(concat(a, b, c), gap_min=10)
    assert fs.table["n_points"].tolist() == [600, 300]


def test_a_changed_callsign_cuts_but_a_missing_one_does_not() -> None:
    a = track("abc123", T0, 300, 52.0, 4.0, callsign="KLM12")
    a.loc[50:100, "callsign"] = None  # messages without a callsign
    b = track("abc123", T0 + timedelta(seconds=300), 300, 52.0, 4.5, callsign=None)
    c = track("abc123", T0 + timedelta(seconds=600), 300, 52.0, 5.0, callsign="KLM13")
    fs = make_flights(concat(a, b, c))
    assert fs.table["callsign"].tolist() == ["KLM12", "KLM13"]
    assert fs.table["n_points"].tolist() == [600, 300]


def test_a_300_km_jump_vanishes_without_cutting_the_flight() -> None:
    df = track("abc123", T0, 900, 52.0, 4.0)
    df.loc[400, "lat"] += 300.0 / 111.2  # one point 300 km north
    fs = make_flights(df)
    assert len(fs.table) == 1
    assert fs.table["n_points"].iloc[0] == 899
    assert fs.dropped["bad_position"] == 1
    assert fs.points["lat"].max() < 52.1


def test_a_bad_first_point_and_a_burst_of_bad_points_are_dropped() -> None:
    df = track("abc123", T0, 900, 52.0, 4.0)
    df.loc[0, "lon"] += 4.0  # the very first point is ~270 km off
    df.loc[500:502, "lat"] -= 3.0  # three points in a row, together, 330 km south
    fs = make_flights(df)
    assert len(fs.table) == 1
    assert fs.table["n_points"].iloc[0] == 896
    assert fs.dropped["bad_position"] == 4
    assert fs.table["start_ts"].iloc[0] == pd.Timestamp(T0 + timedelta(seconds=1))


def test_speed_check_follows_the_dump1090_rule() -> None:
    # 0.5 km + (Δt + 1 s) × max(speed, 200 kt) × 4/3: at 1 s and 200 kt, 0.7744 km.
    t = np.array([0.0, 1.0, 2.0])
    lat = np.array([52.0, 52.0, 52.0])
    step = 0.77 / (111.195 * np.cos(np.radians(52.0)))
    lon = np.array([4.0, 4.0 + step, 4.0 + step + step * 1.02])
    group = np.zeros(3, dtype=np.int64)
    keep = speed_check(group, t, lat, lon, np.array([np.nan, 100.0, 100.0]))
    assert keep.tolist() == [True, True, False]
    fast = speed_check(group, t, lat, lon, np.array([np.nan, 400.0, 400.0]))
    assert fast.tolist() == [True, True, True]


def test_repeated_timestamps_are_dropped() -> None:
    df = track("abc123", T0, 300, 52.0, 4.0)
    df = pd.concat([df, df.iloc[10:15]], ignore_index=True)
    fs = make_flights(concat(df))
    assert fs.table["n_points"].iloc[0] == 300
    assert fs.dropped["repeated_ts"] == 5


def test_short_small_and_ground_flights_are_dropped() -> None:
    frames = [
        track("a00001", T0, 600, 52.0, 4.0),  # kept
        track("a00002", T0, 90, 52.0, 4.0),  # 1.5 minutes: too short
        track("a00003", T0, 600, 52.0, 4.0, every_s=75.0),  # 8 points: too few
        track("a00004", T0, 600, 52.0, 4.0, speed_kt=15.0, onground=True),  # taxiing
    ]
    fs = make_flights(concat(*frames))
    assert fs.table["icao24"].tolist() == ["a00001"]
    assert fs.dropped["too_short"] == 1
    assert fs.dropped["too_few_points"] == 1
    assert fs.dropped["on_ground"] == 1
    fs = make_flights(concat(*frames), clean=CleanSettings(drop_ground=False))
    assert fs.table["icao24"].tolist() == ["a00001", "a00004"]


def test_only_flights_starting_in_the_window_are_kept() -> None:
    before = track("a00001", T0 - timedelta(minutes=5), 900, 52.0, 4.0)  # continues into it
    inside = track("a00002", T0 + timedelta(minutes=5), 600, 52.0, 4.0)
    after = track("a00003", T0 + timedelta(hours=2), 600, 52.0, 4.0)
    fs = make_flights(concat(before, inside, after), start=T0, end=T0 + timedelta(hours=1))
    assert fs.table["icao24"].tolist() == ["a00002"]


@pytest.mark.parametrize("faults", [False, True])
def test_simulated_flights_become_exactly_one_flight_each(faults: bool) -> None:
    from oddflights.simulate import SimConfig, simulate

    sim = simulate(
        SimConfig(
            lat=52.0,
            lon=4.5,
            days=1,
            flights_per_day=150,
            start_day=date(2026, 1, 15),
            seed=3,
            faults=faults,
        )
    )
    pos = sim.positions.sort_values(["icao24", "ts"], kind="stable").reset_index(drop=True)
    fs = make_flights(pos)
    labels = sim.labels
    built = fs.table.groupby("icao24").size()
    matched = 0
    for lab in labels.itertuples():
        if built.get(lab.icao24, 0) != 1:
            continue
        row = fs.table[fs.table["icao24"] == lab.icao24].iloc[0]
        # The same flight: it starts and ends within a minute of the label.
        if abs(row["start_ts"] - lab.start) <= pd.Timedelta(minutes=1) and abs(
            row["end_ts"] - lab.end
        ) <= pd.Timedelta(minutes=1):
            matched += 1
    assert matched / len(labels) >= 0.98
    if faults:
        assert fs.dropped["repeated_ts"] > 0 and fs.dropped["bad_position"] > 0
        # No stray point survives: every step is a plausible flight step.
        lat = fs.points["lat"].to_numpy()
        same = fs.points["flight"].to_numpy()[1:] == fs.points["flight"].to_numpy()[:-1]
        assert np.abs(np.diff(lat))[same].max() < 0.5
