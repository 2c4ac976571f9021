"""Bad input never sinks a file ingest: every bad line is a counted reject (or the whole file a
one-line error, exit 2), every good line around it is stored, and SQLite and PostgreSQL store
the same rows. Each case runs the real `oddflights ingest` on a real file."""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oddflights.simulate.modes_encode import beast_bytes, encode_positions, write_avr
from tests.ingest.helpers import (
    LAT,
    LON,
    assert_same_positions,
    opensky_bytes,
    sbs_bytes,
    sim_positions,
    table_bytes,
)
from tests.ingest.test_cli_ingest import run, stored

START = datetime(2026, 1, 15, tzinfo=UTC)
FRAME = "8d40621d58c382d690c8ac2863a7"  # a valid DF17 airborne position
BIG = 5_000_000  # bytes in "a single 4-10 MB line"
BAD_YEARS = ("0001", "1677", "2262", "9999", "-001")


def add(db_url: str, name: str, lat: float = LAT, lon: float = LON) -> None:
    code, out, err = run(
        "receiver", "add", name, "--lat", str(lat), "--lon", str(lon), "--db", db_url
    )
    assert code == 0, out + err


def ingest(db_url: str, path: Path, name: str, *args: str) -> tuple[int, dict, str]:
    """Exit code, the JSON summary (empty on an error) and stderr."""
    code, out, err = run("ingest", str(path), "--receiver", name, "--json", "--db", db_url, *args)
    assert "Traceback" not in out + err
    return code, (json.loads(out) if code == 0 else {}), err


