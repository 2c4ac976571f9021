"""The simulated receiver: a seeded world, days of traffic, and the labels of every flight."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa

from oddflights.columns import POSITION_COLUMNS
from oddflights.errors import OddflightsError
from oddflights.simulate import anomalies, days, normal, rare, schedule
from oddflights.simulate.days import DayOverride, DayPlan
from oddflights.simulate.path import Plan
from oddflights.simulate.sampling import Track, add_noise, fault_rows, sample, visible
from oddflights.simulate.world import Airway, World, build_world, to_latlon

# ``variant`` names the rare route a normal flight took (None for the usual routes).
LABEL_COLUMNS = ("icao24", "callsign", "start", "end", "kind", "n_points", "variant")
NORMAL_KINDS = ("overflight", "departure", "arrival")
# Shares of normal traffic; the rest of each airport's traffic splits evenly.
OVERFLIGHT_SHARE = 0.45
# A flight heard for fewer reports than this is not a flight worth labelling.
MIN_POINTS = 20


class SimulationError(OddflightsError, ValueError):
    """A simulation setting is out of range."""


@dataclass(frozen=True)
class SimConfig:
    """What to simulate: where the receiver is, for which days, how busy and how odd."""

    lat: float
    lon: float
    days: int
    flights_per_day: int
    start_day: dt.date
    range_km: float = 200.0
    timezone: str = "UTC"
    seed: int = 0
    anomaly_share: float = 0.02
    faults: bool = False
    # Days that differ as real ones do (runway direction, coverage, weekends, rare routes);
    # off, the simulation is the same, byte for byte, as before the option existed.
    day_variation: bool = False
    # Parts of given days' plans forced (with day_variation), e.g. a day in the reversed
    # runway configuration: {date(2026, 3, 16): DayOverride(runway="reversed")}.
    day_overrides: Mapping[dt.date, DayOverride] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        checks = [
            (-90.0 <= self.lat <= 90.0, f"lat must be within -90..90, not {self.lat}"),
            (-180.0 <= self.lon <= 180.0, f"lon must be within -180..180, not {self.lon}"),
            (10.0 <= self.range_km <= 1000.0, f"range_km must be 10..1000, not {self.range_km}"),
            (self.days >= 1, f"days must be at least 1, not {self.days}"),
            (
                self.flights_per_day >= 1,
                f"flights_per_day must be at least 1, not {self.flights_per_day}",
            ),
            (self.seed >= 0, f"seed must not be negative, not {self.seed}"),
            (
                0.0 <= self.anomaly_share <= 1.0,
                f"anomaly_share must be 0..1, not {self.anomaly_share}",
            ),
        ]
        if self.day_overrides and not self.day_variation:
            checks.append((False, "day_overrides need day_variation"))
        for day, override in self.day_overrides.items():
            checks += [(False, f"day override for {day}: {p}") for p in override.problems()]
        for ok, message in checks:
            if not ok:
                raise SimulationError(message)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SimulationError(f"unknown timezone {self.timezone!r}") from None


@dataclass
class Simulation:
    """Simulated positions (``POSITION_COLUMNS``, sorted by ts), one label per flight and,
    with day variation, the plan of each day and the airway flown on some days only."""

    positions: pd.DataFrame
    labels: pd.DataFrame
    config: SimConfig
    days: list[DayPlan] = field(default_factory=list)
    rare_airway: Airway | None = None


def world_for(config: SimConfig) -> World:
    """The airspace a configuration simulates (the same for every day)."""
    return build_world(config.lat, config.lon, config.range_km, config.seed)


def day_plan(config: SimConfig, day: dt.date) -> DayPlan:
    """The plan of ``day`` (a local calendar day) under ``config``'s seed, place and
    overrides, whether or not ``config`` simulates that day. Cheap: no traffic is flown."""
    return days.draw_day(
        world_for(config),
        config.seed,
        day,
        ZoneInfo(config.timezone),
        config.flights_per_day,
        config.day_overrides.get(day),
    )


def day_plans(config: SimConfig) -> list[DayPlan]:
    """The plan of every day ``config`` simulates (as if ``day_variation`` were on)."""
    return [day_plan(config, config.start_day + dt.timedelta(days=d)) for d in range(config.days)]


def anomaly_counts(config: SimConfig) -> list[int]:
    """How many anomalies each day gets.

    Enough for one of each kind once there are at least 200 flights, so that every kind
    appears in a small test simulation.
    """
    total_flights = config.days * config.flights_per_day
    total = round(config.anomaly_share * total_flights)
    if config.anomaly_share > 0 and total_flights >= 200:
        total = max(total, len(anomalies.KINDS))
    total = min(total, total_flights)
    base, extra = divmod(total, config.days)
    return [base + (1 if d < extra else 0) for d in range(config.days)]


def varied_anomaly_counts(config: SimConfig, flights: list[int]) -> list[int]:
    """How many anomalies each day of ``flights`` flights gets: the same total rule as
    :func:`anomaly_counts`, spread in proportion to each day's traffic."""
    total_flights = sum(flights)
    total = round(config.anomaly_share * total_flights)
    if config.anomaly_share > 0 and total_flights >= 200:
        total = max(total, len(anomalies.KINDS))
    total = min(total, total_flights)
    exact = total * np.asarray(flights, dtype=float) / total_flights
    counts = np.floor(exact).astype(int)
    # largest remainders first; ties go to the earlier day
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return [int(c) for c in np.minimum(counts, flights)]


