"""Labelled odd flights: holding, orbit, survey, glider, go-around, off-route, helicopter."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from oddflights.simulate.normal import (
    GLIDESLOPE_FT_PER_KM,
    ROLLOUT_KM,
    approach_altitude,
    arrival_path,
    cruise,
    speed_by_to_go,
    to_go_km,
)
from oddflights.simulate.path import PathBuilder, Plan, grid_for, knots, plan_from
from oddflights.simulate.world import Airway, World, clearance_km, unit

KINDS: tuple[str, ...] = (
    "holding",
    "orbit",
    "survey",
    "glider",
    "go_around",
    "off_route",
    "helicopter",
)
# Kinds flown in daylight only (local time); the others follow the normal daily rhythm.
DAYLIGHT_KINDS = frozenset({"survey", "glider", "helicopter"})
# How far (km) an off-route flight keeps from every airway and airport path.
OFF_ROUTE_CLEARANCE_KM = 22.0


def _spot(world: World, rng: np.random.Generator, max_km: float) -> np.ndarray:
    """A random point within ``max_km`` of the receiver (low flights must stay in view)."""
    r = min(max_km, 0.5 * world.range_km) * np.sqrt(rng.uniform(0.05, 1.0))
    return np.asarray(r * unit(rng.uniform(0, 360)))


def _away(p: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return np.asarray(p + rng.uniform(lo, hi) * unit(rng.uniform(0, 360)))


def _heading(a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    return float(np.degrees(np.arctan2(d[0], d[1])))


def _constant(x: np.ndarray, y: np.ndarray, s: np.ndarray, speed: float, alt: float) -> Plan:
    grid = grid_for(s[-1])
    return plan_from(x, y, s, np.full(grid.shape, speed), np.full(grid.shape, alt))


def holding(world: World, airport: int, heading_deg: float, rng: np.random.Generator) -> Plan:
    """An arrival that flies 3–5 racetrack laps at its holding fix before landing."""
    ap = world.airports[airport]
    x, y, s, s_td, hold = arrival_path(
        world, airport, heading_deg, rng, hold_laps=int(rng.integers(3, 6))
    )
    assert hold is not None
    level, speed = cruise(rng)
    grid = grid_for(s[-1])
    to_go = to_go_km(grid, s_td, [hold])
    alt = approach_altitude(grid, to_go, ap.elevation_ft, level, rng)
    sp = speed_by_to_go(to_go, speed, rng)
    in_hold = (grid >= hold[0]) & (grid <= hold[1])
    sp = np.where(in_hold, np.minimum(sp, 230.0), sp)
    return plan_from(x, y, s, sp, alt, ground=((s_td, s[-1]),))


def go_around(world: World, airport: int, heading_deg: float, rng: np.random.Generator) -> Plan:
    """An approach abandoned 1.5 km short of the runway, a circuit, and a second approach."""
    ap = world.airports[airport]
    short = 1.5
    x1, y1, s1, s_td1, _ = arrival_path(world, airport, heading_deg, rng, stop_before_km=short)
    s_m = float(s1[-1])
    # Climb out along the runway, fly a circuit and come back onto the centre line.
    climb_out = short + ap.runway_length_km + rng.uniform(3.0, 6.0)
    base, radius = rng.uniform(8.0, 12.0), 2.5
    direction = 1 if rng.random() < 0.5 else -1
    b = PathBuilder(float(x1[-1]), float(y1[-1]), heading_deg)
    b.straight(climb_out).arc(180, direction, radius).straight(climb_out + base)
    b.arc(180, direction, radius).straight(base + short + ROLLOUT_KM)
    x2, y2, s2 = b.polyline()
    x, y = np.concatenate([x1, x2[1:]]), np.concatenate([y1, y2[1:]])
    s = np.concatenate([s1, s_m + s2[1:]])
    s_td2 = float(s[-1]) - ROLLOUT_KM

    level, speed = cruise(rng)
    grid = grid_for(s[-1])
    first = grid <= s_m
    alt1 = approach_altitude(grid, s_td1 - grid, ap.elevation_ft, level, rng)
    alt_m = float(np.interp(s_m, grid, alt1))
    circuit = ap.elevation_ft + rng.uniform(1800, 2500)
    alt2 = np.minimum.reduce(
        [
            alt_m + 400.0 * (grid - s_m),  # ~2,000 ft/min at 160 kt
            np.full(grid.shape, circuit),
            ap.elevation_ft + 50.0 + GLIDESLOPE_FT_PER_KM * np.maximum(s_td2 - grid, 0.0),
        ]
    )
    alt2 = np.where(grid >= s_td2, ap.elevation_ft, alt2)
    sp1 = speed_by_to_go(s_td1 - grid, speed, rng)
    v_m = float(np.interp(s_m, grid, sp1))
    sp2 = knots(
        grid,
        [(s_m, v_m), (s_m + 4, 175.0), (s_td2 - 8, 165.0), (s_td2, 135.0), (float(s[-1]), 30.0)],
    )
    return plan_from(
        x, y, s, np.where(first, sp1, sp2), np.where(first, alt1, alt2), ground=((s_td2, s[-1]),)
    )


def orbit(world: World, rng: np.random.Generator) -> Plan:
    """Flies to a spot, circles it 3–5 times (police, media, search), then leaves."""
    centre = _spot(world, rng, 90.0)
    start = _away(centre, rng, 40.0, 70.0)
    radius = rng.uniform(2.0, 3.5)
    b = PathBuilder(float(start[0]), float(start[1]), _heading(start, centre))
    b.straight(float(np.hypot(*(centre - start))) - radius)
    b.arc(360.0 * int(rng.integers(3, 6)), 1 if rng.random() < 0.5 else -1, radius)
    b.to_point(_away(centre, rng, 40.0, 70.0), 2.0)
    return _constant(
        *b.polyline(), rng.uniform(120, 170), float(round(rng.uniform(2000, 6000), -2))
    )


def survey(world: World, rng: np.random.Generator) -> Plan:
    """A lawnmower pattern: 4–8 parallel legs joined by U-turns."""
    corner = _spot(world, rng, 80.0)
    start = _away(corner, rng, 30.0, 50.0)
    b = PathBuilder(float(start[0]), float(start[1]), _heading(start, corner))
    b.to_point(corner, 2.0)
    leg, spacing = rng.uniform(15.0, 30.0), rng.uniform(3.0, 4.0)
    direction = 1 if rng.random() < 0.5 else -1
    n_legs = int(rng.integers(4, 9))
    for i in range(n_legs):
        b.straight(leg)
        if i < n_legs - 1:
            b.arc(180.0, direction, spacing / 2)
            direction = -direction
    b.to_point(_away(b.pos, rng, 30.0, 50.0), 2.0)
    return _constant(
        *b.polyline(), rng.uniform(120, 150), float(round(rng.uniform(3000, 6000), -2))
    )


def glider(world: World, rng: np.random.Generator) -> Plan:
    """A glider: slow glides between thermals, circling tightly to climb in each."""
    p = _spot(world, rng, 70.0)
    b = PathBuilder(float(p[0]), float(p[1]), rng.uniform(0, 360))
    alt = rng.uniform(2500.0, 4500.0)
    alt_knots: list[tuple[float, float]] = [(0.0, alt)]
    speed_knots: list[tuple[float, float]] = []
    for _ in range(int(rng.integers(6, 11))):
        s0 = b.s
        b.to_point(_away(b.pos, rng, 5.0, 15.0), 0.4)
        glide = rng.uniform(60.0, 70.0)
        speed_knots += [(s0 + 0.05, glide), (b.s - 0.05, glide)]
        alt = max(alt - 110.0 * (b.s - s0), 1200.0)  # sinks ~200 ft/min
        alt_knots.append((b.s, alt))
        s0 = b.s
        b.arc(
            360.0 * int(rng.integers(2, 5)),
            1 if rng.random() < 0.5 else -1,
            rng.uniform(0.15, 0.25),
        )
        climb = rng.uniform(48.0, 55.0)
        speed_knots += [(s0 + 0.05, climb), (b.s - 0.05, climb)]
        alt = min(alt + 280.0 * (b.s - s0), 7000.0)  # climbs ~400 ft/min in the thermal
        alt_knots.append((b.s, alt))
    x, y, s = b.polyline()
    grid = grid_for(s[-1])
    return plan_from(x, y, s, knots(grid, speed_knots), knots(grid, alt_knots))


def helicopter(world: World, rng: np.random.Generator) -> Plan:
    """Low and slow: 2–4 short hops between sites, slowing and descending at each."""
    p = _spot(world, rng, 60.0)
    b = PathBuilder(float(p[0]), float(p[1]), rng.uniform(0, 360))
    cruise_ft, cruise_kt = rng.uniform(800.0, 1500.0), rng.uniform(90.0, 125.0)
    alt_knots: list[tuple[float, float]] = []
    speed_knots: list[tuple[float, float]] = []
    for _ in range(int(rng.integers(2, 5))):
        s0 = b.s
        b.to_point(_away(b.pos, rng, 8.0, 25.0), 1.0)
        s1 = b.s
        alt_knots += [(s0, 300.0), (s0 + 2, cruise_ft), (s1 - 2, cruise_ft), (s1, 300.0)]
        speed_knots += [(s0, 40.0), (s0 + 1.5, cruise_kt), (s1 - 1.5, cruise_kt), (s1, 40.0)]
    x, y, s = b.polyline()
    grid = grid_for(s[-1])
    return plan_from(x, y, s, knots(grid, speed_knots), knots(grid, alt_knots))


# An off-route line shorter than this (km) is too short to look like a transit (~10 min); the
# first random line at least this long is flown, else the longest of the tries.
OFF_ROUTE_MIN_KM = 150.0
_LINE_TRIES = 60


@lru_cache(maxsize=8)
def _route_segments(
    world: World, avoid: tuple[Airway, ...] = ()
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    extra = [(np.asarray(aw.a), np.asarray(aw.b)) for aw in avoid]
    return tuple(world.route_segments() + extra)


def _clear_line(
    world: World, rng: np.random.Generator, avoid: tuple[Airway, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """A random straight stretch that keeps clear of every route: the first of up to
    _LINE_TRIES random chords whose longest clear run reaches OFF_ROUTE_MIN_KM, else the
    longest found.

    Each off-route flight draws its own line: were they all on one line, the anomalies on
    training days would teach a model that this line is normal.
    """
    segs = list(_route_segments(world, avoid))
    edge = 0.95 * world.edge_km
    best: tuple[float, np.ndarray, np.ndarray] = (-1.0, np.zeros(2), np.zeros(2))
    for _ in range(_LINE_TRIES):
        d, n = unit(rng.uniform(0, 180)), unit(rng.uniform(0, 360))
        off = rng.uniform(-0.8, 0.8) * edge
        half = np.sqrt(edge**2 - off**2)
        t = np.arange(-half, half, 2.0)
        px, py = off * n[0] + t * d[0], off * n[1] + t * d[1]
        ok = clearance_km(px, py, segs) >= OFF_ROUTE_CLEARANCE_KM
        # the longest run of consecutive clear points
        edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
        if edges.size == 0:
            continue
        runs = edges.reshape(-1, 2)
        k = int(np.argmax(runs[:, 1] - runs[:, 0]))
        i0, i1 = runs[k, 0], runs[k, 1] - 1
        length = float(t[i1] - t[i0])
        if length > best[0]:
            a = off * n + t[i0] * d
            best = (length, np.asarray(a), np.asarray(off * n + t[i1] * d))
        if best[0] >= OFF_ROUTE_MIN_KM:
            break
    return best[1], best[2]


def off_route(world: World, rng: np.random.Generator, avoid: tuple[Airway, ...] = ()) -> Plan:
    """A straight flight at altitude on its own random line where no airway or airport path
    runs (nor any of the airways in ``avoid``)."""
    # A child generator (spawning draws nothing from ``rng``), so that the flights that follow
    # are the same however many tries the line takes.
    a, b = _clear_line(world, rng.spawn(1)[0], avoid)
    if rng.random() < 0.5:
        a, b = b, a
    level, speed = cruise(rng)
    builder = PathBuilder(float(a[0]), float(a[1]), _heading(a, b)).to_point(b, 6.0)
    return _constant(*builder.polyline(), speed - 30.0, level - 5000.0)


def build(
    kind: str,
    world: World,
    airport: int,
    heading_deg: float,
    rng: np.random.Generator,
    world_seed: int,
    avoid: tuple[Airway, ...] = (),
) -> Plan:
    """The plan of one anomaly of ``kind`` (``world_seed`` is no longer used: every random
    choice comes from ``rng``; it stays for callers). Off-route flights also keep clear of
    the airways in ``avoid``."""
    with_runway: dict[str, Callable[..., Plan]] = {"holding": holding, "go_around": go_around}
    if kind in with_runway:
        return with_runway[kind](world, airport, heading_deg, rng)
    if kind == "off_route":
        return off_route(world, rng, avoid)
    alone: dict[str, Callable[[World, np.random.Generator], Plan]] = {
        "orbit": orbit,
        "survey": survey,
        "glider": glider,
        "helicopter": helicopter,
    }
    return alone[kind](world, rng)
