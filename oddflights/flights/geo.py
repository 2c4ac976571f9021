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


# Headings and turns: the one computation of them, used by the summary features
# (oddflights.flights.features) and the shape tags (oddflights.scoring.tags), each on points
# picked along the track at its own spacing (see step_marks).


def step_marks(
    along_km: FloatArray, step_km: float, group: npt.NDArray[np.integer[Any]] | None = None
) -> npt.NDArray[np.bool_]:
    """True at the first point of each ``step_km`` of distance along a track (``along_km``:
    the distance flown up to each point) and, given ``group`` (a flight number per point),
    at the first point of each group. Headings are taken between the points marked: position
    noise between closely spaced points would add up to hundreds of degrees of turning."""
    bucket = np.floor(along_km / step_km).astype(np.int64)
    new = np.ones(len(bucket), dtype=bool)
    new[1:] = bucket[1:] != bucket[:-1]
    if group is not None:
        new[1:] |= group[1:] != group[:-1]
    return new


def headings_deg(east: FloatArray, north: FloatArray) -> FloatArray:
    """The heading (degrees clockwise from north, in [-180, 180]) of each leg given by its
    east and north components."""
    return np.degrees(np.arctan2(east, north))


def turns_deg(east: FloatArray, north: FloatArray) -> FloatArray:
    """The signed change of heading (degrees, clockwise positive, in [-180, 180)) from each
    leg to the next, for consecutive legs given by their east and north components."""
    heading = headings_deg(east, north)
    return (heading[1:] - heading[:-1] + 180.0) % 360.0 - 180.0
