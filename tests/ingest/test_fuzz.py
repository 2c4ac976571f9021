"""Hypothesis fuzzing of the SBS and table parsers: no exception escapes, no line is lost."""

from __future__ import annotations

import datetime as dt
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oddflights.ingest.sbs import parse_sbs
from oddflights.ingest.table import parse_table
from oddflights.ingest.types import ParseOptions
from oddflights.ingest.validate import validate
from tests.ingest.helpers import receiver

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
FIELD = st.one_of(
    st.sampled_from(["", "MSG", "3", "4840D6", "2026/01/15", "10:00:01.000", "52.1", "NaN", "-1"]),
    st.text(max_size=8),
)
SBS_LINE = st.one_of(
    st.lists(FIELD, min_size=1, max_size=24).map(",".join),
    st.builds(
        lambda tx, icao, t, alt, lat, lon: (
            f"MSG,{tx},1,1,{icao},1,2026/01/15,{t},2026/01/15,{t},,{alt},,,{lat},{lon},,,0,0,0,0"
        ),
        st.sampled_from(["1", "3", "4", "x"]),
        st.sampled_from(["4840D6", "4840d6", "ZZZZZZ", ""]),
        st.sampled_from(["10:00:01.000", "10:00:01", "25:00:00.0", ""]),
        st.sampled_from(["1000", "1000H", "inf", "", "x"]),
        st.sampled_from(["52.1", "0", "91", "nan", ""]),
        st.sampled_from(["4.6", "0", "-181", ""]),
    ),
)
OPTIONS = ParseOptions(receiver(), chunk_lines=3)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(chunks, nonblank: int, every_line_yields: bool) -> None:
    lines = sum(c.lines for c in chunks)
    produced = sum(len(c.positions) + len(c.rejects) for c in chunks)
    assert produced <= lines <= nonblank
    if every_line_yields:
        assert produced == lines
    for c in chunks:
        valid, rejects = validate(c.positions, OPTIONS.receiver, now=NOW)
        assert len(valid) + len(rejects) == len(c.positions)


@FUZZ
@given(st.binary(max_size=400))
def test_sbs_parser_survives_arbitrary_bytes(data: bytes) -> None:
    chunks = list(parse_sbs(io.BytesIO(data), OPTIONS))
    _check(chunks, len(data.splitlines()) + data.count(b"\r"), every_line_yields=False)


@FUZZ
@given(st.lists(SBS_LINE, max_size=30), st.sampled_from(["\n", "\r\n"]))
def test_sbs_parser_accounts_for_every_line(lines: list[str], end: str) -> None:
    text = end.join(lines).encode("utf-8", errors="replace")
    chunks = list(parse_sbs(io.BytesIO(text), OPTIONS))
    lines_read = sum(c.lines for c in chunks)
    assert lines_read == sum(1 for line in text.splitlines() if line.strip(b"\r") != b"")
    # Only MSG,1/4 (no position) and MSG,3 without coordinates yield nothing.
    _check(chunks, lines_read, every_line_yields=False)


@FUZZ
@given(st.binary(max_size=400))
def test_table_parser_survives_arbitrary_bytes(data: bytes) -> None:
    header = b"timestamp,icao24,latitude,longitude,altitude\n"
    chunks = list(parse_table(io.BufferedReader(io.BytesIO(header + data)), OPTIONS))
    _check(chunks, len(data.splitlines()) + data.count(b"\r"), every_line_yields=True)


ROW = st.lists(
    st.sampled_from(
        ["", "2026-01-15T10:00:00Z", "1768471200.5", "4840d6", "52.1", "4.6", "x", "NaN"]
    ),
    min_size=1,
    max_size=7,
).map(",".join)


@FUZZ
@given(st.lists(ROW, max_size=30))
def test_table_parser_accounts_for_every_row(rows: list[str]) -> None:
    text = ("timestamp,icao24,latitude,longitude,altitude\n" + "\n".join(rows)).encode()
    chunks = list(parse_table(io.BufferedReader(io.BytesIO(text)), OPTIONS))
    nonblank = sum(1 for r in rows if r != "")
    assert sum(c.lines for c in chunks) == nonblank
    _check(chunks, nonblank, every_line_yields=True)
