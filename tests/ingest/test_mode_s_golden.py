"""The Mode S decoder on published real frames (not frames our own encoder made), and the
shared Mode S module's tables against their published values.

Frames and values: "The 1090 MHz Riddle" (J. Sun, mode-s.org) and pyModeS' tests; the CPR
zone edges and callsign alphabet: DO-260B A.1.7.2.d and Annex 10 vol. IV table 3-9.
"""

from __future__ import annotations

import ast
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from oddflights import mode_s
from oddflights.ingest.modes import cpr_local_airborne, frame_fields
from oddflights.ingest.raw import parse_raw
from oddflights.ingest.types import ParseOptions
from oddflights.receivers import Receiver

VELOCITY = "8D485020994409940838175B284F"  # TC 19 subtype 1: 159 kt, 182.88°, -832 ft/min
IDENT = "8D406B902015A678D4D220AA4BDA"  # TC 4: EZY85MH
# The riddle's airborne position pair of 40621D at 38,000 ft (even newer than odd).
EVEN = "8D40621D58C382D690C8AC2863A7"
ODD = "8D40621D58C386435CC412692AD6"
# pyModeS' local-decoding pair of 40058B, decoded against (49.0, 6.0).
LOCAL_EVEN = "8D40058B58C901375147EFD09357"
LOCAL_ODD = "8D40058B58C904A87F402D3B8C59"
PUBLISHED = [VELOCITY, IDENT, EVEN, ODD, LOCAL_EVEN, LOCAL_ODD]


def _frames(hexes: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), dtype=np.uint8).reshape(-1, 14)


def test_published_frames_pass_the_crc_and_a_flipped_bit_fails_it() -> None:
    frames = _frames(PUBLISHED)
    assert mode_s.crc24(frames).tolist() == [0] * len(PUBLISHED)
    flipped = frames.copy()
    flipped[:, 6] ^= 0x10
    assert (mode_s.crc24(flipped) != 0).all()
    # The parity of the first 88 bits is the last 24 bits (message bits 89-112).
    parity = mode_s.crc24(frames[:, :11])
    expected = [int(h[22:], 16) for h in PUBLISHED]
    assert parity.tolist() == expected


def test_airborne_velocity_of_a_real_frame() -> None:
    row = frame_fields([VELOCITY]).iloc[0]
    assert (row["icao24"], row["df"], row["tc"], row["crc_ok"]) == ("485020", 17, 19, True)
    assert round(row["groundspeed_kt"]) == 159
    assert row["track_deg"] == pytest.approx(182.88, abs=0.01)
    assert row["vertical_rate_fpm"] == -832
    assert row["callsign"] is None


@pytest.mark.parametrize(
    ("frame", "rate"),
    [
        ("8d3461cf9908388930080f948ea1", 64),
        ("8d3461cf9908558e100c1071eb67", 128),
        ("8d3461cf99085a8f10400f80e6ac", 960),
        ("8d394c0f990c4932780838866883", -64),
    ],
)
def test_vertical_rate_sign_of_real_frames(frame: str, rate: int) -> None:
    assert frame_fields([frame])["vertical_rate_fpm"].iloc[0] == rate


def test_callsign_of_a_real_frame() -> None:
    row = frame_fields([IDENT]).iloc[0]
    assert (row["icao24"], row["tc"], row["callsign"]) == ("406b90", 4, "EZY85MH")
    assert np.isnan(row["groundspeed_kt"]) and np.isnan(row["vertical_rate_fpm"])


def test_a_frame_that_fails_its_crc_gives_no_fields() -> None:
    bad = IDENT[:-1] + ("0" if IDENT[-1] != "0" else "1")
    row = frame_fields([bad]).iloc[0]
    assert not row["crc_ok"] and row["callsign"] is None


def test_the_riddle_position_pair_through_the_raw_reader() -> None:
    # The even frame is the newer one, so the pair resolves to its position.
    text = f"timestamp,rawmsg\n1457996400.0,{ODD}\n1457996402.0,{EVEN}\n"
    options = ParseOptions(Receiver("nl", 52.3, 4.8, range_km=150.0), chunk_lines=100)
    chunks = list(parse_raw(io.BytesIO(text.encode()), options))
    positions = chunks[0].positions
    assert chunks[0].rejects.empty
    last = positions.iloc[-1]
    assert last["icao24"] == "40621d"
    assert last["ts"] == datetime.fromtimestamp(1457996402, UTC)
    assert last["lat"] == pytest.approx(52.2572, abs=1e-4)
    assert last["lon"] == pytest.approx(3.91937, abs=1e-5)
    assert last["altitude_ft"] == 38000


