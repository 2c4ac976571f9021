"""Raw Mode S frames (hex CSV/JSONL, AVR text, Beast binary) into positions, via rs1090.

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

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC
from typing import IO, Any

import numpy as np
import pandas as pd
import rs1090

from oddflights.columns import POSITION_COLUMNS
from oddflights.ingest.types import ParsedChunk, ParseOptions, empty_rejects
from oddflights.receivers import Receiver
from oddflights.simulate.modes_encode import BEAST_CLOCK_HZ, cpr_nl, crc24, hex_chars

# Epoch seconds datetime64[ns] holds with room to spare (to 2096); later is rejected as
# bad_time here, before a conversion could overflow (validate rejects the future anyway).
MAX_EPOCH_S = 4.0e9
TIME_COLUMNS = ("timestamp", "ts", "time")
FRAME_COLUMNS = ("rawmsg", "frame", "hex")
# Local CPR decoding against the receiver is unambiguous within half a latitude zone
# (~333 km); stay well inside it.
LOCAL_CPR_MAX_KM = 300.0
BEAST_LENGTHS = {ord("1"): 2 + 7, ord("2"): 7 + 7, ord("3"): 7 + 14}
_BEAST_FRAME = re.compile(rb"\x1a([123])((?:[^\x1a]|\x1a\x1a)*)", re.DOTALL)
_HEXCHARS = frozenset("0123456789abcdefABCDEF")
_STATE_COLUMNS = ("groundspeed_kt", "track_deg", "vertical_rate_fpm", "callsign", "altitude_ft")
# Tie-break for frames that share a time (no usable clock): keep their order, 1 µs apart.
_TIE_S = 1e-6


def _rejects(raws: Sequence[str], reasons: Sequence[str]) -> pd.DataFrame:
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
    """Airborne CPR decoded against a reference within ~300 km (the receiver)."""
    i = odd.astype(np.int64)
    dlat = 360.0 / (60 - i)
    yl = lat_cpr / 2**17
    j = np.floor(ref_lat / dlat) + np.floor(0.5 + np.mod(ref_lat, dlat) / dlat - yl)
    lat = dlat * (j + yl)
    dlon = 360.0 / np.maximum(cpr_nl(lat) - i, 1)
    xl = lon_cpr / 2**17
    m = np.floor(ref_lon / dlon) + np.floor(0.5 + np.mod(ref_lon, dlon) / dlon - xl)
    lon = dlon * (m + xl)
    return lat, lon


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
            if not _HEXCHARS.issuperset(text):
                bad_raw.append(raws[k])
                bad_reason.append("bad_hex")
                continue
            if len(text) == 28:
                keep_idx.append(k)
                data.append(bytes.fromhex(text))
        if not data:
            return empty_positions(), _rejects(bad_raw, bad_reason)
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
            return empty_positions(), _rejects(bad_raw, bad_reason)
        frames = hex_chars(arr).view("S28").ravel()
        idx: np.ndarray = np.flatnonzero(timely)
        arr, t_all = arr[timely], t_all[timely]
        df = arr[:, 0] >> 3
        tc = arr[:, 4] >> 3
        adsb = (df == 17) | (df == 18)
        crc_bad = adsb & (crc24(arr) != 0)
        for k in idx[crc_bad]:
            bad_raw.append(raw_of(int(k)))
            bad_reason.append("crc")
        ok = adsb & ~crc_bad
        order = np.argsort(t_all, kind="stable")
        arr, idx, tc, ok, t_all = arr[order], idx[order], tc[order], ok[order], t_all[order]
        icao = (arr[:, 1].astype(np.int64) << 16) | (arr[:, 2].astype(np.int64) << 8) | arr[:, 3]
        me = np.zeros(len(arr), dtype=np.uint64)
        for k in range(7):
            me = (me << np.uint64(8)) | arr[:, 4 + k].astype(np.uint64)
        is_ident = ok & (tc >= 1) & (tc <= 4)
        is_vel = ok & (tc == 19)
        is_pos = ok & (((tc >= 5) & (tc <= 18)) | ((tc >= 20) & (tc <= 22)))
        events = _side_events(me, is_ident, is_vel)
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
        return positions, _rejects(bad_raw, bad_reason)

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


_CHARSET = np.array(list("#ABCDEFGHIJKLMNOPQRSTUVWXYZ##### ###############0123456789######"))


def _side_events(me: np.ndarray, is_ident: np.ndarray, is_vel: np.ndarray) -> dict[str, np.ndarray]:
    """Velocity (TC 19 subtypes 1-2 ground speed and track; vertical rate of any subtype)
    and callsigns (TC 1-4) decoded with numpy, NaN/None elsewhere."""
    n = len(me)

    def bits(shift: int, width: int) -> np.ndarray:
        return ((me >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)

    st = bits(48, 3)
    ground = is_vel & ((st == 1) | (st == 2))
    scale = np.where(st == 2, 4.0, 1.0)
    vew, vns = bits(32, 10), bits(21, 10)
    known = ground & (vew > 0) & (vns > 0)
    ve = np.where(bits(42, 1) == 1, -1.0, 1.0) * (vew - 1) * scale
    vn = np.where(bits(31, 1) == 1, -1.0, 1.0) * (vns - 1) * scale
    gs = np.where(known, np.hypot(ve, vn), np.nan)
    trk = np.where(known, np.degrees(np.arctan2(ve, vn)) % 360.0, np.nan)
    vr_raw = bits(10, 9)
    vr = np.where(
        is_vel & (vr_raw > 0), np.where(bits(19, 1) == 1, -1, 1) * (vr_raw - 1) * 64.0, np.nan
    )
    callsign = np.full(n, None, dtype=object)
    rows = np.flatnonzero(is_ident)
    if len(rows):
        chars = np.stack([_CHARSET[bits(42 - 6 * j, 6)[rows]] for j in range(8)], axis=1)
        names = ["".join(c).replace("#", "").strip() for c in chars]
        callsign[rows] = [c or None for c in names]
    return {"gs": gs, "trk": trk, "vr": vr, "callsign": callsign}


def _to_utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    micros = np.round(seconds * 1e6).astype(np.int64)
    return pd.to_datetime(micros, unit="us", utc=True).as_unit("ns")


def _chunk(
    decoder: ModesDecoder,
    ts: list[float],
    frames: list[str],
    raws: list[str],
    pre_raw: list[str],
    pre_reason: list[str],
    lines: int,
    nbytes: int,
) -> ParsedChunk:
    positions, rejects = decoder.decode(np.asarray(ts, dtype=np.float64), frames, raws)
    if pre_raw:
        rejects = pd.concat([_rejects(pre_raw, pre_reason), rejects], ignore_index=True)
    return ParsedChunk(positions, rejects, lines=lines, bytes_read=nbytes)


# Raw CSV / JSONL -----------------------------------------------------------------------------


def _parse_time(value: object) -> float:
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return t if 0 < t < MAX_EPOCH_S else float("nan")


def parse_raw(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """Positions from CSV or JSON-lines with an epoch-seconds time column
    (``timestamp``/``ts``/``time``) and a hex frame column (``rawmsg``/``frame``/``hex``)."""
    decoder = ModesDecoder(options.receiver)
    header: list[str] | None = None
    is_json: bool | None = None
    ts: list[float] = []
    frames: list[str] = []
    raws: list[str] = []
    pre_raw: list[str] = []
    pre_reason: list[str] = []
    lines = nbytes = 0
    for raw_line in stream:
        nbytes += len(raw_line)
        line = raw_line.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        lines += 1
        if is_json is None:
            is_json = line.startswith("{")
        if is_json:
            t, frame = _json_fields(line)
        elif header is None:
            header = [h.strip().strip('"').lower() for h in line.split(",")]
            continue
        else:
            t, frame = _csv_fields(line, header)
        if frame is None:
            pre_raw.append(line)
            pre_reason.append("no_frame")
        else:
            ts.append(t)
            frames.append(frame)
            raws.append(line)
        if lines % options.chunk_lines == 0:
            yield _chunk(decoder, ts, frames, raws, pre_raw, pre_reason, lines, nbytes)
            ts, frames, raws, pre_raw, pre_reason = [], [], [], [], []
            lines = nbytes = 0
    if lines or nbytes:
        yield _chunk(decoder, ts, frames, raws, pre_raw, pre_reason, lines, nbytes)


def _clean_frame(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().strip('"').strip()
    if text.startswith("*") and text.endswith(";"):
        text = text[1:-1]
    return text or None


def _json_fields(line: str) -> tuple[float, str | None]:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        return float("nan"), None
    if not isinstance(obj, dict):
        return float("nan"), None
    t = next((obj[c] for c in TIME_COLUMNS if c in obj), None)
    frame = next((obj[c] for c in FRAME_COLUMNS if c in obj), None)
    return _parse_time(t), _clean_frame(frame)


def _csv_fields(line: str, header: list[str]) -> tuple[float, str | None]:
    fields = line.split(",")
    if len(fields) != len(header):
        return float("nan"), None
    row = dict(zip(header, fields, strict=True))
    t = next((row[c] for c in TIME_COLUMNS if c in row), None)
    frame = next((row[c] for c in FRAME_COLUMNS if c in row), None)
    return _parse_time(t.strip().strip('"') if t is not None else None), _clean_frame(frame)


# AVR text ------------------------------------------------------------------------------------


class AvrReader:
    """Incremental AVR text: ``*<hex>;`` lines and ``@<12-hex 12 MHz counter><hex>;`` lines.

    Plain ``*`` lines carry no time: files count them 1 µs apart from the start time, live
    feeds use the arrival time. ``@`` counters count from the start time (files) or are
    anchored to the arrival time of each read (live)."""

    def __init__(self, options: ParseOptions, *, live: bool = False) -> None:
        self.options = options
        self.live = live
        self.decoder = ModesDecoder(options.receiver)
        self._rest = b""
        self._seq = 0
        self._base = options.start_time.astimezone(UTC).timestamp() if options.start_time else None

    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk:
        """Parse the complete lines in ``data`` (plus what was left from the last call)."""
        data = self._rest + data
        cut = len(data) if final else max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._rest = data[cut:]
        text = data[:cut].decode("ascii", errors="replace")
        now = arrival if arrival is not None else time.time()
        ts: list[float] = []
        counters: list[int] = []
        frames: list[str] = []
        raws: list[str] = []
        pre_raw: list[str] = []
        pre_reason: list[str] = []
        lines = 0
        for raw_line in text.splitlines():
            line = raw_line.strip()
            if not line:
                continue
            lines += 1
            if not line.endswith(";") or line[0] not in "*@":
                pre_raw.append(line)
                pre_reason.append("bad_avr")
                continue
            body = line[1:-1]
            if line[0] == "@":
                try:
                    counter = (
                        int(body[:12], 16)
                        if len(body) > 12 and _HEXCHARS.issuperset(body[:12])
                        else -1
                    )
                except ValueError:
                    counter = -1
                if counter < 0:
                    pre_raw.append(line)
                    pre_reason.append("bad_avr")
                    continue
                counters.append(counter)
                body = body[12:]
            else:
                counters.append(-1)
            frames.append(body)
            raws.append(line)
        ts = self._times(counters, now)
        if any(not np.isfinite(t) for t in ts):
            keep = [k for k, t in enumerate(ts) if np.isfinite(t)]
            pre_raw += [raws[k] for k in range(len(ts)) if not np.isfinite(ts[k])]
            pre_reason += ["no_time"] * (len(ts) - len(keep))
            ts = [ts[k] for k in keep]
            frames = [frames[k] for k in keep]
            raws = [raws[k] for k in keep]
        return _chunk(self.decoder, ts, frames, raws, pre_raw, pre_reason, lines, cut)

    def _times(self, counters: list[int], now: float) -> list[float]:
        if not counters:
            return []
        c = np.asarray(counters, dtype=np.float64)
        seq = self._seq + np.arange(len(c))
        self._seq += len(c)
        if self.live:
            return _live_times(c, now).tolist()
        if self._base is None:
            return [float("nan")] * len(c)
        return np.where(c >= 0, self._base + c / BEAST_CLOCK_HZ, self._base + seq * _TIE_S).tolist()


def _live_times(counters: np.ndarray, now: float) -> np.ndarray:
    """Wall times for frames of one read: the last one arrived now, the others earlier by
    their counter differences; without usable counters, now plus 1 µs steps."""
    n = len(counters)
    valid = counters >= 0
    if valid.all() and n:
        offset = (counters - counters[-1]) / BEAST_CLOCK_HZ
        if np.all(np.diff(offset) >= 0) and offset[0] > -60.0:
            return now + offset
    return now - (n - 1 - np.arange(n)) * _TIE_S


def parse_avr(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """Positions from an AVR text file (needs options.start_time for its times)."""
    # ~44 bytes an AVR line: blocks of about chunk_lines lines.
    yield from _feed_all(AvrReader(options), stream, max(options.chunk_lines, 1) * 44)


def _feed_all(
    reader: AvrReader | BeastReader, stream: IO[bytes], block: int
) -> Iterator[ParsedChunk]:
    """Feed a stream to an incremental reader block by block, then flush what is left."""
    while True:
        data = stream.read(block)
        if not data:
            break
        yield reader.feed(data)
    yield reader.feed(b"", final=True)


# Beast binary --------------------------------------------------------------------------------


class BeastReader:
    """Incremental Beast binary: 0x1a, type '1'/'2'/'3', 6-byte 12 MHz counter, signal byte,
    2/7/14 message bytes, with 0x1a doubled inside. Mode A/C ('1') frames are skipped."""

    def __init__(self, options: ParseOptions, *, live: bool = False) -> None:
        self.options = options
        self.live = live
        self.decoder = ModesDecoder(options.receiver)
        self._rest = b""
        self._base = options.start_time.astimezone(UTC).timestamp() if options.start_time else None

    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk:
        """Parse the complete frames in ``data`` (plus what was left from the last call)."""
        data = self._rest + data
        matches = list(_BEAST_FRAME.finditer(data))
        # The last frame may still be arriving: keep it for the next call.
        end = len(data)
        if not final and matches and _beast_short(matches[-1]):
            end = matches[-1].start()
            matches = matches[:-1]
        elif not final and data.endswith(b"\x1a") and not data.endswith(b"\x1a\x1a"):
            end = len(data) - 1
        self._rest = data[end:]
        now = arrival if arrival is not None else time.time()
        longs: list[bytes] = []
        spans: list[tuple[int, int]] = []
        pre_raw: list[str] = []
        pre_reason: list[str] = []
        lines = 0
        pos = 0
        long_kind = ord("3")
        for m in matches:
            start = m.start()
            if start > pos:
                lines += 1
                pre_raw.append(data[pos:start].hex())
                pre_reason.append("garbage")
            pos = m.end()
            lines += 1
            kind = m.group(1)[0]
            body = m.group(2)
            if b"\x1a" in body:
                body = body.replace(b"\x1a\x1a", b"\x1a")
            want = BEAST_LENGTHS[kind]
            if len(body) < want:
                pre_raw.append(m.group(0).hex())
                pre_reason.append("bad_length")
                continue
            if len(body) > want:
                # Bytes after a whole frame without a new 0x1a: line noise.
                lines += 1
                pre_raw.append(body[want:].hex())
                pre_reason.append("garbage")
                body = body[:want]
            # Mode A/C and short (56-bit) frames never carry a position.
            if kind == long_kind:
                longs.append(body)
                spans.append((start, pos))
        if end > pos:
            lines += 1
            pre_raw.append(data[pos:end].hex())
            pre_reason.append("garbage")
        block = np.frombuffer(b"".join(longs), dtype=np.uint8).reshape(-1, 21)
        counters = np.zeros(len(block), dtype=np.float64)
        for k in range(6):
            counters = counters * 256 + block[:, k]

        def raw_of(k: int) -> str:
            return data[spans[k][0] : spans[k][1]].hex()

        if self.live:
            ts = _live_times(counters, now)
        elif self._base is None:
            pre_raw += [raw_of(k) for k in range(len(spans))]
            pre_reason += ["no_time"] * len(spans)
            block = block[:0]
            ts = counters[:0]
        else:
            ts = self._base + counters / BEAST_CLOCK_HZ
        positions, rejects = self.decoder.decode_bytes(
            ts, np.ascontiguousarray(block[:, 7:]), raw_of, pre_raw, pre_reason
        )
        return ParsedChunk(positions, rejects, lines=lines, bytes_read=end)


def _beast_short(m: re.Match[bytes]) -> bool:
    """Whether a matched Beast frame still lacks bytes (they may be in the next read)."""
    return len(m.group(2).replace(b"\x1a\x1a", b"\x1a")) < BEAST_LENGTHS[m.group(1)[0]]


def parse_beast(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """Positions from a Beast binary file (needs options.start_time: its counters are 12 MHz
    ticks from then)."""
    # ~24 bytes a Beast frame: blocks of about chunk_lines frames.
    yield from _feed_all(BeastReader(options), stream, max(options.chunk_lines, 1) * 24)
