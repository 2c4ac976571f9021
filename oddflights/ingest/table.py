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
from collections.abc import Iterator
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from oddflights.columns import POSITION_COLUMNS, TABLE_COLUMNS
from oddflights.ingest.blocks import (
    BYTES_PER_LINE,
    clean_text,
    join_fields,
    read_blocks,
    read_csv_block,
)
from oddflights.ingest.types import ParsedChunk, ParseOptions

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


class TableFormatError(ValueError):
    """A table file lacks the columns its format needs (the message names them)."""


def _names(header: bytes) -> list[str]:
    text = clean_text(header).decode("utf-8").strip()
    return [n.strip().lower() for n in next(csv.reader([text]), [])]


def is_opensky(names: list[str]) -> bool:
    """Whether column names are OpenSky state vectors rather than the table format."""
    return set(OPENSKY_REQUIRED) <= set(names) and "latitude" not in names


def _check(names: list[str], opensky: bool) -> None:
    required = OPENSKY_REQUIRED if opensky else TABLE_REQUIRED
    missing = [c for c in required if c not in names]
    if missing:
        kind = "OpenSky state vectors" if opensky else "the table format"
        raise TableFormatError(
            f"columns {', '.join(missing)} missing for {kind} (found: {', '.join(names) or 'none'})"
        )


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats, and a mask of values that were given but are not numbers."""
    num = pd.to_numeric(values, errors="coerce")
    out = num.to_numpy(dtype="float64", na_value=np.nan)
    if values.dtype.kind in "fiub":
        return out, np.zeros(len(out), bool)
    text = values.astype("string").str.strip().fillna("")
    given = (text != "") & ~text.str.lower().isin(["nan", "null", "none", "na"])
    return out, (given & np.isnan(out)).to_numpy(dtype=bool)


def _times(values: pd.Series) -> pd.Series:
    """Epoch seconds or ISO-8601 (naive = UTC) as UTC; NaT where neither."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind == "M":
        ts = pd.to_datetime(values, utc=True)
    else:
        seconds = pd.to_numeric(values, errors="coerce")
        ts = pd.to_datetime(seconds * 1e6, unit="us", utc=True, errors="coerce").dt.round("us")
        if values.dtype.kind not in "fiub":
            iso = seconds.isna() & values.notna()
            if iso.any():
                ts[iso] = pd.to_datetime(
                    values[iso].astype(str).str.strip(),
                    format="ISO8601",
                    utc=True,
                    errors="coerce",
                )
    return ts.astype("datetime64[ns, UTC]")


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
        out[name] = empty if values is None else _texts(values)
    values = col("onground")
    out["onground"] = empty if values is None else _bools(values)
    return out.loc[:, list(POSITION_COLUMNS)].reset_index(drop=True), bad


def _chunk(
    frame: pd.DataFrame, opensky: bool, raw: pa.Table | None, extra_bad: list[str], nbytes: int
) -> ParsedChunk:
    positions, bad = to_positions(frame, opensky)
    rejects_raw = list(extra_bad)
    if bad.any():
        if raw is not None:
            rejects_raw += join_fields(raw.filter(pa.array(bad)))
        else:
            rejects_raw += frame.loc[bad].astype(str).agg(",".join, axis=1).tolist()
        positions = positions.loc[~bad].reset_index(drop=True)
    rejects = pd.DataFrame(
        {"raw": rejects_raw, "reason": ["unparsable"] * len(rejects_raw)}, dtype=object
    )
    return ParsedChunk(positions, rejects, lines=len(frame) + len(extra_bad), bytes_read=nbytes)


def _parse_csv(
    stream: IO[bytes], options: ParseOptions, opensky: bool | None
) -> Iterator[ParsedChunk]:
    header = stream.readline()
    while header and not header.strip():
        header = stream.readline()
    if not header:
        return
    names = _names(header)
    opensky = is_opensky(names) if opensky is None else opensky
    _check(names, opensky)
    for block in read_blocks(stream, options.chunk_lines * BYTES_PER_LINE):
        table, bad = read_csv_block(clean_text(block), names, quoted=True)
        frame = table.to_pandas()
        yield _chunk(frame, opensky, table, bad, len(block))


def _parse_parquet(
    stream: IO[bytes], options: ParseOptions, opensky: bool | None
) -> Iterator[ParsedChunk]:
    data = stream if stream.seekable() else io.BytesIO(stream.read())
    pf = pq.ParquetFile(data)
    names = [n.lower() for n in pf.schema_arrow.names]
    opensky = is_opensky(names) if opensky is None else opensky
    _check(names, opensky)
    for batch in pf.iter_batches(batch_size=options.chunk_lines):
        frame = batch.to_pandas()
        frame.columns = [str(c).lower() for c in frame.columns]
        yield _chunk(frame, opensky, None, [], batch.nbytes)


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
