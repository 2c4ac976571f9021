"""The simulated receiver: physics of normal traffic, shapes of anomalies, files, CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.cli.simulate import simulate as simulate_command
from oddflights.columns import POSITION_COLUMNS, TABLE_COLUMNS
from oddflights.simulate import (
    KINDS,
    SimConfig,
    Simulation,
    SimulationError,
    simulate,
    world_for,
    write_simulation,
)
from oddflights.simulate.world import World, clearance_km, to_xy

DAY = dt.date(2024, 5, 1)


def _config(**changes: object) -> SimConfig:
    base: dict[str, object] = dict(
        lat=52.0, lon=4.5, days=2, flights_per_day=100, start_day=DAY, seed=7
    )
    base.update(changes)
    return SimConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(_config())


@pytest.fixture(scope="module")
def world() -> World:
    return world_for(_config())


@pytest.fixture(scope="module")
def busy() -> Simulation:
    """One busy day in a real time zone, with more anomalies than the default."""
    return simulate(
        _config(days=1, flights_per_day=1000, timezone="Europe/Amsterdam", anomaly_share=0.05)
    )


def _flights(sim: Simulation, kind: str) -> list[pd.DataFrame]:
    icaos = sim.labels.loc[sim.labels["kind"] == kind, "icao24"]
    groups = dict(tuple(sim.positions.groupby("icao24", sort=False)))
    return [groups[i] for i in icaos]


def _seconds(f: pd.DataFrame) -> np.ndarray:
    return (f["ts"] - f["ts"].iloc[0]).dt.total_seconds().to_numpy()


def _wrap(deg: np.ndarray) -> np.ndarray:
    return (deg + 180.0) % 360.0 - 180.0


def _turning(f: pd.DataFrame) -> np.ndarray:
    """Cumulative signed turning (degrees) along a flight's reported track."""
    return np.concatenate([[0.0], np.cumsum(_wrap(np.diff(f["track_deg"].to_numpy())))])


def _turn_rates(f: pd.DataFrame, step: int = 5) -> np.ndarray:
    """Turn rates (deg/s) over ~5 s baselines, where no coverage gap interferes."""
    t, trk = _seconds(f), f["track_deg"].to_numpy()
    if t.size <= step:
        return np.zeros(0)
    dt_ = t[step:] - t[:-step]
    rate = _wrap(trk[step:] - trk[:-step]) / dt_
    return rate[dt_ <= 2.0 * step]


def _xy(f: pd.DataFrame, world: World) -> tuple[np.ndarray, np.ndarray]:
    return to_xy(f["lat"].to_numpy(), f["lon"].to_numpy(), world.lat, world.lon)


# --- shape of the data ------------------------------------------------------------------


def test_positions_columns_types_and_order(sim: Simulation) -> None:
    pos = sim.positions
    assert tuple(pos.columns) == POSITION_COLUMNS
    assert str(pos["ts"].dtype) == "datetime64[ns, UTC]"
    assert pos["ts"].is_monotonic_increasing
    assert pos["icao24"].str.fullmatch(r"[0-9a-f]{6}").all()
    assert pos["squawk"].str.fullmatch(r"[0-7]{4}").all()
    assert pos["onground"].dtype == bool
    for col in ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm"):
        assert pos[col].dtype == np.float64
    assert sim.labels["icao24"].is_unique


def test_labels_match_positions(sim: Simulation) -> None:
    assert len(sim.labels) == 200
    counts = sim.positions.groupby("icao24").size()
    spans = sim.positions.groupby("icao24")["ts"].agg(["min", "max"])
    for row in sim.labels.itertuples():
        assert counts[row.icao24] == row.n_points
        assert spans.loc[row.icao24, "min"] == row.start
        assert spans.loc[row.icao24, "max"] == row.end
        assert row.start.tzinfo is not None


def test_positions_stay_within_reach_of_the_receiver(sim: Simulation, world: World) -> None:
    x, y = _xy(sim.positions, world)
    assert np.hypot(x, y).max() <= 1.3 * 200.0 + 1.0


# --- normal traffic obeys physics --------------------------------------------------------


def test_normal_flights_are_physically_plausible(sim: Simulation) -> None:
    flights = _flights(sim, "normal")
    assert len(flights) > 150
    for f in flights:
        air = f[~f["onground"]]
        assert air["groundspeed_kt"].between(100, 500).all()
        assert air["altitude_ft"].between(-100, 41_000).all()
        assert air["vertical_rate_fpm"].abs().max() <= 4_100
        assert np.abs(_turn_rates(air)).max(initial=0.0) <= 3.3
        t = _seconds(f)
        assert np.diff(t).min() > 0.3
        assert 5 * 60 < t[-1] < 3 * 3600  # a crossing of the frame takes tens of minutes


