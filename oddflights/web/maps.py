"""Maps drawn as inline SVG, server side, from data bundled with the package: Natural Earth's
land, country borders and lakes (``data/basemap.json.gz``, built by tools/build_basemap.py) and the
airports of ``airportsdata``. Nothing is fetched: the page and the report work offline.

A map shows a box of the receiver's plane (km east, km north of the receiver, the projection
every stage uses) at one scale in both directions, in pixels: lines keep their width and
labels their size whatever the box.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from oddflights.flights.raster import project
from oddflights.scoring.airports import KnownAirports, unproject

FloatArray = npt.NDArray[np.floating[Any]]

BASEMAP = Path(__file__).with_name("data") / "basemap.json.gz"
MAX_POINTS = 2000
# The flight's box is widened by this share of its size on each side, and never shown
# smaller than MIN_HALF_KM across (a circuit at a small field stays readable).
MARGIN = 0.12
MIN_HALF_KM = 4.0
# The day map shows at least this far around the receiver (its nearby airports).
NEIGHBOURHOOD_KM = 40.0
SCALE_STEPS_KM = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500)
# One colour per flight on the day map (distinct on white and on land).
PALETTE = ("#c0392b", "#1f6fb2", "#1e8449", "#8e44ad", "#d35400", "#117a8b", "#7d6608", "#b03a7a")


@dataclass(frozen=True)
class _Shape:
    lon: FloatArray
    lat: FloatArray
    box: tuple[float, float, float, float]  # lon min, lat min, lon max, lat max
    parts: tuple[int, ...] = ()  # a polygon's ring starts (its rings are concatenated)


def _decode(flat: Sequence[int], scale: float) -> tuple[FloatArray, FloatArray]:
    q = np.cumsum(np.asarray(flat, dtype=np.int64).reshape(-1, 2), axis=0) / scale
    return q[:, 0], q[:, 1]


@functools.cache
def _layers() -> dict[str, tuple[_Shape, ...]]:
    """Every layer of the bundled basemap, decoded (read once per process)."""
    data = json.loads(gzip.decompress(BASEMAP.read_bytes()))
    scale = float(data["scale"])

    def shape(rings: Sequence[Sequence[int]]) -> _Shape:
        decoded = [_decode(r, scale) for r in rings]
        lon = np.concatenate([d[0] for d in decoded])
        lat = np.concatenate([d[1] for d in decoded])
        starts = tuple(int(s) for s in np.cumsum([0] + [len(d[0]) for d in decoded[:-1]]))
        box = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
        return _Shape(lon, lat, box, starts)

    return {
        "land": tuple(shape(p) for p in data["land"]),
        "borders": tuple(shape([b]) for b in data["borders"]),
        "lakes": tuple(shape(p) for p in data.get("lakes", [])),
    }


def basemap() -> tuple[tuple[_Shape, ...], tuple[_Shape, ...]]:
    """The bundled land polygons and border lines."""
    layers = _layers()
    return layers["land"], layers["borders"]


def lakes() -> tuple[_Shape, ...]:
    """The bundled lakes: polygons, an outer ring then its islands."""
    return _layers()["lakes"]


@dataclass(frozen=True)
class View:
    """A box of the receiver's plane drawn ``width`` × ``height`` px: centre (km), km per px."""

    cx: float
    cy: float
    km_per_px: float
    width: int
    height: int

    def px(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Pixels of plane points (y grows downwards in SVG)."""
        return (
            self.width / 2 + (np.asarray(x) - self.cx) / self.km_per_px,
            self.height / 2 - (np.asarray(y) - self.cy) / self.km_per_px,
        )

    @property
    def half_km(self) -> tuple[float, float]:
        return self.width / 2 * self.km_per_px, self.height / 2 * self.km_per_px

    def contains(self, x: FloatArray, y: FloatArray, pad_px: float = 0.0) -> npt.NDArray[np.bool_]:
        px, py = self.px(x, y)
        return (
            (px >= -pad_px)
            & (px <= self.width + pad_px)
            & (py >= -pad_px)
            & (py <= self.height + pad_px)
        )


def fit_view(
    x: FloatArray, y: FloatArray, width: int, height: int, min_half_km: float = MIN_HALF_KM
) -> View:
    """The view that shows every finite point of (x, y) km with a margin, at one scale."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return View(0.0, 0.0, 2 * min_half_km / min(width, height), width, height)
    x0, x1 = float(np.min(x[ok])), float(np.max(x[ok]))
    y0, y1 = float(np.min(y[ok])), float(np.max(y[ok]))
    half_w = max((x1 - x0) / 2 * (1 + 2 * MARGIN), min_half_km)
    half_h = max((y1 - y0) / 2 * (1 + 2 * MARGIN), min_half_km)
    km_per_px = max(2 * half_w / width, 2 * half_h / height)
    return View((x0 + x1) / 2, (y0 + y1) / 2, km_per_px, width, height)


def frame_view(range_km: float, size: int) -> View:
    """The receiver's whole frame (±range km) in a square of ``size`` px."""
    return View(0.0, 0.0, 2 * range_km / size, size, size)


def _lonlat_box(view: View, centre: tuple[float, float]) -> tuple[float, float, float, float]:
    hw, hh = view.half_km
    gx = view.cx + np.array([-1, 0, 1, -1, 1, -1, 0, 1]) * hw * 1.2
    gy = view.cy + np.array([-1, -1, -1, 0, 0, 1, 1, 1]) * hh * 1.2
    lat, lon = unproject(gx, gy, *centre)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _fmt(px: FloatArray, py: FloatArray) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))


