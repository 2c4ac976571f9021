"""The rules every position must pass before it is stored, each failure with a reason.

A position is rejected for a bad key, time or place. A bad callsign or squawk does not cost
the position: the field is cleared (stored as NULL) and counted as a note. This is also the
one place that fits text to the schema's column widths, so that SQLite (which would store
any length) and PostgreSQL (which refuses, losing the chunk) store the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from oddflights import config
from oddflights.columns import POSITION_COLUMNS
from oddflights.db.models import PositionRow
from oddflights.flights.geo import EARTH_RADIUS_KM
from oddflights.ingest.types import REJECT_COLUMNS, empty_rejects
from oddflights.receivers import Receiver

ALTITUDE_FT = (-2_000.0, 60_000.0)
MAX_SPEED_KT = 1_500.0
# Receiver clocks drift a little; a report a few seconds "ahead" of now is not from the future.
CLOCK_SKEW = timedelta(minutes=1)
# No receiver heard Mode S positions before this: earlier times are broken clocks (1970 is a
# clock that was never set), and years pandas cannot hold (0001, 9999) are rejected the same.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
# datetime64[ns] holds 1677-09-21 to 2262-04-11; times outside it must never reach a cast.
# Half of that span around 1970 (1824-2116) leaves room for arithmetic on the times.
_NS_LIMIT = np.iinfo(np.int64).max // 2


def column_width(name: str) -> int:
    """The width of a text column of the positions table (from the schema)."""
    kind = PositionRow.__table__.c[name].type
    return int(cast(sa.String, kind).length or 0)


CALLSIGN_WIDTH = column_width("callsign")
SQUAWK_WIDTH = column_width("squawk")
SOURCE_WIDTH = column_width("source")
# Printable ASCII only: a control character (NUL above all) cannot be stored by PostgreSQL.
_CALLSIGN = r"^[\x20-\x7e]+$"
_SQUAWK = rf"^[0-7]{{{SQUAWK_WIDTH}}}$"
# Notes on fields cleared from positions that were kept.
FIELD_NOTES: tuple[str, ...] = ("callsign_too_long", "bad_callsign", "bad_squawk")

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


def utc_ns(values: Any) -> np.ndarray:
    """Times (datetime-like of any unit, or text pandas parses) as UTC datetime64[ns];
    NaT where they do not parse or lie outside what datetime64[ns] holds. Never raises."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if series.dtype.kind == "b":
        return np.full(len(series), np.datetime64("NaT"), dtype="datetime64[ns]")
    try:
        ts = pd.to_datetime(series, utc=True, errors="coerce")
    except (ValueError, TypeError, OverflowError, NotImplementedError):
        ts = pd.Series([_one_time(v) for v in series], dtype="datetime64[ns, UTC]")
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.Series([_one_time(v) for v in series], dtype="datetime64[ns, UTC]")
    return ns_in_range(ts)


def _one_time(value: object) -> Any:
    try:
        t = pd.Timestamp(value)  # type: ignore[arg-type]
        if t is pd.NaT:
            return pd.NaT
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        return t.as_unit("ns")
    except (ValueError, TypeError, OverflowError, NotImplementedError):
        return pd.NaT


def ns_in_range(ts: pd.Series) -> np.ndarray:
    """tz-aware times of any unit as UTC datetime64[ns], NaT where ns cannot hold them."""
    unit = str(getattr(ts.dt, "unit", "ns"))
    per = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[unit]
    ticks = np.asarray(ts.dt.tz_convert("UTC").array.asi8, dtype=np.int64)
    nat = np.iinfo(np.int64).min
    ok = ticks != nat
    ok[ok] = np.abs(ticks[ok]) < _NS_LIMIT // per
    ns = np.where(ok, ticks * np.where(ok, per, 1), nat)
    return np.asarray(ns, dtype=np.int64).view("datetime64[ns]")


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


