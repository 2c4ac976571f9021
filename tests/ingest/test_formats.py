"""Every file format on the same simulated flights gives the same stored positions."""

from __future__ import annotations

import datetime as dt
import gzip
import io

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from oddflights.db.positions import read_positions
from oddflights.db.receivers import add_receiver
from oddflights.ingest.formats import FormatError, get_parser, open_input, parse_input, sniff
from oddflights.ingest.sbs import SbsParser, parse_sbs
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParseOptions
from oddflights.ingest.writer import ingest_chunks
from oddflights.simulate import SimConfig, simulate, write_simulation
from tests.ingest.helpers import (
    DAY,
    LAT,
    LON,
    NOW,
    assert_same_positions,
    opensky_bytes,
    receiver,
    sbs_bytes,
    sim_positions,
    table_bytes,
)


def _ingest(engine: Engine, name: str, data: bytes, fmt: str, chunk_lines: int = 500):
    rec = add_receiver(engine, receiver(name))
    chunks = parse_input(
        io.BufferedReader(io.BytesIO(data)), fmt, ParseOptions(rec, chunk_lines=chunk_lines)
    )
    summary = ingest_chunks(engine, rec, chunks, source=fmt, now=NOW)
    assert rec.id is not None
    return summary, read_positions(engine, rec.id)


@pytest.mark.parametrize(
    ("fmt", "make"),
    [
        ("sbs", sbs_bytes),
        ("table", lambda: table_bytes("csv")),
        ("table", lambda: table_bytes("parquet")),
        ("auto", sbs_bytes),
        ("auto", lambda: table_bytes("parquet")),
    ],
)
def test_every_format_stores_the_simulated_positions(engine: Engine, fmt: str, make) -> None:
    want = sim_positions()
    summary, got = _ingest(engine, "r", make(), fmt)
    assert summary.to_json()["accepted"] == len(want) and summary.rejected == 0
    assert_same_positions(got, want)


def test_opensky_units_are_converted(engine: Engine) -> None:
    want = sim_positions()
    summary, got = _ingest(engine, "r", opensky_bytes(), "opensky")
    assert summary.accepted == len(want)
    assert_same_positions(got, want, atol=1e-6)
    assert sniff(opensky_bytes()[:200]) == "opensky"


def test_sbs_join_does_not_depend_on_block_boundaries() -> None:
    data = sbs_bytes()
    options = ParseOptions(receiver(), chunk_lines=500)
    whole = pd.concat([c.positions for c in parse_sbs(io.BytesIO(data), options)])
    lines = data.splitlines(keepends=True)
    parser = SbsParser(options)
    parts = []
    for start in range(0, len(lines), 97):  # odd cuts: MSG,4 and its MSG,3 fall apart
        parts.append(parser.parse_block(b"".join(lines[start : start + 97])).positions)
    cut = pd.concat(parts)
    assert_same_positions(cut, whole)
    assert_same_positions(whole, sim_positions())


def test_sbs_details_crlf_blank_lines_h_altitude_and_stale_velocity() -> None:
    d = "2026/01/15"
    text = (
        f"MSG,1,1,1,4840D6,1,{d},10:00:00.000,{d},10:00:00.000,KLM123  ,,,,,,,,,,,0\r\n"
        "\r\n"
        f"MSG,4,1,1,4840D6,1,{d},10:00:00.500,{d},10:00:00.500,,,420,90.5,,,-64,,,,,0\r\n"
        f"MSG,3,1,1,4840D6,1,{d},10:00:01.000,{d},10:00:01.000,,37025H,,,52.1,4.6,,,0,0,0,0\r\n"
        f"MSG,3,1,1,4840D6,1,{d},10:05:01.000,{d},10:05:01.000,,37000,,,52.2,4.7,,,0,0,0,0\r\n"
        f"MSG,3,1,1,4840D6,1,{d},10:05:02.000,{d},10:05:02.000,,37000,,,,,,,0,0,0,0\r\n"
        f"AIR,,333,1,4840D6,10333,{d},10:00:00.000,{d},10:00:00.000\r\n"
    )
    (chunk,) = parse_sbs(io.BytesIO(text.encode()), ParseOptions(receiver()))
    pos = chunk.positions
    assert chunk.lines == 6 and chunk.rejects.empty
    assert pos["altitude_ft"].tolist() == [37025.0, 37000.0]
    assert pos["groundspeed_kt"].iloc[0] == 420.0 and pd.isna(pos["groundspeed_kt"].iloc[1])
    assert pos["callsign"].tolist() == ["KLM123", "KLM123"]
    assert str(pos["ts"].iloc[0]) == "2026-01-15 10:00:01+00:00"