def _clip_half(
    x: FloatArray, y: FloatArray, axis: int, limit: float, keep_below: bool
) -> tuple[FloatArray, FloatArray]:
    """One Sutherland-Hodgman step, vectorised: the closed ring (x, y) cut to the side of the
    line ``coordinate[axis] = limit`` that ``keep_below`` names."""
    c = x if axis == 0 else y
    ins = c <= limit if keep_below else c >= limit
    xj, yj, cj, ins_j = np.roll(x, -1), np.roll(y, -1), np.roll(c, -1), np.roll(ins, -1)
    cross = ins != ins_j
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(cross, (limit - c) / (cj - c), 0.0)
    ix, iy = x + f * (xj - x), y + f * (yj - y)
    # Each edge i -> j gives its crossing (if it crosses), then its end j (if inside).
    ox = np.column_stack((ix, xj)).ravel()
    oy = np.column_stack((iy, yj)).ravel()
    keep = np.column_stack((cross, ins_j)).ravel()
    return ox[keep], oy[keep]


def _clipped_ring(px: FloatArray, py: FloatArray, view: View, pad: float) -> str:
    """A ring cut to the view and ``pad`` px around it (exact: the fill stays right)."""
    x, y = px, py
    for axis, limit, below in (
        (0, -pad, False),
        (0, view.width + pad, True),
        (1, -pad, False),
        (1, view.height + pad, True),
    ):
        if len(x) < 3:
            return ""
        x, y = _clip_half(x, y, axis, limit, below)
    if len(x) < 3:
        return ""
    return "M" + _fmt(x, y).replace(" ", "L") + "Z"


def _land(view: View, centre: tuple[float, float]) -> str:
    return _polygons(basemap()[0], "land", view, centre)


def _lakes(view: View, centre: tuple[float, float]) -> str:
    # Drawn over the land in the sea's colour; an island's ring cuts it out (even-odd).
    return _polygons(lakes(), "lake", view, centre)


def _polygons(shapes: Sequence[_Shape], cls: str, view: View, centre: tuple[float, float]) -> str:
    """One path of the ``shapes`` near the view, each ring cut to it."""
    box = _lonlat_box(view, centre)
    pad = 8.0
    paths = []
    for shape in shapes:
        if not _overlaps(shape.box, box):
            continue
        x, y = project(shape.lat, shape.lon, *centre)
        px, py = view.px(x, y)
        bounds = [*shape.parts, len(px)]
        rings = [_clipped_ring(px[a:b], py[a:b], view, pad) for a, b in itertools.pairwise(bounds)]
        d = "".join(r for r in rings if r)
        if d:
            paths.append(d)
    if not paths:
        return ""
    return f'<path class="{cls}" fill-rule="evenodd" d="{"".join(paths)}"/>'