def insert_middle(data: bytes, lines: list[bytes], end: bytes = b"\n") -> bytes:
    """``lines`` inserted at a line boundary near the middle of ``data``."""
    cut = data.index(b"\n", len(data) // 2) + 1
    return data[:cut] + b"".join(line + end for line in lines) + data[cut:]


# Each maker: (clean file, the same file with bad lines in the middle, CLI arguments, the
# reasons the bad lines must be counted under; None: only the reasons in ``reasons_any``).


def _sbs(case: str) -> tuple[bytes, list[bytes], list[str]]:
    line = "MSG,3,1,1,ABCDEF,1,{d},10:00:01.000,{d},10:00:01.000,,1000,,,52.1,4.6,,,0,0,0,0"
    if case == "years":
        bad = [line.format(d=f"{y}/01/15").encode() for y in BAD_YEARS]
    else:
        bad = [b"MSG," + b"x" * BIG]
    return sbs_bytes(), bad, []


def _table(case: str) -> tuple[bytes, list[bytes], list[str]]:
    if case == "years":
        times = [f"{y}-01-15T10:00:01Z" for y in BAD_YEARS] + ["1e12", "-1e12"]
        bad = [f"{t},abcdef,52.1,4.6,1000,,,,,,".encode() for t in times]
    elif case == "quote":  # an unclosed quote once swallowed the rest of its block
        bad = [b'2026-01-15T10:00:01Z,abcdef,52.1,4.6,1000,,,,"KLM,,']
    else:
        bad = [b"2026-01-15T10:00:01Z,abcdef,52.1," + b"9" * BIG + b",,,,,,,"]
    return table_bytes(), bad, []


def _opensky(case: str) -> tuple[bytes, list[bytes], list[str]]:
    row = "{t},abcdef,52.1,4.6,100,90,0,TEST,False,False,False,1000,3000,3000,{t},{t}"
    if case == "years":
        times = ["1e12", "-1e12", "253402300800"] + [f"{y}-01-01T00:00:00Z" for y in BAD_YEARS]
        bad = [row.format(t=t).encode() for t in times]
    else:
        bad = [row.format(t="1768471200").encode() + b"x" * BIG]
    return opensky_bytes(), bad, []


def _raw_csv(case: str) -> tuple[bytes, list[bytes], list[str]]:
    ts, frames = encode_positions(sim_positions())
    hexes = pd.Series([bytes(f).hex() for f in frames])
    clean = (
        "timestamp,rawmsg\n" + "".join(f"{t:.6f},{h}\n" for t, h in zip(ts, hexes, strict=True))
    ).encode()
    if case == "years":
        bad = [f"{t},{FRAME}".encode() for t in ("1e10", "5e10", "-5", "0001-01-01")]
    else:
        bad = [b"1768471200," + b"8d" * (BIG // 2)]
    return clean, bad, []


def _raw_jsonl(case: str) -> tuple[bytes, list[bytes], list[str]]:
    ts, frames = encode_positions(sim_positions())
    clean = "".join(
        json.dumps({"timestamp": float(t), "rawmsg": bytes(f).hex()}) + "\n"
        for t, f in zip(ts, frames, strict=True)
    ).encode()
    if case == "years":
        bad = [json.dumps({"timestamp": t, "rawmsg": FRAME}).encode() for t in (1e10, 5e10)]
    else:
        bad = [b"[" * BIG]  # nested deeper than json can read
    return clean, bad, []


def _avr(case: str) -> tuple[bytes, list[bytes], list[str]]:
    return (
        _avr_bytes(),
        [b"@000000000000" + b"8d" * (BIG // 2) + b";"],
        [
            "--start-time",
            START.isoformat(),
        ],
    )


def _avr_bytes() -> bytes:
    """AVR with 12 MHz counters (so times do not depend on line numbers)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.avr"
        write_avr(sim_positions(), path, START)
        return path.read_bytes()


MAKERS: dict[str, Callable[[str], tuple[bytes, list[bytes], list[str]]]] = {
    "sbs": _sbs,
    "table": _table,
    "opensky": _opensky,
    "raw-csv": _raw_csv,
    "raw-jsonl": _raw_jsonl,
    "avr": _avr,
}
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("sbs", "years"): {"bad_time": 5},
    ("sbs", "long"): {"line_too_long": 1},
    ("table", "years"): {"bad_time": 7},
    ("table", "long"): {"line_too_long": 1},
    ("table", "quote"): {"unparsable": 1},
    ("opensky", "years"): {"bad_time": 8},
    ("opensky", "long"): {"line_too_long": 1},
    ("raw-csv", "years"): {"bad_time": 4},
    ("raw-csv", "long"): {"bad_length": 1},
    ("raw-jsonl", "years"): {"bad_time": 2},
    ("raw-jsonl", "long"): {"no_frame": 1},
    ("avr", "long"): {"bad_length": 1},
}


def _extra_reasons(bad: dict, clean: dict) -> dict[str, int]:
    diff = Counter(bad["rejected_by_reason"])
    diff.subtract(clean["rejected_by_reason"])
    return {k: v for k, v in diff.items() if v}


@pytest.mark.parametrize(("fmt", "case"), sorted(EXPECTED))
def test_one_bad_line_never_sinks_a_file(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, case: str
) -> None:
    """Years pandas cannot hold (0001, 1677, 2262, 9999, -001, epoch 1e12) and one 5 MB line,
    in the middle of a multi-chunk file: counted under a reason, and the file stores exactly
    what it stores without them."""
    monkeypatch.setenv("ODDFLIGHTS_INGEST_CHUNK_LINES", "500")
    clean, bad_lines, args = MAKERS[fmt](case)
    fmt_arg = ["--format", fmt.split("-")[0]]
    (tmp_path / "clean").write_bytes(clean)
    (tmp_path / "bad").write_bytes(insert_middle(clean, bad_lines))
    add(db_url, "clean")
    add(db_url, "bad")
    code, want, err = ingest(db_url, tmp_path / "clean", "clean", *fmt_arg, *args)
    assert code == 0, err
    assert want["accepted"] > 100
    code, got, err = ingest(db_url, tmp_path / "bad", "bad", *fmt_arg, *args)
    assert code == 0, err
    assert _extra_reasons(got, want) == EXPECTED[(fmt, case)]
    assert got["accepted"] == want["accepted"]
    assert_same_positions(stored(db_url, "bad"), stored(db_url, "clean"), atol=0)


def test_beast_with_megabytes_of_noise_between_frames(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODDFLIGHTS_INGEST_CHUNK_LINES", "500")
    ts, frames = encode_positions(sim_positions())
    half = len(ts) // 2
    first = beast_bytes(ts[:half], frames[:half], START)
    rest = beast_bytes(ts[half:], frames[half:], START)
    noise = bytes(b for b in random.Random(1).randbytes(BIG) if b != 0x1A)
    (tmp_path / "clean").write_bytes(first + rest)
    (tmp_path / "bad").write_bytes(first + noise + rest)
    add(db_url, "clean")
    add(db_url, "bad")
    args = ["--format", "beast", "--start-time", START.isoformat()]
    code, want, err = ingest(db_url, tmp_path / "clean", "clean", *args)
    assert code == 0, err
    code, got, err = ingest(db_url, tmp_path / "bad", "bad", *args)
    assert code == 0, err
    extra = _extra_reasons(got, want)
    assert set(extra) == {"garbage"} and extra["garbage"] >= 1
    assert got["accepted"] == want["accepted"] > 100
    assert_same_positions(stored(db_url, "bad"), stored(db_url, "clean"), atol=0)


@pytest.mark.parametrize("fmt", ["avr", "beast"])
def test_a_start_time_pandas_cannot_hold_is_counted_not_a_crash(
    db_url: str, tmp_path: Path, fmt: str
) -> None:
    pos = sim_positions().iloc[:50]
    path = tmp_path / f"day.{fmt}"
    if fmt == "avr":
        n = write_avr(pos, path, START)
    else:
        ts, frames = encode_positions(pos)
        n = len(ts)
        path.write_bytes(beast_bytes(ts, frames, START))
    add(db_url, "roof")
    code, got, err = ingest(db_url, path, "roof", "--format", fmt, "--start-time", "9999-01-01")
    assert code == 0, err
    assert got["rejected_by_reason"] == {"bad_time": n}
    assert got["accepted"] == 0 and len(stored(db_url)) == 0


# --- widths: the same rows on SQLite and PostgreSQL ------------------------------------------


def _sbs_line(tx: int, icao: str, second: float, fields: dict[int, str]) -> str:
    t = f"10:{int(second) // 60:02d}:{second % 60:06.3f}"
    cols = ["MSG", str(tx), "1", "1", icao, "1", "2026/01/15", t, "2026/01/15", t]
    cols += [fields.get(i, "") for i in range(10, 22)]
    return ",".join(cols)


def test_overlong_callsign_and_squawk_keep_every_position(db_url: str, tmp_path: Path) -> None:
    """An MSG,1 with TOOLONGCALLSIGN and a 6-digit squawk: PostgreSQL lost the whole chunk
    (StringDataRightTruncation) while SQLite stored them. Now both keep all 300 positions
    with those two fields empty, counted as notes; a good callsign and squawk are kept."""
    lines = [
        _sbs_line(1, "4840D6", 0.0, {10: "TOOLONGCALLSIGN"}),
        _sbs_line(6, "4840D6", 0.5, {17: "777777"}),
        _sbs_line(1, "3C6444", 0.0, {10: "DLH4AB"}),
        _sbs_line(6, "3C6444", 0.5, {17: "1000"}),
    ]
    for k in range(300):
        for icao in ("4840D6", "3C6444"):
            lines.append(_sbs_line(3, icao, 1.0 + k, {11: "1000", 14: "52.1", 15: "4.6"}))
    path = tmp_path / "feed.sbs"
    path.write_text("\n".join(lines) + "\n")
    add(db_url, "roof")
    code, got, err = ingest(db_url, path, "roof")
    assert code == 0, err
    assert (got["accepted"], got["rejected"]) == (600, 0)
    assert got["fields_cleared"] == {"callsign_too_long": 300, "bad_squawk": 300}
    rows = stored(db_url)
    assert len(rows) == 600
    by = rows.groupby("icao24")
    assert by["callsign"].apply(lambda s: s.isna().all()).to_dict() == {
        "3c6444": False,
        "4840d6": True,
    }
    assert set(rows.loc[rows["icao24"] == "3c6444", "callsign"]) == {"DLH4AB"}
    assert set(rows.loc[rows["icao24"] == "3c6444", "squawk"]) == {"1000"}
    assert rows.loc[rows["icao24"] == "4840d6", "squawk"].isna().all()


def test_table_callsigns_and_squawks_that_do_not_fit_are_cleared(
    db_url: str, tmp_path: Path
) -> None:
    """A NUL in a callsign (PostgreSQL refuses it), a 9-character callsign and squawks that
    are not 4 octal digits: the positions are stored, the fields empty, on both databases."""
    header = "timestamp,icao24,latitude,longitude,altitude,callsign,squawk\n"
    rows = [
        ("KLM1234", "7700"),
        ("AB\x00CD", "1234"),
        ("ABCDEFGHI", "12345"),
        ("  EZY12  ", "8888"),
        ("", "12"),
    ]
    text = header + "".join(
        f"2026-01-15T10:00:0{k}Z,4840d6,52.1,4.6,1000,{c},{s}\n" for k, (c, s) in enumerate(rows)
    )
    path = tmp_path / "t.csv"
    path.write_text(text)
    add(db_url, "roof")
    code, got, err = ingest(db_url, path, "roof")
    assert code == 0, err
    assert got["accepted"] == 5
    assert got["fields_cleared"] == {"bad_callsign": 1, "callsign_too_long": 1, "bad_squawk": 3}
    kept = stored(db_url)
    assert [None if pd.isna(v) else v for v in kept["callsign"]] == [
        "KLM1234",
        None,
        None,
        "EZY12",
        None,
    ]
    assert [None if pd.isna(v) else v for v in kept["squawk"]] == ["7700", "1234", None, None, None]


# --- whole files that are not of their format ------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "opensky", "auto"])
def test_binary_garbage_is_a_one_line_error(db_url: str, tmp_path: Path, fmt: str) -> None:
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(20_000))
    data = b"\x89\r\x00garbage" + data  # a bare CR in the "header" once broke csv.reader
    path = tmp_path / "noise.bin"
    path.write_bytes(data)
    add(db_url, "roof")
    code, _, err = ingest(db_url, path, "roof", "--format", fmt)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "missing" in err or "cannot tell the format" in err
    assert len(stored(db_url)) == 0


@pytest.mark.parametrize("fmt", ["table", "opensky"])
def test_binary_lines_inside_a_table_are_counted(db_url: str, tmp_path: Path, fmt: str) -> None:
    clean = table_bytes() if fmt == "table" else opensky_bytes()
    rng = random.Random(3)
    noise = []
    for _ in range(40):
        line = bytes(rng.choice([b for b in range(256) if b not in (10, 13)]) for _ in range(60))
        noise.append(b"x" + line)
    (tmp_path / "clean.csv").write_bytes(clean)
    (tmp_path / "bad.csv").write_bytes(insert_middle(clean, noise))
    add(db_url, "clean")
    add(db_url, "bad")
    code, want, err = ingest(db_url, tmp_path / "clean.csv", "clean", "--format", fmt)
    assert code == 0, err
    code, got, err = ingest(db_url, tmp_path / "bad.csv", "bad", "--format", fmt)
    assert code == 0, err
    assert got["rejected"] - want["rejected"] == 40
    assert got["accepted"] == want["accepted"] > 100
    assert_same_positions(stored(db_url, "bad"), stored(db_url, "clean"), atol=0)


def _parquet(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame)
    pq.write_table(table, path)


def test_truncated_parquet_is_a_one_line_error(db_url: str, tmp_path: Path) -> None:
    data = table_bytes("parquet")
    path = tmp_path / "cut.parquet"
    path.write_bytes(data[: len(data) // 2])
    add(db_url, "roof")
    code, _, err = ingest(db_url, path, "roof")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "not a readable Parquet file" in err
    assert str(path) in err


def test_parquet_with_wrong_column_types_rejects_rows(db_url: str, tmp_path: Path) -> None:
    """lat as text (one not a number), timestamps as booleans, timestamps as lists: per-row
    rejects under a reason, never a traceback, and the good rows stored."""
    times = pd.to_datetime(["2026-01-15T10:00:01Z", "2026-01-15T10:00:02Z", "2026-01-15T10:00:03Z"])
    base = {"icao24": ["4840d6"] * 3, "longitude": [4.6] * 3}
    add(db_url, "roof")
    lat_text = pd.DataFrame({"timestamp": times, **base, "latitude": ["52.1", "x", "52.2"]})
    _parquet(lat_text, tmp_path / "a.parquet")
    code, got, err = ingest(db_url, tmp_path / "a.parquet", "roof")
    assert code == 0, err
    assert (got["accepted"], got["rejected_by_reason"]) == (2, {"unparsable": 1})
    as_bool = pd.DataFrame({"timestamp": [True, False, True], **base, "latitude": [52.1] * 3})
    _parquet(as_bool, tmp_path / "b.parquet")
    code, got, err = ingest(db_url, tmp_path / "b.parquet", "roof")
    assert code == 0, err
    assert (got["accepted"], got["rejected_by_reason"]) == (0, {"bad_time": 3})
    as_list = pa.table(
        {
            "timestamp": pa.array([["2026-01-15"], [], None], pa.list_(pa.string())),
            "icao24": base["icao24"],
            "latitude": [52.1] * 3,
            "longitude": base["longitude"],
        }
    )
    _parquet(as_list, tmp_path / "c.parquet")
    code, got, err = ingest(db_url, tmp_path / "c.parquet", "roof")
    assert code == 0, err
    assert (got["accepted"], got["rejected_by_reason"]) == (0, {"bad_time": 3})
    assert len(stored(db_url)) == 2


# --- --rejects keeps the input line -----------------------------------------------------------


def test_rejects_file_keeps_the_raw_table_line(db_url: str, tmp_path: Path) -> None:
    lines = [
        "timestamp,icao24,latitude,longitude,altitude,callsign",
        '2026-01-15T10:00:01Z,4840d6,52.1,4.6,1000,"KLM12"',
        "2026-13-45T99:00:00Z,4840d6,52.1,4.6,1000,KLM12",
        "2026-01-15T10:00:02.5000Z,4840d6,52.1,4.6,1e5,KLM12",
        "1768471203,4840D6,89.9,4.6,1000,KLM12",
        "2026-01-15T10:00:04Z,4840d6,52.1,4.6,x,KLM12",
    ]
    path = tmp_path / "t.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    rejects = tmp_path / "rejects.tsv"
    add(db_url, "roof")
    code, got, err = ingest(db_url, path, "roof", "--rejects", str(rejects))
    assert code == 0, err
    assert got["accepted"] == 1
    assert sorted(rejects.read_text().splitlines()) == sorted(
        [
            f"bad_time\t{lines[2]}",
            f"altitude_out_of_range\t{lines[3]}",
            f"out_of_range_km\t{lines[4]}",
            f"unparsable\t{lines[5]}",
        ]
    )


def test_rejects_file_of_parquet_shows_the_values_as_read(db_url: str, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": ["2026-01-15T10:00:01Z", "0001-01-01T00:00:00Z"],
            "icao24": ["4840d6", "4840d6"],
            "latitude": [52.1, 52.1],
            "longitude": [4.6, 4.6],
        }
    )
    _parquet(frame, tmp_path / "t.parquet")
    rejects = tmp_path / "rejects.tsv"
    add(db_url, "roof")
    code, got, err = ingest(db_url, tmp_path / "t.parquet", "roof", "--rejects", str(rejects))
    assert code == 0, err
    assert got["accepted"] == 1
    assert rejects.read_text().splitlines() == ["bad_time\t0001-01-01T00:00:00Z,4840d6,52.1,4.6"]


# --- a receiver in the wrong place is called out early ----------------------------------------


def test_every_position_out_of_range_warns_once_early(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "day.sbs"
    path.write_bytes(sbs_bytes())
    add(db_url, "roof")
    add(db_url, "antipodes", lat=-LAT, lon=LON - 180)
    code, got, err = ingest(db_url, path, "antipodes")
    assert code == 0
    assert got["accepted"] == 0 and got["rejected_by_reason"] == {
        "out_of_range_km": len(sim_positions())
    }
    warnings = [line for line in err.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1, err
    assert "'antipodes' at -52.0000, -175.5000" in warnings[0]
    assert "location or range wrong" in warnings[0]
    code, got, err = ingest(db_url, path, "roof")
    assert code == 0 and "Warning" not in err
    assert got["accepted"] == len(sim_positions())


def test_range_warning_comes_with_the_first_chunk_and_names_the_median() -> None:
    from oddflights.ingest.types import ParsedChunk
    from oddflights.ingest.writer import FAR_WARNING_POSITIONS, RangeWatch, check_chunk
    from oddflights.receivers import Receiver

    rec = Receiver("roof", 10.0, 20.0, 100.0, "UTC")
    seen: list[tuple[int, str]] = []
    watch = RangeWatch(rec, lambda m: seen.append((watch.chunks, m)))
    pos = sim_positions()
    now = datetime(2026, 2, 1, tzinfo=UTC)
    for k in range(0, len(pos), 300):
        watch.see(check_chunk(rec, ParsedChunk(pos.iloc[k : k + 300]), now=now).validation)
    assert [c for c, _ in seen] == [1]
    lat, lon = np.median(pos["lat"][:300]), np.median(pos["lon"][:300])
    assert f"their median at {lat:.4f}, {lon:.4f}" in seen[0][1]
    assert "300 of the first 300 positions are beyond 150 km" in seen[0][1]
    # A first chunk with good positions, then far ones: the warning waits for a thousand far
    # positions with at most 1 % valid.
    near = Receiver("roof", LAT, LON, 200.0, "UTC")
    seen.clear()
    watch = RangeWatch(near, lambda m: seen.append((watch.chunks, m)))
    watch.see(check_chunk(near, ParsedChunk(pos.iloc[:5]), now=now).validation)
    far_pos = pos.assign(lat=pos["lat"] - 30.0)
    for k in range(0, len(far_pos), 300):
        watch.see(check_chunk(near, ParsedChunk(far_pos.iloc[k : k + 300]), now=now).validation)
    assert len(seen) == 1 and watch.far >= FAR_WARNING_POSITIONS
    assert seen[0][0] == 1 + -(-FAR_WARNING_POSITIONS // 300)
