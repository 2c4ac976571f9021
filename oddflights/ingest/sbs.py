"""SBS-1 / BaseStation lines (dump1090 and readsb port 30003) into positions.

A position comes from MSG,3 (airborne) or MSG,2 (surface). Speed, track and vertical rate come
from the aircraft's latest MSG,4, its callsign from the latest MSG,1 and its squawk from the
latest message that carries one. The join is vectorized: rows are stably sorted by aircraft
(file order kept within each), and each position takes the values of the last source row of
its aircraft before it, if that row is recent enough. What each aircraft last said is carried
from block to block, so the result does not depend on where blocks are cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from oddflights.columns import POSITION_COLUMNS
from oddflights.ingest.blocks import (
    BYTES_PER_LINE,
    clean_text,
    read_blocks,
    read_csv_block,
    read_csv_lines,
    row_lines,
    strip_line_ends,
)
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.ingest.validate import utc_ns
from oddflights.receivers import check_timezone

N_FIELDS = 22
FIELDS = tuple(f"f{i}" for i in range(N_FIELDS))
# The fields positions are made of (type, transmission, icao, date, time, callsign, altitude,
# speed, track, lat, lon, vertical rate, squawk, on ground); the rest are never converted.
USED_FIELDS = tuple(f"f{i}" for i in (0, 1, 4, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 21))
# BaseStation messages that are valid but never carry a position (and have fewer fields).
OTHER_TYPES = frozenset({"SEL", "ID", "AIR", "STA", "CLK"})
POSITION_TX = (2, 3)


@dataclass(frozen=True)
class _Source:
    """A kind of message whose values positions take from the aircraft's latest one."""

    name: str
    tx: tuple[int, ...] | None  # transmission types that carry it (None: any)
    columns: tuple[str, ...]
    max_age: timedelta


SOURCES: tuple[_Source, ...] = (
    _Source(
        "velocity",
        (4,),
        ("groundspeed_kt", "track_deg", "vertical_rate_fpm"),
        timedelta(seconds=60),
    ),
    _Source("altitude", (3, 5, 7), ("altitude_ft",), timedelta(seconds=60)),
    _Source("ident", (1,), ("callsign",), timedelta(hours=1)),
    _Source("squawk", None, ("squawk",), timedelta(hours=1)),
)


_NULL_TEXT = pa.scalar(None, pa.string())


