"""Tables of positions: the oddflights table format (CSV/Parquet) and OpenSky state vectors.

Table columns are ``timestamp, icao24, latitude, longitude`` plus optional ``altitude`` (ft),
``groundspeed`` (kt), ``track``, ``vertical_rate`` (ft/min), ``callsign``, ``squawk`` and
``onground``; timestamps are ISO-8601 (naive means UTC) or epoch seconds. OpenSky state vectors
(``time, icao24, lat, lon, velocity, heading, vertrate, …, baroaltitude, geoaltitude``) are in
metres and metres per second and are converted on the way in.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from oddflights.columns import POSITION_COLUMNS, TABLE_COLUMNS
from oddflights.errors import OddflightsError
from oddflights.ingest.blocks import (
    BYTES_PER_LINE,
    MAX_LINE_BYTES,
    clean_text,
    join_fields,
    read_blocks,
    read_csv_lines,
    row_lines,
    strip_line_ends,
)
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.ingest.validate import utc_ns

FT_PER_M = 1 / 0.3048
KT_PER_MS = 3600 / 1852
FPM_PER_MS = 60 / 0.3048
PARQUET_MAGIC = b"PAR1"

OPENSKY_COLUMNS = (
    "time",
    "icao24",
    "lat",
    "lon",
    "velocity",
    "heading",
    "vertrate",
    "callsign",
    "onground",
    "alert",
    "spi",
    "squawk",
    "baroaltitude",
    "geoaltitude",
    "lastposupdate",
    "lastcontact",
)
TABLE_REQUIRED = ("timestamp", "icao24", "latitude", "longitude")
OPENSKY_REQUIRED = ("time", "icao24", "lat", "lon")
_NUMERIC = ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")


class TableFormatError(OddflightsError, ValueError):
    """A table file lacks the columns its format needs (the message names them)."""


def _names(header: bytes) -> list[str]:
    text = clean_text(header).decode("utf-8").strip()
    try:
        return [n.strip().lower() for n in next(csv.reader([text]), [])]
    except csv.Error:  # not CSV at all (binary, a stray CR): no column names
        return []


def is_opensky(names: list[str]) -> bool:
    """Whether column names are OpenSky state vectors rather than the table format."""
    return set(OPENSKY_REQUIRED) <= set(names) and "latitude" not in names


def _check(names: list[str], opensky: bool) -> None:
    required = OPENSKY_REQUIRED if opensky else TABLE_REQUIRED
    missing = [c for c in required if c not in names]
    if missing:
        kind = "OpenSky state vectors" if opensky else "the table format"
        found = ", ".join(names)
        if not names:
            found = "no CSV header"
        elif not found.isprintable() or len(found) > 200:
            # Binary or not a CSV header: show its start safely, not as terminal output.
            found = f"not a CSV header: {found[:40]!r}"
        raise TableFormatError(f"columns {', '.join(missing)} missing for {kind} (found: {found})")


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats, and a mask of values that were given but are not numbers."""
    if values.dtype.kind == "b" or values.dtype == "bool[pyarrow]":
        # A column of the wrong type (true/false where a number belongs): every given value
        # is wrong.
        return np.full(len(values), np.nan), values.notna().to_numpy(dtype=bool)
    try:
        num = pd.to_numeric(values, errors="coerce")
    except (TypeError, ValueError):
        num = pd.to_numeric(values.astype("string"), errors="coerce")
    out = num.to_numpy(dtype="float64", na_value=np.nan)
    if values.dtype.kind in "fiu":
        return out, np.zeros(len(out), bool)
    text = values.astype("string").str.strip().fillna("")
    given = (text != "") & ~text.str.lower().isin(["nan", "null", "none", "na"])
    return out, (given & np.isnan(out)).to_numpy(dtype=bool)


# Epoch seconds that datetime64[ns] holds with room to spare (validate takes it from there).
_MAX_EPOCH_S = 4.0e9


def _times(values: pd.Series) -> pd.Series:
    """Epoch seconds or ISO-8601 (naive = UTC) as UTC; NaT where neither, and where the time
    is one pandas cannot hold (years 0001, 9999). True/false is not a time."""
    index = values.index
    if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind in "Mb":
        return _ns_series(utc_ns(values), index)
    try:
        seconds = pd.to_numeric(values, errors="coerce")
    except (TypeError, ValueError):
        seconds = pd.to_numeric(values.astype("string"), errors="coerce")
    secs = seconds.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        ok = np.abs(secs) < _MAX_EPOCH_S
    micros = np.round(np.where(ok, secs, 0.0) * 1e6).astype("int64")
    ns = np.where(ok, micros * 1000, np.iinfo(np.int64).min).view("datetime64[ns]")
    if values.dtype.kind not in "fiu":
        iso = np.isnan(secs) & values.notna().to_numpy(dtype=bool)
        if iso.any():
            text = values[iso].astype(str).str.strip()
            try:
                parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
                ns[iso] = utc_ns(parsed)
            except (ValueError, TypeError, OverflowError, NotImplementedError):
                ns[iso] = utc_ns(text)
    return _ns_series(ns, index)


