"""Reading text input in blocks of whole lines, and parsing a block as CSV with pyarrow.

Parsers work a block at a time so that memory stays flat on files of any size and each block
is committed on its own (an interrupted ingest keeps what it committed; reruns skip it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# Bytes per block for each requested line: SBS lines are ~100 bytes, table rows ~80.
BYTES_PER_LINE = 100


def read_blocks(stream: IO[bytes], block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines (each ends at a newline, except perhaps the last)."""
    block_bytes = max(block_bytes, 1024)
    rest = b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1 :]
        yield data[: cut + 1]
    if rest:
        yield rest


def clean_text(data: bytes) -> bytes:
    """Valid UTF-8: bytes that are not become U+FFFD (arrow's CSV reader takes ``\\n``,
    ``\\r\\n`` and bare ``\\r`` as line ends)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = data.decode("utf-8", errors="replace").encode("utf-8")
    return data


def count_lines(data: bytes) -> int:
    """Non-blank lines in cleaned text (blank ones are receiver heartbeats)."""
    return sum(1 for line in data.split(b"\n") if line.strip())


def read_csv_block(
    data: bytes, names: Sequence[str], *, quoted: bool = False
) -> tuple[pa.Table, list[str]]:
    """Parse cleaned CSV text whose columns are ``names``, every value as a string.

    Returns the table and the text of the rows whose field count was wrong, so that every
    non-empty line ends up in one or the other.
    """
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
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, bad


def join_fields(table: pa.Table, sep: str = ",") -> list[str]:
    """The rows of a string table joined back into lines (for rejected rows' raw text)."""
    if table.num_rows == 0:
        return []
    cols = [pc.fill_null(table.column(i), "") for i in range(table.num_columns)]
    if len(cols) == 1:
        return [str(v) for v in cols[0].to_pylist()]
    return [str(v) for v in pc.binary_join_element_wise(*cols, sep).to_pylist()]


def read_lines_block(data: bytes) -> pa.Array | None:
    """The non-empty lines of cleaned text as one arrow string array (None if a line holds
    the unit separator byte, which this fast read uses as its never-seen delimiter)."""
    odd: list[str] = []

    def _invalid(row: pacsv.InvalidRow) -> str:
        odd.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=["line"], use_threads=True),
        parse_options=pacsv.ParseOptions(
            delimiter="\x1f", quote_char=False, invalid_row_handler=_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={"line": pa.string()}, strings_can_be_null=False
        ),
    )
    if odd:
        return None
    return table.column("line").combine_chunks()
