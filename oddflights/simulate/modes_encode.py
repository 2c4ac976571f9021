"""Simulated positions as Mode S (DF17 ADS-B) frames: raw CSV, AVR text and Beast binary.

Each position becomes an airborne position frame (barometric altitude, CPR-encoded, even and
odd alternating per aircraft) preceded by a velocity frame (TC 19 subtype 1) and, for the
first position of an aircraft and whenever its callsign changes, an identification frame
(TC 4). Everything is vectorized with numpy: a day of ~3 M positions encodes in seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from oddflights.columns import POSITION_COLUMNS
from oddflights.mode_s import (
    BEAST_CLOCK_HZ,
    CALLSIGN_CHARS,
    CALLSIGN_CODE,
    CPR_BITS,
    NZ,
    callsign_char_bits,
    cpr_nl,
    crc24,
    hex_chars,
    me_put,
)

# Frames that go with a position come this long before it, so that a decoder which joins the
# latest velocity and callsign finds them (and Beast/AVR counters keep a strict order).
_SIDE_FRAME_LEAD_S = (0.002, 0.001)
_SPACE = CALLSIGN_CODE[" "]


def cpr_encode_airborne(
    lat: np.ndarray, lon: np.ndarray, odd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """17-bit airborne CPR (lat_cpr, lon_cpr) of each position, even or odd format
    (DO-260B A.1.7.3, encoding with Nb = 17)."""
    i = odd.astype(np.int64)
    dlat = 360.0 / (4 * NZ - i)
    yz = np.floor(2**CPR_BITS * np.mod(lat, dlat) / dlat + 0.5)
    rlat = dlat * (yz / 2**CPR_BITS + np.floor(lat / dlat))
    dlon = 360.0 / np.maximum(cpr_nl(rlat) - i, 1)
    xz = np.floor(2**CPR_BITS * np.mod(lon, dlon) / dlon + 0.5)
    return yz.astype(np.int64) % 2**CPR_BITS, xz.astype(np.int64) % 2**CPR_BITS


def _altitude_code(alt_ft: np.ndarray) -> np.ndarray:
    """12-bit altitude field (ME bits 9-20) with the Q bit (its 8th bit, ME bit 16) set: 25 ft
    steps, -1,000..50,175 ft; 0 = unknown."""
    n = np.round((np.clip(alt_ft, -1000, 50175) + 1000) / 25)
    n = np.nan_to_num(n, nan=0).astype(np.int64)
    code = ((n >> 4) << 5) | (1 << 4) | (n & 0xF)
    return np.where(np.isnan(alt_ft), 0, code)


def _frames(icao: np.ndarray, me: np.ndarray) -> np.ndarray:
    """Whole DF17 frames (uint8, shape (n, 14)) from 24-bit addresses and 56-bit ME fields."""
    n = len(icao)
    out = np.zeros((n, 14), dtype=np.uint8)
    out[:, 0] = 0x8D  # message bits 1-5 DF 17, bits 6-8 CA 5
    for k in range(3):  # message bits 9-32: the ICAO address
        out[:, 1 + k] = (icao >> (16 - 8 * k)) & 0xFF
    me = me.astype(np.uint64)
    for k in range(7):  # message bits 33-88: the ME
        out[:, 4 + k] = ((me >> np.uint64(48 - 8 * k)) & np.uint64(0xFF)).astype(np.uint8)
    parity = crc24(out[:, :11])
    for k in range(3):  # message bits 89-112: the parity
        out[:, 11 + k] = (parity >> (16 - 8 * k)) & 0xFF
    return out


def _position_me(pos: pd.DataFrame, odd: np.ndarray) -> np.ndarray:
    """Airborne position ME (TC 9-18, DO-260B 2.2.3.2.3)."""
    lat_cpr, lon_cpr = cpr_encode_airborne(
        pos["lat"].to_numpy(np.float64), pos["lon"].to_numpy(np.float64), odd
    )
    alt = _altitude_code(pos["altitude_ft"].to_numpy(np.float64))
    tc = 11  # barometric altitude, NUCp 7
    return (
        me_put(tc, 1, 5)
        | me_put(alt, 9, 20)
        | me_put(odd.astype(np.int64), 22, 22)  # F: CPR format, 1 = odd
        | me_put(lat_cpr, 23, 39)
        | me_put(lon_cpr, 40, 56)
    )


def _velocity_me(pos: pd.DataFrame) -> np.ndarray:
    gs = pos["groundspeed_kt"].to_numpy(np.float64)
    trk = np.radians(pos["track_deg"].to_numpy(np.float64))
    vr = pos["vertical_rate_fpm"].to_numpy(np.float64)
    ve = np.nan_to_num(gs * np.sin(trk), nan=np.inf)
    vn = np.nan_to_num(gs * np.cos(trk), nan=np.inf)

    def component(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known = np.isfinite(v)
        mag = np.where(known, np.clip(np.round(np.abs(np.where(known, v, 0))) + 1, 1, 1023), 0)
        return (np.where(known, v < 0, False)).astype(np.int64), mag.astype(np.int64)

    dew, vew = component(ve)
    dns, vns = component(vn)
    vr_known = np.isfinite(vr)
    svr = np.where(vr_known, vr < 0, False).astype(np.int64)
    vrv = np.where(
        vr_known, np.clip(np.round(np.abs(np.nan_to_num(vr)) / 64) + 1, 1, 511), 0
    ).astype(np.int64)
    nuc = 1
    # Airborne velocity, subtype 1 (ground speed, subsonic): DO-260B 2.2.3.2.6.1.
    return (
        me_put(19, 1, 5)  # TC
        | me_put(1, 6, 8)  # subtype
        | me_put(nuc, 11, 13)  # NUCr
        | me_put(dew, 14, 14)  # east-west direction, 1 = west
        | me_put(vew, 15, 24)  # east-west velocity + 1 (0 = unknown), kt
        | me_put(dns, 25, 25)  # north-south direction, 1 = south
        | me_put(vns, 26, 35)  # north-south velocity + 1, kt
        | me_put(0, 36, 36)  # vertical rate source: barometric
        | me_put(svr, 37, 37)  # vertical rate sign, 1 = down
        | me_put(vrv, 38, 46)  # vertical rate / 64 ft/min + 1 (0 = unknown)
    )


def _ident_me(callsigns: pd.Series) -> np.ndarray:
    """Identification ME (TC 4, DO-260B 2.2.3.2.5): eight six-bit characters, unknown ones
    sent as spaces."""
    out = np.zeros(len(callsigns), dtype=np.int64)
    for k, cs in enumerate(callsigns.to_numpy()):
        text = (str(cs).upper() if isinstance(cs, str) else "")[:CALLSIGN_CHARS]
        value = int(me_put(4, 1, 5))
        for j, ch in enumerate(text.ljust(CALLSIGN_CHARS)):
            value |= int(me_put(CALLSIGN_CODE.get(ch, _SPACE), *callsign_char_bits(j)))
        out[k] = value
    return out


def encode_positions(positions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The DF17 frames a receiver would hear for these positions: (ts, frames), ``ts`` float
    epoch seconds (sorted) and ``frames`` uint8 of shape (n, 14). One position frame per
    position, a velocity frame before each, and an identification frame before the first
    position of an aircraft and whenever its callsign changes."""
    missing = [c for c in POSITION_COLUMNS if c not in positions.columns]
    if missing:
        raise ValueError(f"positions lack columns {missing}")
    pos = positions.sort_values(["ts", "icao24"], kind="stable").reset_index(drop=True)
    if pos.empty:
        return np.zeros(0, dtype=np.float64), np.zeros((0, 14), dtype=np.uint8)
    ts = pos["ts"].dt.tz_convert(UTC).astype("int64").to_numpy() / 1e9
    codes, uniques = pd.factorize(pos["icao24"].astype(str))
    icao = np.array([int(x, 16) for x in uniques], dtype=np.int64)[codes]
    odd = pos.groupby("icao24", sort=False).cumcount().to_numpy() % 2 == 1
    callsign = pos["callsign"].astype(object).where(pos["callsign"].notna(), "")
    prev = callsign.groupby(pos["icao24"], sort=False).shift(1)
    need_ident = (prev.isna() | (prev != callsign)).to_numpy() & (callsign != "").to_numpy()

    lead_ident, lead_velocity = _SIDE_FRAME_LEAD_S
    parts = [
        (ts[need_ident] - lead_ident, _frames(icao[need_ident], _ident_me(callsign[need_ident]))),
        (ts - lead_velocity, _frames(icao, _velocity_me(pos))),
        (ts, _frames(icao, _position_me(pos, odd))),
    ]
    all_ts = np.concatenate([p[0] for p in parts])
    all_frames = np.concatenate([p[1] for p in parts])
    order = np.argsort(all_ts, kind="stable")
    return all_ts[order], all_frames[order]


