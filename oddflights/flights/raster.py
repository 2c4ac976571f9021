"""A flight as a binary image in the receiver's fixed frame.

The frame is a square of ±range_km around the receiver in an azimuthal equidistant projection
centred on it (spherical earth), north up and east right, so that the same pixel means the same
place every day. A flight is its polyline, clipped to the frame and drawn into size×size pixels
(1 = track). Everything is numpy and works on many flights at once: the batch path is what the
nightly build and the benchmark use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from oddflights.errors import InvalidConfig
from oddflights.flights.geo import EARTH_RADIUS_KM

_KEY = re.compile(r"^(\d+)px/(\d+)w/([0-9.]+)km$")

FloatArray = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class RasterSettings:
    """How flights are drawn: image size (pixels), line width (pixels), frame half-width (km)."""

    size: int = 64
    line_width: int = 1
    range_km: float = 200.0

    def __post_init__(self) -> None:
        if not 4 <= self.size <= 1024:
            raise InvalidConfig(f"raster size {self.size} is outside 4..1024")
        if not 1 <= self.line_width <= self.size // 2:
            raise InvalidConfig(f"line width {self.line_width} is outside 1..{self.size // 2}")
        if not self.range_km > 0:
            raise InvalidConfig(f"range {self.range_km} km must be positive")

    @property
    def key(self) -> str:
        """A short stable name, e.g. ``64px/1w/200km``, stored with every raster."""
        return f"{self.size}px/{self.line_width}w/{self.range_km:g}km"

    @classmethod
    def from_key(cls, key: str) -> RasterSettings:
        """The settings a key was made from (ValueError names a malformed key)."""
        m = _KEY.match(key)
        if m is None:
            raise InvalidConfig(f"not a raster key: {key!r}")
        return cls(int(m[1]), int(m[2]), float(m[3]))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (stored with each model)."""
        return {"size": self.size, "line_width": self.line_width, "range_km": self.range_km}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RasterSettings:
        """Inverse of :meth:`to_dict`."""
        return cls(int(data["size"]), int(data["line_width"]), float(data["range_km"]))

    @property
    def packed_bytes(self) -> int:
        """Length of one packed raster."""
        return (self.size * self.size + 7) // 8


@dataclass
class RasterSet:
    """Rasters of many flights, as the model stage reads them."""

    flight_ids: npt.NDArray[np.int64]  # (N,)
    days: list[date]  # per flight
    images: npt.NDArray[np.uint8]  # (N, size, size), 0/1
    settings: RasterSettings


