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

CRC24_POLY = 0xFFF409
BEAST_CLOCK_HZ = 12_000_000
# Frames that go with a position come this long before it, so that a decoder which joins the
# latest velocity and callsign finds them (and Beast/AVR counters keep a strict order).
_SIDE_FRAME_LEAD_S = (0.002, 0.001)
_CALLSIGN_CHARS = "#ABCDEFGHIJKLMNOPQRSTUVWXYZ##### ###############0123456789######"
_CHAR_CODE = {c: i for i, c in enumerate(_CALLSIGN_CHARS) if c != "#"}
_NZ = 15


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc = ((crc << 1) ^ CRC24_POLY) if crc & 0x800000 else (crc << 1)
        table[byte] = crc & 0xFFFFFF
    return table


CRC_TABLE = _crc_table()


def crc24(data: np.ndarray) -> np.ndarray:
    """The Mode S CRC-24 remainder of each row of ``data`` (uint8, shape (n, k)): the parity
    to append to a frame's first k bytes, or 0 for a whole frame that passes the check."""
    crc = np.zeros(data.shape[0], dtype=np.uint32)
    for col in range(data.shape[1]):
        idx = ((crc >> 16) ^ data[:, col].astype(np.uint32)) & 0xFF
        crc = CRC_TABLE[idx] ^ ((crc << 8) & 0xFFFFFF)
    return crc


def cpr_nl(lat: np.ndarray) -> np.ndarray:
    """The number of CPR longitude zones at each latitude (NL function, 1..59)."""
    lat = np.abs(np.asarray(lat, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 1.0 - np.cos(np.pi / (2 * _NZ))
        b = np.cos(np.radians(lat)) ** 2
        nl = np.floor(2 * np.pi / np.arccos(1.0 - a / b))
    nl = np.where(lat == 0, 59, nl)
    nl = np.where(lat == 87, 2, nl)
    nl = np.where(lat > 87, 1, nl)
    return np.nan_to_num(nl, nan=1).astype(np.int64)


def cpr_encode_airborne(
    lat: np.ndarray, lon: np.ndarray, odd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """17-bit airborne CPR (lat_cpr, lon_cpr) of each position, even or odd format."""
    i = odd.astype(np.int64)
    dlat = 360.0 / (4 * _NZ - i)
    yz = np.floor(2**17 * np.mod(lat, dlat) / dlat + 0.5)
    rlat = dlat * (yz / 2**17 + np.floor(lat / dlat))
    dlon = 360.0 / np.maximum(cpr_nl(rlat) - i, 1)
    xz = np.floor(2**17 * np.mod(lon, dlon) / dlon + 0.5)
    return yz.astype(np.int64) % 2**17, xz.astype(np.int64) % 2**17


def _altitude_code(alt_ft: np.ndarray) -> np.ndarray:
    """12-bit altitude field with Q=1 (25 ft steps, -1,000..50,175 ft); 0 = unknown."""
    n = np.round((np.clip(alt_ft, -1000, 50175) + 1000) / 25)
    n = np.nan_to_num(n, nan=0).astype(np.int64)
    code = ((n >> 4) << 5) | (1 << 4) | (n & 0xF)
    return np.where(np.isnan(alt_ft), 0, code)


def _frames(icao: np.ndarray, me: np.ndarray) -> np.ndarray:
    """Whole DF17 frames (uint8, shape (n, 14)) from 24-bit addresses and 56-bit ME fields."""
    n = len(icao)
    out = np.zeros((n, 14), dtype=np.uint8)
    out[:, 0] = 0x8D  # DF17, CA 5
    for k in range(3):
        out[:, 1 + k] = (icao >> (16 - 8 * k)) & 0xFF
    me = me.astype(np.uint64)
    for k in range(7):
        out[:, 4 + k] = ((me >> np.uint64(48 - 8 * k)) & np.uint64(0xFF)).astype(np.uint8)
    parity = crc24(out[:, :11])
    for k in range(3):
        out[:, 11 + k] = (parity >> (16 - 8 * k)) & 0xFF
    return out


def _position_me(pos: pd.DataFrame, odd: np.ndarray) -> np.ndarray:
    lat_cpr, lon_cpr = cpr_encode_airborne(
        pos["lat"].to_numpy(np.float64), pos["lon"].to_numpy(np.float64), odd
    )
    alt = _altitude_code(pos["altitude_ft"].to_numpy(np.float64))
    tc = 11  # barometric altitude, NUCp 7
    return (tc << 51) | (alt << 36) | (odd.astype(np.int64) << 34) | (lat_cpr << 17) | lon_cpr


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
    return (
        (19 << 51)
        | (1 << 48)
        | (nuc << 43)
        | (dew << 42)
        | (vew << 32)
        | (dns << 31)
        | (vns << 21)
        | (0 << 20)  # vertical rate source: barometric
        | (svr << 19)
        | (vrv << 10)
    )


def _ident_me(callsigns: pd.Series) -> np.ndarray:
    out = np.zeros(len(callsigns), dtype=np.int64)
    for k, cs in enumerate(callsigns.to_numpy()):
        text = (str(cs).upper() if isinstance(cs, str) else "")[:8].ljust(8)
        value = 4 << 51
        for j, ch in enumerate(text):
            value |= _CHAR_CODE.get(ch, 32) << (42 - 6 * j)
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


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_chars(data: np.ndarray) -> np.ndarray:
    """Lower-case hex digits of each row of ``data`` (uint8 (n, k)) as uint8 (n, 2k)."""
    out = np.empty((data.shape[0], 2 * data.shape[1]), dtype=np.uint8)
    out[:, 0::2] = _HEX[data >> 4]
    out[:, 1::2] = _HEX[data & 0x0F]
    return out


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
