"""From planned paths to ~1 Hz position reports: timing, noise, coverage gaps and faults."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oddflights.simulate.path import KT_TO_KMPS, Plan

# Horizontal noise of a reported position (km, one sigma): tens of metres.
POSITION_NOISE_KM = 0.015
# Receiver antenna height (m) for the radio horizon.
ANTENNA_M = 40.0
# Share of single reports lost at random (collisions, weak signal).
LOSS_SHARE = 0.03


@dataclass
class Track:
    """The sampled reports of one flight, before projection to lat/lon."""

    t_ms: np.ndarray  # ms since the flight's start
    x: np.ndarray  # true position, km
    y: np.ndarray
    heading: np.ndarray  # true course in the plane, radians
    speed_kt: np.ndarray
    altitude_ft: np.ndarray
    vertical_rate_fpm: np.ndarray
    onground: np.ndarray


def sample(plan: Plan, rng: np.random.Generator) -> Track:
    """Fly ``plan`` and report at ~1 Hz, with random report loss and coverage gaps."""
    v = np.maximum(plan.speed_kt, 5.0) * KT_TO_KMPS
    ds = np.diff(plan.grid)
    t_grid = np.concatenate([[0.0], np.cumsum(2.0 * ds / (v[1:] + v[:-1]))])
    total = t_grid[-1]
    n = int(total)
    # ADS-B positions arrive about once a second, not on a clock.
    t = rng.uniform(0.0, 1.0) + np.arange(n, dtype=float) + rng.uniform(-0.25, 0.25, n)
    t = t[(t >= 0) & (t <= total)]
    keep = rng.random(t.size) >= LOSS_SHARE
    for _ in range(rng.poisson(total / 1800.0)):
        start = rng.uniform(0.0, total)
        keep &= ~((t >= start) & (t < start + min(60.0, 3.0 + rng.exponential(15.0))))
    t = t[keep]

    s = np.interp(t, t_grid, plan.grid)
    x = np.interp(s, plan.s, plan.x)
    y = np.interp(s, plan.s, plan.y)
    seg = np.clip(np.searchsorted(plan.s, s, side="right") - 1, 0, plan.s.size - 2)
    heading = np.arctan2(np.diff(plan.x), np.diff(plan.y))[seg]
    speed = np.interp(s, plan.grid, plan.speed_kt)
    alt = np.interp(s, plan.grid, plan.altitude_ft)
    # ft/km on each grid step times km/min gives ft/min
    mid = 0.5 * (plan.grid[1:] + plan.grid[:-1])
    slope = np.diff(plan.altitude_ft) / ds
    vz = np.interp(s, mid, slope) * speed * (KT_TO_KMPS * 60.0)
    onground = plan.onground[np.clip(np.searchsorted(plan.grid, s), 0, plan.grid.size - 1)]
    return Track(np.round(t * 1000).astype(np.int64), x, y, heading, speed, alt, vz, onground)


def visible(x: np.ndarray, y: np.ndarray, altitude_ft: np.ndarray, edge_km: float) -> np.ndarray:
    """Reports the receiver hears: inside the traffic circle and above the radio horizon."""
    alt_m = np.maximum(altitude_ft, 0.0) * 0.3048
    horizon_km = 4.12 * (np.sqrt(alt_m) + np.sqrt(ANTENNA_M))
    dist = np.hypot(x, y)
    return (dist <= edge_km) & (dist <= horizon_km)


def add_noise(
    lat: np.ndarray,
    lon: np.ndarray,
    speed_kt: np.ndarray,
    track_deg: np.ndarray,
    altitude_ft: np.ndarray,
    vertical_rate_fpm: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """Measurement noise and the quantization that ADS-B applies to each field."""
    n = lat.size
    km_per_deg = 111.195
    lat = lat + rng.normal(0.0, POSITION_NOISE_KM / km_per_deg, n)
    lon = lon + rng.normal(0.0, POSITION_NOISE_KM / km_per_deg, n) / np.cos(np.radians(lat))
    speed = np.round(np.maximum(speed_kt + rng.normal(0.0, 0.4, n), 0.0))
    track = np.round((track_deg + rng.normal(0.0, 0.15, n)) % 360.0, 1) % 360.0
    alt = np.round(altitude_ft / 25.0) * 25.0
    vrate = np.round((vertical_rate_fpm + rng.normal(0.0, 20.0, n)) / 64.0) * 64.0
    return lat, lon, speed, track, alt, vrate + 0.0


def fault_rows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows to duplicate (~0.5%) and rows to throw hundreds of km off (~0.05%)."""
    dup = np.flatnonzero(rng.random(n) < 0.005)
    jump = np.flatnonzero(rng.random(n) < 0.0005)
    return dup, jump