def test_sbs_timezone_converts_local_times_to_utc() -> None:
    t = "2026/07/15,12:00:00.250"
    line = f"MSG,3,1,1,4840D6,1,{t},{t},,1000,,,52.1,4.6,,,,,,0\n".encode()
    (chunk,) = parse_sbs(
        io.BytesIO(line), ParseOptions(receiver(), sbs_timezone="Europe/Amsterdam")
    )
    assert str(chunk.positions["ts"].iloc[0]) == "2026-07-15 10:00:00.250000+00:00"


def test_gzip_is_read_by_its_bytes(tmp_path) -> None:
    path = tmp_path / "feed.log"  # no .gz suffix on purpose
    path.write_bytes(gzip.compress(sbs_bytes()))
    with open_input(path) as stream:
        chunks = list(parse_input(stream, "auto", ParseOptions(receiver())))
    assert sum(len(c.positions) for c in chunks) == len(sim_positions())


def test_unknown_input_and_missing_formats_are_clean_errors() -> None:
    with pytest.raises(FormatError, match="cannot tell the format"):
        sniff(b"hello world\n")
    with pytest.raises(FormatError, match="unknown format"):
        get_parser("xml")


def test_simulator_sbs_with_faults_counts_corrupt_lines_by_reason(engine: Engine, tmp_path) -> None:
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=50, start_day=DAY,
                             seed=3, faults=True))  # fmt: skip
    files = [p for p in write_simulation(sim, tmp_path, fmt="sbs") if p.suffix == ".sbs"]
    # Corrupt lines are cut short or garbled: they lack the 22 fields of a message.
    corrupt = sum(
        line.count(b",") != 21 for p in files for line in p.read_bytes().splitlines() if line
    )
    assert corrupt > 0
    rec = add_receiver(engine, receiver("faulty"))
    runs = []
    for _ in range(2):
        total = IngestSummary()
        for path in files:
            with open_input(path) as stream:
                chunks = parse_input(stream, "auto", ParseOptions(rec, chunk_lines=5_000))
                total = total + ingest_chunks(engine, rec, chunks, source="sbs", now=NOW)
        runs.append(total)
    first, again = runs
    assert first.rejected_by_reason["unparsable"] == corrupt
    assert first.rejected_by_reason.get("out_of_range_km", 0) > 0  # positions thrown far off
    assert first.accepted > 0 and first.duplicates > 0  # repeated reports are stored once
    assert again.accepted == 0 and again.rejected_by_reason == first.rejected_by_reason
    assert rec.id is not None and len(read_positions(engine, rec.id)) == first.accepted


def test_simulator_avr_ingests_with_the_day_start_time(engine: Engine, tmp_path) -> None:
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=4, start_day=DAY, seed=2))
    (path,) = [p for p in write_simulation(sim, tmp_path, fmt="avr") if p.suffix == ".avr"]
    day = dt.datetime.strptime(path.name[:10], "%Y-%m-%d").replace(tzinfo=dt.UTC)
    rec = add_receiver(engine, receiver("avr"))
    with open_input(path) as stream:
        chunks = parse_input(stream, "avr", ParseOptions(rec, start_time=day))
        summary = ingest_chunks(engine, rec, chunks, source="avr", now=NOW)
    assert summary.accepted > 0 and summary.rejected == 0
    assert rec.id is not None
    got = read_positions(engine, rec.id)
    assert got["ts"].min() >= pd.Timestamp(day) and got["ts"].max() < pd.Timestamp(
        day
    ) + pd.Timedelta(days=1)
