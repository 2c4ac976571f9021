"""Synthetic flight images for tests and benchmarks: thick lines along a few fixed routes."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def route_images(
    n: int, size: int = 64, routes: int = 4, width: int = 2, jitter: float = 1.0, seed: int = 0
) -> NDArray[np.uint8]:
    """``n`` uint8 size×size images (0/1), each a straight thick line along one of ``routes``.

    Every route is a fixed chord of the frame; each flight follows it with ``jitter`` pixels of
    random offset and random start/end, so images are ~1–3 % lit and mostly alike — like a day
    of traffic on a few airways.
    """
    rng = np.random.default_rng(seed)
    route_rng = np.random.default_rng(12345)  # the same airways whatever the seed
    ends = route_rng.uniform(0, size - 1, size=(routes, 4))
    images = np.zeros((n, size, size), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        x0, y0, x1, y1 = ends[rng.integers(routes)] + rng.normal(0, jitter, 4)
        a, b = sorted(rng.uniform(0.0, 1.0, 2))
        a, b = min(a, 0.3), max(b, 0.7)
        px, py = x0 + a * (x1 - x0), y0 + a * (y1 - y0)
        qx, qy = x0 + b * (x1 - x0), y0 + b * (y1 - y0)
        images[i] = _segment_mask(xx, yy, px, py, qx, qy, width / 2.0)
    return images


def odd_images(n: int, size: int = 64, width: int = 2, seed: int = 1) -> NDArray[np.uint8]:
    """``n`` images unlike ``route_images``: circles at random places (holding, circling)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        cx, cy = rng.uniform(size * 0.2, size * 0.8, 2)
        r = rng.uniform(size * 0.08, size * 0.2)
        dist = np.hypot(xx - cx, yy - cy)
        images[i] = (np.abs(dist - r) <= width / 2.0).astype(np.uint8)
    return images


def _segment_mask(
    xx: NDArray[np.int_],
    yy: NDArray[np.int_],
    px: float,
    py: float,
    qx: float,
    qy: float,
    half_width: float,
) -> NDArray[np.uint8]:
    dx, dy = qx - px, qy - py
    length2 = max(dx * dx + dy * dy, 1e-9)
    t = np.clip(((xx - px) * dx + (yy - py) * dy) / length2, 0.0, 1.0)
    dist = np.hypot(xx - (px + t * dx), yy - (py + t * dy))
    return (dist <= half_width).astype(np.uint8)