@dataclass
class _Flight:
    kind: str
    start_ms: int
    callsign: str
    squawk: str
    track: Track
    variant: str | None = None


def _day_flights(
    config: SimConfig, world: World, day: dt.date, n_anomalies: int, first_kind: int
) -> list[_Flight]:
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2, day.toordinal()]))
    zone = ZoneInfo(config.timezone)
    # The wind picks each airport's runway direction for the day.
    headings = [
        ap.runway_heading_deg + (0.0 if rng.random() < 0.7 else 180.0) for ap in world.airports
    ]
    weights = np.array([ap.weight for ap in world.airports])
    n_normal = config.flights_per_day - n_anomalies
    normal_kinds = rng.choice(
        ["overflight", "departure", "arrival"],
        size=n_normal,
        p=[OVERFLIGHT_SHARE, (1 - OVERFLIGHT_SHARE) / 2, (1 - OVERFLIGHT_SHARE) / 2],
    )
    odd = [anomalies.KINDS[(first_kind + i) % len(anomalies.KINDS)] for i in range(n_anomalies)]
    kinds = [str(k) for k in normal_kinds] + odd
    daylight = np.array([k in anomalies.DAYLIGHT_KINDS for k in kinds], dtype=bool)
    starts = schedule.start_times_ms(day, zone, daylight, rng)
    light = np.array([k in {"orbit", "survey", "glider", "helicopter"} for k in kinds])
    airline_calls = schedule.airline_callsigns(len(kinds), rng)
    reg_calls = schedule.registrations(len(kinds), rng)
    codes = schedule.squawks(len(kinds), rng)
    airports = rng.choice(len(world.airports), size=len(kinds), p=weights / weights.sum())

    flights = []
    for i, kind in enumerate(kinds):
        ap = int(airports[i])
        plan: Plan
        if kind == "overflight":
            plan = normal.overflight(world, rng)
        elif kind == "departure":
            plan = normal.departure(world, ap, headings[ap], rng)
        elif kind == "arrival":
            plan = normal.arrival(world, ap, headings[ap], rng)
        else:
            plan = anomalies.build(kind, world, ap, headings[ap], rng, config.seed)
        flights.append(
            _Flight(
                kind="normal" if kind in {"overflight", "departure", "arrival"} else kind,
                start_ms=int(starts[i]),
                callsign=reg_calls[i] if light[i] else airline_calls[i],
                squawk="7000" if light[i] else codes[i],
                track=sample(plan, rng),
            )
        )
    return flights