def _lines(px: FloatArray, py: FloatArray, view: View, pad: float) -> list[str]:
    """Polylines of the parts of a line near the view (a segment with an end inside)."""
    inside = (px >= -pad) & (px <= view.width + pad) & (py >= -pad) & (py <= view.height + pad)
    near = inside | np.r_[inside[1:], False] | np.r_[False, inside[:-1]]
    out = []
    edges = np.flatnonzero(np.diff(np.r_[0, near.astype(np.int8), 0]))
    for a, b in edges.reshape(-1, 2):
        if b - a >= 2:
            out.append("M" + _fmt(px[a:b], py[a:b]).replace(" ", "L"))
    return out


def _borders(view: View, centre: tuple[float, float]) -> str:
    _, borders = basemap()
    box = _lonlat_box(view, centre)
    parts: list[str] = []
    for shape in borders:
        if _overlaps(shape.box, box):
            x, y = project(shape.lat, shape.lon, *centre)
            parts += _lines(*view.px(x, y), view, 8.0)
    return f'<path class="border" d="{"".join(parts)}"/>' if parts else ""


def _nice(value: float, steps: Sequence[float]) -> float:
    return float(max([s for s in steps if s <= value] or [steps[0]]))


def ring_radii(range_km: float) -> list[float]:
    """Range rings: 3 to 5 round distances out to the frame's edge."""
    for step in (5, 10, 25, 50, 100, 200, 250, 500):
        if range_km / step <= 5:
            return [float(r) for r in np.arange(step, range_km + 1e-9, step)]
    return [range_km]


def _rings(view: View, range_km: float, labels: bool = True) -> list[str]:
    (cx,), (cy,) = view.px(np.zeros(1), np.zeros(1))
    hw, hh = view.half_km
    far = math.hypot(abs(view.cx) + hw, abs(view.cy) + hh)
    near = max(0.0, math.hypot(max(abs(view.cx) - hw, 0), max(abs(view.cy) - hh, 0)))
    out = []
    for r in ring_radii(range_km):
        if near <= r <= far:
            rp = r / view.km_per_px
            out.append(f'<circle class="ring" cx="{cx:.1f}" cy="{cy:.1f}" r="{rp:.1f}"/>')
            if labels and 0 <= cx <= view.width - 50 and 12 <= cy - rp <= view.height:
                out.append(
                    f'<text class="ring-label" x="{cx + 3:.1f}" y="{cy - rp - 2:.1f}">'
                    f"{r:g} km</text>"
                )
    return out


def _receiver(view: View) -> str:
    (cx,), (cy,) = view.px(np.zeros(1), np.zeros(1))
    if not (-10 <= cx <= view.width + 10 and -10 <= cy <= view.height + 10):
        return ""
    return (
        f'<path class="receiver" d="M{cx:.1f},{cy - 6:.1f}L{cx + 5:.1f},{cy + 4:.1f}'
        f'L{cx - 5:.1f},{cy + 4:.1f}Z"><title>receiver</title></path>'
    )


def _airports(view: View, known: KnownAirports | None, max_labels: int = 40) -> list[str]:
    """Listed airports in the view: those with scheduled service (an IATA code) larger and
    always labelled; the others labelled when few enough to read."""
    if known is None or not len(known):
        return []
    inside = np.flatnonzero(view.contains(known.x, known.y))
    major = known.major
    px, py = view.px(known.x, known.y)
    minor_labels = int((~major[inside]).sum()) <= max_labels // 2
    order = sorted(inside.tolist(), key=lambda i: (not major[i], known.icao[i]))
    marks, labels = [], []
    for n, i in enumerate(order):
        big = bool(major[i])
        r = 4.0 if big else 2.2
        name = escape(known.label(i))
        marks.append(
            f'<circle class="airport{" major" if big else ""}" cx="{px[i]:.1f}" cy="{py[i]:.1f}" '
            f'r="{r}"><title>{name}</title></circle>'
        )
        if (big or minor_labels) and n < max_labels:
            # Near the right edge the label goes to the left of its mark, so it stays whole.
            left = px[i] > view.width - 44
            lx = px[i] - r - 2 if left else px[i] + r + 2
            anchor = ' text-anchor="end"' if left else ""
            labels.append(
                f'<text class="airport-label{" major" if big else ""}" x="{lx:.1f}" '
                f'y="{py[i] + 4:.1f}"{anchor}>{escape(known.icao[i])}</text>'
            )
    return ['<g class="airports">', *marks, *labels, "</g>"]


