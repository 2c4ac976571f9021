"""Headings and turns: the one computation (flights.geo) behind the summary features' turns
and the shape tags."""

from __future__ import annotations

import numpy as np

from oddflights.flights.features import summarize
from oddflights.flights.geo import headings_deg, step_marks, turns_deg
from oddflights.scoring.tags import shape_tags


def test_headings_are_clockwise_from_north() -> None:
    east = np.array([0.0, 1.0, 0.0, -1.0, 1.0])
    north = np.array([1.0, 0.0, -1.0, 0.0, 1.0])
    assert headings_deg(east, north).tolist() == [0.0, 90.0, 180.0, -90.0, 45.0]


def test_turns_are_signed_and_wrapped() -> None:
    # North, east, south, west: three right turns of 90°.
    assert turns_deg(np.array([0.0, 1, 0, -1]), np.array([1.0, 0, -1, 0])).tolist() == [90.0] * 3
    # 170° then -170° (= 190°): 20° to the right, not 340° to the left; and back.
    a, b = np.radians(170.0), np.radians(-170.0)
    right, left = turns_deg(
        np.array([np.sin(a), np.sin(b), np.sin(a)]), np.array([np.cos(a), np.cos(b), np.cos(a)])
    )
    assert np.isclose(right, 20.0) and np.isclose(left, -20.0)
    # A U-turn counts as -180° (the range is [-180, 180)).
    assert turns_deg(np.array([0.0, 0.0]), np.array([1.0, -1.0])).tolist() == [-180.0]


def test_step_marks_mark_each_step_and_each_group() -> None:
    along = np.array([0.0, 0.1, 0.3, 0.6, 0.9, 1.2])
    assert step_marks(along, 0.5).tolist() == [True, False, False, True, False, True]
    group = np.array([0, 0, 1, 1, 1, 1])
    assert step_marks(along, 0.5, group).tolist() == [True, False, True, True, False, True]
    assert step_marks(np.zeros(0), 0.5).tolist() == []


def _circles(laps: float, radius_km: float, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Clockwise circles (x east, y north, km) starting north of the centre."""
    a = np.linspace(0.0, 2 * np.pi * laps, points)
    return radius_km * np.sin(a), radius_km * np.cos(a)


def test_features_and_tags_see_the_same_turning() -> None:
    """Three clockwise laps of a 3 km circle: the summary features count ~1,080° of net turn
    to the right, and the shape tags call it circling (≥ 720° the same way)."""
    x, y = _circles(3.0, 3.0, 3000)
    # Near 52° N, 1 km is ~1/111 ° of latitude and ~1/68.6 ° of longitude.
    lat = 52.0 + y / 111.2
    lon = 4.5 + x / (111.2 * np.cos(np.radians(52.0)))
    feats = summarize(lat, lon, np.full(len(x), 3000.0), np.array([0, len(x)]), (52.0, 4.5))
    path = 2 * np.pi * 3.0 * 3
    assert abs(feats["path_km"].iloc[0] - path) < 0.5
    # Headings every HEADING_STEP_KM: each chord turns 360° × step / circumference.
    assert 1000.0 < feats["turn_net_deg"].iloc[0] <= 1080.0
    assert feats["turn_cum_deg"].iloc[0] == feats["turn_net_deg"].iloc[0]
    t = np.arange(len(x), dtype=np.float64) * 0.5  # 3 laps in 25 minutes
    assert shape_tags(x, y, t) == ["circling"]
    # Flown the other way, the features turn left.
    feats_left = summarize(
        lat[::-1], lon[::-1], np.full(len(x), 3000.0), np.array([0, len(x)]), (52.0, 4.5)
    )
    assert np.isclose(feats_left["turn_net_deg"].iloc[0], -feats["turn_net_deg"].iloc[0], atol=1.0)
