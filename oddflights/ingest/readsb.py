"""readsb / tar1090 history traces (``--format readsb-trace``) into positions.

A readsb install with ``--write-globe-history`` keeps one JSON file per aircraft and day:
``globe_history/YYYY/MM/DD/traces/xx/trace_full_<icao>.json``, usually gzip-compressed
without a ``.gz`` name (told here by its first bytes), sometimes with ``traces/`` in a tar.
The format (readsb's README-json.md, "trace jsons") is an object with ``icao``, the start
``timestamp`` (epoch seconds), optional aircraft details (``r`` registration, ``t`` type,
``desc``, ``ownOp``, ``year``) and ``trace``, a list of points::

    [seconds after timestamp, lat, lon, altitude ft | "ground" | null, ground speed kt,
     track deg, flags, vertical rate fpm, detail object | null, ...later fields ignored]

The detail object comes with a point only now and then (readsb writes it when something
changed); its ``flight`` (callsign) and ``squawk`` hold for the points after it, as an SBS
MSG,1 does, until a new leg starts (flag 2) or an hour has passed. ``"ground"`` is an
on-ground position with no altitude.

One bad point is one rejected line (``unparsable``); a file that is not a trace (not JSON,
damaged gzip, no ``icao``/``timestamp``/``trace``) is one rejected line ``bad_trace_file``
naming it. Neither stops the ingest.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from oddflights.columns import POSITION_COLUMNS
from oddflights.ingest.types import ParsedChunk, ParseOptions

FORMAT = "readsb-trace"
GZIP_MAGIC = b"\x1f\x8b"
# A trace file's name (with or without .json/.gz), and the tars its folder may come in.
TRACE_PREFIX = "trace_full_"
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
# How long a detail object's callsign and squawk hold for later points (as SBS's MSG,1 does).
DETAIL_MAX_AGE_S = 3600.0
# A leg starts here (readsb's flag 2): callsign and squawk of the last leg no longer hold.
NEW_LEG = 2
# Files larger than this (uncompressed) are not traces; a day of one aircraft is < 5 MB.
MAX_TRACE_BYTES = 64 << 20
# Aircraft details: trace key → column of AIRCRAFT_COLUMNS.
DETAIL_KEYS = {
    "r": "registration",
    "t": "type_code",
    "desc": "description",
    "ownOp": "operator",
    "year": "year",
}
AIRCRAFT_COLUMNS: tuple[str, ...] = ("icao24", *DETAIL_KEYS.values(), "seen_at")


def _number(value: Any) -> float:
    """A JSON number as float; NaN for null, text, booleans."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        return math.nan


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text or None


