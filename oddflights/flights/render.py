"""Pictures of rasters for people: fixed 0–1 grey scale, nearest-neighbour upscaling."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

SEPARATOR_PX = 2
SEPARATOR_RGB = (200, 40, 40)  # red: never mistaken for a value on the grey scale
LABELS = ("input", "reconstruction", "|difference|")
_LABEL_PX = 12


def to_grey(array: npt.ArrayLike, scale: int = 4) -> npt.NDArray[np.uint8]:
    """A 2-D array as 8-bit grey on the fixed scale 0 → 0, 1 → 255 (values clipped, never
    stretched), each value repeated ``scale``×``scale`` times."""
    a = np.asarray(array, dtype=np.float64)
    a = np.squeeze(a)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {np.shape(array)}")
    if scale < 1:
        raise ValueError(f"scale {scale} must be at least 1")
    grey = np.rint(np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def to_png(array: npt.ArrayLike, scale: int = 4) -> bytes:
    """A raster or reconstruction (values in [0, 1]) as a greyscale PNG."""
    return _png(Image.fromarray(to_grey(array, scale), mode="L"))


def three_panel_png(
    input: npt.ArrayLike,
    reconstruction: npt.ArrayLike,
    scale: int = 4,
    labels: Sequence[str] | None = LABELS,
) -> bytes:
    """input | reconstruction | |difference| side by side on the same fixed scale, separated
    by thin red bars, with small labels above (``labels=None`` for none)."""
    a = np.squeeze(np.asarray(input, dtype=np.float64))
    b = np.squeeze(np.asarray(reconstruction, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"input {a.shape} and reconstruction {b.shape} differ in shape")
    panels = [to_grey(p, scale) for p in (a, b, np.abs(a - b))]
    h, w = panels[0].shape
    top = _LABEL_PX if labels else 0
    width = 3 * w + 2 * SEPARATOR_PX
    canvas = np.zeros((top + h, width, 3), dtype=np.uint8)
    canvas[:, :] = SEPARATOR_RGB
    if top:
        canvas[:top] = 0
    for i, p in enumerate(panels):
        x = i * (w + SEPARATOR_PX)
        canvas[top:, x : x + w] = p[..., None]
    image = Image.fromarray(canvas, mode="RGB")
    if labels:
        draw = ImageDraw.Draw(image)
        for i, text in enumerate(labels[:3]):
            draw.text((i * (w + SEPARATOR_PX) + 2, 1), text, fill=(255, 255, 255))
    return _png(image)


def panel_origin(index: int, size: int, scale: int = 4, labels: bool = True) -> tuple[int, int]:
    """(x, y) of panel ``index``'s top-left pixel in a three_panel_png of size×size rasters."""
    return index * (size * scale + SEPARATOR_PX), (_LABEL_PX if labels else 0)