def _strips(view: View, strips_xy: FloatArray | None) -> list[str]:
    """Airports found in the data (where several aircraft were low), as small squares."""
    if strips_xy is None:
        return []
    xy = np.asarray(strips_xy, dtype=np.float64).reshape(-1, 2)
    xy = xy[view.contains(xy[:, 0], xy[:, 1])]
    px, py = view.px(xy[:, 0], xy[:, 1])
    return [
        f'<rect class="strip" x="{a - 3:.1f}" y="{b - 3:.1f}" width="6" height="6">'
        "<title>an airport or runway end seen low in the data</title></rect>"
        for a, b in zip(px, py, strict=True)
    ]


def _scale_bar(view: View) -> str:
    km = _nice(view.width * view.km_per_px / 5, SCALE_STEPS_KM)
    w = km / view.km_per_px
    x, y = 10.0, view.height - 12.0
    return (
        f'<g class="scale"><path d="M{x},{y - 4}V{y}H{x + w:.1f}V{y - 4}"/>'
        f'<text x="{x + w + 4:.1f}" y="{y + 1}">{km:g} km</text></g>'
    )


def _thin(*arrays: FloatArray) -> list[FloatArray]:
    n = len(arrays[0])
    step = max(1, int(np.ceil(n / MAX_POINTS)))
    return [a[::step] if (n - 1) % step == 0 else np.r_[a[::step], a[-1:]] for a in arrays]


def _base(view: View, centre: tuple[float, float], clip_id: str) -> list[str]:
    w, h = view.width, view.height
    return [
        f'<defs><clipPath id="{escape(clip_id)}"><rect width="{w}" height="{h}"/></clipPath>'
        "</defs>",
        f'<rect class="sea" width="{w}" height="{h}"/>',
        f'<g clip-path="url(#{escape(clip_id)})">',
        _land(view, centre),
        _lakes(view, centre),
        _borders(view, centre),
    ]


def _inset(
    view: View, centre: tuple[float, float], range_km: float, clip_id: str, size: int = 130
) -> str:
    """The receiver's whole frame, small, in the top right corner, with the main view's box."""
    frame = frame_view(range_km, size)
    hw, hh = view.half_km
    (x0, x1), (y0, y1) = frame.px(
        np.array([view.cx - hw, view.cx + hw]), np.array([view.cy + hh, view.cy - hh])
    )
    w, h = max(x1 - x0, 3.0), max(y1 - y0, 3.0)
    ox = view.width - size - 6
    return "".join(
        [
            f'<g class="inset" transform="translate({ox},6)">',
            f'<defs><clipPath id="{escape(clip_id)}"><rect width="{size}" height="{size}"/>'
            "</clipPath></defs>",
            f'<rect class="sea" width="{size}" height="{size}"/>',
            f'<g clip-path="url(#{escape(clip_id)})">',
            _land(frame, centre),
            _lakes(frame, centre),
            _borders(frame, centre),
            *_rings(frame, range_km, labels=False),
            _receiver(frame),
            f'<rect class="view-box" x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}"/>',
            "</g>",
            f'<rect class="inset-frame" width="{size}" height="{size}"><title>the receiver\'s '
            f"frame (±{range_km:g} km); the box is the map</title></rect>",
            "</g>",
        ]
    )