def _year(value: Any) -> int | None:
    """readsb writes the year as text ("2008"); anything but a plausible year is unknown."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if len(text) != 4 or not text.isdigit():
        return None
    return int(text) if 1900 <= int(text) <= 2100 else None


_FLOATS = ("lat", "lon", "altitude_ft", "groundspeed_kt", "track_deg", "vertical_rate_fpm")


@dataclass
class _Batch:
    """Points of several trace files, gathered into one chunk."""

    cols: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in POSITION_COLUMNS})
    raw: list[str] = field(default_factory=list)  # "name#i" of each point, for rejects
    points: list[Any] = field(default_factory=list)  # each point as read, for rejects
    rejects: list[tuple[str, str]] = field(default_factory=list)  # (raw, reason)
    aircraft: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0
    nbytes: int = 0

    def __len__(self) -> int:
        return len(self.raw)

    def chunk(self) -> ParsedChunk:
        cols = self.cols
        n = len(self.raw)
        us = np.asarray(cols["ts"], dtype="int64") if n else np.zeros(0, "int64")
        frame = pd.DataFrame(
            {
                "icao24": pd.Series(cols["icao24"], dtype=object),
                "ts": pd.Series(us.astype("datetime64[us]").astype("datetime64[ns]")),
                **{c: np.asarray(cols[c], dtype="float64") for c in _FLOATS},
                "callsign": pd.Series(cols["callsign"], dtype=object),
                "squawk": pd.Series(cols["squawk"], dtype=object),
                "onground": pd.Series(cols["onground"], dtype=object),
            }
        )
        frame["ts"] = frame["ts"].dt.tz_localize("UTC")
        frame = frame.loc[:, list(POSITION_COLUMNS)]
        names, points = self.raw, self.points

        def raw_of(rows: np.ndarray) -> list[str]:
            return [f"{names[i]}: {_dump(points[i])}" for i in rows.tolist()]

        rejects = pd.DataFrame(
            {
                "raw": [r for r, _ in self.rejects],
                "reason": [why for _, why in self.rejects],
            },
            dtype=object,
        )
        aircraft = pd.DataFrame.from_records(self.aircraft, columns=list(AIRCRAFT_COLUMNS))
        return ParsedChunk(
            frame,
            rejects,
            lines=self.lines,
            bytes_read=self.nbytes,
            raw_of=raw_of,
            aircraft=aircraft if len(aircraft) else None,
        )


def _dump(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return text[:500]


def _add_trace(batch: _Batch, name: str, data: bytes) -> None:
    """Add one trace file's points (or its rejection) to ``batch``."""
    batch.nbytes += len(data)
    try:
        if data[:2] == GZIP_MAGIC:
            data = _gunzip(data)
        doc = json.loads(data)
    except (OSError, EOFError, zlib.error, ValueError, RecursionError) as exc:
        batch.lines += 1
        batch.rejects.append((f"{name}: {_why(exc)}", "bad_trace_file"))
        return
    problem = _doc_problem(doc)
    if problem is not None:
        batch.lines += 1
        batch.rejects.append((f"{name}: {problem}", "bad_trace_file"))
        return
    icao = str(doc["icao"]).strip().lower()
    start = float(doc["timestamp"])
    cols = batch.cols
    callsign: str | None = None
    squawk: str | None = None
    detail_at = -math.inf
    last_t = math.nan
    for i, point in enumerate(doc["trace"]):
        batch.lines += 1
        label = f"{name}#{i}"
        if not isinstance(point, list) or len(point) < 8:
            batch.rejects.append((f"{label}: {_dump(point)}", "unparsable"))
            continue
        offset = _number(point[0])
        t = start + offset
        if not math.isfinite(t) or abs(t) > 4.0e9:
            batch.rejects.append((f"{label}: {_dump(point)}", "unparsable"))
            continue
        flags = point[6] if isinstance(point[6], int) and not isinstance(point[6], bool) else 0
        if flags & NEW_LEG:
            callsign = squawk = None
        detail = point[8] if len(point) > 8 else None
        if isinstance(detail, dict):
            if "flight" in detail:
                callsign, detail_at = _text(detail.get("flight")), t
            if "squawk" in detail:
                squawk, detail_at = _text(detail.get("squawk")), t
        if t - detail_at > DETAIL_MAX_AGE_S:
            callsign = squawk = None
        alt = point[3]
        ground = alt == "ground"
        cols["icao24"].append(icao)
        cols["ts"].append(round(t * 1e6))
        cols["lat"].append(_number(point[1]))
        cols["lon"].append(_number(point[2]))
        cols["altitude_ft"].append(math.nan if ground else _number(alt))
        cols["groundspeed_kt"].append(_number(point[4]))
        cols["track_deg"].append(_number(point[5]))
        cols["vertical_rate_fpm"].append(_number(point[7]))
        cols["callsign"].append(callsign)
        cols["squawk"].append(squawk)
        cols["onground"].append(True if ground else (None if alt is None else False))
        batch.raw.append(label)
        batch.points.append(point)
        last_t = t
    details = {col: _text(doc.get(key)) for key, col in DETAIL_KEYS.items() if key != "year"}
    year = _year(doc.get("year"))
    if any(v is not None for v in details.values()) or year is not None:
        seen = pd.Timestamp(last_t if math.isfinite(last_t) else start, unit="s", tz="UTC")
        batch.aircraft.append({"icao24": icao, **details, "year": year, "seen_at": seen})


def _doc_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "not a JSON object"
    if not isinstance(doc.get("icao"), str):
        return "no icao"
    if not math.isfinite(_number(doc.get("timestamp"))):
        return "no timestamp"
    if not isinstance(doc.get("trace"), list):
        return "no trace list"
    return None


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
        out = f.read(MAX_TRACE_BYTES + 1)
    if len(out) > MAX_TRACE_BYTES:
        raise ValueError(f"more than {MAX_TRACE_BYTES >> 20} MB uncompressed")
    return out


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _read_limited(f: IO[bytes]) -> bytes:
    data = f.read(MAX_TRACE_BYTES + 1)
    if len(data) > MAX_TRACE_BYTES:
        raise ValueError(f"larger than {MAX_TRACE_BYTES >> 20} MB")
    return data