def project(
    lat: npt.ArrayLike, lon: npt.ArrayLike, lat0: float, lon0: float
) -> tuple[FloatArray, FloatArray]:
    """Azimuthal equidistant projection centred on (lat0, lon0): (x east, y north) in km.

    Angles are differenced in float64 and the trigonometry runs in float32 (SIMD, many times
    faster); the formulation below is well conditioned near the centre, so the error stays
    below a metre.
    """
    lat64 = np.asarray(lat, dtype=np.float64)
    deg = np.float32(np.pi / 180.0)
    phi32 = lat64.astype(np.float32) * deg
    dphi = (lat64 - lat0).astype(np.float32) * deg
    dlon = (np.asarray(lon, dtype=np.float64) - lon0).astype(np.float32)
    dlon = np.where(dlon > 180, dlon - 360, np.where(dlon < -180, dlon + 360, dlon))
    dlam = dlon * deg
    sin0 = np.float32(np.sin(np.radians(lat0)))
    cos0 = np.float32(np.cos(np.radians(lat0)))
    cosphi = np.cos(phi32)
    half = np.sin(dlam * np.float32(0.5))
    # Y = cos φ0 sin φ − sin φ0 cos φ cos Δλ, rewritten without cancellation near the centre.
    x = cosphi * np.sin(dlam)
    y = np.sin(dphi) + sin0 * cosphi * (np.float32(2.0) * half * half)
    sin_c = np.hypot(x, y)
    cos_c = sin0 * np.sin(phi32) + cos0 * cosphi * np.cos(dlam)
    c = np.arctan2(sin_c, cos_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(sin_c > 0, c / sin_c, np.float32(1.0)) * np.float32(EARTH_RADIUS_KM)
    return x * k, y * k


def _inside(u: FloatArray, v: FloatArray, size: np.float32) -> npt.NDArray[np.bool_]:
    return (u >= 0) & (u <= size) & (v >= 0) & (v <= size)


def _clip_segments(
    u0: FloatArray, v0: FloatArray, u1: FloatArray, v1: FloatArray, size: float
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Liang–Barsky, vectorised: the [t0, t1] part of each segment inside [0, size]², and
    whether any part is inside."""
    du, dv = u1 - u0, v1 - v0
    t0 = np.zeros_like(u0)
    t1 = np.ones_like(u0)
    keep = np.ones(u0.shape, dtype=bool)
    for p, q in ((-du, u0), (du, size - u0), (-dv, v0), (dv, size - v0)):
        parallel = p == 0
        keep &= ~(parallel & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        entering = (p < 0) & ~parallel
        leaving = (p > 0) & ~parallel
        t0 = np.where(entering, np.maximum(t0, r), t0)
        t1 = np.where(leaving, np.minimum(t1, r), t1)
    keep &= t0 <= t1
    return t0, t1, keep


def rasterize_many(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    offsets: npt.ArrayLike,
    receiver: tuple[float, float],
    settings: RasterSettings,
    xy: tuple[FloatArray, FloatArray] | None = None,
) -> npt.NDArray[np.uint8]:
    """Draw many flights at once: flight i is points ``offsets[i]:offsets[i+1]`` of lat/lon
    (``offsets`` has N+1 entries). Returns (N, size, size) uint8 images of 0/1. ``xy``: the
    points already projected (``project(lat, lon, *receiver)``), when the caller has them."""
    off = np.asarray(offsets, dtype=np.int64)
    n_flights = len(off) - 1
    size = settings.size
    images = np.zeros((n_flights, size, size), dtype=np.uint8)
    n_points = int(off[-1]) if n_flights > 0 else 0
    if n_flights <= 0 or n_points == 0:
        return images
    x, y = xy if xy is not None else project(lat, lon, receiver[0], receiver[1])
    scale = np.float32(size / (2.0 * settings.range_km))
    # Pixel coordinates: u grows east (columns), v grows south (rows), frame is [0, size)².
    u = (x + np.float32(settings.range_km)) * scale
    v = (np.float32(settings.range_km) - y) * scale
    flight_of_point = np.repeat(np.arange(n_flights, dtype=np.int64), np.diff(off))
    fs = np.float32(size)

    # Exact "supercover": a pixel is lit when the polyline passes through it, whatever the
    # sampling rate. The pixels holding a point are lit directly; every other pixel the line
    # passes through is entered across a grid line, so for each crossing of a grid line the
    # two pixels on either side of it are lit. At 1 Hz almost no segment crosses a line.
    cells_f = [flight_of_point]
    cells_u = [u]
    cells_v = [v]
    same = flight_of_point[1:] == flight_of_point[:-1]
    u0, v0, u1, v1 = u[:-1], v[:-1], u[1:], v[1:]
    moves = same & ((np.floor(u0) != np.floor(u1)) | (np.floor(v0) != np.floor(v1)))
    seg = np.flatnonzero(moves)
    u0, v0, u1, v1 = u0[seg], v0[seg], u1[seg], v1[seg]
    seg_f = flight_of_point[seg]
    # Segments leaving the frame are clipped to it (their clipped ends are lit too), so that
    # a far-away point costs no more than a point at the edge.
    out = ~(_inside(u0, v0, fs) & _inside(u1, v1, fs))
    if out.any():
        t0, t1, keep = _clip_segments(u0[out], v0[out], u1[out], v1[out], float(size))
        du, dv = u1[out] - u0[out], v1[out] - v0[out]
        cu0, cv0 = u0[out] + du * t0, v0[out] + dv * t0
        cu1, cv1 = u0[out] + du * t1, v0[out] + dv * t1
        cu0, cv0, cu1, cv1 = (np.where(keep, a, np.float32(-1.0)) for a in (cu0, cv0, cu1, cv1))
        u0, v0, u1, v1 = (a.copy() for a in (u0, v0, u1, v1))
        u0[out], v0[out], u1[out], v1[out] = cu0, cv0, cu1, cv1
        cells_f += [seg_f[out], seg_f[out]]
        cells_u += [cu0, cu1]
        cells_v += [cv0, cv1]
    # Crossings of vertical grid lines (a = u) and of horizontal ones (a = v).
    for a0, a1, b0, b1, vertical in ((u0, u1, v0, v1, True), (v0, v1, u0, u1, False)):
        lo = np.floor(np.minimum(a0, a1)).astype(np.int64)
        count = np.floor(np.maximum(a0, a1)).astype(np.int64) - lo
        idx = np.repeat(np.arange(len(a0)), count)
        start = np.repeat(np.cumsum(count) - count, count)
        line = (lo[idx] + 1 + np.arange(len(idx)) - start).astype(np.float32)
        b = b0[idx] + (b1 - b0)[idx] * ((line - a0[idx]) / (a1 - a0)[idx])
        for side in (np.float32(-0.5), np.float32(0.5)):
            cells_f.append(seg_f[idx])
            (cells_u if vertical else cells_v).append(line + side)
            (cells_v if vertical else cells_u).append(b)
    all_f = np.concatenate(cells_f)
    all_u = np.concatenate(cells_u)
    all_v = np.concatenate(cells_v)
    inside = _inside(all_u, all_v, fs)
    col = np.minimum(all_u[inside].astype(np.int64), size - 1)
    row = np.minimum(all_v[inside].astype(np.int64), size - 1)
    images.reshape(-1)[(all_f[inside] * size + row) * size + col] = 1
    if settings.line_width > 1:
        images = dilate(images, settings.line_width)
    return images


def dilate(images: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.uint8]:
    """Thicken lines to ``width`` pixels (a width×width square brush, centred, extra pixel to
    the lower right for even widths)."""
    out = images.copy()
    size = images.shape[-1]
    lo, hi = -((width - 1) // 2), width // 2
    for dr in range(lo, hi + 1):
        for dc in range(lo, hi + 1):
            if dr == 0 and dc == 0:
                continue
            src = images[..., max(0, -dr) : size - max(0, dr), max(0, -dc) : size - max(0, dc)]
            dst = out[..., max(0, dr) : size - max(0, -dr), max(0, dc) : size - max(0, -dc)]
            np.maximum(dst, src, out=dst)
    return out


def rasterize(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    receiver: tuple[float, float],
    settings: RasterSettings,
) -> npt.NDArray[np.uint8]:
    """One flight's polyline as a (size, size) uint8 image of 0/1 (row 0 is north)."""
    n = len(np.asarray(lat))
    return rasterize_many(lat, lon, [0, n], receiver, settings)[0]


def pack(image: npt.NDArray[np.uint8]) -> bytes:
    """A 0/1 image as packed bits (512 bytes at 64×64)."""
    return np.packbits(np.asarray(image, dtype=np.uint8).reshape(-1) != 0).tobytes()


def pack_many(images: npt.NDArray[np.uint8]) -> list[bytes]:
    """Each image of an (N, size, size) stack, packed."""
    flat = np.packbits(images.reshape(len(images), -1 if len(images) else 1) != 0, axis=1)
    return [row.tobytes() for row in flat]


def unpack(data: bytes, size: int) -> npt.NDArray[np.uint8]:
    """Inverse of :func:`pack`: a (size, size) uint8 image of 0/1."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=size * size)
    return bits.reshape(size, size)


def unpack_many(blobs: list[bytes], size: int) -> npt.NDArray[np.uint8]:
    """Many packed rasters as an (N, size, size) uint8 stack."""
    if not blobs:
        return np.zeros((0, size, size), dtype=np.uint8)
    packed = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), -1)
    return np.unpackbits(packed, axis=1, count=size * size).reshape(len(blobs), size, size)
