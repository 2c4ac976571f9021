"""Rare but normal routes: an airway used on some days only, diversions, positioning flights.

None of these is an anomaly: a receiver owner sees them every few days and would not want
to be told about them. They are what makes one normal day differ from the next.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from oddflights.simulate.normal import (
    HIGH_TURN_KM,
    LOW_TURN_KM,
    ROLL_KM,
    ROLLOUT_KM,
    approach_altitude,
    cruise,
    speed_by_to_go,
)
from oddflights.simulate.path import PathBuilder, Plan, climb, grid_for, knots, plan_from, reverse
from oddflights.simulate.world import Airway, World, clearance_km, unit

# The rare airway is the best of this many random chords: the one that runs farthest from
# the usual routes, so that its traffic draws a line the usual days never draw.
_AIRWAY_TRIES = 40
# How far apart (km) from the usual routes a point of the rare airway counts as "away".
_AWAY_KM = 15.0


def _place(world: World) -> list[int]:
    return [
        round((world.lat + 90.0) * 1e4),
        round((world.lon + 180.0) * 1e4),
        round(world.range_km * 10),
    ]


@lru_cache(maxsize=8)
def rare_airway(world: World, seed: int) -> Airway:
    """The airway of ``world`` that is flown on some days only (fixed by seed and place)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, *_place(world)]))
    segs = world.route_segments()
    edge = world.edge_km
    best: tuple[float, Airway] | None = None
    for _ in range(_AIRWAY_TRIES):
        d, n = unit(rng.uniform(0.0, 180.0)), unit(rng.uniform(0.0, 360.0))
        offset = rng.uniform(0.0, 0.6) * edge
        half = np.sqrt(edge**2 - offset**2)
        a, b = offset * n - half * d, offset * n + half * d
        t = np.linspace(0.0, 1.0, 60)
        px, py = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        away = float(np.mean(clearance_km(px, py, segs) >= _AWAY_KM))
        if best is None or away > best[0]:
            best = (away, Airway("R1", (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))))
    assert best is not None
    return best[1]


def _final_approach(
    world: World, airport: int, heading_deg: float, rng: np.random.Generator
) -> tuple[PathBuilder, float]:
    """A builder flying backwards from the end of the landing roll along the final approach,
    and the distance from the path's end back to touchdown."""
    ap = world.airports[airport]
    td = ap.threshold(heading_deg) + 0.3 * unit(heading_deg)
    start = td + ROLLOUT_KM * unit(heading_deg)
    b = PathBuilder(float(start[0]), float(start[1]), heading_deg + 180.0)
    b.straight(ROLLOUT_KM + rng.uniform(14.0, 20.0))
    return b, ROLLOUT_KM


def diversion(world: World, airport: int, heading_deg: float, rng: np.random.Generator) -> Plan:
    """A flight passing along an airway that turns back and lands at ``airport``.

    Usual arrivals leave their airway before they pass abeam the airport; a diverting flight
    was not going there, so it leaves 20–60 km past abeam and comes back.
    """
    ap = world.airports[airport]
    aw = world.airways[int(rng.integers(len(world.airways)))]
    travel = 1 if rng.random() < 0.5 else -1  # +1: enters at the airway's a end
    off = float(np.clip(rng.normal(0.0, 0.8), -2.0, 2.0))
    t_leave = aw.along(ap.position) + travel * rng.uniform(20.0, 60.0)
    t_leave = float(np.clip(t_leave, 20.0, aw.length - 20.0))
    entry = aw.point(0.0 if travel > 0 else aw.length, off)

    b, tail = _final_approach(world, airport, heading_deg, rng)
    b.to_point(aw.point(t_leave, off), LOW_TURN_KM).to_point(entry, HIGH_TURN_KM)
    x, y, s = reverse(*b.polyline())
    s_td = float(s[-1]) - tail
    level, speed = cruise(rng)
    grid = grid_for(s[-1])
    to_go = s_td - grid
    alt = approach_altitude(grid, to_go, ap.elevation_ft, level, rng)
    sp = speed_by_to_go(to_go, speed, rng)
    return plan_from(x, y, s, sp, alt, ground=((s_td, float(s[-1])),))


def positioning(
    world: World,
    origin: int,
    destination: int,
    origin_heading_deg: float,
    destination_heading_deg: float,
    rng: np.random.Generator,
) -> Plan:
    """An airliner flown empty from one airport of the frame to another, low and direct.

    It takes off like a departure, levels at 6,000–12,000 ft instead of joining an airway,
    and intercepts the destination's final approach in two steps so that it lands straight.
    """
    a, z = world.airports[origin], world.airports[destination]
    thr = a.threshold(origin_heading_deg)
    h = destination_heading_deg
    td = z.threshold(h) + 0.3 * unit(h)
    b = PathBuilder(float(thr[0]), float(thr[1]), origin_heading_deg)
    b.straight(ROLL_KM).straight(rng.uniform(8.0, 11.0))
    for out_km in (rng.uniform(26.0, 32.0), rng.uniform(15.0, 18.0)):
        b.to_point(td - out_km * unit(h), LOW_TURN_KM)
    b.to_point(td + ROLLOUT_KM * unit(h), LOW_TURN_KM)
    x, y, s = b.polyline()
    s_td = float(s[-1]) - ROLLOUT_KM

    level = float(round(rng.uniform(6000.0, 12000.0), -3))
    grid = grid_for(s[-1])
    to_go = s_td - grid
    # Accelerates as a departure does, slows as an arrival does, whichever is slower.
    out = knots(
        grid,
        [
            (0.0, 20.0),
            (ROLL_KM, rng.uniform(150, 165)),
            (ROLL_KM + 8, 210.0),
            (ROLL_KM + 25, 250.0),
        ],
    )
    sp = np.minimum(out, speed_by_to_go(to_go, 250.0, rng))
    climbed = climb(grid, sp, 0.0, rng.uniform(1800, 2500))
    climbed = np.clip(climbed - np.interp(ROLL_KM, grid, climbed), 0.0, None)
    descent = approach_altitude(grid, to_go, z.elevation_ft, level, rng)
    alt = np.minimum(a.elevation_ft + climbed, descent)
    return plan_from(x, y, s, sp, alt, ground=((0.0, ROLL_KM), (s_td, float(s[-1]))))
