"""Reading text input in blocks of whole lines, and parsing a block as CSV with pyarrow.

Parsers work a block at a time so that memory stays flat on files of any size and each block
is committed on its own (an interrupted ingest keeps what it committed; reruns skip it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# Bytes per block for each requested line: SBS lines are ~100 bytes, table rows ~80.
BYTES_PER_LINE = 100
# Arrow's CSV reader fails on a row longer than about twice its 1 MiB block; no receiver
# line comes near this, so a longer one is rejected as ``line_too_long`` (when it fails).
MAX_LINE_BYTES = 1 << 20


def read_blocks(stream: IO[bytes], block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines (each ends at a newline, except perhaps the last)."""
    block_bytes = max(block_bytes, 1024)
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        if not data.endswith(b"\n"):
            # Finish the cut line: one copy of the block, where keeping the tail for the next
            # block would cost two.
            data += stream.readline()
        yield data


def clean_text(data: bytes) -> bytes:
    """Valid UTF-8: bytes that are not become U+FFFD (arrow's CSV reader takes ``\\n``,
    ``\\r\\n`` and bare ``\\r`` as line ends)."""
    if data.isascii():  # the usual case, and ~10x faster to check than decoding
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    return data


def count_lines(data: bytes) -> int:
    """Non-blank lines in cleaned text (blank ones are receiver heartbeats)."""
    return sum(1 for line in data.split(b"\n") if line.strip())


def read_csv_block(
    data: bytes,
    names: Sequence[str],
    *,
    quoted: bool = False,
    include: Sequence[str] | None = None,
) -> tuple[pa.Table, list[str]]:
    """Parse cleaned CSV text whose columns are ``names``, every value as a string.

    ``include`` (default: all) names the columns to keep; the others are not converted, which
    is most of the cost. Returns the table and the text of the rows whose field count was
    wrong, so that every non-empty line ends up in one or the other.
    """
    kept = list(names) if include is None else list(include)
    bad: list[str] = []

    def _invalid(row: pacsv.InvalidRow) -> str:
        bad.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=list(names), use_threads=True),
        parse_options=pacsv.ParseOptions(
            quote_char='"' if quoted else False, invalid_row_handler=_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in kept},
            include_columns=kept,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, bad


@dataclass
class CsvBlock:
    """A block of CSV text parsed: ``text`` (the block less the ``dropped`` lines, which
    ``table`` and ``bad`` came from), the table, the rows of a wrong field count, and lines
    arrow could not read at all, each with its reason."""

    text: bytes
    table: pa.Table
    bad: list[str]
    dropped: list[tuple[str, str]] = field(default_factory=list)

    def dropped_rejects(self) -> pd.DataFrame:
        """The dropped lines as rejects (``raw``, ``reason``)."""
        return pd.DataFrame(
            {"raw": [d[0] for d in self.dropped], "reason": [d[1] for d in self.dropped]},
            dtype=object,
        )