def test_normal_traffic_climbs_descends_and_cruises(sim: Simulation) -> None:
    flights = _flights(sim, "normal")
    tops = np.array([f["altitude_ft"].max() for f in flights])
    assert (tops >= 28_000).mean() > 0.8
    # arrivals touch down at approach speed; departures lift off at it
    landed = [f for f in flights if f["onground"].iloc[-1]]
    assert landed
    for f in landed:
        final = f[(~f["onground"]) & (f["altitude_ft"] < f["altitude_ft"].min() + 600)]
        assert final["groundspeed_kt"].between(120, 175).all()


def test_daily_rhythm_has_quiet_nights(busy: Simulation) -> None:
    local = busy.labels["start"].dt.tz_convert("Europe/Amsterdam").dt.hour
    night = local.isin([1, 2, 3, 4]).sum() / 4
    day = local.isin(range(9, 18)).sum() / 9
    assert night < 0.3 * day


def test_anomaly_share_is_roughly_as_configured(busy: Simulation) -> None:
    share = (busy.labels["kind"] != "normal").mean()
    assert 0.035 <= share <= 0.065


# --- anomalies are what their labels say ---------------------------------------------------


def test_every_anomaly_kind_is_present(sim: Simulation) -> None:
    kinds = set(sim.labels["kind"])
    assert set(KINDS) <= kinds


def test_orbit_turns_twice_round_within_half_an_hour(sim: Simulation) -> None:
    for f in _flights(sim, "orbit"):
        t, turn = _seconds(f), _turning(f)
        end = np.searchsorted(t, t + 1800.0) - 1
        assert np.abs(turn[end] - turn).max() >= 720.0


def test_holding_flies_at_least_two_laps(sim: Simulation) -> None:
    for f in _flights(sim, "holding"):
        assert abs(_turning(f)[-1]) >= 720.0


def _straight_legs(f: pd.DataFrame) -> list[float]:
    """Mean tracks of the straight runs of at least two minutes."""
    t, trk = _seconds(f), f["track_deg"].to_numpy()
    rate = np.abs(_wrap(np.diff(trk))) / np.maximum(np.diff(t), 0.1)
    # Averaged over 5 reports: track noise (σ 0.15°) alone breaks a 1 s rate now and then.
    straight = pd.Series(rate).rolling(5, center=True, min_periods=1).mean().to_numpy() < 0.5
    legs, start = [], 0
    for i in range(1, straight.size + 1):
        if i == straight.size or not straight[i]:
            if t[i] - t[start] >= 120:
                legs.append(float(trk[start:i].mean()))
            start = i + 1
    return legs


def test_survey_has_parallel_legs(sim: Simulation) -> None:
    for f in _flights(sim, "survey"):
        legs = np.array(_straight_legs(f))
        axis = legs % 180.0
        parallel = [
            np.sum(np.abs(_wrap(2 * (axis - a)) / 2) < 5.0) for a in axis
        ]  # same axis, either direction
        assert max(parallel) >= 3


def test_glider_and_helicopter_are_low_and_slow(sim: Simulation) -> None:
    for f in _flights(sim, "glider"):
        assert f["groundspeed_kt"].max() < 90
        assert f["altitude_ft"].max() < 10_000
        assert abs(_turning(f)[-1]) >= 720  # it circles in thermals
    for f in _flights(sim, "helicopter"):
        assert f["groundspeed_kt"].max() < 150
        assert f["altitude_ft"].max() < 2_500


def test_off_route_keeps_clear_of_every_route(sim: Simulation, world: World) -> None:
    segs = world.route_segments()
    for f in _flights(sim, "off_route"):
        x, y = _xy(f, world)
        assert clearance_km(x, y, segs).min() > 15.0
        assert f["altitude_ft"].min() > 10_000


def test_go_around_climbs_away_near_the_runway_and_comes_back(
    sim: Simulation, world: World
) -> None:
    for f in _flights(sim, "go_around"):
        x, y = _xy(f, world)
        alt = f["altitude_ft"].to_numpy()
        near = [np.hypot(x - ap.x, y - ap.y) < 6.0 for ap in world.airports]
        i_ap = int(np.argmax([n.sum() for n in near]))
        ap, close = world.airports[i_ap], near[i_ap]
        low = np.flatnonzero(close & (alt < ap.elevation_ft + 1500))
        assert low.size
        first_low = low[0]
        later = alt[first_low:]
        assert later.max() >= alt[first_low] + 1000  # climbed away
        peak = first_low + int(np.argmax(later))
        assert alt[peak:].min() <= alt[first_low] + 300  # and came down again
        assert np.hypot(x[peak] - ap.x, y[peak] - ap.y) < 25.0


# --- configuration, files, determinism -----------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [dict(days=0), dict(lat=95.0), dict(timezone="Mars/Olympus"), dict(anomaly_share=2.0)],
)
def test_bad_config_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(SimulationError):
        _config(**changes)