def _varied_day_flights(
    config: SimConfig,
    world: World,
    plan: DayPlan,
    rare_aw: Airway,
    n_anomalies: int,
    first_kind: int,
) -> list[_Flight]:
    """The flights of one day as ``plan`` has it: its volume, runway directions (by each
    flight's start time) and rare routes."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 8, plan.day.toordinal()]))
    zone = ZoneInfo(config.timezone)
    n_normal = plan.flights - n_anomalies
    normal_kinds = rng.choice(
        list(NORMAL_KINDS),
        size=n_normal,
        p=[OVERFLIGHT_SHARE, (1 - OVERFLIGHT_SHARE) / 2, (1 - OVERFLIGHT_SHARE) / 2],
    )
    odd = [anomalies.KINDS[(first_kind + i) % len(anomalies.KINDS)] for i in range(n_anomalies)]
    kinds = [str(k) for k in normal_kinds] + odd
    # Rare routes take the place of usual flights: the rare airway and diversions of
    # overflights, positioning flights of departures (of any normal flight on a tiny day).
    variants: list[str | None] = [None] * len(kinds)
    for route, source in (
        ("rare_airway", "overflight"),
        ("diversion", "overflight"),
        ("positioning", "departure"),
    ):
        free = [i for i in range(n_normal) if variants[i] is None]
        pool = [i for i in free if kinds[i] == source]
        pool = pool if len(pool) >= plan.rare_routes[route] else free
        n = min(plan.rare_routes[route], len(pool))
        for i in rng.choice(pool, size=n, replace=False) if n else []:
            variants[int(i)] = route

    daylight = np.array([k in anomalies.DAYLIGHT_KINDS for k in kinds], dtype=bool)
    starts = schedule.start_times_ms(plan.day, zone, daylight, rng)
    light = np.array([k in {"orbit", "survey", "glider", "helicopter"} for k in kinds])
    airline_calls = schedule.airline_callsigns(len(kinds), rng)
    reg_calls = schedule.registrations(len(kinds), rng)
    codes = schedule.squawks(len(kinds), rng)
    weights = np.array([ap.weight for ap in world.airports])
    airports = rng.choice(len(world.airports), size=len(kinds), p=weights / weights.sum())
    n_ap = len(world.airports)

    flights = []
    for i, kind in enumerate(kinds):
        ap, start = int(airports[i]), int(starts[i])
        heading = plan.heading_deg(ap, start)
        variant = variants[i]
        plan_: Plan
        if variant == "rare_airway":
            plan_ = normal.along_airway(rare_aw, rng)
        elif variant == "diversion":
            plan_ = rare.diversion(world, ap, heading, rng)
        elif variant == "positioning" and n_ap > 1:
            dest = (ap + 1 + int(rng.integers(n_ap - 1))) % n_ap
            plan_ = rare.positioning(world, ap, dest, heading, plan.heading_deg(dest, start), rng)
        elif kind == "overflight":
            plan_ = normal.overflight(world, rng)
        elif kind == "arrival":
            plan_ = normal.arrival(world, ap, heading, rng)
        elif kind in NORMAL_KINDS:
            plan_ = normal.departure(world, ap, heading, rng)
        else:
            # Off-route anomalies keep clear of the rare airway too: on its days it is a route.
            plan_ = anomalies.build(kind, world, ap, heading, rng, config.seed, (rare_aw,))
        flights.append(
            _Flight(
                kind="normal" if kind in NORMAL_KINDS else kind,
                start_ms=start,
                callsign=reg_calls[i] if light[i] else airline_calls[i],
                squawk="7000" if light[i] else codes[i],
                track=sample(plan_, rng),
                variant=variant,
            )
        )
    return flights


def _geographic(
    x: np.ndarray, y: np.ndarray, heading: np.ndarray, lat0: float, lon0: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latitude, longitude and true course; the plane's north drifts off-centre."""
    lat1, lon1 = to_latlon(x, y, lat0, lon0)
    lat2, lon2 = to_latlon(x + 0.05 * np.sin(heading), y + 0.05 * np.cos(heading), lat0, lon0)
    # Over 50 m a flat-earth bearing is exact enough.
    dx = np.radians((lon2 - lon1 + 180.0) % 360.0 - 180.0) * np.cos(np.radians(lat1))
    track = np.degrees(np.arctan2(dx, np.radians(lat2 - lat1))) % 360.0
    return lat1, lon1, track


