"""Training augmentation that models what differs between a receiver's real days, in numpy.

The frame is geographic (a pixel is a place), so the seed's ±10 px shift and mirror taught
the model that routes 60 km off, or mirrored, are normal. What really differs between two days
of the same kind of flight, seen from the same receiver, is:

- coverage gaps: an outage or a blocked sector loses a run of the track (``drop_runs``);
- truncation at the edge of range: on a day of shorter range the track stops sooner
  (``cut_beyond``);
- lateral jitter of at most the width of an airway, one pixel (``shift_images``).

Earlier or later turns onto final approach are left out: at raster level a different turn is
a different line, which cannot be drawn without the track, and training reads stored rasters
only (re-drawing tracks every epoch would cost a rasterisation per image and batch).

Every transform only removes lit pixels or moves the whole image by at most ``max_px`` with a
zero fill, so pixels stay exactly 0 or 1 and nothing is flipped or moved further. Randomness
comes from the ``numpy.random.Generator`` passed in: the same seed gives the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AUGMENTS",
    "VARIATION",
    "VARIATIONS",
    "Variation",
    "augment_batch",
    "cut_beyond",
    "drop_runs",
    "jitter",
    "random_gaps",
    "shift_images",
    "truncate",
]

# The values of the model_augment setting: none, the day-to-day variation below, or one
# half of it (coverage: gaps and truncation; jitter: ±1 px only), measured apart.
AUGMENTS = ("none", "variation", "coverage", "jitter")

FloatImages = NDArray[np.float32]


@dataclass(frozen=True)
class Variation:
    """How often and how strongly each transform applies (per image, independently)."""

    # A gap: a run of the track of 2·n+1 pixels (n drawn from gap_px) around a random lit
    # pixel; at 64 px over ±200 km, 7–25 px is ~45–155 km, a few minutes of a cruise.
    gap_share: float = 0.3
    gap_px: tuple[int, int] = (3, 12)
    # Truncation: the range cut to a share of the frame's half-width (0.7: issue 14's
    # reduced-range day).
    truncate_share: float = 0.2
    truncate_radius: tuple[float, float] = (0.7, 1.0)
    # Jitter: the whole track moved by up to max_px (the width of an airway) each way.
    jitter_share: float = 0.5
    max_px: int = 1

    def __post_init__(self) -> None:
        for name in ("gap_share", "truncate_share", "jitter_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in 0..1, not {getattr(self, name)}")
        if not 0 <= self.gap_px[0] <= self.gap_px[1]:
            raise ValueError(f"gap_px must be an ordered pair of sizes, not {self.gap_px}")
        if not 0.0 < self.truncate_radius[0] <= self.truncate_radius[1]:
            raise ValueError(f"truncate_radius must be ordered and > 0: {self.truncate_radius}")
        if self.max_px < 0:
            raise ValueError(f"max_px must not be negative, not {self.max_px}")


VARIATION = Variation()
# The Variation of each AUGMENTS value (none: no entry).
VARIATIONS: dict[str, Variation] = {
    "variation": VARIATION,
    "coverage": Variation(jitter_share=0.0),
    "jitter": Variation(gap_share=0.0, truncate_share=0.0),
}


# --- the transforms, with their parameters given ----------------------------------------------


def shift_images(images: FloatImages, dy: NDArray[np.int_], dx: NDArray[np.int_]) -> FloatImages:
    """Each image ``i`` moved by ``dy[i]`` rows down and ``dx[i]`` columns right, zero fill
    (pixels moved out of the frame are lost, none wrap round)."""
    out = np.zeros_like(images)
    size_y, size_x = images.shape[1], images.shape[2]
    for i, (sy, sx) in enumerate(zip(dy.tolist(), dx.tolist(), strict=True)):
        if abs(sy) >= size_y or abs(sx) >= size_x:
            continue
        src_y = slice(max(0, -sy), size_y - max(0, sy))
        dst_y = slice(max(0, sy), size_y - max(0, -sy))
        src_x = slice(max(0, -sx), size_x - max(0, sx))
        dst_x = slice(max(0, sx), size_x - max(0, -sx))
        out[i, dst_y, dst_x] = images[i, src_y, src_x]
    return out


def centre_distance(size: int) -> NDArray[np.float64]:
    """Each pixel centre's distance from the frame's centre (the receiver), in half-widths:
    1.0 is the edge of the frame, i.e. the receiver's range."""
    c = (np.arange(size) + 0.5 - size / 2.0) / (size / 2.0)
    return np.hypot(c[:, None], c[None, :])


