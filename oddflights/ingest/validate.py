"""The rules every position must pass before it is stored, each failure with a reason."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from oddflights import config
from oddflights.columns import POSITION_COLUMNS
from oddflights.ingest.types import REJECT_COLUMNS, empty_rejects
from oddflights.receivers import Receiver

ALTITUDE_FT = (-2_000.0, 60_000.0)
MAX_SPEED_KT = 1_500.0
EARTH_RADIUS_KM = 6_371.0088
# Receiver clocks drift a little; a report a few seconds "ahead" of now is not from the future.
CLOCK_SKEW = timedelta(minutes=1)

# Reasons in the order they are checked: a row is rejected for the first rule it fails.
REASONS: tuple[str, ...] = (
    "bad_icao24",
    "bad_time",
    "future_time",
    "bad_lat_lon",
    "zero_position",
    "altitude_out_of_range",
    "speed_out_of_range",
    "out_of_range_km",
)


def distance_km(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """Great-circle distances (haversine) from (lat0, lon0) to each point."""
    p1, p2 = np.radians(lat0), np.radians(lat)
    dphi = p2 - p1
    dlam = np.radians(lon - lon0)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _float(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def render_raw(rows: pd.DataFrame) -> pd.Series:
    """A readable stand-in for the input line of rows that carry no ``raw`` text."""
    parts = [rows[c].astype("string").fillna("") for c in POSITION_COLUMNS if c in rows]
    if not parts:
        return pd.Series([""] * len(rows), index=rows.index, dtype=object)
    out = parts[0]
    for p in parts[1:]:
        out = out + "," + p
    return out.astype(object)


def validate(
    positions: pd.DataFrame,
    receiver: Receiver,
    *,
    now: datetime,
    max_range_km: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split parsed positions into (valid, rejects).

    Valid rows keep the POSITION_COLUMNS (``icao24`` lower-case, ``ts`` UTC); rejects have
    ``raw`` (the row's ``raw`` column when the parser kept the input line) and ``reason``
    (one of REASONS). ``max_range_km`` defaults to ``max_range_factor`` × the receiver's range.
    """
    if max_range_km is None:
        max_range_km = float(config.get("max_range_factor")) * receiver.range_km
    n = len(positions)
    if n == 0:
        return positions.reindex(columns=list(POSITION_COLUMNS)), empty_rejects()

    icao = positions["icao24"].astype("string").str.strip().str.lower()
    bad_icao = ~icao.str.fullmatch(r"[0-9a-f]{6}").fillna(False).to_numpy(dtype=bool)

    ts = pd.to_datetime(positions["ts"], utc=True, errors="coerce")
    ts_ns = ts.to_numpy(dtype="datetime64[ns]")
    bad_time = np.isnat(ts_ns)
    limit = np.datetime64(pd.Timestamp(now + CLOCK_SKEW).tz_convert("UTC").tz_localize(None), "ns")
    future = ~bad_time & (ts_ns > limit)

    lat, lon = _float(positions, "lat"), _float(positions, "lon")
    with np.errstate(invalid="ignore"):
        bad_ll = ~(np.abs(lat) <= 90.0) | ~(np.abs(lon) <= 180.0)
        zero = (lat == 0.0) & (lon == 0.0)
        alt = _float(positions, "altitude_ft")
        bad_alt = ~np.isnan(alt) & ~((alt >= ALTITUDE_FT[0]) & (alt <= ALTITUDE_FT[1]))
        gs = _float(positions, "groundspeed_kt")
        bad_gs = ~np.isnan(gs) & ~((gs >= 0.0) & (gs <= MAX_SPEED_KT))
        far = distance_km(lat, lon, receiver.lat, receiver.lon) > max_range_km

    reason = np.full(n, None, dtype=object)
    # Assign from the last rule to the first so that the first failing rule wins.
    for name, mask in reversed(
        list(
            zip(
                REASONS,
                (bad_icao, bad_time, future, bad_ll, zero, bad_alt, bad_gs, far),
                strict=True,
            )
        )
    ):
        reason[mask] = name
    rejected = reason != None  # noqa: E711  (element-wise on an object array)

    valid = positions.loc[~rejected].reindex(columns=list(POSITION_COLUMNS))
    valid["icao24"] = icao[~rejected].astype(object)
    valid["ts"] = ts[~rejected]
    for col, values in (("lat", lat), ("lon", lon), ("altitude_ft", alt), ("groundspeed_kt", gs)):
        valid[col] = values[~rejected]
    if not rejected.any():
        return valid, empty_rejects()
    bad = positions.loc[rejected]
    if "raw" in bad:
        # Parsers may keep each line with its line end (cheaper for the rows never rejected).
        raw = bad["raw"].astype(object).map(lambda v: v.rstrip("\r\n") if isinstance(v, str) else v)
    else:
        raw = render_raw(bad)
    rejects = pd.DataFrame({"raw": raw.to_numpy(), "reason": reason[rejected]})
    return valid, rejects.loc[:, list(REJECT_COLUMNS)]


def count_reasons(rejects: pd.DataFrame) -> dict[str, int]:
    """Rejected lines per reason."""
    if rejects.empty:
        return {}
    return {str(k): int(v) for k, v in rejects["reason"].value_counts(sort=False).items()}
