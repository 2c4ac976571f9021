"""Input formats: the parser registry, opening files (gzip, stdin) and sniffing the format."""

from __future__ import annotations

import gzip
import importlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from oddflights.errors import OddflightsError
from oddflights.ingest.readsb import FORMAT as READSB_TRACE
from oddflights.ingest.readsb import parse_readsb_trace
from oddflights.ingest.sbs import parse_sbs
from oddflights.ingest.table import PARQUET_MAGIC, _names, is_opensky, parse_opensky, parse_table
from oddflights.ingest.types import ParsedChunk, ParseOptions, Parser

GZIP_MAGIC = b"\x1f\x8b"
SBS_TYPES = (b"MSG,", b"SEL,", b"ID,", b"AIR,", b"STA,", b"CLK,")
RAW_FRAME_COLUMNS = ("rawmsg", "frame", "hex")
# Mode S readers (module, parser), loaded only when asked for: they bring in rs1090.
MODES_PARSERS = {
    "raw": ("oddflights.ingest.raw", "parse_raw"),
    "beast": ("oddflights.ingest.beast", "parse_beast"),
    "avr": ("oddflights.ingest.avr", "parse_avr"),
}


class FormatError(OddflightsError, ValueError):
    """An input's format is unknown, unavailable or cannot be told (the message says which)."""


PARSERS: dict[str, Parser] = {
    "sbs": parse_sbs,
    "table": parse_table,
    "opensky": parse_opensky,
    READSB_TRACE: parse_readsb_trace,
}
FORMAT_NAMES: tuple[str, ...] = ("sbs", "raw", "beast", "avr", "table", "opensky", READSB_TRACE)


def get_parser(fmt: str) -> Parser:
    """The parser for format ``fmt``; FormatError if unknown or not available."""
    if fmt in PARSERS:
        return PARSERS[fmt]
    if fmt not in MODES_PARSERS:
        raise FormatError(f"unknown format {fmt!r} (known: {', '.join(FORMAT_NAMES)})")
    try:
        module_name, name = MODES_PARSERS[fmt]
        parser: Parser = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise FormatError(f"format {fmt} is not available in this version") from None
    PARSERS[fmt] = parser
    return parser


def sniff(head: bytes) -> str:
    """The format of an input from its first bytes (decompressed); FormatError if unclear."""
    if head.startswith(PARQUET_MAGIC):
        return "table"
    if head.startswith(b"\x1a"):
        return "beast"
    text = head.lstrip(b"\r\n\t \xef\xbb\xbf")
    if text.startswith(SBS_TYPES):
        return "sbs"
    if text.startswith((b"*", b"@")) and b";" in text[:64]:
        return "avr"
    if text.startswith(b"{"):
        # A readsb trace is one object with its aircraft ("icao") and a "trace" list; raw
        # frames as JSON lines name a frame column instead.
        line = text.split(b"\n", 1)[0]
        frame = any(b'"%s"' % c.encode() in line for c in RAW_FRAME_COLUMNS)
        return READSB_TRACE if b'"icao"' in text and not frame else "raw"
    first = text.split(b"\n", 1)[0]
    names = _names(first) if first else []
    if is_opensky(names):
        return "opensky"
    if {"timestamp", "icao24", "latitude", "longitude"} <= set(names):
        return "table"
    if any(c in names for c in RAW_FRAME_COLUMNS):
        return "raw"
    shown = first[:60].decode("utf-8", errors="replace")
    raise FormatError(f"cannot tell the format of input starting {shown!r}; use --format")


def open_input(path: str | Path) -> IO[bytes]:
    """A binary stream of ``path`` (``-`` for stdin), gunzipped if it is gzip (by its bytes).

    The stream supports ``peek`` so the format can be sniffed without consuming input.
    """
    if str(path) == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115  (returned to the caller, who closes it)
        except OSError as exc:
            raise FormatError(f"cannot read {path}: {exc.strerror}") from None
    stream = io.BufferedReader(cast(io.RawIOBase, raw), buffer_size=1 << 20)
    if stream.peek(2)[:2] == GZIP_MAGIC:
        unzipped = gzip.GzipFile(fileobj=stream, mode="rb")
        return io.BufferedReader(cast(io.RawIOBase, unzipped), buffer_size=1 << 20)
    return stream


def peek_head(stream: IO[bytes], n: int = 4096) -> bytes:
    """Up to ``n`` first bytes of a stream from open_input, without consuming them."""
    head: bytes = cast(io.BufferedReader, stream).peek(n)[:n]
    return head


def parse_input(stream: IO[bytes], fmt: str, options: ParseOptions) -> Iterator[ParsedChunk]:
    """Chunks of a stream in format ``fmt`` (``auto``: sniffed from its first bytes)."""
    if fmt == "auto":
        fmt = sniff(peek_head(stream))
    return get_parser(fmt)(stream, options)


def is_gzip_file(path: str | Path) -> bool:
    """Whether the file at ``path`` is gzip (by its first bytes); False if it cannot be read
    (opening it for ingest then says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == GZIP_MAGIC
    except OSError:
        return False