def cut_beyond(images: FloatImages, radii: NDArray[np.float64]) -> FloatImages:
    """Each image ``i`` with every pixel farther than ``radii[i]`` half-widths from the
    centre set to 0 (``np.inf``: unchanged)."""
    dist = centre_distance(images.shape[1])
    keep = dist[None, :, :] <= np.asarray(radii, dtype=np.float64)[:, None, None]
    return images * keep[..., None].astype(images.dtype)


def _grow(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``mask`` dilated by one pixel in all 8 directions (nothing wraps round)."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    h, w = mask.shape[1], mask.shape[2]
    out = np.zeros_like(mask)
    for oy in range(3):
        for ox in range(3):
            out |= padded[:, oy : oy + h, ox : ox + w]
    return out


def drop_runs(images: FloatImages, start: NDArray[np.int_], steps: NDArray[np.int_]) -> FloatImages:
    """Each image ``i`` with the run of track around lit pixel ``start[i]`` (a flat index,
    -1 for none) removed: every lit pixel reachable from it along lit pixels (8-connected)
    in at most ``steps[i]`` moves. On a 1 px line that is a contiguous run of 2·steps+1."""
    n, h, w = images.shape[0], images.shape[1], images.shape[2]
    lit = images[..., 0] > 0.5
    gap = np.zeros((n, h * w), dtype=bool)
    has = start >= 0
    gap[np.flatnonzero(has), start[has]] = True
    gap = gap.reshape(n, h, w) & lit
    for step in range(int(steps.max(initial=0))):
        grown = _grow(gap) & lit
        gap = np.where((step < steps)[:, None, None], grown, gap)
    return images * (~gap)[..., None].astype(images.dtype)


# --- drawn at random --------------------------------------------------------------------------


def jitter(
    images: FloatImages, rng: np.random.Generator, share: float, max_px: int = 1
) -> FloatImages:
    """A share of the images moved by up to ``max_px`` each way (zero fill)."""
    n = len(images)
    on = rng.random(n) < share
    dy = np.where(on, rng.integers(-max_px, max_px + 1, n), 0)
    dx = np.where(on, rng.integers(-max_px, max_px + 1, n), 0)
    return shift_images(images, dy, dx)


def truncate(
    images: FloatImages,
    rng: np.random.Generator,
    share: float,
    radius: tuple[float, float] = (0.7, 1.0),
) -> FloatImages:
    """A share of the images cut beyond a random radius (in half-widths) from the receiver."""
    n = len(images)
    on = rng.random(n) < share
    radii = np.where(on, rng.uniform(radius[0], radius[1], n), np.inf)
    return cut_beyond(images, radii)


def random_gaps(
    images: FloatImages, rng: np.random.Generator, share: float, steps: tuple[int, int] = (3, 12)
) -> FloatImages:
    """A share of the images (those with a track) lose one run of track around a random lit
    pixel."""
    n = len(images)
    lit = images[..., 0].reshape(n, -1) > 0.5
    on = (rng.random(n) < share) & lit.any(axis=1)
    # A uniformly random lit pixel: the largest of uniform draws over the lit ones.
    start = np.where(on, np.argmax(rng.random(lit.shape) * lit, axis=1), -1)
    return drop_runs(images, start, rng.integers(steps[0], steps[1] + 1, n))


def augment_batch(
    images: FloatImages, rng: np.random.Generator, variation: Variation = VARIATION
) -> FloatImages:
    """One training batch (n×size×size×1, 0/1) with day-to-day variation: the flight moved by
    at most an airway's width, then the receiver's reach (range, then gaps) applied."""
    x = np.asarray(images, dtype=np.float32)
    x = jitter(x, rng, variation.jitter_share, variation.max_px)
    x = truncate(x, rng, variation.truncate_share, variation.truncate_radius)
    return random_gaps(x, rng, variation.gap_share, variation.gap_px)
