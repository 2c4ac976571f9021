"""Inline SVG drawings of a flight: its track over the receiver's frame, and its altitude.

Pure functions of numbers: no map tiles, nothing fetched, so the page and the report work
offline and in a mail client.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]

# More points than this add nothing at a few hundred pixels; keep the page light.
MAX_POINTS = 2000
RING_STEPS_KM = (5, 10, 25, 50, 100, 200, 250, 500)


def _thin(*arrays: FloatArray) -> list[FloatArray]:
    n = len(arrays[0])
    step = max(1, int(np.ceil(n / MAX_POINTS)))
    return [a[::step] if (n - 1) % step == 0 else np.r_[a[::step], a[-1:]] for a in arrays]


def _points(x: FloatArray, y: FloatArray) -> str:
    return " ".join(f"{a:.2f},{b:.2f}" for a, b in zip(x, y, strict=True))


def ring_radii(range_km: float) -> list[float]:
    """Range rings: 3 to 5 round distances inside the frame."""
    for step in RING_STEPS_KM:
        if range_km / step <= 5:
            return [float(r) for r in np.arange(step, range_km + 1e-9, step)]
    return [range_km]


def track_svg(
    x_km: FloatArray,
    y_km: FloatArray,
    range_km: float,
    airports_xy: FloatArray | Sequence[Sequence[float]] = (),
    *,
    size_px: int = 480,
    title: str = "track",
    clip_id: str = "frame",
) -> str:
    """The track ((x east, y north) km from the receiver) over the receiver's frame (±range
    km): range rings, the receiver, airports seen in the data, start and end marked.
    ``clip_id`` must be unique within one HTML page (several drawings share a page)."""
    r = float(range_km)
    x, y = _thin(np.asarray(x_km, dtype=np.float64), np.asarray(y_km, dtype=np.float64))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], -y[ok]  # SVG's y grows downwards
    font = r / 22
    parts = [
        f'<svg class="track" role="img" width="{size_px}" '
        f'height="{size_px}" viewBox="{-r:g} {-r:g} {2 * r:g} {2 * r:g}">',
        f"<title>{escape(title)}</title>",
        f'<defs><clipPath id="{escape(clip_id)}"><rect x="{-r:g}" y="{-r:g}" '
        f'width="{2 * r:g}" height="{2 * r:g}"/></clipPath></defs>',
        f'<rect class="frame" x="{-r:g}" y="{-r:g}" width="{2 * r:g}" height="{2 * r:g}"/>',
    ]
    for radius in ring_radii(r):
        parts.append(f'<circle class="ring" cx="0" cy="0" r="{radius:g}"/>')
        parts.append(
            f'<text class="ring-label" x="{radius * 0.7071 + font * 0.2:.2f}" '
            f'y="{-radius * 0.7071 - font * 0.2:.2f}" font-size="{font:.2f}">{radius:g} km</text>'
        )
    parts.append(
        f'<text class="north" x="0" y="{-r + font * 1.2:.2f}" font-size="{font:.2f}" '
        'text-anchor="middle">N</text>'
    )
    s = font * 0.6
    parts.append(f'<path class="receiver" d="M0,{-s:.2f} L{s:.2f},{s:.2f} L{-s:.2f},{s:.2f} Z">')
    parts.append("<title>receiver</title></path>")
    for ax, ay in np.asarray(airports_xy, dtype=np.float64).reshape(-1, 2):
        parts.append(
            f'<rect class="airport" x="{ax - s / 2:.2f}" y="{-ay - s / 2:.2f}" width="{s:.2f}" '
            f'height="{s:.2f}"><title>airport or runway end seen low in the data '
            f"({ax:.0f} km E, {ay:.0f} km N)</title></rect>"
        )
    if len(x):
        parts.append(
            f'<polyline class="path" clip-path="url(#{escape(clip_id)})" points="{_points(x, y)}"/>'
        )
        parts.append(f'<circle class="start" cx="{x[0]:.2f}" cy="{y[0]:.2f}" r="{s / 2:.2f}">')
        parts.append("<title>start</title></circle>")
        parts.append(
            f'<rect class="end" x="{x[-1] - s / 2:.2f}" y="{y[-1] - s / 2:.2f}" '
            f'width="{s:.2f}" height="{s:.2f}"><title>end</title></rect>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(span: float, target: int = 5) -> float:
    raw = max(span, 1e-9) / target
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def altitude_svg(
    t_s: FloatArray,
    altitude_ft: FloatArray,
    *,
    width_px: int = 480,
    height_px: int = 160,
) -> str:
    """The altitude profile: feet against minutes since the first point."""
    t, alt = _thin(np.asarray(t_s, dtype=np.float64), np.asarray(altitude_ft, dtype=np.float64))
    ok = np.isfinite(t) & np.isfinite(alt)
    t, alt = t[ok], alt[ok]
    left, bottom, top, right = 52, 22, 8, 10
    w, h = width_px - left - right, height_px - top - bottom
    parts = [
        f'<svg class="altitude" role="img" '
        f'width="{width_px}" height="{height_px}" viewBox="0 0 {width_px} {height_px}">',
        "<title>altitude profile</title>",
    ]
    if len(t) == 0:
        parts.append(
            f'<text x="{width_px / 2:g}" y="{height_px / 2:g}" text-anchor="middle">'
            "no altitude reports</text></svg>"
        )
        return "".join(parts)
    minutes = (t - t[0]) / 60.0
    t_max = max(float(minutes[-1]), 1.0)
    a_step = _nice_step(max(float(alt.max()), 1000.0), 4)
    a_max = a_step * np.ceil(max(float(alt.max()), 1000.0) / a_step)
    a_min = min(0.0, a_step * np.floor(float(alt.min()) / a_step))

    def px(m: FloatArray, a: FloatArray) -> tuple[FloatArray, FloatArray]:
        return left + m / t_max * w, top + (1 - (a - a_min) / (a_max - a_min)) * h

    for level in np.arange(a_min, a_max + 1e-9, a_step):
        _, yy = px(np.zeros(1), np.array([level]))
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + w}" y1="{yy[0]:.1f}" y2="{yy[0]:.1f}"/>'
            f'<text class="axis" x="{left - 4}" y="{yy[0] + 4:.1f}" text-anchor="end">'
            f"{level:,.0f}</text>"
        )
    m_step = _nice_step(t_max, 6)
    for m in np.arange(0.0, t_max + 1e-9, m_step):
        xx, _ = px(np.array([m]), np.zeros(1))
        parts.append(
            f'<text class="axis" x="{xx[0]:.1f}" y="{height_px - 6}" text-anchor="middle">'
            f"{m:g}</text>"
        )
    parts.append(
        f'<text class="axis" x="{left + w}" y="{height_px - 6}" text-anchor="end">min</text>'
        f'<text class="axis" x="4" y="{height_px - 6}">ft</text>'
    )
    xx, yy = px(minutes, alt)
    parts.append(f'<polyline class="alt" points="{_points(xx, yy)}"/>')
    parts.append("</svg>")
    return "".join(parts)
