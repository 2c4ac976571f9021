"""Reading text input in blocks of whole lines, and parsing a block as CSV with pyarrow.

Parsers work a block at a time so that memory stays flat on files of any size and each block
is committed on its own (an interrupted ingest keeps what it committed; reruns skip it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# Bytes per block for each requested line: SBS lines are ~100 bytes, table rows ~80.
BYTES_PER_LINE = 100


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
