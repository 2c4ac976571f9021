"""The Mode S decoder: extended squitters (DF17/18) into positions, via rs1090.

The readers of each input (raw hex CSV/JSONL: oddflights.ingest.raw; AVR text:
oddflights.ingest.avr; Beast binary: oddflights.ingest.beast) turn their bytes into
time-stamped frames and hand them to a ModesDecoder; the Mode S constants (CRC-24, CPR zones,
callsign alphabet, bit fields) are in oddflights.mode_s, shared with the simulator.

Frames are checked here before rs1090 sees them (it panics on bad hex and silently drops
frames that fail their CRC): bad hex and odd lengths, and DF17/18 frames whose CRC-24 does
not check, become counted rejects. Valid frames that carry no position (velocity,
identification, other downlink formats) are read but neither accepted nor rejected.

Position messages take the latest velocity (TC 19), callsign (TC 1-4) and altitude of the
same aircraft. That state, and the last position frames of each aircraft (so that rs1090 can
pair even/odd CPR frames across blocks), carry from block to block. A position whose CPR
cannot be paired yet (an aircraft's first frame) is decoded locally against the receiver when
the receiver's range makes that unambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import rs1090

from oddflights.columns import POSITION_COLUMNS
from oddflights.ingest.types import ParsedChunk, empty_rejects
from oddflights.mode_s import (
    BEAST_CLOCK_HZ,
    CALLSIGN_ALPHABET,
    CALLSIGN_CHARS,
    CPR_BITS,
    NZ,
    callsign_char_bits,
    cpr_nl,
    crc24,
    downlink_format,
    hex_chars,
    icao_address,
    me_bits,
    me_field,
    type_code,
)
from oddflights.receivers import Receiver

# Epoch seconds datetime64[ns] holds with room to spare (to 2096); later is rejected as
# bad_time here, before a conversion could overflow (validate rejects the future anyway).
MAX_EPOCH_S = 4.0e9
# Local CPR decoding against the receiver is unambiguous within half a latitude zone
# (~333 km); stay well inside it.
LOCAL_CPR_MAX_KM = 300.0
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_STATE_COLUMNS = ("groundspeed_kt", "track_deg", "vertical_rate_fpm", "callsign", "altitude_ft")
# Tie-break for frames that share a time (no usable clock): keep their order, 1 ms apart,
# the resolution SQLite stores times at (a finer step would make one aircraft's positions of
# a burst share a stored time, and all but the first be dropped as repeats).
TIE_S = 1e-3
_CHARSET = np.array(list(CALLSIGN_ALPHABET))


def rejects_frame(raws: Sequence[str], reasons: Sequence[str]) -> pd.DataFrame:
    """Rejected input lines and why, as the rejects DataFrame of a ParsedChunk."""
    if not raws:
        return empty_rejects()
    return pd.DataFrame({"raw": list(raws), "reason": list(reasons)}, dtype=object)


def empty_positions() -> pd.DataFrame:
    """A positions frame with no rows and the canonical dtypes."""
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in POSITION_COLUMNS})
    out["ts"] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm"):
        out[c] = pd.Series(dtype=np.float64)
    out["onground"] = pd.Series(dtype=object)
    return out


def cpr_local_airborne(
    lat_cpr: np.ndarray, lon_cpr: np.ndarray, odd: np.ndarray, ref_lat: float, ref_lon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Airborne CPR decoded against a reference within ~300 km (the receiver): DO-260B
    A.1.7.5, locally unambiguous decoding."""
    i = odd.astype(np.int64)
    dlat = 360.0 / (4 * NZ - i)
    yl = lat_cpr / 2**CPR_BITS
    j = np.floor(ref_lat / dlat) + np.floor(0.5 + np.mod(ref_lat, dlat) / dlat - yl)
    lat = dlat * (j + yl)
    dlon = 360.0 / np.maximum(cpr_nl(lat) - i, 1)
    xl = lon_cpr / 2**CPR_BITS
    m = np.floor(ref_lon / dlon) + np.floor(0.5 + np.mod(ref_lon, dlon) / dlon - xl)
    lon = dlon * (m + xl)
    return lat, lon


def _checked(arr: npt.NDArray[np.uint8]) -> tuple[np.ndarray, np.ndarray]:
    """Which frames are extended squitters (DF 17 or 18), and which of those fail the CRC."""
    df = downlink_format(arr)
    adsb = (df == 17) | (df == 18)
    return adsb, adsb & (crc24(arr) != 0)


