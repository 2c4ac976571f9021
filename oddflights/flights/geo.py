"""Small, fast geodesy for consecutive positions (numpy, spherical earth)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# The one Earth radius of the product (a sphere): frame, cleaning and range checks use it.
EARTH_RADIUS_KM = 6371.0
KT_TO_KM_S = 1.852 / 3600.0

FloatArray = npt.NDArray[np.floating[Any]]


def step_km(
    lat0: FloatArray, lon0: FloatArray, lat1: FloatArray, lon1: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """East and north components (km) of each step from (lat0, lon0) to (lat1, lon1).

    Equirectangular at the mean latitude: within 0.1 % of the great circle for steps of a
    few km and within about 1 % at 300 km, which is ample for speed checks, path lengths and
    headings; differences are taken in float64 and the cosine in float32 (much faster).
    """
    mid = ((lat0 + lat1) * 0.5).astype(np.float32)
    coslat = np.cos(mid * np.float32(np.pi / 180.0)).astype(np.float64)
    dlon = lon1 - lon0
    dlon = np.where(dlon > 180, dlon - 360, np.where(dlon < -180, dlon + 360, dlon))
    k = EARTH_RADIUS_KM * np.pi / 180.0
    return dlon * coslat * k, (lat1 - lat0) * k


def distance_km(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    """Great-circle distance between two points (haversine), for scalar use."""
    p0, p1 = np.radians(lat0), np.radians(lat1)
    dp, dl = p1 - p0, np.radians(lon1 - lon0)
    h = np.sin(dp / 2) ** 2 + np.cos(p0) * np.cos(p1) * np.sin(dl / 2) ** 2
    return float(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(min(1.0, h))))