def _counter_bytes(ticks: np.ndarray, width: int = 6) -> np.ndarray:
    ticks = ticks.astype(np.uint64)
    out = np.empty((len(ticks), width), dtype=np.uint8)
    for k in range(width):
        out[:, k] = ((ticks >> np.uint64(8 * (width - 1 - k))) & np.uint64(0xFF)).astype(np.uint8)
    return out


def _ticks(ts: np.ndarray, start_time: datetime) -> np.ndarray:
    start = start_time.astimezone(UTC).timestamp()
    ticks = np.round((ts - start) * BEAST_CLOCK_HZ)
    if len(ticks) and (ticks.min() < 0 or ticks.max() >= 2**48):
        raise ValueError(
            f"start time {start_time.isoformat()} is after a position or >270 days before"
        )
    return ticks.astype(np.uint64)


def default_start_time(positions: pd.DataFrame) -> datetime:
    """Midnight UTC before the first position: the default epoch of AVR/Beast counters."""
    first = positions["ts"].min().tz_convert(UTC)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def write_raw_csv(positions: pd.DataFrame, path: Path) -> int:
    """Write the frames as CSV ``timestamp,rawmsg`` (epoch seconds, hex); returns frames."""
    ts, frames = encode_positions(positions)
    text = pd.DataFrame({"timestamp": ts, "rawmsg": hex_chars(frames).view("S28").ravel()})
    text["rawmsg"] = text["rawmsg"].str.decode("ascii")
    text.to_csv(path, index=False, float_format="%.6f")
    return len(ts)


