"""Normal traffic: departures, arrivals and overflights along the world's fixed routes."""

from __future__ import annotations

import numpy as np

from oddflights.simulate.path import PathBuilder, Plan, climb, grid_for, knots, plan_from, reverse
from oddflights.simulate.world import Airway, World, unit

# Turn radii (km): at the speeds flown there these keep turns at or below ~2.5 °/s.
LOW_TURN_KM = 3.5
HIGH_TURN_KM = 6.0
# Glideslope: 3 degrees is about 172 ft per km.
GLIDESLOPE_FT_PER_KM = 172.0
ROLL_KM = 1.8  # take-off roll
ROLLOUT_KM = 1.5  # landing roll


def _lateral(rng: np.random.Generator) -> float:
    """Per-flight lateral offset (km) from the route centre line."""
    return float(np.clip(rng.normal(0.0, 0.8), -2.0, 2.0))


def cruise(rng: np.random.Generator) -> tuple[float, float]:
    """A cruise level (ft) and ground speed (kt)."""
    return float(rng.integers(30, 41) * 1000), float(rng.uniform(420, 490))


def overflight(world: World, rng: np.random.Generator) -> Plan:
    """A straight crossing along one airway at a cruise level."""
    return along_airway(world.airways[int(rng.integers(len(world.airways)))], rng)


def along_airway(aw: Airway, rng: np.random.Generator) -> Plan:
    """A straight crossing along ``aw``, either way, at a cruise level."""
    off = _lateral(rng)
    a, b = aw.point(0.0, off), aw.point(aw.length, off)
    if rng.random() < 0.5:
        a, b = b, a
    level, speed = cruise(rng)
    d = b - a
    builder = PathBuilder(float(a[0]), float(a[1]), float(np.degrees(np.arctan2(d[0], d[1]))))
    x, y, s = builder.to_point(b, HIGH_TURN_KM).polyline()
    grid = grid_for(s[-1])
    return plan_from(x, y, s, np.full(grid.shape, speed), np.full(grid.shape, level))


def departure(world: World, airport: int, heading_deg: float, rng: np.random.Generator) -> Plan:
    """Take-off roll, climb-out on the runway heading, then onto an airway and out."""
    ap = world.airports[airport]
    j = int(rng.integers(len(world.airways)))
    aw = world.airways[j]
    outbound = 1 if rng.random() < 0.5 else -1
    off = _lateral(rng)
    join = aw.point(world.route_t(airport, j, outbound), off)
    exit_ = aw.point(aw.length if outbound > 0 else 0.0, off)
    thr = ap.threshold(heading_deg)
    b = PathBuilder(float(thr[0]), float(thr[1]), heading_deg)
    b.straight(ROLL_KM).straight(rng.uniform(8.0, 11.0))
    b.to_point(join, LOW_TURN_KM).to_point(exit_, HIGH_TURN_KM)
    x, y, s = b.polyline()

    level, speed = cruise(rng)
    lift = ROLL_KM
    grid = grid_for(s[-1])
    sp = knots(
        grid,
        [
            (0.0, 20.0),
            (lift, rng.uniform(150, 165)),
            (lift + 8, 210.0),
            (lift + 30, 250.0),
            (lift + 60, 300.0),
            (lift + 140, speed),
        ],
    )
    climbed = climb(grid, sp, 0.0, rng.uniform(1800, 2800))
    climbed = np.clip(climbed - np.interp(lift, grid, climbed), 0.0, None)
    alt = np.minimum(ap.elevation_ft + climbed, level)
    return plan_from(x, y, s, sp, alt, ground=((0.0, lift),))


