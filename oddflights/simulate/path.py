"""Flight paths as polylines of straight legs and constant-radius arcs, plus their profiles.

A path is built geometrically (so turn radius, hence turn rate, is under control), then a
speed and an altitude profile are laid along its length on a fine grid. Sampling in time
happens later, in :mod:`oddflights.simulate.sampling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Arcs are drawn in steps this small so that 1 s samples see a smooth track.
ARC_STEP_RAD = np.radians(0.5)
# Grid spacing (km) of the speed and altitude profiles.
GRID_KM = 0.1
KT_TO_KMPS = 1.852 / 3600.0


def _wrap(angle: float) -> float:
    """Angle in (-pi, pi]."""
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


class PathBuilder:
    """Flies a path leg by leg: straights, arcs and turn-then-straight to a point."""

    def __init__(self, x: float, y: float, heading_deg: float) -> None:
        self._x: list[np.ndarray] = [np.array([x])]
        self._y: list[np.ndarray] = [np.array([y])]
        self.pos = np.array([x, y], dtype=float)
        self.heading = float(np.radians(heading_deg))
        self.s = 0.0

    def _append(self, xs: np.ndarray, ys: np.ndarray) -> None:
        seg = np.hypot(
            np.diff(np.concatenate([[self.pos[0]], xs])),
            np.diff(np.concatenate([[self.pos[1]], ys])),
        )
        self.s += float(seg.sum())
        self._x.append(xs)
        self._y.append(ys)
        self.pos = np.array([xs[-1], ys[-1]])

    def straight(self, length_km: float) -> PathBuilder:
        """Fly straight ahead for ``length_km``."""
        if length_km > 0:
            end = self.pos + length_km * np.array([np.sin(self.heading), np.cos(self.heading)])
            self._append(end[:1], end[1:])
        return self

    def arc(self, angle_deg: float, direction: int, radius_km: float) -> PathBuilder:
        """Turn ``angle_deg`` (right if ``direction`` is +1) on a circle of ``radius_km``."""
        angle = np.radians(abs(angle_deg))
        if angle <= 0:
            return self
        n = max(2, int(np.ceil(angle / ARC_STEP_RAD)))
        psi0 = self.heading
        centre = self.pos + direction * radius_km * np.array([np.cos(psi0), -np.sin(psi0)])
        psi = psi0 + direction * np.linspace(0.0, angle, n + 1)[1:]
        xs = centre[0] - direction * radius_km * np.cos(psi)
        ys = centre[1] + direction * radius_km * np.sin(psi)
        self._append(xs, ys)
        self.heading = float(psi[-1] % (2 * np.pi))
        return self

    def to_point(self, target: np.ndarray, radius_km: float) -> PathBuilder:
        """Turn the short way onto a course to ``target``, then fly straight to it."""
        target = np.asarray(target, dtype=float)
        for _ in range(3):
            v = target - self.pos
            dist = float(np.hypot(*v))
            if dist < 1e-6:
                return self
            err = _wrap(np.arctan2(v[0], v[1]) - self.heading)
            if abs(err) < np.radians(0.5):
                break
            direction = 1 if err > 0 else -1
            centre = self.pos + direction * radius_km * np.array(
                [np.cos(self.heading), -np.sin(self.heading)]
            )
            ct = target - centre
            d = float(np.hypot(*ct))
            if d <= radius_km * 1.02:
                # Target inside the turn circle: fly on a while, then try again.
                self.straight(2.5 * radius_km)
                continue
            beta = np.arctan2(ct[0], ct[1])
            rho = beta - direction * np.arccos(radius_km / d)  # bearing of the tangent point
            final = rho + direction * np.pi / 2
            turn = (direction * (final - self.heading)) % (2 * np.pi)
            self.arc(np.degrees(turn), direction, radius_km)
            break
        v = target - self.pos
        self.heading = float(np.arctan2(v[0], v[1]))
        self._append(target[:1].copy(), target[1:].copy())
        return self

    def polyline(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vertices ``x, y`` (km) and cumulative length ``s`` (km), duplicate points removed."""
        x, y = np.concatenate(self._x), np.concatenate(self._y)
        seg = np.hypot(np.diff(x), np.diff(y))
        keep = np.concatenate([[True], seg > 1e-9])
        x, y = x[keep], y[keep]
        s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
        return x, y, s


def reverse(
    x: np.ndarray, y: np.ndarray, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same polyline flown the other way (arrivals are built backwards from the runway)."""
    return x[::-1].copy(), y[::-1].copy(), s[-1] - s[::-1]


@dataclass
class Plan:
    """One flight before sampling: its path and the speed, altitude and ground state along it."""

    x: np.ndarray  # vertex positions, km
    y: np.ndarray
    s: np.ndarray  # cumulative length at each vertex, km
    grid: np.ndarray  # profile grid, km along the path
    speed_kt: np.ndarray  # on the grid
    altitude_ft: np.ndarray  # on the grid
    onground: np.ndarray  # bool on the grid

    @property
    def length_km(self) -> float:
        return float(self.s[-1])


def grid_for(length_km: float) -> np.ndarray:
    """The profile grid for a path of ``length_km``."""
    n = max(2, int(np.ceil(length_km / GRID_KM)) + 1)
    return np.linspace(0.0, length_km, n)


def climb(grid: np.ndarray, speed_kt: np.ndarray, start_ft: float, rate_fpm: float) -> np.ndarray:
    """Altitude along ``grid`` climbing (or descending) at ``rate_fpm`` from ``start_ft``."""
    ds = np.diff(grid)
    v_kmpmin = 0.5 * (speed_kt[1:] + speed_kt[:-1]) * KT_TO_KMPS * 60.0
    return start_ft + np.concatenate([[0.0], np.cumsum(rate_fpm * ds / v_kmpmin)])


def knots(grid: np.ndarray, pairs: list[tuple[float, float]]) -> np.ndarray:
    """Values on ``grid`` interpolated linearly between ``(km, value)`` pairs."""
    pairs = sorted(pairs)
    return np.interp(grid, [p[0] for p in pairs], [p[1] for p in pairs])


def plan_from(
    x: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    speed_kt: np.ndarray,
    altitude_ft: np.ndarray,
    ground: tuple[tuple[float, float], ...] = (),
) -> Plan:
    """A :class:`Plan` from a polyline and its profiles on ``grid_for(s[-1])``.

    ``ground`` lists ``(from_km, to_km)`` stretches rolled on the ground.
    """
    grid = grid_for(float(s[-1]))
    onground = np.zeros(grid.shape, dtype=bool)
    for a, b in ground:
        onground |= (grid >= a) & (grid <= b)
    return Plan(
        x, y, s, grid, np.asarray(speed_kt, float), np.asarray(altitude_ft, float), onground
    )
