"""The simulated airspace: airports with runways and airways crossing the frame.

Everything is laid out in a local plane (km east, km north of the receiver) of an azimuthal
equidistant projection centred on the receiver, the same frame later stages rasterize in.
The world depends only on the seed and the receiver, never on the day, so that "normal"
traffic keeps the same shape from one day to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EARTH_RADIUS_KM = 6371.0088
# Traffic is generated out to this multiple of range_km: the receiver hears beyond its frame.
EDGE_FACTOR = 1.3


def to_latlon(
    x: np.ndarray, y: np.ndarray, lat0: float, lon0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees) of plane points ``x`` east, ``y`` north (km)."""
    phi0 = np.radians(lat0)
    rho = np.hypot(x, y)
    c = rho / EARTH_RADIUS_KM
    sin_c, cos_c = np.sin(c), np.cos(c)
    safe = np.where(rho > 0, rho, 1.0)
    lat = np.arcsin(
        np.clip(cos_c * np.sin(phi0) + np.where(rho > 0, y * sin_c * np.cos(phi0) / safe, 0), -1, 1)
    )
    lon = lon0 + np.degrees(
        np.arctan2(x * sin_c, rho * np.cos(phi0) * cos_c - y * np.sin(phi0) * sin_c)
    )
    lon = (lon + 180.0) % 360.0 - 180.0
    return np.degrees(lat), lon