def _ns_series(ns: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(ns, index=index).dt.tz_localize("UTC")


def _bools(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(None, index=values.index, dtype=object)
    out[text.isin(["true", "1", "t", "yes", "-1"]).fillna(False).to_numpy(bool)] = True
    out[text.isin(["false", "0", "f", "no"]).fillna(False).to_numpy(bool)] = False
    return out


def _texts(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def to_positions(frame: pd.DataFrame, opensky: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Table or OpenSky columns into position columns, plus a mask of rows holding a value
    that is not a number (to reject as ``unparsable``)."""
    n = len(frame)
    col = frame.get
    empty = pd.Series([None] * n, index=frame.index, dtype=object)
    out = pd.DataFrame(index=frame.index)
    bad = np.zeros(n, bool)

    def num(name: str, factor: float = 1.0) -> np.ndarray:
        nonlocal bad
        values = col(name)
        if values is None:
            return np.full(n, np.nan)
        x, wrong = _numbers(values)
        bad |= wrong
        with np.errstate(over="ignore"):  # 1e308 m is inf ft: out of range, rejected
            return x * factor

    if opensky:
        ts_values = frame["time"]
        pos_time = col("lastposupdate")
        out["icao24"] = _texts(frame["icao24"])
        if pos_time is not None:
            # lastposupdate is when the position was measured; time is when it was sampled.
            pt = _times(pos_time)
            out["ts"] = pt.where(pt.notna(), _times(ts_values))
        else:
            out["ts"] = _times(ts_values)
        out["lat"], out["lon"] = num("lat"), num("lon")
        baro, geo = num("baroaltitude", FT_PER_M), num("geoaltitude", FT_PER_M)
        out["altitude_ft"] = np.where(np.isnan(baro), geo, baro)
        out["groundspeed_kt"] = num("velocity", KT_PER_MS)
        out["track_deg"] = num("heading")
        out["vertical_rate_fpm"] = num("vertrate", FPM_PER_MS)
    else:
        out["icao24"] = _texts(frame["icao24"])
        out["ts"] = _times(frame["timestamp"])
        for name, target in TABLE_COLUMNS.items():
            if target in _NUMERIC:
                out[target] = num(name)
    for name in ("callsign", "squawk"):
        values = col(name)
        if values is not None and name == "squawk" and values.dtype.kind in "fiu":
            # A squawk read as a number lost its leading zeros (0123 became 123).
            number = pd.to_numeric(values, errors="coerce")
            whole = number.notna() & (number == np.floor(number)) & (number.abs() < 1e4)
            text = number.where(whole).astype("Int64").astype("string").str.zfill(4)
            values = text.where(whole, values.astype("string"))
        out[name] = empty if values is None else _texts(values)
    values = col("onground")
    out["onground"] = empty if values is None else _bools(values)
    return out.loc[:, list(POSITION_COLUMNS)].reset_index(drop=True), bad


RawLines = Callable[[np.ndarray], list[str]]


def _chunk(
    frame: pd.DataFrame, opensky: bool, raw_of: RawLines, extra_bad: list[str], nbytes: int
) -> ParsedChunk:
    """Positions of a frame of table rows; ``raw_of`` gives the input lines of rows (by
    position in ``frame``), ``extra_bad`` the lines of a wrong field count (unparsable)."""
    positions, bad = to_positions(frame, opensky)
    rejects_raw = list(extra_bad)
    kept = np.arange(len(frame))
    if bad.any():
        rejects_raw += raw_of(np.flatnonzero(bad))
        kept = np.flatnonzero(~bad)
        positions = positions.loc[~bad].reset_index(drop=True)
    rejects = pd.DataFrame(
        {"raw": rejects_raw, "reason": ["unparsable"] * len(rejects_raw)}, dtype=object
    )
    return ParsedChunk(
        positions,
        rejects,
        lines=len(frame) + len(extra_bad),
        bytes_read=nbytes,
        raw_of=lambda rows: raw_of(kept[rows]),
    )


def _csv_lines(text: bytes, table: pa.Table, n_names: int, any_bad: bool) -> RawLines:
    """The input lines (line end stripped) of parsed rows, by row, found only when asked; or
    the rows' fields joined back when the lines cannot be told apart (quoted commas in a
    block with rows of a wrong field count)."""

    def lines(rows: np.ndarray) -> list[str]:
        found = row_lines(text, table.num_rows, n_names, any_bad)
        if found is None:
            return join_fields(table.take(pa.array(rows, pa.int64())))
        every, at = found
        return strip_line_ends(every.take(pa.array(at[rows])))

    return lines


def _parse_csv(
    stream: IO[bytes], options: ParseOptions, opensky: bool | None
) -> Iterator[ParsedChunk]:
    header = stream.readline(MAX_LINE_BYTES)
    while header and not header.strip():
        header = stream.readline(MAX_LINE_BYTES)
    if not header:
        return
    names = _names(header)
    opensky = is_opensky(names) if opensky is None else opensky
    _check(names, opensky)
    for block in read_blocks(stream, options.chunk_lines * BYTES_PER_LINE):
        got = read_csv_lines(clean_text(block), names, quoted=True)
        frame = got.table.to_pandas()
        raw_of = _csv_lines(got.text, got.table, len(names), bool(got.bad))
        chunk = _chunk(frame, opensky, raw_of, got.bad, len(block))
        if got.dropped:
            chunk.rejects = pd.concat([chunk.rejects, got.dropped_rejects()], ignore_index=True)
            chunk.lines += len(got.dropped)
        yield chunk


def _plain_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns of types the conversion knows (numbers, text, times, booleans); others
    (nested, binary, dictionary) as text, so that a wrong type is a per-row reject."""
    arrays = []
    for column in batch.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.dictionary_decode()
            kind = column.type
        simple = (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_timestamp(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_null(kind)
        )
        if not simple:
            column = pa.array(
                [None if v is None else str(v) for v in column.to_pylist()], pa.string()
            )
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _batch_lines(batch: pa.RecordBatch) -> RawLines:
    """Rows of a Parquet batch as text (their values joined with commas), for rejects."""
    return lambda rows: _joined(batch.take(pa.array(rows, pa.int64())))


def _joined(batch: pa.RecordBatch) -> list[str]:
    cols = []
    for column in batch.columns:
        try:
            text = pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = pa.array([None if v is None else str(v) for v in column.to_pylist()])
        cols.append(pc.fill_null(text, ""))
    if not cols:
        return [""] * batch.num_rows
    joined = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, ",")
    return [str(v) for v in joined.to_pylist()]


def _parse_parquet(
    stream: IO[bytes], options: ParseOptions, opensky: bool | None
) -> Iterator[ParsedChunk]:
    data = stream if stream.seekable() else io.BytesIO(stream.read())
    try:
        pf = pq.ParquetFile(data)
        names = [n.lower() for n in pf.schema_arrow.names]
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TableFormatError(f"not a readable Parquet file ({_first_line(exc)})") from None
    opensky = is_opensky(names) if opensky is None else opensky
    _check(names, opensky)
    rows = 0
    batches = pf.iter_batches(batch_size=options.chunk_lines)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise TableFormatError(
                f"the Parquet file is damaged after row {rows:,} ({_first_line(exc)}); the "
                "positions before it are stored"
            ) from None
        if batch is None:
            return
        rows += batch.num_rows
        batch = _plain_batch(batch)
        frame = batch.to_pandas()
        frame.columns = [str(c).lower() for c in frame.columns]
        yield _chunk(frame, opensky, _batch_lines(batch), [], batch.nbytes)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _parse(stream: IO[bytes], options: ParseOptions, opensky: bool | None) -> Iterator[ParsedChunk]:
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    if head == PARQUET_MAGIC:
        return _parse_parquet(stream, options, opensky)
    if not head and stream.seekable():
        head = stream.read(4)
        stream.seek(0)
        if head == PARQUET_MAGIC:
            return _parse_parquet(stream, options, opensky)
    return _parse_csv(stream, options, opensky)


def parse_table(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """CSV or Parquet of the table format (OpenSky columns are recognised too)."""
    return _parse(stream, options, None)


def parse_opensky(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """CSV or Parquet of OpenSky state vectors (m, m/s converted to ft, kt, ft/min)."""
    return _parse(stream, options, True)


def table_frame(positions: pd.DataFrame) -> pd.DataFrame:
    """Positions in the table format's columns (what ``positions export`` writes)."""
    renamed = {v: k for k, v in TABLE_COLUMNS.items()}
    out = positions.loc[:, list(POSITION_COLUMNS)].rename(columns=renamed)
    return out