def flight_map_svg(
    x_km: FloatArray,
    y_km: FloatArray,
    centre: tuple[float, float],
    range_km: float,
    known: KnownAirports | None,
    *,
    title: str = "track",
    width: int = 640,
    height: int = 480,
    clip_id: str = "map",
    strips_xy: FloatArray | None = None,
) -> str:
    """The flight on the basemap at its own scale: land, borders, listed airports, the
    airports found in the data (``strips_xy``, km: private strips among them), range rings,
    the receiver, the track with start and end, a scale bar, and an inset of the receiver's
    frame. ``clip_id`` must be unique within one HTML page."""
    x, y = _thin(np.asarray(x_km, dtype=np.float64), np.asarray(y_km, dtype=np.float64))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    view = fit_view(x, y, width, height)
    parts = [
        f'<svg class="map flight-map" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        *_base(view, centre, clip_id),
        *_rings(view, range_km),
        _receiver(view),
        *_airports(view, known),
        *_strips(view, strips_xy),
    ]
    if len(x):
        px, py = view.px(x, y)
        parts.append(f'<polyline class="path" points="{_fmt(px, py)}"/>')
        parts.append(
            f'<circle class="start" cx="{px[0]:.1f}" cy="{py[0]:.1f}" r="5"><title>start</title>'
            "</circle>"
        )
        parts.append(
            f'<rect class="end" x="{px[-1] - 4:.1f}" y="{py[-1] - 4:.1f}" width="8" height="8">'
            "<title>end</title></rect>"
        )
    parts += ["</g>", _scale_bar(view), _inset(view, centre, range_km, clip_id + "-inset")]
    parts.append(
        f'<text class="north" x="{width - 74}" y="{150}" text-anchor="middle">N ↑</text></svg>'
    )
    return "".join(parts)


@dataclass(frozen=True)
class DayTrack:
    """One flight on the day map: its rank, id, label and track (km)."""

    rank: int
    flight_id: int
    label: str
    x: FloatArray
    y: FloatArray


def day_map_svg(
    tracks: Sequence[DayTrack],
    centre: tuple[float, float],
    range_km: float,
    known: KnownAirports | None,
    *,
    width: int = 720,
    height: int = 540,
    clip_id: str = "day-map",
    link: str | None = "/flights/{}",
) -> str:
    """The day's flagged flights on the basemap, each numbered by its rank at its start, and
    a link to ``link`` formatted with its flight id (None: no link)."""
    thin = [
        _thin(np.asarray(t.x, dtype=np.float64), np.asarray(t.y, dtype=np.float64)) for t in tracks
    ]
    # The receiver's neighbourhood is always in view: the flights are placed by it.
    near = np.array([-NEIGHBOURHOOD_KM, NEIGHBOURHOOD_KM])
    all_x = np.concatenate([t[0] for t in thin] + [near])
    all_y = np.concatenate([t[1] for t in thin] + [near])
    view = fit_view(all_x, all_y, width, height)
    parts = [
        f'<svg class="map day-map" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>the flagged flights of the day</title>',
        *_base(view, centre, clip_id),
        *_rings(view, range_km),
        _receiver(view),
        *_airports(view, known, max_labels=30),
    ]
    marks: list[str] = []
    placed: list[tuple[float, float]] = []
    for n, (t, (x, y)) in enumerate(zip(tracks, thin, strict=True)):
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            continue
        px, py = view.px(x[ok], y[ok])
        colour = PALETTE[n % len(PALETTE)]
        name = escape(f"#{t.rank} {t.label}")
        open_a = f'<a href="{escape(link.format(t.flight_id))}">' if link else ""
        close_a = "</a>" if link else ""
        parts.append(
            f'{open_a}<polyline class="day-path" stroke="{colour}" points="{_fmt(px, py)}">'
            f"<title>{name}</title></polyline>{close_a}"
        )
        # A number that would hide another (two flights starting at one place) moves down.
        mx, my = float(px[0]), float(py[0])
        for _ in range(8):
            if all(math.hypot(mx - a, my - b) >= 18 for a, b in placed):
                break
            my += 18
        placed.append((mx, my))
        marks.append(
            f'{open_a}<g class="rank" id="rank-{t.flight_id}"><title>{name}</title>'
            f'<circle cx="{mx:.1f}" cy="{my:.1f}" r="9" fill="{colour}"/>'
            f'<text x="{mx:.1f}" y="{my + 4:.1f}" text-anchor="middle">{t.rank}</text>'
            f"</g>{close_a}"
        )
    parts += [*marks, "</g>", _scale_bar(view), "</svg>"]
    return "".join(parts)


