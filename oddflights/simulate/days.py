"""Day-to-day variation: what differs between a receiver's real days, drawn per day.

Real days differ in the runway direction (it flips with the wind, sometimes during the day),
in coverage (an outage hour, a blocked sector, a shorter range), in volume (thinner weekends)
and in rare but normal routes (an airway used on some days only, a diversion, a positioning
flight). A :class:`DayPlan` says all of this for one day. It is drawn from the seed and the
date only, so a day simulated alone gets the same plan as in a longer run, and any part of it
can be forced with a :class:`DayOverride` (the rest stays as drawn).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from oddflights.simulate.sampling import ANTENNA_M
from oddflights.simulate.world import World

RUNWAY_CONFIGS = ("usual", "reversed", "usual_then_reversed", "reversed_then_usual")
COVERAGES = ("full", "blocked_sector", "reduced_range")
RARE_ROUTES = ("rare_airway", "diversion", "positioning")

# Share of days on which the runways are used the other way round for some or all of the day,
# and the share of those on which the change happens during the day (at a local time in
# CHANGE_HOURS), not overnight.
FLIP_SHARE = 0.3
MID_DAY_SHARE = 1 / 3
CHANGE_HOURS = (9.0, 18.0)
# Share of days with a receiver outage; it starts at a local time in OUTAGE_HOURS.
OUTAGE_SHARE = 0.2
OUTAGE_HOURS = (6.0, 21.0)
OUTAGE_MINUTES = (50.0, 70.0)
# Shares of days with a blocked azimuth sector, or with the range cut to RANGE_FACTOR.
BLOCKED_SECTOR_SHARE = 0.1
REDUCED_RANGE_SHARE = 0.1
SECTOR_WIDTH_DEG = (40.0, 90.0)
RANGE_FACTOR = 0.7
# Saturdays and Sundays (the receiver's local calendar) have this share of a weekday's flights.
WEEKEND_VOLUME = 0.7
# Shares of days on which each rare route is flown, and the share of that day's overflights
# that take the rare airway (at least one).
RARE_SHARES = {"rare_airway": 0.25, "diversion": 0.3, "positioning": 0.3}
RARE_AIRWAY_SHARE_OF_OVERFLIGHTS = 0.03


@dataclass(frozen=True)
class DayOverride:
    """Forces parts of a day's plan; ``None`` keeps what was drawn.

    ``runway`` is one of ``RUNWAY_CONFIGS``; ``coverage`` one of ``COVERAGES``; ``outage``
    switches the outage hour on or off; ``rare_routes`` lists the rare routes flown that day
    (``()`` for none).
    """

    runway: str | None = None
    outage: bool | None = None
    coverage: str | None = None
    rare_routes: tuple[str, ...] | None = None

    @classmethod
    def ordinary(cls) -> DayOverride:
        """A day with the usual runways, full coverage and no rare routes."""
        return cls(runway="usual", outage=False, coverage="full", rare_routes=())

    def problems(self) -> list[str]:
        """What is wrong with this override (empty when nothing is)."""
        out = []
        if self.runway is not None and self.runway not in RUNWAY_CONFIGS:
            out.append(f"runway must be one of {', '.join(RUNWAY_CONFIGS)}, not {self.runway!r}")
        if self.coverage is not None and self.coverage not in COVERAGES:
            out.append(f"coverage must be one of {', '.join(COVERAGES)}, not {self.coverage!r}")
        bad = [r for r in self.rare_routes or () if r not in RARE_ROUTES]
        if bad:
            out.append(f"rare_routes must be among {', '.join(RARE_ROUTES)}, not {bad[0]!r}")
        return out


@dataclass(frozen=True)
class DayPlan:
    """What one local calendar day of the receiver is like.

    Times are UTC. ``usual_heading_deg`` is each airport's usual (prevailing-wind) landing and
    take-off direction; ``runway`` says when the opposite one is in use. A flight flies the
    configuration in use at its start time.
    """

    day: dt.date
    start: dt.datetime  # local midnight
    end: dt.datetime  # the next local midnight
    weekend: bool
    flights: int  # planned, normal and odd together
    airports: tuple[str, ...]
    usual_heading_deg: tuple[float, ...]
    runway: str  # one of RUNWAY_CONFIGS
    change_at: dt.datetime | None  # when a mid-day configuration change happens
    outage: tuple[dt.datetime, dt.datetime] | None  # no positions in [start, end)
    coverage: str  # one of COVERAGES
    blocked_sector_deg: tuple[float, float] | None  # azimuths (from, to), clockwise
    range_factor: float  # share of the usual hearing distance
    heard_km: float  # the farthest a position is heard on this day
    rare_routes: Mapping[str, int]  # flights planned on each rare route (0: not flown)

    @property
    def flipped(self) -> bool:
        """Whether the runways are used the other way round for some or all of the day."""
        return self.runway != "usual"

    @property
    def coverage_changed(self) -> bool:
        """Whether the receiver hears less than usual: an outage, a blocked sector or range."""
        return self.outage is not None or self.coverage != "full"

    @property
    def ordinary(self) -> bool:
        """A weekday with the usual runways, full coverage and no rare routes."""
        return not (
            self.weekend or self.flipped or self.coverage_changed or any(self.rare_routes.values())
        )

    def reversed_at(self, at_ms: int | np.ndarray) -> np.ndarray:
        """Whether the opposite runway direction is in use at UTC epoch ms ``at_ms``."""
        at = np.asarray(at_ms)
        if self.runway in ("usual", "reversed"):
            return np.full(at.shape, self.runway == "reversed")
        assert self.change_at is not None
        after = at >= _ms(self.change_at)
        return after if self.runway == "usual_then_reversed" else ~after

    def heading_deg(self, airport: int, at_ms: int) -> float:
        """The landing and take-off direction of ``airport`` at UTC epoch ms ``at_ms``."""
        flip = 180.0 if bool(self.reversed_at(at_ms)) else 0.0
        return (self.usual_heading_deg[airport] + flip) % 360.0

    def to_json(self) -> dict[str, Any]:
        """The plan as the ``days`` entry of ``labels.json``."""
        runways = []
        for name, usual in zip(self.airports, self.usual_heading_deg, strict=True):
            first = (usual + (180.0 if self.runway.startswith("reversed") else 0.0)) % 360.0
            changed = self.change_at is not None
            runways.append(
                {
                    "airport": name,
                    "usual_heading_deg": usual,
                    "heading_deg": first,
                    "heading_after_change_deg": (first + 180.0) % 360.0 if changed else None,
                }
            )
        sector = self.blocked_sector_deg
        return {
            "date": self.day.isoformat(),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "weekend": self.weekend,
            "flights": self.flights,
            "runway": self.runway,
            "runway_change_at": _iso(self.change_at) if self.change_at else None,
            "runways": runways,
            "outage": (
                {"start": _iso(self.outage[0]), "end": _iso(self.outage[1])}
                if self.outage
                else None
            ),
            "coverage": self.coverage,
            "blocked_sector": ({"from_deg": sector[0], "to_deg": sector[1]} if sector else None),
            "range_factor": self.range_factor,
            "heard_km": self.heard_km,
            "rare_routes": dict(self.rare_routes),
        }


def _ms(t: dt.datetime) -> int:
    return round(t.timestamp() * 1000)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def draw_day(
    world: World,
    seed: int,
    day: dt.date,
    zone: ZoneInfo,
    flights_per_day: int,
    override: DayOverride | None = None,
) -> DayPlan:
    """The plan of ``day``, drawn from ``seed`` and the date alone, then ``override``.

    Every draw is made whatever the override says, so forcing one part leaves the rest as
    drawn.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 6, day.toordinal()]))
    start = dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)
    nxt = day + dt.timedelta(days=1)
    end = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(dt.UTC)

    u_flip, u_mid, u_dir = rng.random(3)
    change_h = rng.uniform(*CHANGE_HOURS)
    if u_flip >= FLIP_SHARE:
        runway = "usual"
    elif u_mid >= MID_DAY_SHARE:
        runway = "reversed"
    else:
        runway = "usual_then_reversed" if u_dir < 0.5 else "reversed_then_usual"

    u_out = rng.random()
    out_h, out_min = rng.uniform(*OUTAGE_HOURS), rng.uniform(*OUTAGE_MINUTES)
    outage = u_out < OUTAGE_SHARE

    u_cov = rng.random()
    sector_from, sector_width = rng.uniform(0.0, 360.0), rng.uniform(*SECTOR_WIDTH_DEG)
    if u_cov < BLOCKED_SECTOR_SHARE:
        coverage = "blocked_sector"
    elif u_cov < BLOCKED_SECTOR_SHARE + REDUCED_RANGE_SHARE:
        coverage = "reduced_range"
    else:
        coverage = "full"

    u_rare = rng.random(len(RARE_ROUTES))
    rare = {r for r, u in zip(RARE_ROUTES, u_rare, strict=True) if u < RARE_SHARES[r]}

    if override is not None:
        runway = override.runway or runway
        outage = outage if override.outage is None else override.outage
        coverage = override.coverage or coverage
        rare = rare if override.rare_routes is None else set(override.rare_routes)

    weekend = day.weekday() >= 5
    flights = max(1, round(flights_per_day * (WEEKEND_VOLUME if weekend else 1.0)))
    overflights = round(flights * 0.45)  # the simulation's share of overflights
    counts = {
        "rare_airway": max(1, round(RARE_AIRWAY_SHARE_OF_OVERFLIGHTS * overflights)),
        "diversion": 1,
        "positioning": 1,
    }
    range_factor = RANGE_FACTOR if coverage == "reduced_range" else 1.0
    # Whole seconds, so that a label's times are exactly those of the cut.
    out_start = start + dt.timedelta(seconds=round(out_h * 3600))
    return DayPlan(
        day=day,
        start=start,
        end=end,
        weekend=weekend,
        flights=flights,
        airports=tuple(ap.name for ap in world.airports),
        usual_heading_deg=tuple(ap.runway_heading_deg for ap in world.airports),
        runway=runway,
        change_at=start + dt.timedelta(seconds=round(change_h * 3600))
        if "_then_" in runway
        else None,
        outage=(
            (out_start, out_start + dt.timedelta(seconds=round(out_min * 60))) if outage else None
        ),
        coverage=coverage,
        blocked_sector_deg=(
            (round(float(sector_from), 1), round(float(sector_from + sector_width) % 360.0, 1))
            if coverage == "blocked_sector"
            else None
        ),
        range_factor=range_factor,
        heard_km=round(range_factor * world.edge_km, 3),
        rare_routes={r: (counts[r] if r in rare else 0) for r in RARE_ROUTES},
    )