def to_xy(
    lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Plane coordinates (km east, km north of ``lat0, lon0``) of points in degrees."""
    phi0, phi = np.radians(lat0), np.radians(np.asarray(lat, dtype=float))
    dlam = np.radians(np.asarray(lon, dtype=float) - lon0)
    cos_c = np.clip(np.sin(phi0) * np.sin(phi) + np.cos(phi0) * np.cos(phi) * np.cos(dlam), -1, 1)
    c = np.arccos(cos_c)
    sin_c = np.sin(c)
    k = np.where(sin_c > 1e-12, c / np.where(sin_c > 1e-12, sin_c, 1.0), 1.0) * EARTH_RADIUS_KM
    x = k * np.cos(phi) * np.sin(dlam)
    y = k * (np.cos(phi0) * np.sin(phi) - np.sin(phi0) * np.cos(phi) * np.cos(dlam))
    return x, y


def unit(heading_deg: float) -> np.ndarray:
    """Unit vector (east, north) of a compass heading."""
    h = np.radians(heading_deg)
    return np.array([np.sin(h), np.cos(h)])


@dataclass(frozen=True)
class Airway:
    """A straight airway: a chord of the traffic circle, from ``a`` to ``b`` (km)."""

    name: str
    a: tuple[float, float]
    b: tuple[float, float]

    @property
    def direction(self) -> np.ndarray:
        d = np.subtract(self.b, self.a)
        return np.asarray(d / np.hypot(*d))

    @property
    def normal(self) -> np.ndarray:
        d = self.direction
        return np.array([d[1], -d[0]])

    @property
    def length(self) -> float:
        return float(np.hypot(*np.subtract(self.b, self.a)))

    def point(self, t: float, offset: float = 0.0) -> np.ndarray:
        """The point ``t`` km from ``a`` along the airway, ``offset`` km to its right."""
        return np.asarray(self.a) + t * self.direction + offset * self.normal

    def along(self, p: np.ndarray) -> float:
        """How far along the airway (km from ``a``) the point nearest ``p`` lies."""
        return float(np.dot(np.asarray(p) - np.asarray(self.a), self.direction))


@dataclass(frozen=True)
class Airport:
    """An airport with one runway (both directions usable)."""

    name: str
    x: float
    y: float
    elevation_ft: float
    runway_heading_deg: float  # the primary direction, 0..180
    runway_length_km: float
    weight: float  # share of the airport's traffic among all airports
    # Along-airway distance (km) between the airport's foot point and where its routes
    # join or leave each airway: fixed per airport and airway, like published SIDs/STARs.
    route_shift_km: tuple[float, ...] = field(default=())

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y])

    def threshold(self, heading_deg: float) -> np.ndarray:
        """Where the runway begins for take-off or landing towards ``heading_deg``."""
        return self.position - 0.5 * self.runway_length_km * unit(heading_deg)


@dataclass(frozen=True)
class World:
    """The simulated airspace around one receiver."""

    lat: float
    lon: float
    range_km: float
    airports: tuple[Airport, ...]
    airways: tuple[Airway, ...]

    @property
    def edge_km(self) -> float:
        """Radius of the circle inside which traffic is generated and heard."""
        return EDGE_FACTOR * self.range_km

    def route_t(self, airport_index: int, airway_index: int, outbound: int) -> float:
        """Where departures join (arrivals leave) an airway, in km from its ``a`` end.

        ``outbound`` is +1 when the flight travels from ``a`` towards ``b``, else -1. The
        point lies between the airport's foot point and the far end, so a departure never
        flies back along the airway and an arrival leaves it before passing abeam.
        """
        ap, aw = self.airports[airport_index], self.airways[airway_index]
        foot = aw.along(ap.position)
        t = foot + outbound * ap.route_shift_km[airway_index]
        return float(np.clip(t, 30.0, aw.length - 30.0))

    def route_segments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Straight segments (km) that cover every airway and airport path, for clearance."""
        segs: list[tuple[np.ndarray, np.ndarray]] = [
            (np.asarray(aw.a), np.asarray(aw.b)) for aw in self.airways
        ]
        for i, ap in enumerate(self.airports):
            h = ap.runway_heading_deg
            far = 25.0 * unit(h)
            segs.append((ap.position - far, ap.position + far))
            ends = [ap.position, ap.position + 20.0 * unit(h), ap.position - 20.0 * unit(h)]
            for j, aw in enumerate(self.airways):
                for outbound in (1, -1):
                    p = aw.point(self.route_t(i, j, outbound))
                    segs.extend((e, p) for e in ends)
        return segs


def clearance_km(
    px: np.ndarray, py: np.ndarray, segs: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Distance (km) from each point to the nearest of ``segs``."""
    best = np.full(np.shape(px), np.inf)
    for a, b in segs:
        d = b - a
        length2 = float(np.dot(d, d)) or 1e-12
        t = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / length2, 0.0, 1.0)
        best = np.minimum(best, np.hypot(px - a[0] - t * d[0], py - a[1] - t * d[1]))
    return best


def build_world(lat: float, lon: float, range_km: float, seed: int) -> World:
    """The airspace for a receiver: 2–3 airports and 4–6 airways, fixed by seed and place."""
    place = [round((lat + 90.0) * 1e4), round((lon + 180.0) * 1e4), round(range_km * 10)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, *place]))
    edge = EDGE_FACTOR * range_km

    n_airways = int(rng.integers(4, 7))
    airways = []
    base = rng.uniform(0, 180)
    for i in range(n_airways):
        # Spread bearings so the airways criss-cross rather than run side by side.
        bearing = base + i * 180.0 / n_airways + rng.uniform(-12, 12)
        offset = rng.uniform(-0.65, 0.65) * edge
        d, n = unit(bearing), unit(bearing + 90.0)
        half = np.sqrt(edge**2 - offset**2)
        a, b = offset * n - half * d, offset * n + half * d
        airways.append(Airway(f"A{i + 1}", (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))))

    n_airports = int(rng.integers(2, 4))
    airports: list[Airport] = []
    max_dist = min(0.45 * range_km, 100.0)
    while len(airports) < n_airports:
        # Close enough that low approaches stay above the receiver's radio horizon.
        dist = rng.uniform(0.12 * range_km, max_dist)
        brg = rng.uniform(0, 360)
        pos = dist * unit(brg)
        if any(np.hypot(*(pos - a.position)) < 0.25 * range_km for a in airports):
            continue
        airports.append(
            Airport(
                name=f"AP{len(airports) + 1}",
                x=float(pos[0]),
                y=float(pos[1]),
                elevation_ft=float(round(rng.uniform(0, 400), -1)),
                runway_heading_deg=float(round(rng.uniform(0, 180), -1)),
                runway_length_km=float(round(rng.uniform(2.5, 3.5), 1)),
                weight=float(1.0 / (len(airports) + 1)),
                route_shift_km=tuple(float(v) for v in rng.uniform(25, 45, n_airways)),
            )
        )
    total = sum(a.weight for a in airports)
    airports = [
        Airport(**{**a.__dict__, "weight": a.weight / total})  # normalize the traffic shares
        for a in airports
    ]
    return World(lat, lon, range_km, tuple(airports), tuple(airways))
