"""Raw Mode S frames as CSV or JSON lines: an epoch-seconds time column and a hex frame column,
one frame a line (``timestamp,rawmsg``, as OpenSky's raw data and our simulator write them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

from oddflights.ingest.modes import MAX_EPOCH_S, ModesDecoder, decoded_chunk
from oddflights.ingest.types import ParsedChunk, ParseOptions

TIME_COLUMNS = ("timestamp", "ts", "time")
FRAME_COLUMNS = ("rawmsg", "frame", "hex")


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
            yield decoded_chunk(decoder, ts, frames, raws, pre_raw, pre_reason, lines, nbytes)
            ts, frames, raws, pre_raw, pre_reason = [], [], [], [], []
            lines = nbytes = 0
    if lines or nbytes:
        yield decoded_chunk(decoder, ts, frames, raws, pre_raw, pre_reason, lines, nbytes)


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