def _kinds(tc: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Identification (TC 1-4), airborne velocity (TC 19) and position (surface TC 5-8,
    airborne TC 9-18 and 20-22) among the frames that are ``ok``."""
    is_ident = ok & (tc >= 1) & (tc <= 4)
    is_vel = ok & (tc == 19)
    is_pos = ok & (((tc >= 5) & (tc <= 18)) | ((tc >= 20) & (tc <= 22)))
    return is_ident, is_vel, is_pos


class ModesDecoder:
    """Decodes time-stamped hex frames block after block, keeping per-aircraft state."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self._state = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in _STATE_COLUMNS}, index=pd.Index([], name="icao24")
        )
        # The last two position frames of each aircraft: {icao24: [(ts, hex), ...]}.
        self._context: dict[str, list[tuple[float, str]]] = {}

    def decode(
        self, ts: np.ndarray, frames: Sequence[str], raws: Sequence[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Positions and rejects for frames (hex) received at ``ts`` (epoch seconds);
        ``raws`` is the input text of each frame, kept for rejects."""
        bad_raw: list[str] = []
        bad_reason: list[str] = []
        keep_idx: list[int] = []
        data: list[bytes] = []
        for k, text in enumerate(frames):
            t = ts[k]
            if not np.isfinite(t):
                bad_raw.append(raws[k])
                bad_reason.append("bad_time")
                continue
            if len(text) not in (14, 28):
                bad_raw.append(raws[k])
                bad_reason.append("bad_length")
                continue
            if not HEX_DIGITS.issuperset(text):
                bad_raw.append(raws[k])
                bad_reason.append("bad_hex")
                continue
            if len(text) == 28:
                keep_idx.append(k)
                data.append(bytes.fromhex(text))
        if not data:
            return empty_positions(), rejects_frame(bad_raw, bad_reason)
        arr = np.frombuffer(b"".join(data), dtype=np.uint8).reshape(-1, 14)
        return self.decode_bytes(
            np.asarray(ts, dtype=np.float64)[keep_idx], arr, [raws[k] for k in keep_idx],
            bad_raw, bad_reason,
        )  # fmt: skip

    def decode_bytes(
        self,
        ts: np.ndarray,
        arr: np.ndarray,
        raws: Sequence[str] | Callable[[int], str],
        bad_raw: list[str] | None = None,
        bad_reason: list[str] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Positions and rejects for long frames (uint8 (n, 14)) received at ``ts`` (finite
        epoch seconds); ``raws`` gives each frame's input text for rejects (a list, or a
        function of the index so that text is made only for rejects)."""
        raw_of: Callable[[int], str] = raws.__getitem__ if isinstance(raws, Sequence) else raws
        bad_raw = [] if bad_raw is None else bad_raw
        bad_reason = [] if bad_reason is None else bad_reason
        t_all = np.asarray(ts, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            # A start time far off (year 9999) must be a counted reject, not an overflow.
            timely = (t_all > 0) & (t_all < MAX_EPOCH_S)
        for j in np.flatnonzero(~timely).tolist():
            bad_raw.append(raw_of(j))
            bad_reason.append("bad_time")
        if len(arr) == 0 or not timely.any():
            return empty_positions(), rejects_frame(bad_raw, bad_reason)
        frames = hex_chars(arr).view("S28").ravel()
        idx: np.ndarray = np.flatnonzero(timely)
        arr, t_all = arr[timely], t_all[timely]
        tc = type_code(arr)
        adsb, crc_bad = _checked(arr)
        for k in idx[crc_bad]:
            bad_raw.append(raw_of(int(k)))
            bad_reason.append("crc")
        ok = adsb & ~crc_bad
        order = np.argsort(t_all, kind="stable")
        arr, idx, tc, ok, t_all = arr[order], idx[order], tc[order], ok[order], t_all[order]
        icao = icao_address(arr)
        is_ident, is_vel, is_pos = _kinds(tc, ok)
        events = side_fields(me_field(arr), is_ident, is_vel)
        events["icao"] = icao
        pos_rows = np.flatnonzero(is_pos)
        decoded, lost = self._decode_positions(
            t_all[pos_rows], [f.decode("ascii") for f in frames[idx[pos_rows]]], icao[pos_rows]
        )
        for k in lost:
            bad_raw.append(raw_of(int(idx[pos_rows[k]])))
            bad_reason.append("undecodable")
        positions, unresolved = self._join(events, is_ident | is_vel, pos_rows, t_all, decoded)
        for k in unresolved:
            bad_raw.append(raw_of(int(idx[pos_rows[k]])))
            bad_reason.append("cpr_unresolved")
        return positions, rejects_frame(bad_raw, bad_reason)

    def _decode_positions(
        self, ts: np.ndarray, frames: list[str], icao: np.ndarray
    ) -> tuple[dict[str, np.ndarray], list[int]]:
        """rs1090 on position frames (after each aircraft's last two earlier ones, so that
        even/odd CPR pairs span blocks): arrays aligned with ``frames``, and the indices of
        frames it dropped."""
        n = len(frames)
        out = {
            "lat": np.full(n, np.nan),
            "lon": np.full(n, np.nan),
            "alt": np.full(n, np.nan),
            "gs": np.full(n, np.nan),
            "trk": np.full(n, np.nan),
            "surface": np.zeros(n, dtype=bool),
            "lat_cpr": np.full(n, np.nan),
            "lon_cpr": np.full(n, np.nan),
            "odd": np.zeros(n, dtype=bool),
        }
        if n == 0:
            return out, []
        context = sorted(c for pair in self._context.values() for c in pair if c[0] <= ts[0])
        all_ts = [c[0] for c in context] + ts.tolist()
        all_frames = [c[1] for c in context] + frames
        try:
            decoded: list[dict[str, Any]] = rs1090.decode(  # type: ignore[assignment]
                all_frames, all_ts, reference=(self.receiver.lat, self.receiver.lon)
            )
        except BaseException as exc:  # rs1090 panics arrive as BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return out, list(range(n))
        # rs1090 keeps input order and drops what it cannot decode: align on (time, frame)
        # when it dropped any, by position otherwise.
        n_ctx = len(context)
        if len(decoded) == len(all_frames):
            pairs: Iterator[tuple[int, dict[str, Any]]] = enumerate(decoded[n_ctx:])
        else:
            where = {(t, f): k for k, (t, f) in enumerate(zip(ts.tolist(), frames, strict=True))}
            pairs = (
                (where[at], m)
                for m in decoded
                if (at := (m.get("timestamp"), m.get("frame"))) in where
            )
        seen = np.zeros(n, dtype=bool)
        lat, lon, alt = out["lat"], out["lon"], out["alt"]
        for k, m in pairs:
            seen[k] = True
            la = m.get("latitude")
            if la is not None:
                lat[k] = la
                lon[k] = m["longitude"]
            else:
                out["lat_cpr"][k] = m.get("lat_cpr", np.nan)
                out["lon_cpr"][k] = m.get("lon_cpr", np.nan)
                out["odd"][k] = m.get("parity") == "odd"
            a = m.get("altitude")
            if isinstance(a, int | float):
                alt[k] = a
            if m.get("bds") == "06":
                out["surface"][k] = True
                for key, name in (("groundspeed", "gs"), ("track", "trk")):
                    value = m.get(key)
                    if isinstance(value, int | float):
                        out[name][k] = value
        self._remember_context(icao, ts, frames)
        return out, np.flatnonzero(~seen).tolist()

    def _remember_context(self, icao: np.ndarray, ts: np.ndarray, frames: list[str]) -> None:
        last: dict[int, list[int]] = {}
        for k in range(len(frames) - 1, -1, -1):
            got = last.setdefault(int(icao[k]), [])
            if len(got) < 2:
                got.append(k)
        for a, ks in last.items():
            key = f"{a:06x}"
            pair = self._context.get(key, []) + [(float(ts[k]), frames[k]) for k in reversed(ks)]
            self._context[key] = pair[-2:]

    def _join(
        self,
        events: dict[str, np.ndarray],
        side: np.ndarray,
        pos_rows: np.ndarray,
        ts: np.ndarray,
        decoded: dict[str, np.ndarray],
    ) -> tuple[pd.DataFrame, list[int]]:
        """Positions with the latest velocity, callsign and altitude of their aircraft;
        and the indices (into pos_rows) of positions whose CPR could not be resolved."""
        lat, lon = decoded["lat"], decoded["lon"]
        self._fill_local(decoded)
        n_pos = len(pos_rows)
        rows = np.concatenate([np.flatnonzero(side), pos_rows])
        pos_alt = np.r_[np.full(int(side.sum()), np.nan), decoded["alt"]]
        work = pd.DataFrame(
            {
                "icao24": [f"{a:06x}" for a in events["icao"][rows]],
                "groundspeed_kt": events["gs"][rows],
                "track_deg": events["trk"][rows],
                "vertical_rate_fpm": events["vr"][rows],
                "callsign": events["callsign"][rows],
                "altitude_ft": pos_alt,
                "_row": rows,
                "_pos": np.r_[np.full(int(side.sum()), -1), np.arange(n_pos)],
            }
        )
        work = work.sort_values("_row", kind="stable").reset_index(drop=True)
        state = self._state.reset_index()
        n_state = len(state)
        joined = pd.concat([state, work.drop(columns=["_row", "_pos"])], ignore_index=True)
        cols = list(_STATE_COLUMNS)
        filled = joined.groupby("icao24", sort=False)[cols].ffill()
        filled["icao24"] = joined["icao24"]
        self._state = filled.groupby("icao24", sort=False)[cols].last().astype(object)
        filled = filled.iloc[n_state:].reset_index(drop=True)
        at = work["_pos"].to_numpy()
        is_p = at >= 0
        p_index = at[is_p]
        f = filled.loc[is_p]
        prev_alt = np.full(n_pos, np.nan)
        prev_gs = np.full(n_pos, np.nan)
        prev_trk = np.full(n_pos, np.nan)
        prev_vr = np.full(n_pos, np.nan)
        callsign = np.full(n_pos, None, dtype=object)
        prev_alt[p_index] = f["altitude_ft"].astype(np.float64).to_numpy()
        prev_gs[p_index] = f["groundspeed_kt"].astype(np.float64).to_numpy()
        prev_trk[p_index] = f["track_deg"].astype(np.float64).to_numpy()
        prev_vr[p_index] = f["vertical_rate_fpm"].astype(np.float64).to_numpy()
        callsign[p_index] = f["callsign"].to_numpy(dtype=object)

        surface = decoded["surface"]
        resolved = np.isfinite(lat) & np.isfinite(lon)
        unresolved = np.flatnonzero(~resolved).tolist()
        s = resolved
        icao_pos = events["icao"][pos_rows][s]
        out = pd.DataFrame(
            {
                "icao24": pd.array([f"{a:06x}" for a in icao_pos], dtype="str"),
                "ts": _to_utc(ts[pos_rows][s]),
                "lat": lat[s],
                "lon": lon[s],
                "altitude_ft": np.where(surface[s], np.nan, prev_alt[s]),
                "groundspeed_kt": np.where(surface[s], decoded["gs"][s], prev_gs[s]),
                "track_deg": np.where(surface[s], decoded["trk"][s], prev_trk[s]),
                "vertical_rate_fpm": np.where(surface[s], np.nan, prev_vr[s]),
                "callsign": callsign[s],
                "squawk": np.full(int(s.sum()), None, dtype=object),
                "onground": surface[s].astype(object),
            }
        )
        return out, unresolved

    def _fill_local(self, decoded: dict[str, np.ndarray]) -> None:
        """Decode unpaired airborne CPR against the receiver, in place, where unambiguous."""
        if 1.5 * self.receiver.range_km > LOCAL_CPR_MAX_KM:
            return
        todo = ~decoded["surface"] & ~np.isfinite(decoded["lat"]) & np.isfinite(decoded["lat_cpr"])
        if not todo.any():
            return
        la, lo = cpr_local_airborne(
            decoded["lat_cpr"][todo], decoded["lon_cpr"][todo], decoded["odd"][todo],
            self.receiver.lat, self.receiver.lon,
        )  # fmt: skip
        decoded["lat"][todo] = la
        decoded["lon"][todo] = (lo + 180.0) % 360.0 - 180.0


def side_fields(me: np.ndarray, is_ident: np.ndarray, is_vel: np.ndarray) -> dict[str, np.ndarray]:
    """Velocity (TC 19 subtypes 1-2 ground speed and track; vertical rate of any subtype)
    and callsigns (TC 1-4) of each ME (56-bit, uint64), NaN/None elsewhere. Field bits are
    DO-260B's ME bits (2.2.3.2.6.1 velocity, 2.2.3.2.5 identification)."""
    n = len(me)
    st = me_bits(me, 6, 8)  # subtype: 1-2 ground speed (2: supersonic, 4 kt units)
    ground = is_vel & ((st == 1) | (st == 2))
    scale = np.where(st == 2, 4.0, 1.0)
    vew, vns = me_bits(me, 15, 24), me_bits(me, 26, 35)  # east-west, north-south speed + 1
    known = ground & (vew > 0) & (vns > 0)  # 0: no information
    ve = np.where(me_bits(me, 14, 14) == 1, -1.0, 1.0) * (vew - 1) * scale  # bit 14: 1 = west
    vn = np.where(me_bits(me, 25, 25) == 1, -1.0, 1.0) * (vns - 1) * scale  # bit 25: 1 = south
    gs = np.where(known, np.hypot(ve, vn), np.nan)
    trk = np.where(known, np.degrees(np.arctan2(ve, vn)) % 360.0, np.nan)
    vr_raw = me_bits(me, 38, 46)  # vertical rate / 64 ft/min + 1; 0: no information
    vr_sign = np.where(me_bits(me, 37, 37) == 1, -1, 1)  # bit 37: 1 = down
    vr = np.where(is_vel & (vr_raw > 0), vr_sign * (vr_raw - 1) * 64.0, np.nan)
    callsign = np.full(n, None, dtype=object)
    rows = np.flatnonzero(is_ident)
    if len(rows):
        chars = np.stack(
            [_CHARSET[me_bits(me, *callsign_char_bits(j))[rows]] for j in range(CALLSIGN_CHARS)],
            axis=1,
        )
        names = ["".join(c).replace("#", "").strip() for c in chars]
        callsign[rows] = [c or None for c in names]
    return {"gs": gs, "trk": trk, "vr": vr, "callsign": callsign}


def frame_fields(frames: Sequence[str]) -> pd.DataFrame:
    """What the decoder reads from each whole (28 hex digit) frame on its own, one row each:
    icao24, df, tc, crc_ok, groundspeed_kt, track_deg, vertical_rate_fpm (velocity frames)
    and callsign (identification frames). Positions need frame pairs: see ModesDecoder."""
    arr = np.frombuffer(b"".join(bytes.fromhex(f) for f in frames), dtype=np.uint8)
    arr = arr.reshape(-1, 14)
    adsb, crc_bad = _checked(arr)
    tc = type_code(arr)
    is_ident, is_vel, _ = _kinds(tc, adsb & ~crc_bad)
    side = side_fields(me_field(arr), is_ident, is_vel)
    return pd.DataFrame(
        {
            "icao24": [f"{a:06x}" for a in icao_address(arr)],
            "df": downlink_format(arr).astype(np.int64),
            "tc": tc.astype(np.int64),
            "crc_ok": adsb & ~crc_bad,
            "groundspeed_kt": side["gs"],
            "track_deg": side["trk"],
            "vertical_rate_fpm": side["vr"],
            "callsign": side["callsign"],
        }
    )


def _to_utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    micros = np.round(seconds * 1e6).astype(np.int64)
    return pd.to_datetime(micros, unit="us", utc=True).as_unit("ns")


def decoded_chunk(
    decoder: ModesDecoder,
    ts: list[float],
    frames: list[str],
    raws: list[str],
    pre_raw: list[str],
    pre_reason: list[str],
    lines: int,
    nbytes: int,
) -> ParsedChunk:
    """The ParsedChunk of hex ``frames`` received at ``ts``, with the rejects a reader found
    before decoding (``pre_raw``/``pre_reason``) first."""
    positions, rejects = decoder.decode(np.asarray(ts, dtype=np.float64), frames, raws)
    if pre_raw:
        rejects = pd.concat([rejects_frame(pre_raw, pre_reason), rejects], ignore_index=True)
    return ParsedChunk(positions, rejects, lines=lines, bytes_read=nbytes)


def live_times(counters: np.ndarray, now: float) -> np.ndarray:
    """Wall times for frames of one read: the last one arrived now, the others earlier by
    their 12 MHz counter differences; without usable counters, now plus 1 µs steps."""
    n = len(counters)
    valid = counters >= 0
    if valid.all() and n:
        offset = (counters - counters[-1]) / BEAST_CLOCK_HZ
        if np.all(np.diff(offset) >= 0) and offset[0] > -60.0:
            return now + offset
    return now - (n - 1 - np.arange(n)) * TIE_S


class Reader(Protocol):
    """An incremental reader of a receiver's stream (AVR text, Beast binary)."""

    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk: ...


def feed_all(reader: Reader, stream: IO[bytes], block: int) -> Iterator[ParsedChunk]:
    """Feed a stream to an incremental reader block by block, then flush what is left."""
    while True:
        data = stream.read(block)
        if not data:
            break
        yield reader.feed(data)
    yield reader.feed(b"", final=True)
