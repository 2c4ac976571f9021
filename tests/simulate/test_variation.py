"""Day-to-day variation of the simulated receiver: present, as frequent as asked, labelled.

Runway direction flips, outages, blocked sectors and shorter range, thinner weekends, and rare
but normal routes; all seeded, and none of it when ``day_variation`` is off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from oddflights.cli.simulate import simulate as simulate_command
from oddflights.simulate import (
    RARE_ROUTES,
    DayOverride,
    DayPlan,
    SimConfig,
    Simulation,
    SimulationError,
    day_plan,
    day_plans,
    read_labels,
    simulate,
    world_for,
    write_simulation,
)
from oddflights.simulate.world import World, clearance_km, to_xy

ZONE = "Europe/Amsterdam"
DAY = dt.date(2024, 5, 1)  # a Wednesday
# A weekday forced to change runway direction during the day (and kept free of outages, so
# that every flight around the change is heard).
CHANGE_DAY = dt.date(2024, 5, 7)


def _config(**changes: object) -> SimConfig:
    base: dict[str, object] = dict(
        lat=52.0,
        lon=4.5,
        days=20,
        flights_per_day=40,
        start_day=DAY,
        seed=7,
        timezone=ZONE,
        day_variation=True,
        day_overrides={CHANGE_DAY: DayOverride(runway="usual_then_reversed", outage=False)},
    )
    base.update(changes)
    return SimConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def varied() -> Simulation:
    """20 days of 40 flights (28 on weekends), with every kind of variation."""
    return simulate(_config())


@pytest.fixture(scope="module")
def world() -> World:
    return world_for(_config())


def _ms(t: dt.datetime) -> int:
    return round(t.timestamp() * 1000)


def _ts_ms(positions: pd.DataFrame) -> np.ndarray:
    return np.asarray(positions["ts"].to_numpy("datetime64[ms]").astype(np.int64))


def _xy(positions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return to_xy(positions["lat"].to_numpy(), positions["lon"].to_numpy(), 52.0, 4.5)


def _during(positions: pd.DataFrame, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    ms = _ts_ms(positions)
    return positions[(ms >= _ms(start)) & (ms < _ms(end))]


def _wrap(deg: np.ndarray | float) -> np.ndarray:
    return (np.asarray(deg) + 180.0) % 360.0 - 180.0


# --- off: today's simulator, byte for byte ----------------------------------------------------

# sha256 over (name, bytes) of every file written for the configuration below, by the simulator
# as it was before day variation existed (commit of issue 14's start). Off, nothing may change.
_TODAY = {
    "table": "5c37e0755011cfa2694bdaf41a5430dca3ff42a5c9a67369fd9ee2a5c4a1f6d2",
    "sbs": "137a64bfeda5a71b34c418488af58f7f024ea814d6d3ccb60a827bdbc041d4fa",
}


@pytest.mark.parametrize("fmt", ["table", "sbs"])
def test_without_day_variation_files_are_todays_byte_for_byte(tmp_path: Path, fmt: str) -> None:
    cfg = SimConfig(
        lat=52.0,
        lon=4.5,
        days=2,
        flights_per_day=30,
        start_day=dt.date(2024, 5, 3),
        seed=11,
        timezone=ZONE,
        faults=fmt == "sbs",
    )
    assert cfg.day_variation is False  # off unless asked for
    sim = simulate(cfg)
    assert sim.days == [] and sim.rare_airway is None
    digest = hashlib.sha256()
    for path in write_simulation(sim, tmp_path, fmt):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    assert digest.hexdigest() == _TODAY[fmt]


# --- the plans: frequencies, independence, overrides ----------------------------------------


def test_day_plans_come_as_often_as_asked() -> None:
    plans = day_plans(_config(days=400, day_overrides={}))
    share = lambda pred: np.mean([pred(p) for p in plans])  # noqa: E731
    assert 0.22 <= share(lambda p: p.flipped) <= 0.38  # ~30 %
    mid_day = share(lambda p: p.change_at is not None) / share(lambda p: p.flipped)
    assert 0.2 <= mid_day <= 0.5  # "sometimes mid-day": a third of flips
    assert 0.13 <= share(lambda p: p.outage is not None) <= 0.27
    assert 0.05 <= share(lambda p: p.coverage == "blocked_sector") <= 0.15
    assert 0.05 <= share(lambda p: p.coverage == "reduced_range") <= 0.15
    for route, expected in (("rare_airway", 0.25), ("diversion", 0.3), ("positioning", 0.3)):
        assert abs(share(lambda p, r=route: p.rare_routes[r] > 0) - expected) <= 0.08
    for p in plans:
        assert p.weekend == (p.day.weekday() >= 5)
        assert p.flights == (28 if p.weekend else 40)
        if p.outage:
            minutes = (p.outage[1] - p.outage[0]).total_seconds() / 60
            assert 50 <= minutes <= 70
            assert p.start <= p.outage[0] and p.outage[1] <= p.end
        if p.change_at:
            assert p.start < p.change_at < p.end
        assert p.heard_km == pytest.approx(260.0 * (0.7 if p.coverage == "reduced_range" else 1))


def test_a_days_plan_depends_on_seed_and_date_only() -> None:
    long_run = day_plans(_config(day_overrides={}))
    later = day_plans(_config(days=3, start_day=DAY + dt.timedelta(days=10), day_overrides={}))
    assert later == long_run[10:13]
    busier = day_plan(_config(flights_per_day=400, day_overrides={}), DAY + dt.timedelta(days=4))
    assert (
        dataclasses.replace(busier, flights=28, rare_routes=long_run[4].rare_routes)
        == (long_run[4])
    )
    other_seed = day_plans(_config(seed=8, day_overrides={}))
    assert [p.runway for p in other_seed] != [p.runway for p in long_run] or [
        p.outage for p in other_seed
    ] != [p.outage for p in long_run]


def test_an_override_forces_what_it_names_and_nothing_else() -> None:
    drawn = {p.day: p for p in day_plans(_config(day_overrides={}))}
    overrides = {
        d: DayOverride(runway="reversed", coverage="blocked_sector", outage=True, rare_routes=())
        for d in drawn
    }
    for p in day_plans(_config(day_overrides=overrides)):
        was = drawn[p.day]
        assert p.runway == "reversed" and p.change_at is None
        assert p.coverage == "blocked_sector" and p.blocked_sector_deg is not None
        assert p.outage is not None
        assert not any(p.rare_routes.values())
        assert (p.weekend, p.flights, p.usual_heading_deg) == (
            was.weekend,
            was.flights,
            was.usual_heading_deg,
        )
        if was.outage is not None:
            assert p.outage == was.outage  # the drawn window, not a new one
    plan = day_plan(_config(day_overrides={DAY: DayOverride.ordinary()}), DAY)
    assert plan.ordinary and not plan.flipped and not plan.coverage_changed


@pytest.mark.parametrize(
    "changes",
    [
        dict(day_variation=False),  # overrides without variation
        dict(day_overrides={DAY: DayOverride(runway="sideways")}),
        dict(day_overrides={DAY: DayOverride(coverage="none")}),
        dict(day_overrides={DAY: DayOverride(rare_routes=("teleport",))}),
    ],
)
def test_bad_overrides_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(SimulationError):
        _config(**changes)


# --- present and labelled ---------------------------------------------------------------------


def test_every_kind_of_variation_is_present_and_labelled(
    varied: Simulation, tmp_path: Path
) -> None:
    write_simulation(varied, tmp_path)
    doc = json.loads((tmp_path / "labels.json").read_text())
    assert set(doc) == {"flights", "days", "rare_airway"}
    days = doc["days"]
    assert [d["date"] for d in days] == [
        (DAY + dt.timedelta(days=i)).isoformat() for i in range(20)
    ]
    assert days == [p.to_json() for p in varied.days]
    assert len(doc["flights"]) == len(varied.labels)
    assert {"icao24", "kind", "start", "end", "n_points", "variant"} <= set(doc["flights"][0])

    flipped = [d for d in days if d["runway"] != "usual"]
    assert 0.1 <= len(flipped) / len(days) <= 0.5
    assert any(d["runway"] == "reversed" for d in days)
    change = next(d for d in days if d["date"] == CHANGE_DAY.isoformat())
    assert change["runway"] == "usual_then_reversed" and change["runway_change_at"]
    for rw in change["runways"]:
        assert rw["heading_after_change_deg"] == (rw["heading_deg"] + 180) % 360
    assert any(d["outage"] for d in days)
    assert any(d["blocked_sector"] for d in days)
    assert any(d["range_factor"] == 0.7 for d in days)
    assert {d["weekend"] for d in days} == {True, False}
    for route in RARE_ROUTES:
        assert any(d["rare_routes"][route] for d in days)
        taken = [f for f in doc["flights"] if f["variant"] == route]
        assert taken and all(f["kind"] == "normal" for f in taken)
        on = {d["date"] for d in days if d["rare_routes"][route]}
        local = pd.to_datetime([f["start"] for f in taken], utc=True).tz_convert(ZONE).date
        # first heard just after local midnight is the only way to fall on the next day
        next_days = {(dt.date.fromisoformat(d) + dt.timedelta(days=1)).isoformat() for d in on}
        assert {d.isoformat() for d in local} <= on | next_days

    read, plans = read_labels(tmp_path / "labels.json")
    assert plans == days
    cols = ["icao24", "callsign", "start", "end", "kind", "n_points"]
    pd.testing.assert_frame_equal(read[cols], varied.labels[cols], check_dtype=False)
    assert read["variant"].fillna("-").tolist() == varied.labels["variant"].fillna("-").tolist()


def test_weekends_are_about_thirty_percent_thinner(varied: Simulation) -> None:
    local_day = varied.labels["start"].dt.tz_convert(ZONE).dt.date
    per_day = local_day.value_counts()
    weekend = [p.day for p in varied.days if p.weekend]
    weekday = [p.day for p in varied.days if not p.weekend]
    assert len(weekend) == 6 and len(weekday) == 14
    ratio = per_day.reindex(weekend).mean() / per_day.reindex(weekday).mean()
    assert 0.6 <= ratio <= 0.8


def test_an_outage_hour_has_no_positions(varied: Simulation) -> None:
    outages = [p.outage for p in varied.days if p.outage]
    assert outages
    for start, end in outages:
        assert 50 <= (end - start).total_seconds() / 60 <= 70
        assert _during(varied.positions, start, end).empty


def test_an_outage_cuts_the_traffic_that_was_there() -> None:
    """The same day with and without its outage: only the outage hour differs."""
    day = next(p for p in day_plans(_config(day_overrides={})) if p.outage and not p.weekend)
    assert day.outage is not None
    start, end = day.outage
    cut = simulate(_config(days=1, start_day=day.day, day_overrides={}))
    kept = simulate(
        _config(days=1, start_day=day.day, day_overrides={day.day: DayOverride(outage=False)})
    )
    assert _during(cut.positions, start, end).empty
    assert len(_during(kept.positions, start, end)) > 1000
    key = ["icao24", "ts"]
    ms = _ts_ms(kept.positions)
    outside = kept.positions[(ms < _ms(start)) | (ms >= _ms(end))][key]
    both = cut.positions[key].merge(outside, on=key, how="outer", indicator=True)
    assert (both["_merge"] != "left_only").all()  # nothing new
    # whatever else is missing belongs to flights left with too few reports to label
    assert (both["_merge"] == "both").mean() > 0.97
    assert len(cut.labels) <= len(kept.labels)


def _azimuth(positions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x, y = _xy(positions)
    return np.degrees(np.arctan2(x, y)) % 360.0, np.hypot(x, y)


def test_a_blocked_sector_has_no_positions(varied: Simulation) -> None:
    blocked = [p for p in varied.days if p.blocked_sector_deg]
    assert blocked
    for p in blocked:
        assert p.blocked_sector_deg is not None
        s0, s1 = p.blocked_sector_deg
        width = (s1 - s0) % 360.0
        assert 40 <= width <= 90

        def inside(
            az: np.ndarray, dist: np.ndarray, s0: float = s0, w: float = width
        ) -> np.ndarray:
            # half a degree in from the edges, past the first 5 km: position noise is ~15 m
            return (((az - s0 - 0.5) % 360.0) < w - 1.0) & (dist > 5.0)

        day = _during(varied.positions, p.start, p.end)
        assert len(day) > 10_000
        assert not inside(*_azimuth(day)).any()
        others = [q for q in varied.days if q is not p and q.coverage == "full"]
        other = pd.concat([_during(varied.positions, q.start, q.end) for q in others])
        assert inside(*_azimuth(other)).sum() > 1000  # the sector is covered on other days


def test_reduced_range_hears_nothing_beyond_seventy_percent(varied: Simulation) -> None:
    reduced = [p for p in varied.days if p.range_factor < 1.0]
    assert reduced
    full = pd.concat(
        [_during(varied.positions, q.start, q.end) for q in varied.days if q.range_factor == 1]
    )
    usual_km = _azimuth(full)[1].max()
    assert usual_km > 240.0
    for p in reduced:
        assert p.range_factor == 0.7 and p.heard_km == pytest.approx(0.7 * 260.0)
        dist = _azimuth(_during(varied.positions, p.start, p.end))[1]
        assert dist.size > 10_000
        assert dist.max() <= p.heard_km + 0.2
        assert dist.max() > 0.9 * p.heard_km  # cut at the new range, not far inside it


def _low_tracks(sim: Simulation, world: World) -> list[tuple[pd.Series, DayPlan, int, float, int]]:
    """For each normal flight low near an airport: its label, day plan, airport, median
    track there (on the climb-out or the final approach) and start time (ms)."""
    plans = {p.day: p for p in sim.days}
    groups = dict(tuple(sim.positions.groupby("icao24", sort=False)))
    out = []
    for _, row in sim.labels[sim.labels["kind"] == "normal"].iterrows():
        plan = plans.get(row["start"].tz_convert(ZONE).date())
        if plan is None:
            continue
        f = groups[row["icao24"]]
        x, y = _xy(f)
        alt, trk = f["altitude_ft"].to_numpy(), f["track_deg"].to_numpy()
        for i, ap in enumerate(world.airports):
            low = ~f["onground"].to_numpy()
            low &= (np.hypot(x - ap.x, y - ap.y) < 8.0) & (alt < ap.elevation_ft + 1200)
            if low.sum() >= 5:
                ref = trk[low][0]
                median = float((ref + np.median(_wrap(trk[low] - ref))) % 360.0)
                out.append((row, plan, i, median, row["start"].value // 1_000_000))
    return out


def test_runways_are_used_the_way_the_day_says(varied: Simulation, world: World) -> None:
    """Take-offs and final approaches line up with the direction in use at the flight's
    start; on flipped days arrivals come in from the opposite side."""
    lows = _low_tracks(varied, world)
    assert len(lows) > 200
    reversed_ = 0
    for row, plan, i, track, start_ms in lows:
        expected = plan.heading_deg(i, start_ms)
        assert abs(_wrap(track - expected)) < 6.0, (row["icao24"], row["variant"], plan.day)
        usual = world.airports[i].runway_heading_deg
        if abs(_wrap(track - usual - 180.0)) < 6.0:
            reversed_ += 1
    assert 0.1 * len(lows) <= reversed_ <= 0.5 * len(lows)

    # The day that changes: before the change the usual direction, after it the other one.
    change = next(p for p in varied.days if p.day == CHANGE_DAY)
    assert change.change_at is not None
    before = after = 0
    for row, plan, i, track, _ in lows:
        if plan is not change:
            continue
        flips = abs(_wrap(track - world.airports[i].runway_heading_deg)) > 90.0
        if row["end"] < change.change_at:
            assert not flips
            before += 1
        elif row["start"] > change.change_at + dt.timedelta(minutes=30):
            assert flips
            after += 1
    assert before >= 3 and after >= 3


def test_rare_routes_fly_where_they_should(varied: Simulation, world: World) -> None:
    aw = varied.rare_airway
    assert aw is not None
    segs = [(np.asarray(aw.a), np.asarray(aw.b))]
    usual = world.route_segments()
    groups = dict(tuple(varied.positions.groupby("icao24", sort=False)))

    def flights(variant: str) -> list[pd.DataFrame]:
        icaos = varied.labels.loc[varied.labels["variant"] == variant, "icao24"]
        return [groups[i] for i in icaos]

    for f in flights("rare_airway"):
        x, y = _xy(f)
        assert np.quantile(clearance_km(x, y, segs), 0.95) < 3.0
        assert f["altitude_ft"].min() >= 28_000
    # The rare airway draws a line the usual routes do not.
    t = np.linspace(0.0, 1.0, 200)
    px, py = aw.a[0] + t * (aw.b[0] - aw.a[0]), aw.a[1] + t * (aw.b[1] - aw.a[1])
    assert np.mean(clearance_km(px, py, usual) > 15.0) > 0.5

    near = [
        lambda x, y, ap=ap: np.hypot(x - ap.x, y - ap.y) < 8.0 for ap in world.airports
    ]  # fmt: skip
    for f in flights("diversion"):
        x, y = _xy(f)
        end = slice(-30, None)
        assert any(n(x[end], y[end]).all() for n in near)  # it lands at an airport
        assert f["altitude_ft"].max() >= 25_000  # from cruise
    for f in flights("positioning"):
        x, y = _xy(f)
        first = [i for i, n in enumerate(near) if n(x[:30], y[:30]).all()]
        last = [i for i, n in enumerate(near) if n(x[-30:], y[-30:]).all()]
        assert first and last and first != last  # from one airport to another
        assert f["altitude_ft"].max() <= 12_100

    # Physically plausible, as every normal flight is.
    for variant in RARE_ROUTES:
        for f in flights(variant):
            air = f[~f["onground"]]
            assert air["groundspeed_kt"].between(100, 500).all()
            assert air["vertical_rate_fpm"].abs().max() <= 4_100
            t_s = (air["ts"] - air["ts"].iloc[0]).dt.total_seconds().to_numpy()
            trk = air["track_deg"].to_numpy()
            ok = (t_s[5:] - t_s[:-5]) <= 10.0
            rate = _wrap(trk[5:] - trk[:-5]) / np.maximum(t_s[5:] - t_s[:-5], 1e-9)
            assert np.abs(rate[ok]).max(initial=0.0) <= 3.3


def test_off_route_anomalies_keep_clear_of_the_rare_airway(varied: Simulation) -> None:
    aw = varied.rare_airway
    assert aw is not None
    segs = [(np.asarray(aw.a), np.asarray(aw.b))]
    icaos = set(varied.labels.loc[varied.labels["kind"] == "off_route", "icao24"])
    assert icaos
    off = varied.positions[varied.positions["icao24"].isin(icaos)]
    assert clearance_km(*_xy(off), segs).min() > 15.0


# --- determinism and the command --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "sbs"])
def test_same_seed_gives_identical_varied_files(tmp_path: Path, fmt: str) -> None:
    def files(out: Path, **changes: object) -> dict[str, bytes]:
        cfg = _config(days=3, flights_per_day=20, faults=True, **changes)
        return {p.name: p.read_bytes() for p in write_simulation(simulate(cfg), out, fmt)}

    first, again = files(tmp_path / "a"), files(tmp_path / "b")
    assert first == again
    other = files(tmp_path / "c", seed=8)
    assert json.loads(first["labels.json"])["days"] != json.loads(other["labels.json"])["days"]


def test_cli_day_variation_flag(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = [str(out), "--days", "7", "--flights-per-day", "20", "--start-day", "2024-05-01"]
    result = CliRunner().invoke(simulate_command, [*args, "--day-variation", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["day_variation"] is True
    assert summary["varied_days"]["weekend"] == 2
    labels = json.loads((out / "labels.json").read_text())
    assert len(labels["days"]) == 7 and len(labels["flights"]) == summary["flights"]
    plain = CliRunner().invoke(simulate_command, [str(tmp_path / "plain"), *args[1:], "--json"])
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.output)["day_variation"] is False
    assert isinstance(json.loads((tmp_path / "plain" / "labels.json").read_text()), list)
    read, plans = read_labels(tmp_path / "plain" / "labels.json")  # either shape reads
    assert len(read) == json.loads(plain.output)["flights"] and plans == []
    assert read["variant"].isna().all()
