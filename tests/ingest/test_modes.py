"""Raw Mode S ingest: simulator output encoded as DF17 frames (CSV, AVR, Beast) decodes back to
the same positions; CRC failures, bad hex and garbage are counted, never raised."""

from __future__ import annotations

import datetime as dt
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oddflights.ingest.avr import parse_avr
from oddflights.ingest.beast import parse_beast
from oddflights.ingest.raw import parse_raw
from oddflights.ingest.types import ParsedChunk, ParseOptions, Parser
from oddflights.mode_s import crc24, hex_chars
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate
from oddflights.simulate.modes_encode import (
    beast_bytes,
    encode_positions,
    write_avr,
    write_beast,
    write_raw_csv,
)

RECEIVER = Receiver("home", 52.0, 4.0, range_km=150.0)
START = datetime(2024, 5, 1, tzinfo=UTC)
OPTIONS = ParseOptions(RECEIVER, start_time=START, chunk_lines=4000)


@pytest.fixture(scope="module")
def airborne() -> pd.DataFrame:
    sim = simulate(
        SimConfig(
            lat=52.0, lon=4.0, days=1, flights_per_day=8, start_day=dt.date(2024, 5, 1),
            range_km=150.0, seed=3, anomaly_share=0.0,
        )
    )  # fmt: skip
    # Surface positions are encoded as airborne ones (see the encoder), so leave them out.
    return sim.positions[~sim.positions["onground"]].reset_index(drop=True)


def _parse(parser: Parser, data: bytes, options: ParseOptions = OPTIONS) -> ParsedChunk:
    chunks = list(parser(io.BytesIO(data), options))
    pos = [c.positions for c in chunks if len(c.positions)]
    rej = [c.rejects for c in chunks if len(c.rejects)]
    return ParsedChunk(
        pd.concat(pos, ignore_index=True) if pos else chunks[0].positions,
        pd.concat(rej, ignore_index=True) if rej else chunks[0].rejects,
        lines=sum(c.lines for c in chunks),
    )


def _write(fmt: str, positions: pd.DataFrame, path: Path) -> tuple[Parser, bytes]:
    if fmt == "raw":
        write_raw_csv(positions, path)
        return parse_raw, path.read_bytes()
    if fmt == "avr":
        write_avr(positions, path, START)
        return parse_avr, path.read_bytes()
    write_beast(positions, path, START)
    return parse_beast, path.read_bytes()


@pytest.mark.parametrize("fmt", ["raw", "avr", "beast"])
def test_simulated_positions_round_trip(fmt: str, airborne: pd.DataFrame, tmp_path: Path) -> None:
    parser, data = _write(fmt, airborne, tmp_path / f"sim.{fmt}")
    got = _parse(parser, data)
    assert len(got.rejects) == 0
    assert len(got.positions) == len(airborne)
    assert str(got.positions["ts"].dtype) == "datetime64[ns, UTC]"
    both = got.positions.merge(airborne, on=["icao24", "ts"], suffixes=("", "_sim"))
    assert len(both) == len(airborne)
    north_m = (both["lat"] - both["lat_sim"]) * 111_320
    east_m = (both["lon"] - both["lon_sim"]) * 111_320 * np.cos(np.radians(both["lat"]))
    assert np.hypot(north_m, east_m).max() < 10.0
    assert (both["altitude_ft"] - both["altitude_ft_sim"]).abs().max() <= 12.5
    assert (both["callsign"] == both["callsign_sim"]).all()
    assert (both["groundspeed_kt"] - both["groundspeed_kt_sim"]).abs().max() < 1.5
    assert (both["vertical_rate_fpm"] - both["vertical_rate_fpm_sim"]).abs().max() <= 32
    turn = ((both["track_deg"] - both["track_deg_sim"] + 180) % 360 - 180).abs()
    assert turn[both["groundspeed_kt_sim"] > 50].max() < 1.0
    assert not both["onground"].any()


def test_frames_have_valid_crc_and_even_odd_alternate(airborne: pd.DataFrame) -> None:
    ts, frames = encode_positions(airborne.head(200))
    assert (crc24(frames) == 0).all()
    assert np.all(np.diff(ts) >= 0)
    tc = frames[:, 4] >> 3
    flags = (frames[tc == 11, 6] >> 2) & 1  # the CPR odd flag
    assert 0 < flags.mean() < 1


def test_blocks_give_the_same_positions(airborne: pd.DataFrame, tmp_path: Path) -> None:
    """CPR pairs and joined values carry across blocks: tiny blocks change nothing."""
    parser, data = _write("beast", airborne.head(3000), tmp_path / "sim.beast")
    small = _parse(parser, data, ParseOptions(RECEIVER, start_time=START, chunk_lines=37))
    big = _parse(parser, data)
    pd.testing.assert_frame_equal(small.positions, big.positions)