def _write(tmp: Path, fmt: str, **changes: object) -> dict[str, bytes]:
    cfg = _config(days=1, flights_per_day=40, faults=True, **changes)
    paths = write_simulation(simulate(cfg), tmp, fmt)
    return {p.name: p.read_bytes() for p in paths}


@pytest.mark.parametrize("fmt", ["table", "sbs"])
def test_same_config_gives_identical_files(tmp_path: Path, fmt: str) -> None:
    first = _write(tmp_path / "a", fmt)
    again = _write(tmp_path / "b", fmt)
    other = _write(tmp_path / "c", fmt, seed=8)
    assert first == again
    assert first["labels.json"] != other["labels.json"]
    assert first.keys() >= {"receiver.json", "labels.json"}


def test_table_files(tmp_path: Path, sim: Simulation) -> None:
    paths = write_simulation(sim, tmp_path, "table")
    names = [p.name for p in paths]
    assert names[:2] == ["receiver.json", "labels.json"]
    assert "2024-05-01.csv" in names and "2024-05-02.csv" in names
    receiver = json.loads((tmp_path / "receiver.json").read_text())
    assert receiver == {"lat": 52.0, "lon": 4.5, "range_km": 200.0, "timezone": "UTC"}
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert len(labels) == len(sim.labels)
    assert set(labels[0]) == {"icao24", "callsign", "start", "end", "kind", "n_points"}
    assert labels[0]["start"].endswith("Z")
    frames = [pd.read_csv(p, dtype={"squawk": str, "icao24": str}) for p in paths[2:]]
    table = pd.concat(frames, ignore_index=True)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == len(sim.positions)
    ts = pd.to_datetime(table["timestamp"], utc=True)
    assert (ts.to_numpy() == sim.positions["ts"].to_numpy()).all()
    assert np.allclose(table["latitude"], sim.positions["lat"], atol=1e-6)


def test_sbs_files_are_well_formed(tmp_path: Path, sim: Simulation) -> None:
    paths = write_simulation(sim, tmp_path, "sbs")
    data = b"".join(p.read_bytes() for p in paths if p.suffix == ".sbs")
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert b"\n" not in b"".join(lines)
    fields = [line.split(b",") for line in lines]
    assert all(len(f) == 22 for f in fields)
    kinds = {f[1] for f in fields}
    assert {b"1", b"3", b"4"} <= kinds
    msg3 = [f for f in fields if f[1] == b"3"]
    assert len(msg3) == len(sim.positions)
    assert all(f[14] and f[15] and f[11] for f in msg3[:1000])
    assert all(f[6].count(b"/") == 2 and f[7].count(b":") == 2 for f in fields[:1000])


def test_faults_add_duplicates_jumps_and_corrupt_lines(tmp_path: Path) -> None:
    clean = simulate(_config(days=1, flights_per_day=100))
    faulty = simulate(_config(days=1, flights_per_day=100, faults=True))
    pd.testing.assert_frame_equal(clean.labels, faulty.labels)
    assert faulty.positions.duplicated().sum() > 0
    assert len(faulty.positions) > len(clean.positions)
    lat_jump = faulty.positions.groupby("icao24")["lat"].diff().abs()
    assert (lat_jump > 1.5).sum() > 0
    paths = write_simulation(faulty, tmp_path, "sbs")
    lines = b"".join(p.read_bytes() for p in paths if p.suffix == ".sbs").split(b"\r\n")[:-1]
    assert sum(len(line.split(b",")) != 22 for line in lines) > 0


# --- the command ---------------------------------------------------------------------------


def test_cli_writes_files_and_summarizes(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = [str(out), "--days", "1", "--flights-per-day", "30", "--start-day", "2024-05-01"]
    result = CliRunner().invoke(simulate_command, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["flights"] == 30
    assert (out / "labels.json").exists() and (out / "2024-05-01.csv").exists()
    text = CliRunner().invoke(simulate_command, [*args, "--format", "sbs"])
    assert text.exit_code == 0, text.output
    assert "30 flights" in text.output
    assert (out / "2024-05-01.sbs").exists()


@pytest.mark.parametrize(
    "bad",
    [
        ["--days", "0"],
        ["--lat", "95"],
        ["--timezone", "Nowhere/Land"],
        ["--start-day", "2024-13-40"],
        ["--start-day", "20240501"],
    ],
)
def test_cli_rejects_bad_values_in_one_line(tmp_path: Path, bad: list[str]) -> None:
    # Through the top command, as a user runs it: it turns the core's errors into one line.
    args = ["simulate", str(tmp_path / "x"), "--days", "1", "--flights-per-day", "5", *bad]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:")


def test_cli_help_has_an_example() -> None:
    result = CliRunner().invoke(simulate_command, ["--help"])
    assert result.exit_code == 0
    assert "Example: oddflights simulate ./sim --days 3 --flights-per-day 200" in result.output