def read_csv_lines(
    data: bytes,
    names: Sequence[str],
    *,
    quoted: bool = False,
    include: Sequence[str] | None = None,
) -> CsvBlock:
    """read_csv_block that one line cannot make fail or swallow the lines after it.

    Arrow refuses a block with a line too long for it, and reads a quote that is never
    closed as a field that runs on over the following lines (one bad "row" of many good
    lines). Then lines over MAX_LINE_BYTES are dropped as ``line_too_long``, and the block is
    halved until each line arrow refuses (or that runs on) is found alone and dropped as
    ``unparsable``. The usual block costs nothing more."""
    try:
        table, bad = read_csv_block(data, names, quoted=quoted, include=include)
        if not _runs_on(data, table, bad, quoted):
            return CsvBlock(data, table, bad)
    except pa.ArrowInvalid:
        pass
    kept, too_long = _drop_long_lines(data)
    dropped = [(line, "line_too_long") for line in too_long]
    parts: list[tuple[bytes, pa.Table, list[str]]] = []

    def parse(text: bytes) -> None:
        if not text.strip(b"\r\n"):
            return
        try:
            table, bad = read_csv_block(text, names, quoted=quoted, include=include)
            if not _runs_on(text, table, bad, quoted):
                parts.append((text, table, bad))
                return
        except pa.ArrowInvalid:
            pass
        body = text.rstrip(b"\r\n")
        # A line end (arrow also ends a line at a bare CR) past the middle, else the last.
        cut = min(
            (k for k in (body.find(b"\n", len(body) // 2), body.find(b"\r", len(body) // 2))
             if k >= 0),
            default=max(body.rfind(b"\n"), body.rfind(b"\r")),
        ) + 1  # fmt: skip
        if cut <= 0:  # one line
            dropped.append((_text(text), "unparsable"))
            return
        parse(text[:cut])
        parse(text[cut:])

    parse(kept)
    if not parts:
        columns = list(names) if include is None else list(include)
        empty = pa.table({c: pa.array([], pa.string()) for c in columns})
        return CsvBlock(b"", empty, [], dropped)
    text = b"".join(p[0] for p in parts)
    table = pa.concat_tables([p[1] for p in parts])
    return CsvBlock(text, table, [b for p in parts for b in p[2]], dropped)


def _runs_on(data: bytes, table: pa.Table, bad: list[str], quoted: bool) -> bool:
    """Whether a quote that is not closed on its line made one row of several lines (a bad
    row, or a good-looking one with a line end inside a field)."""
    if not quoted or b'"' not in data:
        return False
    rows = table.num_rows + len(bad)
    # Line ends counted at memchr speed: equal to the rows, no line ran on (nor was blank).
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    if data and data[-1:] not in (b"\n", b"\r"):
        ends += 1
    return rows != ends and rows != count_rows(data)


def count_rows(data: bytes) -> int:
    """Non-empty lines, as arrow splits them (``\n``, ``\r\n`` and bare ``\r`` end one)."""
    a = np.frombuffer(data, dtype=np.uint8)
    content = (a != _LF) & (a != _CR)
    starts = content.copy()
    starts[1:] &= ~content[:-1]
    return int(starts.sum())


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


def _drop_long_lines(data: bytes) -> tuple[bytes, list[str]]:
    """The block less its lines over MAX_LINE_BYTES, and those lines."""
    a = np.frombuffer(data, dtype=np.uint8)
    ends = np.r_[np.flatnonzero(a == _LF) + 1, len(a)]
    starts = np.r_[0, ends[:-1]]
    long = np.flatnonzero(ends - starts > MAX_LINE_BYTES)
    if not len(long):
        return data, []
    lines = [_text(data[starts[k] : ends[k]]) for k in long]
    pieces, done = [], 0
    for k in long:
        pieces.append(data[done : starts[k]])
        done = ends[k]
    pieces.append(data[done:])
    return b"".join(pieces), lines


_LF, _CR, _COMMA = 10, 13, 44


def row_lines(
    data: bytes, n_rows: int, n_fields: int, any_bad: bool
) -> tuple[pa.Array, np.ndarray] | None:
    """The input lines of the rows that read_csv_block parsed from unquoted ``data``, found
    with numpy instead of a second CSV read: every line of ``data`` as one arrow string array
    over the block's own bytes (each still ending in its line end: strip_line_ends), and the
    index in it of each row's line.

    Rows are the non-empty lines, less, when some rows were ``bad``, those without exactly
    ``n_fields`` fields. Returns None when that does not account for ``n_rows`` rows (a bare
    ``\r`` line end, which arrow also splits on): the caller then rebuilds the lines.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    if len(a) >= 2**31:
        return None
    ends = np.flatnonzero(a == _LF)
    if len(a) and a[-1] != _LF:
        ends = np.r_[ends, len(a)]
    starts = np.r_[0, ends[:-1] + 1] if len(ends) else ends
    length = ends - starts
    has_cr = np.zeros(len(ends), dtype=bool)
    nonempty = length > 0
    has_cr[nonempty] = a[ends[nonempty] - 1] == _CR
    is_row = length - has_cr > 0
    if any_bad:
        # Only now count commas (unquoted CSV: a row has n_fields - 1 of them).
        commas = np.flatnonzero(a == _COMMA)
        count = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
        is_row &= count == n_fields - 1
    rows = np.flatnonzero(is_row)
    if len(rows) != n_rows:
        return None
    offsets = np.r_[0, np.minimum(ends + 1, len(a))].astype(np.int32)
    every = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    return every, rows


def strip_line_ends(lines: pa.Array | pa.ChunkedArray) -> list[str]:
    """Lines without their trailing ``\r``/``\n``, as Python strings."""
    return [str(v) for v in pc.utf8_rtrim(lines, characters="\r\n").to_pylist()]


def join_fields(table: pa.Table, sep: str = ",") -> list[str]:
    """The rows of a string table joined back into lines (for rejected rows' raw text)."""
    if table.num_rows == 0:
        return []
    cols = [pc.fill_null(table.column(i), "") for i in range(table.num_columns)]
    if len(cols) == 1:
        return [str(v) for v in cols[0].to_pylist()]
    return [str(v) for v in pc.binary_join_element_wise(*cols, sep).to_pylist()]