def heard(
    plans: list[DayPlan],
    ts_ms: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    altitude_ft: np.ndarray,
    edge_km: float,
) -> np.ndarray:
    """Which reports survive each day's outage, blocked sector and reduced range.

    ``x, y`` are km east and north of the receiver. A report belongs to the day its time
    falls in; reports outside every planned day are kept.
    """
    keep = np.ones(ts_ms.shape, dtype=bool)
    if not plans or ts_ms.size == 0:
        return keep
    bounds = np.array([_ms(p.start) for p in plans] + [_ms(plans[-1].end)], dtype=np.int64)
    idx = np.searchsorted(bounds, ts_ms, side="right") - 1
    inside = (idx >= 0) & (idx < len(plans))
    k = np.clip(idx, 0, len(plans) - 1)

    never = np.iinfo(np.int64).min
    o0 = np.array([_ms(p.outage[0]) if p.outage else never for p in plans], dtype=np.int64)
    o1 = np.array([_ms(p.outage[1]) if p.outage else never for p in plans], dtype=np.int64)
    keep &= ~(inside & (ts_ms >= o0[k]) & (ts_ms < o1[k]))

    sectors = [p.blocked_sector_deg for p in plans]
    rows = np.flatnonzero(inside & np.array([s is not None for s in sectors])[k])
    if rows.size:
        s0 = np.array([s[0] if s else 0.0 for s in sectors])[k[rows]]
        width = np.array([(s[1] - s[0]) % 360.0 if s else 0.0 for s in sectors])[k[rows]]
        az = np.degrees(np.arctan2(x[rows], y[rows])) % 360.0
        keep[rows[((az - s0) % 360.0) < width]] = False

    factor = np.array([p.range_factor for p in plans])
    rows = np.flatnonzero(inside & (factor < 1.0)[k])
    if rows.size:
        # A weaker receiver hears less far at every altitude: the radio horizon shrinks too.
        alt_m = np.maximum(altitude_ft[rows], 0.0) * 0.3048
        horizon_km = 4.12 * (np.sqrt(alt_m) + np.sqrt(ANTENNA_M))
        reach = factor[k[rows]] * np.minimum(edge_km, horizon_km)
        keep[rows[np.hypot(x[rows], y[rows]) > reach]] = False
    return keep