def test_crc_failures_are_counted(airborne: pd.DataFrame) -> None:
    ts, frames = encode_positions(airborne.head(300))
    frames = frames.copy()
    flipped = np.arange(0, len(frames), 10)
    frames[flipped, 7] ^= 0x10
    text = "timestamp,rawmsg\n" + "".join(
        f"{t:.6f},{h.decode()}\n"
        for t, h in zip(ts, hex_chars(frames).view("S28").ravel(), strict=True)
    )
    got = _parse(parse_raw, text.encode())
    assert got.rejects["reason"].value_counts().to_dict() == {"crc": len(flipped)}


def test_bad_lines_are_counted_by_reason() -> None:
    good = "8d40621d58c382d690c8ac2863a7"
    lines = [
        f'{{"timestamp": 1714557600.5, "rawmsg": "{good}"}}',
        '{"ts": 1714557601.0, "hex": "8d40621d58c386435cc412692ad6"}',
        '{"timestamp": 1714557602.0, "rawmsg": "8d40621d58c3zz435cc412692ad6"}',
        '{"timestamp": 1714557603.0, "rawmsg": "8d40621d58c3"}',
        f'{{"timestamp": "nan", "rawmsg": "{good}"}}',
        '{"timestamp": 1714557604.0}',
        "not json",
        '{"timestamp": 1714557605.0, "frame": "5d4840d6202cc3"}',
    ]
    got = _parse(parse_raw, "\n".join(lines).encode())
    assert len(got.positions) == 2  # the even/odd pair decodes
    assert got.positions["altitude_ft"].tolist() == [38000.0, 38000.0]
    assert got.rejects["reason"].value_counts().to_dict() == {
        "bad_hex": 1, "bad_length": 1, "bad_time": 1, "no_frame": 2,
    }  # fmt: skip
    assert got.lines == 8


def test_avr_plain_lines_use_the_start_time() -> None:
    text = b"*8D40621D58C382D690C8AC2863A7;\n*8D40621D58C386435CC412692AD6;\r\n\n*garbage;\nhello\n"
    got = _parse(parse_avr, text)
    assert len(got.positions) == 2
    assert got.positions["ts"].min() >= pd.Timestamp(START)
    assert got.positions["ts"].max() < pd.Timestamp(START) + pd.Timedelta(seconds=1)
    assert sorted(got.rejects["reason"]) == ["bad_avr", "bad_length"]
    no_start = _parse(parse_avr, text, ParseOptions(RECEIVER))
    assert len(no_start.positions) == 0
    assert (no_start.rejects["reason"] == "no_time").sum() == 3


def test_beast_escapes_mode_ac_and_truncation(airborne: pd.DataFrame) -> None:
    ts, frames = encode_positions(airborne.head(400))
    data = beast_bytes(ts, frames, START)
    assert b"\x1a\x1a" in data  # counters and CRCs hit 0x1a often enough to test escaping
    mode_ac = b"\x1a1" + bytes(6) + b"\x80" + b"\x12\x34"
    cut = data[:-10]  # the last frame is cut short
    got = _parse(parse_beast, mode_ac + b"\x00\xff" + cut)
    full = _parse(parse_beast, data)
    assert len(full.rejects) == 0
    assert len(got.positions) >= len(full.positions) - 1
    assert sorted(got.rejects["reason"]) == ["bad_length", "garbage"]


def _no_crash(parser: Parser, data: bytes) -> None:
    for chunk in parser(io.BytesIO(data), ParseOptions(RECEIVER, start_time=START, chunk_lines=3)):
        assert list(chunk.rejects.columns) == ["raw", "reason"]


FRAME = "8d40621d58c382d690c8ac2863a7"
_fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fuzz
@given(st.binary(max_size=400))
def test_fuzz_beast(data: bytes) -> None:
    _no_crash(parse_beast, b"\x1a3" + data)


@_fuzz
@given(
    st.lists(
        st.sampled_from(["@", "*", ";", "\n", "\r", FRAME, "00" * 6, "zz", "\x1a", "8d"]),
        max_size=40,
    )
)
def test_fuzz_avr(parts: list[str]) -> None:
    _no_crash(parse_avr, "".join(parts).encode())
    _no_crash(parse_avr, "".join(parts).encode() + bytes(range(256)))


@_fuzz
@given(
    st.lists(
        st.sampled_from(
            [
                "timestamp,rawmsg\n",
                "1714557600.5,",
                "nan,",
                FRAME,
                "{",
                '"ts": 1,',
                '"hex": "8d"',
                "}",
                ",",
                "\n",
                "\xff",
            ]
        ),
        max_size=40,
    )
)
def test_fuzz_raw(parts: list[str]) -> None:
    _no_crash(parse_raw, "".join(parts).encode())
    _no_crash(parse_raw, b'{"ts": 1e308, "hex": "' + "".join(parts).encode() + b'"}')