def approach_altitude(
    grid: np.ndarray,
    to_go: np.ndarray,
    elevation_ft: float,
    level_ft: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Altitude by distance to touchdown: glideslope, a level stretch, then a steady descent."""
    gs_top = 3000.0
    d_gs = (gs_top - 50.0) / GLIDESLOPE_FT_PER_KM
    level_km = rng.uniform(0.0, 8.0)
    gradient = rng.uniform(170.0, 210.0)  # ft per km: ≤ ~3,100 ft/min at 490 kt
    agl = np.where(
        to_go <= d_gs,
        50.0 + GLIDESLOPE_FT_PER_KM * to_go,
        gs_top + gradient * np.maximum(to_go - d_gs - level_km, 0.0),
    )
    return np.where(to_go <= 0, elevation_ft, np.minimum(elevation_ft + agl, level_ft))


def arrival_path(
    world: World,
    airport: int,
    heading_deg: float,
    rng: np.random.Generator,
    hold_laps: int = 0,
    stop_before_km: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, tuple[float, float] | None]:
    """The polyline of an arrival, built backwards from the runway.

    Returns ``x, y, s``, the distance along it of touchdown and, with ``hold_laps``, the
    stretch (km from the start) flown in the holding pattern. With ``stop_before_km`` the
    path ends that far before touchdown (for a go-around) instead of on the runway.
    """
    ap = world.airports[airport]
    j = int(rng.integers(len(world.airways)))
    aw = world.airways[j]
    travel = 1 if rng.random() < 0.5 else -1  # +1: enters at the airway's a end
    off = _lateral(rng)
    leave = aw.point(world.route_t(airport, j, -travel), off)
    entry = aw.point(0.0 if travel > 0 else aw.length, off)

    td = ap.threshold(heading_deg) + 0.3 * unit(heading_deg)
    back = heading_deg + 180.0
    if stop_before_km is None:
        start, tail = td + ROLLOUT_KM * unit(heading_deg), ROLLOUT_KM
    else:
        start, tail = td - stop_before_km * unit(heading_deg), -stop_before_km
    b = PathBuilder(float(start[0]), float(start[1]), back)
    b.straight(tail + rng.uniform(14.0, 20.0)).to_point(leave, LOW_TURN_KM)
    hold = None
    if hold_laps:
        # Built backwards, so the pattern is flown in the opposite sense; still a racetrack.
        h0 = b.s
        direction = 1 if rng.random() < 0.5 else -1
        leg = rng.uniform(6.0, 9.0)
        for _ in range(hold_laps):
            b.arc(180, direction, 2.5).straight(leg).arc(180, direction, 2.5).straight(leg)
        hold = (h0, b.s)
    b.to_point(entry, HIGH_TURN_KM)
    x, y, s = reverse(*b.polyline())
    length = float(s[-1])
    if hold is not None:
        hold = (length - hold[1], length - hold[0])
    return x, y, s, length - tail, hold


def to_go_km(
    grid: np.ndarray, s_td: float, level_stretches: list[tuple[float, float]]
) -> np.ndarray:
    """Distance to touchdown along the path, not counting stretches flown level (holds)."""
    d = s_td - grid
    for a, b in level_stretches:
        d = d - np.clip(b - np.maximum(grid, a), 0.0, b - a)
    return d


def arrival(world: World, airport: int, heading_deg: float, rng: np.random.Generator) -> Plan:
    """In along an airway, descend, line up with the runway and land."""
    ap = world.airports[airport]
    x, y, s, s_td, _ = arrival_path(world, airport, heading_deg, rng)
    level, speed = cruise(rng)
    grid = grid_for(s[-1])
    to_go = to_go_km(grid, s_td, [])
    alt = approach_altitude(grid, to_go, ap.elevation_ft, level, rng)
    sp = speed_by_to_go(to_go, speed, rng)
    return plan_from(x, y, s, sp, alt, ground=((s_td, s[-1]),))


def speed_by_to_go(to_go: np.ndarray, cruise_kt: float, rng: np.random.Generator) -> np.ndarray:
    """Speed (kt) by distance to touchdown: cruise, slowing to 130–160 kt on final."""
    d = np.array([-ROLLOUT_KM, 0.0, 8.0, 18.0, 40.0, 90.0, 160.0])
    v = [30.0, rng.uniform(130, 145), rng.uniform(145, 160), 190.0, 250.0, 290.0, cruise_kt]
    return np.interp(to_go, d, np.array(v))
