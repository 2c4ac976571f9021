"""readsb history traces (`--format readsb-trace`): a hand-written trace, bad files, folders
and tars, and a simulated day that gives the same positions as its SBS output."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import math
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.columns import POSITION_COLUMNS
from oddflights.db import open_db
from oddflights.db.aircraft import read_aircraft
from oddflights.db.positions import read_positions
from oddflights.db.receivers import get_receiver
from oddflights.ingest.formats import sniff
from oddflights.ingest.readsb import parse_trace_files
from oddflights.ingest.types import ParseOptions
from oddflights.simulate import SimConfig, Simulation, simulate, write_simulation
from tests.ingest.helpers import DAY, LAT, LON, receiver

# 2026-01-15 10:00:00.25 UTC
T0 = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC).timestamp() + 0.25
DETAIL = {"type": "adsb_icao", "flight": "KLM1234 ", "squawk": "1000", "alt_geom": 25}
TRACE = {
    "icao": "4840D6",
    "r": "PH-BXA",
    "t": "B738",
    "desc": "BOEING 737-800",
    "ownOp": "KLM",
    "year": "2001",
    "timestamp": T0,
    "trace": [
        [0.0, 52.30, 4.76, "ground", 12.5, 90.0, 2, None, DETAIL],
        [10.5, 52.301, 4.765, "ground", 15.0, 91.0, 0, None, None],
        # A newer readsb's longer point: the fields after the detail object are ignored.
        [60.0, 52.31, 4.78, 1200, 160.0, 92.5, 0, 1800, None, "adsb_icao", 1300, 1700, 150],
        [70.25, 52.32, 4.80, None, None, None, 0, None, {"type": "adsb_icao", "squawk": "1001"}],
        # A new leg (flag 2): the last leg's callsign and squawk no longer hold.
        [90.0, 52.33, 4.82, 2500, 200.0, 93.0, 2, 1500, None],
    ],
}


@lru_cache(maxsize=1)
def _sim() -> Simulation:
    return simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=6, start_day=DAY, seed=1))


def _bytes(doc: object) -> bytes:
    return json.dumps(doc).encode()


def _options() -> ParseOptions:
    return ParseOptions(receiver=receiver())


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


def add_receiver(db_url: str, name: str = "roof") -> None:
    code, out = run("receiver", "add", name, "--lat", str(LAT), "--lon", str(LON), "--db", db_url)
    assert code == 0, out


def ingest(db_url: str, *args: str, name: str = "roof") -> dict:
    code, out = run("ingest", *args, "--receiver", name, "--json", "--db", db_url)
    assert code == 0, out
    return json.loads(out)


def stored(db_url: str, name: str = "roof") -> pd.DataFrame:
    engine = open_db(db_url)
    try:
        rec = get_receiver(engine, name)
        assert rec.id is not None
        return read_positions(engine, rec.id)
    finally:
        engine.dispose()


def _nones(values: pd.Series) -> list:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def test_a_hand_written_trace_plain_and_gzip() -> None:
    for data in (_bytes(TRACE), gzip.compress(_bytes(TRACE))):
        (chunk,) = parse_trace_files([("trace_full_4840d6.json", data)], _options())
        pos = chunk.positions
        assert chunk.rejects.empty and chunk.lines == 5
        assert pos["icao24"].tolist() == ["4840d6"] * 5
        want_ts = pd.to_datetime(
            [round((T0 + t) * 1e6) for t in (0.0, 10.5, 60.0, 70.25, 90.0)], unit="us", utc=True
        )
        assert (pos["ts"].to_numpy() == want_ts.to_numpy()).all()
        assert str(pos["ts"].iloc[0]) == "2026-01-15 10:00:00.250000+00:00"
        np.testing.assert_allclose(pos["lat"], [52.30, 52.301, 52.31, 52.32, 52.33])
        # "ground" is on the ground with no altitude; null is an unknown altitude.
        np.testing.assert_equal(pos["altitude_ft"].to_numpy(), [np.nan, np.nan, 1200, np.nan, 2500])
        assert _nones(pos["onground"]) == [True, True, False, None, False]
        np.testing.assert_equal(pos["groundspeed_kt"].to_numpy(), [12.5, 15, 160, np.nan, 200])
        np.testing.assert_equal(pos["track_deg"].to_numpy(), [90, 91, 92.5, np.nan, 93])
        np.testing.assert_equal(
            pos["vertical_rate_fpm"].to_numpy(), [np.nan, np.nan, 1800, np.nan, 1500]
        )
        # The detail object's callsign and squawk hold for the points after it (null detail).
        assert _nones(pos["callsign"]) == ["KLM1234"] * 4 + [None]
        assert _nones(pos["squawk"]) == ["1000", "1000", "1000", "1001", None]
        assert chunk.aircraft is not None
        (plane,) = chunk.aircraft.to_dict("records")
        assert plane["icao24"] == "4840d6" and plane["registration"] == "PH-BXA"
        assert (plane["type_code"], plane["operator"], plane["year"]) == ("B738", "KLM", 2001)
        assert plane["description"] == "BOEING 737-800"


def test_a_trace_is_sniffed_and_raw_json_lines_are_not() -> None:
    assert sniff(_bytes(TRACE)) == "readsb-trace"
    assert sniff(b'{"timestamp": 1.5, "icao": "4840d6", "rawmsg": "8d4840d6"}\n') == "raw"
    assert sniff(b'{"timestamp": 1.5, "rawmsg": "8d4840d6"}\n') == "raw"


def _history(root: Path) -> Path:
    """A globe_history day with one good trace, four bad files, bad points and a stray file."""
    day = root / "globe_history" / "2026" / "01" / "15"
    traces = day / "traces"

    def put(name: str, data: bytes) -> None:
        path = traces / name[-7:-5] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    put("trace_full_4840d6.json", gzip.compress(_bytes(TRACE)))
    put("trace_full_aaaaa1.json", b"this is not json")
    put("trace_full_aaaaa2.json", gzip.compress(_bytes(TRACE))[:40])  # cut short
    put("trace_full_aaaaa3.json", b"[1, 2, 3]")
    put("trace_full_aaaaa4.json", _bytes({"icao": "aaaaa4", "trace": []}))  # no timestamp
    points = {
        "icao": "4840d7",
        "timestamp": T0,
        "trace": [
            "oops",
            [1.0, 52.1],
            [2.0, "x", 4.7, 3000, 250.0, 10.0, 0, 0, None],  # not a number: bad_lat_lon
            [3.0, 52.1, 4.7, 3000, 250.0, 10.0, 0, 0, None],
        ],
    }
    put("trace_full_4840d7.json", _bytes(points))
    (day / "readme.txt").write_text("not a trace, not read")
    return day


def test_bad_files_and_points_are_counted_and_the_rest_stored(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    day = _history(tmp_path)
    rejects = tmp_path / "rejects.tsv"
    summary = ingest(db_url, str(day), "--format", "readsb-trace", "--rejects", str(rejects))
    assert summary["accepted"] == 6 and summary["duplicates"] == 0
    assert summary["rejected_by_reason"] == {"bad_trace_file": 4, "bad_lat_lon": 1, "unparsable": 2}
    kept = rejects.read_text().splitlines()
    assert len(kept) == 7
    assert any(k.startswith("bad_trace_file\t") and "trace_full_aaaaa2" in k for k in kept)
    assert any(
        k.startswith("bad_lat_lon\t") and 'trace_full_4840d7.json#2: [2.0,"x"' in k for k in kept
    )
    pos = stored(db_url)
    assert sorted(set(pos["icao24"])) == ["4840d6", "4840d7"]
    # A rerun (a folder given without --format is read as traces too) adds nothing.
    again = ingest(db_url, str(tmp_path / "globe_history"))
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 6, 7)
    engine = open_db(db_url)
    try:
        planes = read_aircraft(engine)
    finally:
        engine.dispose()
    assert planes["icao24"].tolist() == ["4840d6"]
    assert planes["registration"].tolist() == ["PH-BXA"]


def test_a_tar_and_single_files(db_url: str, tmp_path: Path) -> None:
    add_receiver(db_url)
    day = _history(tmp_path / "src")
    tar_path = tmp_path / "traces.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(day / "traces", arcname="traces")
    first = ingest(db_url, str(tar_path))
    assert first["accepted"] == 6 and first["rejected_by_reason"]["bad_trace_file"] == 4
    # One trace file, plain (sniffed) or gzip without a .gz name: already stored.
    plain = tmp_path / "trace_full_4840d6.json"
    plain.write_bytes(_bytes(TRACE))
    assert ingest(db_url, str(plain))["duplicates"] == 5
    packed = day / "traces" / "d6" / "trace_full_4840d6.json"
    summary = ingest(db_url, str(packed), "--format", "readsb-trace")
    assert (summary["accepted"], summary["duplicates"]) == (0, 5)
    # A damaged tar is a counted rejection, after what could be read from it.
    cut = tmp_path / "cut.tar"
    cut.write_bytes(tar_path.read_bytes()[:3000])
    summary = ingest(db_url, str(cut), "--format", "readsb-trace")
    assert summary["rejected"] >= 1


def test_a_simulated_day_as_traces_gives_the_positions_of_its_sbs(
    db_url: str, tmp_path: Path
) -> None:
    """Same (icao24, ts) rows; lat/lon equal to SBS's 5 decimals (traces carry 6); altitude
    equal except on the ground, where a trace says "ground" and no altitude; callsign and
    squawk equal wherever SBS knows them (SBS has none until an aircraft's first MSG,1);
    speeds as simulated to 0.1 kt (SBS takes them from the previous MSG,4)."""
    sim = _sim()
    sbs_files = write_simulation(sim, tmp_path / "sbs", "sbs")[2:]
    write_simulation(sim, tmp_path / "tr", "readsb-trace")
    add_receiver(db_url, "sbs")
    add_receiver(db_url, "trace")
    ingest(db_url, *map(str, sbs_files), name="sbs")
    summary = ingest(db_url, str(tmp_path / "tr" / "globe_history"), name="trace")
    assert summary["rejected"] == 0 and summary["accepted"] == len(sim.positions)
    sbs, tr = stored(db_url, "sbs"), stored(db_url, "trace")
    assert len(tr) == len(sbs) == len(sim.positions)
    assert tr["icao24"].tolist() == sbs["icao24"].tolist()
    assert (tr["ts"].to_numpy() == sbs["ts"].to_numpy()).all()
    for c in ("lat", "lon"):
        np.testing.assert_allclose(tr[c], sbs[c], rtol=0, atol=1.0001e-5, err_msg=c)
    ground = sbs["onground"].to_numpy(bool)
    assert ground.any() and (~ground).any()
    assert _nones(tr["onground"]) == _nones(sbs["onground"])
    assert tr["altitude_ft"][ground].isna().all()
    np.testing.assert_array_equal(tr["altitude_ft"][~ground], sbs["altitude_ft"][~ground])
    for c in ("callsign", "squawk"):
        known = sbs[c].notna().to_numpy()
        assert known.mean() > 0.9 and tr[c].notna().all(), c
        assert tr[c][known].tolist() == sbs[c][known].tolist(), c
    truth = sim.positions.sort_values(["icao24", "ts"], kind="stable").reset_index(drop=True)
    np.testing.assert_allclose(tr["groundspeed_kt"], truth["groundspeed_kt"], atol=0.05 + 1e-9)
    assert tr["callsign"].tolist() == truth["callsign"].tolist()
    engine = open_db(db_url)
    try:
        planes = read_aircraft(engine)
    finally:
        engine.dispose()
    assert sorted(planes["icao24"]) == sorted(set(truth["icao24"]))
    assert planes["registration"].notna().all() and planes["type_code"].notna().all()


def test_trace_bytes_do_not_depend_on_the_run(tmp_path: Path) -> None:
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=3, start_day=DAY, seed=2))
    a = write_simulation(sim, tmp_path / "a", "readsb-trace")[2]
    b = write_simulation(sim, tmp_path / "b", "readsb-trace")[2]
    files_a = sorted(p.relative_to(a) for p in a.rglob("trace_full_*"))
    assert files_a and files_a == sorted(p.relative_to(b) for p in b.rglob("trace_full_*"))
    for rel in files_a:
        data = (a / rel).read_bytes()
        assert data[:2] == b"\x1f\x8b" and data == (b / rel).read_bytes()
        doc = json.load(io.BytesIO(gzip.decompress(data)))
        assert set(doc) >= {"icao", "timestamp", "trace", "r", "t"}


def test_cut_or_garbled_traces_never_raise() -> None:
    """Every prefix of a trace, plain or gzip, and random bytes in it: each file is parsed
    or is one bad_trace_file reject, never an exception."""
    rng = np.random.default_rng(0)
    plain = _bytes(TRACE)
    packed = gzip.compress(plain)
    files: list[tuple[str, bytes]] = []
    files += [(f"plain{cut}", plain[:cut]) for cut in range(0, len(plain), 5)]
    files += [(f"gzip{cut}", packed[:cut]) for cut in range(0, len(packed), 5)]
    for i in range(200):
        data = bytearray(plain)
        at = rng.integers(0, len(data), 3)
        data[at[0]] = int(rng.integers(0, 256))
        data[at[1] : at[1] + 4] = b"null"
        files.append((f"garbled{i}", bytes(data)))
    chunks = list(parse_trace_files(files, _options()))
    bad = sum(int((c.rejects["reason"] == "bad_trace_file").sum()) for c in chunks)
    parsed = sum(len(c.positions) for c in chunks)
    assert bad > len(files) // 2 and parsed > 0
    for chunk in chunks:
        assert list(chunk.positions.columns) == list(POSITION_COLUMNS)
