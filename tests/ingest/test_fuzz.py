"""Property tests (hypothesis) for every parser: SBS, AVR, Beast, raw CSV/JSONL, table CSV and
Parquet, OpenSky. Input is arbitrary bytes, and valid lines whose fields are fuzzed (too long,
control characters, years pandas cannot hold, huge numbers) mixed with random bytes.

For every input: no exception escapes (a whole file that is not of its format may raise the
format's one clean error), every line read is counted, and every line either yields a
position or a counted reject, or is a valid message without a position (SBS MSG,4, Mode S
velocity), which the parser counts as read. Validation splits every position into valid or
rejected. One property runs through the writer into a real database.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from oddflights.db.positions import read_positions
from oddflights.db.receivers import ReceiverNotFound, add_receiver, get_receiver
from oddflights.ingest.avr import parse_avr
from oddflights.ingest.beast import parse_beast
from oddflights.ingest.raw import parse_raw
from oddflights.ingest.sbs import parse_sbs
from oddflights.ingest.table import TableFormatError, parse_opensky, parse_table
from oddflights.ingest.types import ParsedChunk, ParseOptions, Parser
from oddflights.ingest.validate import FIELD_NOTES, REASONS, validate_positions
from oddflights.ingest.writer import ingest_chunks
from tests.ingest.helpers import receiver

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
START = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
OPTIONS = ParseOptions(receiver(), chunk_lines=3, start_time=START)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Reasons parsers give besides validation's.
PARSER_REASONS = {
    "unparsable",
    "line_too_long",
    "no_frame",
    "bad_length",
    "bad_hex",
    "bad_time",
    "bad_avr",
    "no_time",
    "garbage",
    "crc",
    "undecodable",
    "cpr_unresolved",
}

# Field values that broke or could break a parser or a database.
NASTY = st.sampled_from(
    [
        "",
        " ",
        "NaN",
        "inf",
        "-1",
        "1e308",
        "TOOLONGCALLSIGN",
        "A\x00B",
        "777777",
        "8888",
        "\u00e9\u00e9",
        '"',
        "0001/01/15",
        "9999-12-31T00:00:00Z",
        "-001-01-01",
        "1e12",
    ]
)
FIELD = st.one_of(NASTY, st.text(max_size=10))
JUNK = st.binary(max_size=60)


def lines_of(parts: Iterable[bytes | str], end: bytes = b"\n") -> bytes:
    return end.join(p.encode("utf-8", "replace") if isinstance(p, str) else p for p in parts)


def parse_all(parser: Parser, data: bytes, options: ParseOptions = OPTIONS) -> list[ParsedChunk]:
    return list(parser(io.BufferedReader(io.BytesIO(data)), options))  # type: ignore[arg-type]


def check(chunks: list[ParsedChunk], *, lines: int | None, every_line_yields: bool) -> None:
    """Every line read is counted; every position or reject comes from a line; validation
    accounts for every position; reasons are known ones."""
    read = sum(c.lines for c in chunks)
    produced = sum(len(c.positions) + len(c.rejects) for c in chunks)
    if lines is not None:
        assert read == lines
    assert produced <= read
    if every_line_yields:
        assert produced == read
    for c in chunks:
        assert list(c.rejects.columns) == ["raw", "reason"]
        assert set(c.rejects["reason"]) <= PARSER_REASONS, set(c.rejects["reason"])
        checked = validate_positions(c.positions, OPTIONS.receiver, now=NOW)
        assert len(checked.valid) + len(checked.rejects) == len(c.positions)
        assert set(checked.rejects["reason"]) <= set(REASONS)
        assert set(checked.fields_cleared) <= set(FIELD_NOTES)
        calls = [v for v in checked.valid["callsign"] if isinstance(v, str)]
        assert all(len(v) <= 8 and v.isprintable() and v.isascii() for v in calls), calls
        squawks = [v for v in checked.valid["squawk"] if isinstance(v, str)]
        assert all(re.fullmatch("[0-7]{4}", v) for v in squawks), squawks


def arrow_lines(data: bytes) -> int:
    """Non-empty lines as the CSV reader splits them (\\n, \\r\\n and bare \\r)."""
    return sum(1 for line in data.splitlines() if line)


# --- SBS -------------------------------------------------------------------------------------

SBS_LINE = st.one_of(
    st.lists(FIELD, min_size=1, max_size=24).map(",".join),
    st.builds(
        lambda tx, icao, day, t, call, alt, lat, lon, sq: (
            f"MSG,{tx},1,1,{icao},1,{day},{t},{day},{t},{call},{alt},,,{lat},{lon},,{sq},0,0,0,0"
        ),
        st.sampled_from(["1", "3", "4", "6", "x"]),
        st.one_of(st.sampled_from(["4840D6", "4840d6", "ZZZZZZ", ""]), FIELD),
        st.one_of(st.sampled_from(["2026/01/15", "0001/01/15", "9999/01/15", "-001/01/15"]), FIELD),
        st.one_of(st.sampled_from(["10:00:01.000", "10:00:01", "25:00:00.0", ""]), FIELD),
        FIELD,
        st.sampled_from(["1000", "1000H", "inf", "", "x"]),
        st.sampled_from(["52.1", "0", "91", "nan", ""]),
        st.sampled_from(["4.6", "0", "-181", ""]),
        FIELD,
    ),
)


@FUZZ
@given(st.binary(max_size=400))
def test_sbs_parser_survives_arbitrary_bytes(data: bytes) -> None:
    check(parse_all(parse_sbs, data), lines=arrow_lines(data), every_line_yields=False)


@FUZZ
@given(st.lists(st.one_of(SBS_LINE, JUNK), max_size=30), st.sampled_from([b"\n", b"\r\n"]))
def test_sbs_parser_accounts_for_every_line(parts: list[str | bytes], end: bytes) -> None:
    data = lines_of(parts, end)
    # Only MSG,1/4/6 (no position) and MSG,3 without coordinates yield nothing.
    check(parse_all(parse_sbs, data), lines=arrow_lines(data), every_line_yields=False)


# --- table CSV and OpenSky CSV --------------------------------------------------------------

TABLE_HEADER = b"timestamp,icao24,latitude,longitude,altitude,callsign,squawk,onground\n"
OPENSKY_HEADER = (
    b"time,icao24,lat,lon,velocity,heading,vertrate,callsign,onground,alert,spi,squawk,"
    b"baroaltitude,geoaltitude,lastposupdate,lastcontact\n"
)
TIME = st.one_of(
    st.sampled_from(["2026-01-15T10:00:00Z", "1768471200.5", "1e12", "0001-01-01T00:00:00Z"]),
    FIELD,
)
TABLE_ROW = st.one_of(
    st.lists(FIELD, min_size=1, max_size=9).map(",".join),
    st.builds(
        lambda t, icao, lat, call, sq: f"{t},{icao},{lat},4.6,1000,{call},{sq},false",
        TIME,
        st.one_of(st.just("4840d6"), FIELD),
        st.sampled_from(["52.1", "x", "NaN", "", "95"]),
        FIELD,
        FIELD,
    ),
)
OPENSKY_ROW = st.builds(
    lambda t, icao, call, sq, alt: (
        f"{t},{icao},52.1,4.6,100,90,0,{call},False,False,False,{sq},{alt},{alt},{t},{t}"
    ),
    TIME,
    st.one_of(st.just("4840d6"), FIELD),
    FIELD,
    FIELD,
    st.sampled_from(["3000", "", "x", "1e308"]),
)


@FUZZ
@given(st.binary(max_size=400))
def test_table_parser_survives_arbitrary_bytes(data: bytes) -> None:
    chunks = parse_all(parse_table, TABLE_HEADER + data)
    check(chunks, lines=arrow_lines(data), every_line_yields=True)


@FUZZ
@given(st.lists(st.one_of(TABLE_ROW, JUNK), max_size=30), st.sampled_from([b"\n", b"\r\n"]))
# An unclosed quote ran on over the next lines: as one bad row, or as a good-looking row.
@example(rows=['"', " "], end=b"\n")
@example(rows=['2026-01-15T10:00:00Z,4840d6,52.1,4.6,1000,,",false', '",'], end=b"\n")
def test_table_parser_accounts_for_every_row(rows: list[str | bytes], end: bytes) -> None:
    data = lines_of(rows, end)
    chunks = parse_all(parse_table, TABLE_HEADER + data)
    check(chunks, lines=arrow_lines(data), every_line_yields=True)


@FUZZ
@given(st.lists(st.one_of(OPENSKY_ROW, JUNK), max_size=30))
def test_opensky_parser_accounts_for_every_row(rows: list[str | bytes]) -> None:
    data = lines_of(rows)
    chunks = parse_all(parse_opensky, OPENSKY_HEADER + data)
    check(chunks, lines=arrow_lines(data), every_line_yields=True)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["table", "opensky"]))
def test_a_table_that_is_not_one_is_one_clean_error(data: bytes, fmt: str) -> None:
    parser = parse_table if fmt == "table" else parse_opensky
    try:
        chunks = parse_all(parser, data)
    except TableFormatError as exc:
        assert "\n" not in str(exc)
        return
    check(chunks, lines=None, every_line_yields=True)


# --- Parquet ---------------------------------------------------------------------------------

PARQUET_VALUES = {
    "ts": st.one_of(
        st.lists(st.one_of(st.none(), TIME), min_size=1, max_size=8).map(
            lambda v: pa.array(v, pa.string())
        ),
        st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), min_size=1, max_size=8).map(
            lambda v: pa.array(v, pa.float64())
        ),
        st.lists(st.one_of(st.none(), st.booleans()), min_size=1, max_size=8).map(pa.array),
        st.lists(st.one_of(st.none(), st.integers(-(10**12), 10**12)), min_size=1, max_size=8).map(
            lambda v: pa.array(v, pa.int64()).cast(pa.timestamp("s"))
        ),
    ),
    "lat": st.one_of(
        st.lists(st.one_of(st.none(), FIELD), min_size=1, max_size=8).map(
            lambda v: pa.array(v, pa.string())
        ),
        st.lists(st.one_of(st.none(), st.floats()), min_size=1, max_size=8).map(
            lambda v: pa.array(v, pa.float64())
        ),
        st.lists(st.one_of(st.none(), st.booleans()), min_size=1, max_size=8).map(pa.array),
    ),
    "text": st.one_of(
        st.lists(st.one_of(st.none(), FIELD), min_size=1, max_size=8).map(
            lambda v: pa.array(v, pa.string())
        ),
        st.lists(
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=8
        ).map(lambda v: pa.array(v, pa.int64())),
        st.lists(st.one_of(st.none(), st.lists(FIELD, max_size=2)), min_size=1, max_size=8).map(
            lambda v: pa.array(v, pa.list_(pa.string()))
        ),
    ),
}


def _fit(array: pa.Array, n: int) -> pa.Array:
    """``array`` cut or padded with nulls to ``n`` values."""
    if len(array) >= n:
        return array[:n]
    return pa.concat_arrays([array, pa.nulls(n - len(array), array.type)])


@FUZZ
@given(
    PARQUET_VALUES["ts"],
    PARQUET_VALUES["text"],
    PARQUET_VALUES["lat"],
    PARQUET_VALUES["text"],
    PARQUET_VALUES["text"],
)
def test_parquet_parser_accounts_for_every_row(
    ts: pa.Array, icao: pa.Array, lat: pa.Array, callsign: pa.Array, squawk: pa.Array
) -> None:
    n = len(ts)
    table = pa.table(
        {
            "timestamp": ts,
            "icao24": _fit(icao, n),
            "latitude": _fit(lat, n),
            "longitude": pa.array([4.6] * n),
            "callsign": _fit(callsign, n),
            "squawk": _fit(squawk, n),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    chunks = parse_all(parse_table, out.getvalue())
    check(chunks, lines=n, every_line_yields=True)


@FUZZ
@given(st.binary(max_size=600), st.integers(0, 2000))
def test_damaged_parquet_is_one_clean_error(noise: bytes, cut: int) -> None:
    table = pa.table({"timestamp": ["2026-01-15T10:00:00Z"] * 5, "icao24": ["4840d6"] * 5,
                      "latitude": [52.1] * 5, "longitude": [4.6] * 5})  # fmt: skip
    out = io.BytesIO()
    pq.write_table(table, out)
    good = out.getvalue()
    data = good[: min(cut, len(good) - 1)] + noise if cut else b"PAR1" + noise
    try:
        chunks = parse_all(parse_table, data)
    except TableFormatError as exc:
        assert "\n" not in str(exc)
        return
    check(chunks, lines=None, every_line_yields=True)


# --- Mode S: raw CSV/JSONL, AVR, Beast ---------------------------------------------------------

FRAME = "8d40621d58c382d690c8ac2863a7"
HEX = st.one_of(st.just(FRAME), st.text("0123456789abcdefABCDEFxz", max_size=30))
EPOCH = st.one_of(
    st.sampled_from(["1768471200.5", "1e10", "5e10", "-5", "nan", "0001-01-01", ""]), FIELD
)


def _nonblank_text(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.decode("utf-8", "replace").strip())


@FUZZ
@given(
    st.lists(
        st.one_of(st.builds(lambda t, h: f"{t},{h}", EPOCH, HEX), JUNK, FIELD),
        max_size=30,
    )
)
def test_raw_csv_parser_accounts_for_every_line(rows: list[str | bytes]) -> None:
    data = b"timestamp,rawmsg\n" + lines_of(rows)
    check(parse_all(parse_raw, data), lines=_nonblank_text(data), every_line_yields=False)


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda t, h: json.dumps({"timestamp": t, "rawmsg": h}),
                st.one_of(st.floats(), st.integers(), EPOCH, st.none()),
                st.one_of(HEX, st.none(), st.integers()),
            ),
            st.integers(1, 3000).map(lambda n: "[" * n),
            JUNK,
        ),
        max_size=30,
    )
)
def test_raw_jsonl_parser_accounts_for_every_line(rows: list[str | bytes]) -> None:
    data = b'{"ts": 1768471200, "hex": "' + FRAME.encode() + b'"}\n' + lines_of(rows)
    check(parse_all(parse_raw, data), lines=_nonblank_text(data), every_line_yields=False)


def _avr_nonblank(data: bytes) -> int:
    return sum(1 for line in data.decode("ascii", "replace").splitlines() if line.strip())


AVR_LINE = st.one_of(
    st.builds(lambda h: f"*{h};", HEX),
    st.builds(lambda c, h: f"@{c}{h};", st.text("0123456789abcdefz", max_size=13), HEX),
    FIELD,
)


@FUZZ
@given(st.lists(st.one_of(AVR_LINE, JUNK), max_size=30), st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_avr_parser_accounts_for_every_line(parts: list[str | bytes], end: bytes) -> None:
    data = lines_of(parts, end)
    for start in (START, dt.datetime(9999, 1, 1, tzinfo=dt.UTC)):
        options = ParseOptions(receiver(), chunk_lines=3, start_time=start)
        check(
            parse_all(parse_avr, data, options), lines=_avr_nonblank(data), every_line_yields=False
        )


def _beast_frame(counter: int, signal: int, body: bytes, kind: bytes) -> bytes:
    raw = counter.to_bytes(6, "big") + bytes([signal]) + body
    return b"\x1a" + kind + raw.replace(b"\x1a", b"\x1a\x1a")


BEAST_PART = st.one_of(
    st.builds(
        _beast_frame,
        st.integers(0, 2**48 - 1),
        st.integers(0, 255),
        st.one_of(st.just(bytes.fromhex(FRAME)), st.binary(min_size=0, max_size=16)),
        st.sampled_from([b"1", b"2", b"3"]),
    ),
    st.binary(max_size=40),
)


@FUZZ
@given(st.lists(BEAST_PART, max_size=20))
def test_beast_parser_reads_every_byte(parts: list[bytes]) -> None:
    """Beast has no lines: every byte is consumed, and every frame or run of bytes between
    frames is counted (the counts are the parser's frames and garbage runs)."""
    data = b"".join(parts)
    chunks = parse_all(parse_beast, data)
    assert sum(c.bytes_read for c in chunks) == len(data)
    check(chunks, lines=None, every_line_yields=False)
    if data and b"\x1a" not in data:
        assert sum(c.lines for c in chunks) >= 1 and sum(len(c.rejects) for c in chunks) >= 1


# --- through the writer into a real database ------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.one_of(SBS_LINE, TABLE_ROW.map(lambda r: "MSG,3," + r), JUNK), max_size=40))
def test_every_parsed_line_is_stored_or_counted(engine: Engine, parts: list[str | bytes]) -> None:
    """Parsed lines through validation and the writer: each position is accepted, a
    duplicate or a counted reject, and the database holds exactly the accepted ones (a
    callsign or squawk that does not fit never loses a chunk, on SQLite or PostgreSQL)."""
    try:  # the database lives for the whole test: an earlier example may have added it
        rec = get_receiver(engine, "fuzz")
    except ReceiverNotFound:
        rec = add_receiver(engine, receiver("fuzz"))
    assert rec.id is not None
    before = len(read_positions(engine, rec.id))
    chunks = parse_all(parse_sbs, lines_of(parts))
    produced = sum(len(c.positions) + len(c.rejects) for c in chunks)
    summary = ingest_chunks(engine, rec, chunks, source="fuzz", now=NOW)
    assert summary.accepted + summary.duplicates + summary.rejected == produced
    assert summary.rejected == sum(summary.rejected_by_reason.values())
    assert len(read_positions(engine, rec.id)) == before + summary.accepted


def test_parquet_magic_without_parquet_is_a_clean_error() -> None:
    with pytest.raises(TableFormatError, match="not a readable Parquet file"):
        parse_all(parse_table, b"PAR1 not parquet")