def _nice_step(span: float, target: int = 5) -> float:
    raw = max(span, 1e-9) / target
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def profile_svg(
    t_s: FloatArray,
    altitude_ft: FloatArray,
    speed_kt: FloatArray | None = None,
    *,
    width: int = 640,
    height: int = 200,
    start_label: str = "",
) -> str:
    """Altitude (ft, left axis) and ground speed (kt, right axis) against minutes since the
    first point; each axis names its unit once, away from the ticks."""
    t, alt = _thin(np.asarray(t_s, dtype=np.float64), np.asarray(altitude_ft, dtype=np.float64))
    spd = (
        _thin(np.asarray(t_s, dtype=np.float64), np.asarray(speed_kt, dtype=np.float64))[1]
        if speed_kt is not None and len(speed_kt) == len(t_s)
        else np.full(len(t), np.nan)
    )
    left, right, top, bottom = 58, 52, 22, 40
    w, h = width - left - right, height - top - bottom
    parts = [
        f'<svg class="profile altitude" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>altitude and speed profile</title>',
    ]
    ok_t = np.isfinite(t)
    if not ok_t.any() or not np.isfinite(alt).any():
        parts.append(
            f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle">'
            "no altitude reports</text></svg>"
        )
        return "".join(parts)
    minutes = (t - t[ok_t][0]) / 60.0
    t_max = max(float(np.nanmax(minutes)), 1.0)
    a_hi = max(float(np.nanmax(alt)), 1000.0)
    a_step = _nice_step(a_hi, 4)
    a_max = a_step * np.ceil(a_hi / a_step)
    a_min = min(0.0, a_step * np.floor(float(np.nanmin(alt)) / a_step))

    def xp(m: Any) -> FloatArray:
        return left + np.asarray(m) / t_max * w

    def yp(v: Any, lo: float, hi: float) -> FloatArray:
        return top + (1 - (np.asarray(v) - lo) / (hi - lo)) * h

    for level in np.arange(a_min, a_max + 1e-9, a_step):
        yy = float(yp(level, a_min, a_max))
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + w}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="axis alt-axis" x="{left - 5}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{level:,.0f}</text>"
        )
    m_step = _nice_step(t_max, 6)
    for m in np.arange(0.0, t_max + 1e-9, m_step):
        xx = float(xp(m))
        parts.append(
            f'<line class="tick" x1="{xx:.1f}" x2="{xx:.1f}" y1="{top + h}" y2="{top + h + 4}"/>'
            f'<text class="axis" x="{xx:.1f}" y="{top + h + 16}" text-anchor="middle">'
            f"{m:g}</text>"
        )
    since = f" (from {start_label})" if start_label else ""
    parts.append(
        f'<text class="axis-title" x="{left + w / 2:.1f}" y="{height - 5}" '
        f'text-anchor="middle">minutes since the first point{escape(since)}</text>'
        f'<text class="axis-title alt-axis" x="4" y="{top - 8}">altitude, ft</text>'
    )
    ok = np.isfinite(minutes) & np.isfinite(alt)
    parts.append(
        f'<polyline class="alt" points="{_fmt(xp(minutes[ok]), yp(alt[ok], a_min, a_max))}"/>'
    )
    ok_s = np.isfinite(minutes) & np.isfinite(spd)
    if ok_s.any():
        s_hi = max(float(np.nanmax(spd[ok_s])), 50.0)
        s_step = _nice_step(s_hi, 4)
        s_max = s_step * np.ceil(s_hi / s_step)
        for level in np.arange(0.0, s_max + 1e-9, s_step):
            yy = float(yp(level, 0.0, s_max))
            parts.append(
                f'<text class="axis speed-axis" x="{left + w + 5}" y="{yy + 4:.1f}">'
                f"{level:g}</text>"
            )
        parts.append(
            f'<text class="axis-title speed-axis" x="{width - 4}" y="{top - 8}" '
            'text-anchor="end">speed, kt</text>'
        )
        parts.append(
            f'<polyline class="speed" '
            f'points="{_fmt(xp(minutes[ok_s]), yp(spd[ok_s], 0.0, s_max))}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