def simulate(config: SimConfig) -> Simulation:
    """Simulate ``config.days`` of traffic around the receiver, with labelled anomalies."""
    world = world_for(config)
    flights: list[_Flight] = []
    plans: list[DayPlan] = []
    rare_aw: Airway | None = None
    if config.day_variation:
        plans = day_plans(config)
        rare_aw = rare.rare_airway(world, config.seed)
        counts = varied_anomaly_counts(config, [p.flights for p in plans])
        for d, plan in enumerate(plans):
            flights += _varied_day_flights(config, world, plan, rare_aw, counts[d], sum(counts[:d]))
    else:
        counts = anomaly_counts(config)
        for d in range(config.days):
            day = config.start_day + dt.timedelta(days=d)
            flights += _day_flights(config, world, day, counts[d], sum(counts[:d]))

    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
    addresses = schedule.unique_addresses(rng.integers(0x300000, 0x500000, len(flights)))
    sizes = np.array([f.track.t_ms.size for f in flights], dtype=np.int64)
    owner = np.repeat(np.arange(len(flights)), sizes)

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(f.track, name) for f in flights])

    x, y, alt = cat("x"), cat("y"), cat("altitude_ft")
    keep = visible(x, y, alt, world.edge_km)
    if plans:
        at_ms = np.array([f.start_ms for f in flights], dtype=np.int64)[owner] + cat("t_ms")
        keep &= days.heard(plans, at_ms, x, y, alt, world.edge_km)
    n_kept = np.bincount(owner[keep], minlength=len(flights))
    keep &= (n_kept >= MIN_POINTS)[owner]
    owner, x, y, alt = owner[keep], x[keep], y[keep], alt[keep]
    ts_ms = np.array([f.start_ms for f in flights], dtype=np.int64)[owner] + cat("t_ms")[keep]
    heading, speed = cat("heading")[keep], cat("speed_kt")[keep]
    vrate, onground = cat("vertical_rate_fpm")[keep], cat("onground")[keep]

    lat, lon, track = _geographic(x, y, heading, config.lat, config.lon)
    lat, lon, speed, track, alt, vrate = add_noise(lat, lon, speed, track, alt, vrate, rng)

    labels = _labels(flights, addresses, owner, ts_ms)
    if config.faults:
        dup, jump = fault_rows(owner.size, rng)
        lat = lat.copy()
        lat[jump] += rng.choice([-1.0, 1.0], jump.size) * rng.uniform(2.0, 5.0, jump.size)
        rows = np.sort(np.concatenate([np.arange(owner.size), dup]))
        owner, ts_ms, lat, lon = owner[rows], ts_ms[rows], lat[rows], lon[rows]
        alt, speed, track, vrate, onground = (
            alt[rows],
            speed[rows],
            track[rows],
            vrate[rows],
            onground[rows],
        )

    order = np.argsort(ts_ms, kind="stable")
    o = pa.array(owner[order])
    positions = pd.DataFrame(
        {
            "icao24": _strings(addresses, o),
            "ts": pd.to_datetime(ts_ms[order], unit="ms", utc=True).as_unit("ns"),
            "lat": np.round(lat[order], 6) + 0.0,
            "lon": np.round(lon[order], 6) + 0.0,
            "altitude_ft": alt[order],
            "groundspeed_kt": speed[order],
            "track_deg": track[order],
            "vertical_rate_fpm": vrate[order],
            "callsign": _strings([f.callsign for f in flights], o),
            "squawk": _strings([f.squawk for f in flights], o),
            "onground": onground[order].astype(bool),
        },
        columns=list(POSITION_COLUMNS),
    )
    return Simulation(
        positions=positions, labels=labels, config=config, days=plans, rare_airway=rare_aw
    )


def _strings(values: list[str], index: pa.Array) -> pd.Series:
    """``values[index]`` as a pandas string column, built in Arrow without Python loops."""
    return pd.Series(pa.array(values).take(index), dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _labels(
    flights: list[_Flight], addresses: list[str], owner: np.ndarray, ts_ms: np.ndarray
) -> pd.DataFrame:
    n = np.bincount(owner, minlength=len(flights))
    first = np.full(len(flights), np.iinfo(np.int64).max)
    last = np.full(len(flights), np.iinfo(np.int64).min)
    np.minimum.at(first, owner, ts_ms)
    np.maximum.at(last, owner, ts_ms)
    heard = np.flatnonzero(n > 0)
    labels = pd.DataFrame(
        {
            "icao24": [addresses[i] for i in heard],
            "callsign": [flights[i].callsign for i in heard],
            "start": pd.to_datetime(first[heard], unit="ms", utc=True).as_unit("ns"),
            "end": pd.to_datetime(last[heard], unit="ms", utc=True).as_unit("ns"),
            "kind": [flights[i].kind for i in heard],
            "n_points": n[heard].astype(np.int64),
            "variant": pd.Series([flights[i].variant for i in heard], dtype=object),
        },
        columns=list(LABEL_COLUMNS),
    )
    return labels.sort_values(["start", "icao24"], kind="stable").reset_index(drop=True)