def _cpr(frame: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    me = mode_s.me_field(_frames([frame]))
    # ME bit 22: CPR format (1 = odd); bits 23-39 latitude, 40-56 longitude.
    return mode_s.me_bits(me, 23, 39), mode_s.me_bits(me, 40, 56), mode_s.me_bits(me, 22, 22)


@pytest.mark.parametrize(
    ("frame", "lat", "lon"),
    [(LOCAL_EVEN, 49.82410, 6.06785), (LOCAL_ODD, 49.81755, 6.08442)],
)
def test_local_cpr_decoding_of_real_frames(frame: str, lat: float, lon: float) -> None:
    lat_cpr, lon_cpr, odd = _cpr(frame)
    got_lat, got_lon = cpr_local_airborne(lat_cpr, lon_cpr, odd.astype(bool), 49.0, 6.0)
    assert got_lat[0] == pytest.approx(lat, abs=1e-3)
    assert got_lon[0] == pytest.approx(lon, abs=1e-3)


def test_nl_edges_are_the_published_table() -> None:
    # DO-260B's table: NL 59 below 10.47047130°, 58 below 14.82817437°, ..., 2 up to 87°.
    assert mode_s.NL_EDGES[0] == pytest.approx(10.47047130, abs=1e-8)
    assert mode_s.NL_EDGES[1] == pytest.approx(14.82817437, abs=1e-8)
    assert mode_s.NL_EDGES[-1] == pytest.approx(86.53536998, abs=1e-8)
    assert len(mode_s.NL_EDGES) == 57 and (np.diff(mode_s.NL_EDGES) > 0).all()
    lats = [0.0, 0.1, -0.1, 10.47, 10.48, 45.0, 80.0, 86.9, 87.0, -87.0, 87.5, 90.0]
    assert mode_s.cpr_nl(lats).tolist() == [59, 59, 59, 59, 58, 42, 10, 2, 2, 2, 1, 1]
    assert mode_s.cpr_nl([np.nan]).tolist() == [1]


def test_nl_table_equals_the_closed_formula() -> None:
    rng = np.random.default_rng(1)
    lat = np.concatenate([rng.uniform(-86.9, 86.9, 200_000), mode_s.NL_EDGES + 1e-9])
    lat = lat[np.abs(lat) > 1e-6]
    nz = mode_s.NZ
    a = 1 - np.cos(np.pi / (2 * nz))
    formula = np.floor(2 * np.pi / np.arccos(1 - a / np.cos(np.radians(lat)) ** 2))
    assert (mode_s.cpr_nl(lat) == formula).all()


def test_callsign_alphabet_is_the_ia5_subset() -> None:
    assert mode_s.CALLSIGN_ALPHABET == (
        "#ABCDEFGHIJKLMNOPQRSTUVWXYZ##### ###############0123456789######"
    )
    assert mode_s.CALLSIGN_CODE["A"] == 1 and mode_s.CALLSIGN_CODE[" "] == 32
    assert [mode_s.callsign_char_bits(j) for j in (0, 7)] == [(9, 14), (51, 56)]


def test_me_bits_and_me_put_are_inverse() -> None:
    me = np.array([0], dtype=np.uint64)
    for first, last, value in [(1, 5, 19), (6, 8, 1), (15, 24, 1023), (40, 56, 2**17 - 1)]:
        me |= mode_s.me_put(value, first, last).astype(np.uint64)
    assert mode_s.me_bits(me, 1, 5)[0] == 19
    assert mode_s.me_bits(me, 6, 8)[0] == 1
    assert mode_s.me_bits(me, 15, 24)[0] == 1023
    assert mode_s.me_bits(me, 40, 56)[0] == 2**17 - 1
    assert mode_s.me_bits(me, 9, 14)[0] == 0
    with pytest.raises(ValueError, match="outside 1-56"):
        mode_s.me_bits(me, 50, 57)


def test_production_code_does_not_import_the_simulator() -> None:
    # The decoder once took its CRC and CPR tables from simulate/; only the simulator's own
    # users (its CLI, the demo, the benchmarks) may import it.
    root = Path(__file__).resolve().parents[2] / "oddflights"
    allowed = ("simulate/", "bench/", "demo.py", "cli/simulate.py")
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(allowed):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(
                n == "oddflights.simulate" or n.startswith("oddflights.simulate.") for n in names
            ):
                offenders.append(rel)
    assert offenders == []