def _trim(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.utf8_trim_whitespace(col)


def _num(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Floats, NaN where empty or not a number (arrow's cast first: it is ~20× faster)."""
    try:
        values = pc.cast(pc.if_else(pc.equal(col, ""), _NULL_TEXT, col), pa.float64())
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype="float64")
    except pa.ArrowInvalid:
        s = pd.Series(_trim(col).to_numpy(zero_copy_only=False), dtype=object)
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _bool_np(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


_NAT = np.iinfo(np.int64).min
_TIME = r"^\d\d:\d\d:\d\d(\.\d{1,9})?$"


def _dates_ns(date: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Midnight (ns since the epoch) of each date field; few distinct values, parsed once."""
    enc = pc.dictionary_encode(date)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    if len(enc) == 0:
        return np.zeros(0, dtype="int64")
    uniq = pd.Series(enc.dictionary.to_pylist(), dtype=object)
    # Years pandas cannot hold in nanoseconds (0001, 9999) become NaT: rejected as bad_time.
    day_ns = np.full(len(uniq), _NAT, dtype="int64")
    for fmt in ("%Y/%m/%d", "%Y-%m-%d"):
        todo = day_ns == _NAT
        if not todo.any():
            break
        try:
            days = pd.to_datetime(uniq[todo], format=fmt, errors="coerce", utc=True)
        except (ValueError, TypeError, OverflowError):
            continue
        day_ns[todo] = utc_ns(days).view("int64")
    return np.asarray(day_ns[enc.indices.to_numpy(zero_copy_only=False)], dtype="int64")


_NS = 1_000_000_000


def _clocks(time: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Any ``HH:MM:SS[.f…]`` times (with spaces around): (ok, ns since midnight)."""
    time = _trim(time)
    ok = _bool_np(pc.match_substring_regex(time, _TIME))
    safe = pc.if_else(pa.array(ok), time, "00:00:00")
    hh = pc.cast(pc.utf8_slice_codeunits(safe, 0, 2), pa.int64()).to_numpy(zero_copy_only=False)
    mm = pc.cast(pc.utf8_slice_codeunits(safe, 3, 5), pa.int64()).to_numpy(zero_copy_only=False)
    ss = pc.cast(pc.utf8_slice_codeunits(safe, 6, 64), pa.float64()).to_numpy(zero_copy_only=False)
    ok &= (hh < 24) & (mm < 60) & (ss < 61)
    return ok, (hh * 3600 + mm * 60) * _NS + np.round(ss * 1e9).astype("int64")


def parse_times(
    date: pa.ChunkedArray | pa.Array, time: pa.ChunkedArray | pa.Array, zone: str
) -> np.ndarray:
    """SBS date and time fields (naive, in ``zone``) as UTC datetime64[ns]; NaT where they do
    not parse. Fixed-width ``HH:MM:SS.fff`` is read arithmetically (no per-row parsing)."""
    date = _trim(date)
    ok, clock_ns = _clocks(time)
    day_ns = _dates_ns(date)
    ok &= day_ns != _NAT
    ns = day_ns + clock_ns
    ns[~ok] = _NAT
    ts = ns.view("datetime64[ns]")
    if zone == "UTC":
        return ts
    # Ambiguous or skipped local times (DST changes) become NaT and are rejected as bad_time.
    local = pd.DatetimeIndex(ts).tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    return np.asarray(local.tz_convert("UTC").tz_localize(None).to_numpy(), dtype="datetime64[ns]")


class SbsParser:
    """Parses SBS text block by block, carrying each aircraft's latest values across blocks."""

    def __init__(self, options: ParseOptions, *, raw_column: bool = False) -> None:
        """``raw_column``: give positions a ``raw`` column (each one's input line, for the
        live client, which merges and spools chunks); otherwise chunks find the input lines of
        only the rows validation rejects (``raw_of``), which saves ~10 % of the parse."""
        check_timezone(options.sbs_timezone)
        self.options = options
        self.raw_column = raw_column
        self.state: dict[str, np.ndarray] = {}

    def parse(self, stream: IO[bytes]) -> Iterator[ParsedChunk]:
        """Chunks of positions and rejects, one per block of input."""
        block_bytes = self.options.chunk_lines * BYTES_PER_LINE
        for raw_block in read_blocks(stream, block_bytes):
            yield self.parse_block(raw_block)

    def parse_block(self, raw_block: bytes) -> ParsedChunk:
        """One block of whole lines into a chunk."""
        got = read_csv_lines(clean_text(raw_block), FIELDS, include=USED_FIELDS)
        text, table, bad = got.text, got.table, got.bad
        lines = table.num_rows + len(bad) + len(got.dropped)
        reject_raw = [t for t in bad if t.split(",", 1)[0].strip() not in OTHER_TYPES]
        reject_reason = ["unparsable"] * len(reject_raw)
        reject_raw += [d[0] for d in got.dropped]
        reject_reason += [d[1] for d in got.dropped]
        n_rows = table.num_rows
        found: list[tuple[pa.Array, np.ndarray]] = []

        def input_lines() -> tuple[pa.Array, np.ndarray]:
            """Every input line, and the index in them of each row of the block's table:
            found by numpy in the block's bytes, or (rarely: bare CR line ends) rebuilt from
            all 22 fields. Made once, and only when some line's text is needed."""
            if not found:
                got_lines = row_lines(text, n_rows, N_FIELDS, bool(bad))
                if got_lines is None:
                    full, _ = read_csv_block(text, FIELDS)
                    every = pc.binary_join_element_wise(
                        *[full.column(i) for i in range(N_FIELDS)], ","
                    ).combine_chunks()
                    got_lines = (every, np.arange(n_rows))
                found.append(got_lines)
            return found[0]

        kind = _trim(table.column("f0"))
        tx = _num(table.column("f1"))
        is_msg = _bool_np(pc.equal(kind, "MSG"))
        known = is_msg & np.isin(tx, np.arange(1, 9))
        other = ~is_msg & _bool_np(pc.is_in(kind, pa.array(sorted(OTHER_TYPES))))
        unknown = ~known & ~other
        if unknown.any():
            every, row_line = input_lines()
            reject_raw += strip_line_ends(every.take(pa.array(row_line[unknown])))
            reject_reason += ["unparsable"] * int(unknown.sum())
        rows = np.arange(n_rows)
        if not known.all():
            table = table.filter(pa.array(known))
            rows = rows[known]
        positions, pos_rows = self._join(table, rows)
        rejects = pd.DataFrame({"raw": reject_raw, "reason": reject_reason}, dtype=object)
        raw_of = None
        if self.raw_column:
            # Each position's input line, line end included (validate strips the rejected
            # ones'); arrow strings over the block: only rejected ones become Python strings.
            every, row_line = input_lines()
            raw = every.take(pa.array(row_line[pos_rows]))
            positions["raw"] = pd.Series(pd.arrays.ArrowExtensionArray(raw))
        else:

            def raw_of(idx: np.ndarray) -> list[str]:
                every, row_line = input_lines()
                return strip_line_ends(every.take(pa.array(row_line[pos_rows[idx]])))

        return ParsedChunk(
            positions, rejects, lines=lines, bytes_read=len(raw_block), raw_of=raw_of
        )

    def _columns(self, table: pa.Table) -> dict[str, Any]:
        """Numbers as numpy arrays, texts as arrow arrays (cheap to take, never Python str)."""
        col = table.column
        ground = col("f21")
        onground = np.where(
            _bool_np(pc.is_in(ground, pa.array(["-1", "1"]))),
            1,
            np.where(_bool_np(pc.equal(ground, "0")), 0, -1),
        ).astype("int8")
        lat_text, lon_text = col("f14"), col("f15")
        # An MSG,3 without coordinates (the decoder has no position yet) is not an error.
        has_coords = _bool_np(pc.or_(pc.not_equal(lat_text, ""), pc.not_equal(lon_text, "")))
        tx = _num(col("f1")).astype("int8")
        alt = col("f11")
        if pc.any(pc.ends_with(alt, "H")).as_py():
            alt = pc.utf8_rtrim(alt, characters="H")
        return {
            "icao24": pc.utf8_lower(_trim(col("f4"))).combine_chunks(),
            "ts": parse_times(col("f6"), col("f7"), self.options.sbs_timezone),
            "tx": tx,
            "lat": _num(lat_text),
            "lon": _num(lon_text),
            "altitude_ft": _num(alt),
            "groundspeed_kt": _num(col("f12")),
            "track_deg": _num(col("f13")),
            "vertical_rate_fpm": _num(col("f16")),
            "callsign": _text_arrow(col("f10")),
            "squawk": _text_arrow(col("f17")),
            "onground": onground,
            "is_position": np.isin(tx, POSITION_TX) & has_coords,
        }

    def _join(self, table: pa.Table, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """The positions of the table's rows (``rows``: their rows in the block's table), and
        the block's table row of each."""
        cols = self._columns(table)
        n_block = table.num_rows
        for src in SOURCES:
            carries = np.zeros(n_block, dtype=bool)
            for c in src.columns:
                values = cols[c]
                carries |= (
                    ~np.isnan(values)
                    if isinstance(values, np.ndarray)
                    else _bool_np(pc.is_valid(values))
                )
            if src.tx is not None:
                carries &= np.isin(cols["tx"], src.tx)
            cols[f"{src.name}_ts"] = np.where(carries, cols["ts"], np.datetime64("NaT", "ns"))
        n_state = len(self.state.get("ts", ()))
        if n_state:
            cols = {k: _concat(self.state[k], v) for k, v in cols.items()}
        # Sort only the integer keys; values are fetched by index from the unsorted arrays.
        codes = pc.dictionary_encode(cols["icao24"]).indices.to_numpy(zero_copy_only=False)
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
        n = len(codes)
        arange = np.arange(n)
        first = np.r_[True, codes[1:] != codes[:-1]] if n else np.zeros(0, bool)
        group_start = np.maximum.accumulate(np.where(first, arange, 0)) if n else arange
        last_sorted = order[np.r_[first[1:], True]] if n else order
        pos = cols["is_position"]
        pos[:n_state] = False
        ts = cols["ts"]

        state: dict[str, Any] = {}
        out: dict[str, Any] = {c: cols[c][pos] for c in ("ts", "lat", "lon")}
        out["icao24"] = cols["icao24"].filter(pa.array(pos))
        for src in SOURCES:
            src_ts = cols[f"{src.name}_ts"]
            latest = np.maximum.accumulate(np.where(~np.isnat(src_ts[order]), arange, -1))
            # The latest earlier source row of the same aircraft, as an index into cols (or -1).
            source = np.full(n, -1)
            source[order] = np.where(latest >= group_start, order[np.maximum(latest, 0)], -1)
            age = np.abs(ts - src_ts[np.maximum(source, 0)])
            fresh = (source >= 0) & ~np.isnat(ts) & (age <= np.timedelta64(src.max_age))
            use = np.where(fresh, source, -1)[pos]
            keep = source[last_sorted]
            for c in src.columns:
                out[c] = _take(cols[c], use)
                # What each aircraft last said, for the next block.
                state[c] = _take(cols[c], keep)
            state[f"{src.name}_ts"] = np.where(
                keep >= 0, src_ts[np.maximum(keep, 0)], np.datetime64("NaT", "ns")
            )
        m = len(last_sorted)
        state.update(
            icao24=cols["icao24"].take(pa.array(last_sorted)),
            ts=np.full(m, np.datetime64("NaT", "ns")),
            tx=np.zeros(m, "int8"),
            lat=np.full(m, np.nan),
            lon=np.full(m, np.nan),
            onground=np.full(m, -1, "int8"),
            is_position=np.zeros(m, bool),
        )
        self.state = state
        # A position's own altitude wins over an earlier altitude message.
        own_alt = cols["altitude_ft"][pos]
        out["altitude_ft"] = np.where(np.isnan(own_alt), out["altitude_ft"], own_alt)
        ground = cols["onground"][pos]
        out["onground"] = np.where(ground < 0, None, ground == 1)
        result = pd.DataFrame(
            {
                c: pd.Series(pd.arrays.ArrowExtensionArray(out[c]))
                if isinstance(out[c], (pa.Array, pa.ChunkedArray))
                else out[c]
                for c in POSITION_COLUMNS
            }
        )
        result["ts"] = pd.to_datetime(result["ts"]).dt.tz_localize("UTC")
        return result, rows[pos[n_state:]]


def _text_arrow(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Stripped strings, null where empty."""
    text = _trim(col)
    out = pc.if_else(pc.equal(text, ""), _NULL_TEXT, text)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _concat(a: Any, b: Any) -> Any:
    if isinstance(b, np.ndarray):
        return np.concatenate([a, b])
    return pa.concat_arrays([a, b])


def _take(values: Any, index: np.ndarray) -> Any:
    """values[index], missing where index < 0 (NaN for numbers, null for texts)."""
    if isinstance(values, np.ndarray):
        return np.where(index >= 0, values[np.maximum(index, 0)], np.nan)
    return values.take(pa.array(index, mask=index < 0))


def parse_sbs(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """SBS-1 text into chunks of positions (the ``sbs`` format)."""
    return SbsParser(options).parse(stream)