def is_trace_name(name: str) -> bool:
    """Whether a file name is a readsb full trace (``trace_full_<icao>.json[.gz]``)."""
    return Path(name).name.startswith(TRACE_PREFIX)


def is_tar_name(name: str) -> bool:
    """Whether a file name is a tar (plain or gzip) that may hold a ``traces/`` folder."""
    return name.lower().endswith(TAR_SUFFIXES)


def _tar_files(path: Path) -> Iterator[tuple[str, bytes | Exception]]:
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115  (closed below)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        yield str(path), exc
        return
    with tar:
        while True:
            try:
                member = tar.next()
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                yield str(path), exc  # a damaged tar: what came before it is kept
                return
            if member is None:
                return
            if not member.isfile() or not is_trace_name(member.name):
                continue
            name = f"{path}:{member.name}"
            try:
                f = tar.extractfile(member)
                yield name, _read_limited(f) if f is not None else ValueError("unreadable")
            except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
                yield name, exc


def trace_files(path: str | Path) -> Iterator[tuple[str, bytes | Exception]]:
    """(name, bytes or the error reading them) of every trace under ``path``: a folder
    (searched recursively, tars in it included), a tar, or one trace file; sorted by path."""
    root = Path(path)
    if root.is_dir():
        paths: Iterable[Path] = sorted(
            p for p in root.rglob("*") if is_trace_name(p.name) or is_tar_name(p.name)
        )
    else:
        paths = [root]
    for p in paths:
        if is_tar_name(p.name) or (p == root and not is_trace_name(p.name) and _is_tar(p)):
            yield from _tar_files(p)
            continue
        if not p.is_file():
            continue
        try:
            with p.open("rb") as f:
                yield str(p), _read_limited(f)
        except (OSError, ValueError) as exc:
            yield str(p), exc


def _is_tar(path: Path) -> bool:
    """A tar by its header's ``ustar`` magic (gzip undone first); tarfile.is_tarfile is not
    used: it takes some files that are not tars for tars."""
    try:
        with path.open("rb") as f:
            head = f.read(1024)
            if head[:2] == GZIP_MAGIC:
                f.seek(0)
                with gzip.GzipFile(fileobj=f) as unzipped:
                    head = unzipped.read(512)
    except (OSError, EOFError, zlib.error):
        return False
    return head[257:262] == b"ustar"


def has_traces(path: str | Path) -> bool:
    """Whether ``path`` is a folder with a trace file or a tar somewhere in it."""
    root = Path(path)
    if not root.is_dir():
        return False
    return any(is_trace_name(p.name) or is_tar_name(p.name) for p in root.rglob("*"))


def is_trace_source(path: str | Path) -> bool:
    """Whether ``path`` is read as readsb traces by default: a folder or a tar."""
    p = Path(path)
    return p.is_dir() or (p.is_file() and (is_tar_name(p.name) or _is_tar(p)))


def parse_trace_files(
    files: Iterable[tuple[str, bytes | Exception]], options: ParseOptions
) -> Iterator[ParsedChunk]:
    """Chunks of about ``options.chunk_lines`` points from trace files (name, bytes or the
    error that kept them from being read)."""
    batch = _Batch()
    for name, data in files:
        if isinstance(data, Exception):
            batch.lines += 1
            batch.rejects.append((f"{name}: {_why(data)}", "bad_trace_file"))
        else:
            _add_trace(batch, name, data)
        if batch.lines >= options.chunk_lines:
            yield batch.chunk()
            batch = _Batch()
    if batch.lines or batch.nbytes:
        yield batch.chunk()


def parse_trace_path(path: str | Path, options: ParseOptions) -> Iterator[ParsedChunk]:
    """Chunks of every trace in a folder, a tar, or one trace file."""
    return parse_trace_files(trace_files(path), options)


def parse_readsb_trace(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """One trace file as a stream (gzip already undone by open_input, or not): the
    ``readsb-trace`` parser for a single file or stdin."""
    name = getattr(stream, "name", None) or "-"
    try:
        data: bytes | Exception = _read_limited(stream)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        data = exc
    return parse_trace_files([(str(name), data)], options)