def write_avr(positions: pd.DataFrame, path: Path, start_time: datetime | None = None) -> int:
    """Write AVR text with 12 MHz counters (``@<12 hex><28 hex>;``) counted from
    ``start_time`` (default midnight UTC before the first position); returns frames."""
    ts, frames = encode_positions(positions)
    start = start_time or (default_start_time(positions) if len(ts) else datetime.now(UTC))
    n = len(ts)
    line = np.empty((n, 1 + 12 + 28 + 2), dtype=np.uint8)
    line[:, 0] = ord("@")
    line[:, 1:13] = hex_chars(_counter_bytes(_ticks(ts, start)))
    line[:, 13:41] = hex_chars(frames)
    line[:, 41] = ord(";")
    line[:, 42] = ord("\n")
    Path(path).write_bytes(line.tobytes())
    return n


def beast_bytes(
    ts: np.ndarray, frames: np.ndarray, start_time: datetime, signal: int = 0x80
) -> bytes:
    """Beast binary of long frames: 0x1a '3', 6-byte 12 MHz counter, signal, 14 bytes, with
    every 0x1a after the type byte doubled."""
    n = len(ts)
    raw = np.empty((n, 2 + 6 + 1 + 14), dtype=np.uint8)
    raw[:, 0] = 0x1A
    raw[:, 1] = ord("3")
    raw[:, 2:8] = _counter_bytes(_ticks(ts, start_time))
    raw[:, 8] = signal
    raw[:, 9:] = frames
    repeat = np.ones(raw.shape, dtype=np.int64)
    repeat[:, 2:] += raw[:, 2:] == 0x1A
    return np.repeat(raw.ravel(), repeat.ravel()).tobytes()


def write_beast(positions: pd.DataFrame, path: Path, start_time: datetime | None = None) -> int:
    """Write Beast binary whose counters count 12 MHz ticks from ``start_time`` (default
    midnight UTC before the first position); returns frames written."""
    ts, frames = encode_positions(positions)
    start = start_time or (default_start_time(positions) if len(ts) else datetime.now(UTC))
    Path(path).write_bytes(beast_bytes(ts, frames, start))
    return len(ts)