@dataclass
class Validation:
    """What validation made of a chunk of positions."""

    valid: pd.DataFrame  # POSITION_COLUMNS, ``icao24`` lower-case, ``ts`` UTC
    rejects: pd.DataFrame  # ``raw`` and ``reason`` (one of REASONS)
    fields_cleared: dict[str, int] = field(default_factory=dict)  # FIELD_NOTES counts
    # Positions that passed every rule but the distance, and were too far: their count and
    # median place (NaN when none), to tell a receiver set up in the wrong place.
    far: int = 0
    far_lat: float = float("nan")
    far_lon: float = float("nan")
    # Where in the positions the rejects came from (positions, in the order of ``rejects``).
    rejected_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def validate(
    positions: pd.DataFrame,
    receiver: Receiver,
    *,
    now: datetime,
    max_range_km: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split parsed positions into (valid, rejects): validate_positions without its notes."""
    checked = validate_positions(positions, receiver, now=now, max_range_km=max_range_km)
    return checked.valid, checked.rejects


def validate_positions(
    positions: pd.DataFrame,
    receiver: Receiver,
    *,
    now: datetime,
    max_range_km: float | None = None,
) -> Validation:
    """Split parsed positions into valid ones and rejects, and clear bad fields of the valid.

    Valid rows keep the POSITION_COLUMNS (``icao24`` lower-case, ``ts`` UTC; a callsign
    longer than the schema's width or not printable ASCII, and a squawk that is not 4 octal
    digits, become None and are counted in ``fields_cleared``); rejects have ``raw`` (the
    row's ``raw`` column when the parser kept the input line) and ``reason`` (one of
    REASONS). ``max_range_km`` defaults to ``max_range_factor`` × the receiver's range.
    """
    if max_range_km is None:
        max_range_km = float(config.get("max_range_factor")) * receiver.range_km
    n = len(positions)
    if n == 0:
        return Validation(positions.reindex(columns=list(POSITION_COLUMNS)), empty_rejects())

    icao = positions["icao24"].astype("string").str.strip().str.lower()
    bad_icao = ~icao.str.fullmatch(r"[0-9a-f]{6}").fillna(False).to_numpy(dtype=bool)

    ts_ns = utc_ns(positions["ts"])
    earliest = np.datetime64(pd.Timestamp(EARLIEST).tz_localize(None), "ns")
    with np.errstate(invalid="ignore"):
        bad_time = np.isnat(ts_ns) | (ts_ns < earliest)
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
    valid["ts"] = pd.Series(ts_ns[~rejected], index=valid.index).dt.tz_localize("UTC")
    for col, values in (("lat", lat), ("lon", lon), ("altitude_ft", alt), ("groundspeed_kt", gs)):
        valid[col] = values[~rejected]
    notes = _clear_bad_fields(valid)
    is_far = reason == "out_of_range_km"
    result = Validation(valid, empty_rejects(), notes, far=int(is_far.sum()))
    if result.far:
        result.far_lat = float(np.median(lat[is_far]))
        result.far_lon = float(np.median(lon[is_far]))
    if not rejected.any():
        return result
    bad = positions.loc[rejected]
    if "raw" in bad:
        # Parsers may keep each line with its line end (cheaper for the rows never rejected).
        raw = bad["raw"].astype(object).map(lambda v: v.rstrip("\r\n") if isinstance(v, str) else v)
    else:
        raw = render_raw(bad)
    rejects = pd.DataFrame({"raw": raw.to_numpy(), "reason": reason[rejected]})
    result.rejects = rejects.loc[:, list(REJECT_COLUMNS)]
    result.rejected_rows = np.flatnonzero(rejected)
    return result


def _clear_bad_fields(valid: pd.DataFrame) -> dict[str, int]:
    """Set bad callsigns and squawks of ``valid`` to None, in place; counts by FIELD_NOTES.
    Checked with arrow (this runs on every stored position); a column is only rewritten
    when something in it is cleared."""
    notes: dict[str, int] = {}
    if valid.empty:
        return notes
    callsign = _arrow_text(valid["callsign"])
    length = pc.utf8_length(callsign)
    given = _mask(pc.greater(length, 0))
    too_long = given & _mask(pc.greater(length, CALLSIGN_WIDTH))
    unprintable = given & ~too_long & ~_mask(pc.match_substring_regex(callsign, _CALLSIGN))
    squawk = _arrow_text(valid["squawk"])
    bad_squawk = _mask(pc.greater(pc.utf8_length(squawk), 0)) & ~_mask(
        pc.match_substring_regex(squawk, _SQUAWK)
    )
    for name, mask in zip(FIELD_NOTES, (too_long, unprintable, bad_squawk), strict=True):
        count = int(mask.sum())
        if count:
            notes[name] = count
    for column, clear in (("callsign", too_long | unprintable), ("squawk", bad_squawk)):
        if clear.any():
            values = valid[column].astype(object).to_numpy(copy=True)
            values[clear] = None
            valid[column] = values
    return notes


def _arrow_text(values: pd.Series) -> pa.Array:
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: as text
        return pa.array(values.astype("string"), type=pa.string(), from_pandas=True)


def _mask(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def count_reasons(rejects: pd.DataFrame) -> dict[str, int]:
    """Rejected lines per reason."""
    if rejects.empty:
        return {}
    return {str(k): int(v) for k, v in rejects["reason"].value_counts(sort=False).items()}
