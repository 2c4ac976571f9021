"""The SQLite day read in two processes (db/split_read.py) gives the one-process read exactly,
and falls back to reading every hour itself when its helper fails in any way."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

import oddflights.db.positions as positions_module
import oddflights.db.split_read as split_module
from oddflights.columns import POSITION_COLUMNS, TRACK_COLUMNS
from oddflights.db import open_db
from oddflights.db.positions import PositionArrays, read_position_arrays, write_positions
from oddflights.db.receivers import add_receiver
from oddflights.db.split_read import SLICE_MS, hour_slices, split_path
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate
from tests.ingest.helpers import DAY, LAT, LON

START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Engine, int]:
    engine = open_db(f"sqlite:///{tmp_path / 'split.db'}")
    sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=40, start_day=DAY, seed=9))
    rec = add_receiver(engine, Receiver("split", LAT, LON, 250.0, "UTC"))
    assert rec.id is not None
    write_positions(engine, rec.id, sim.positions)
    yield engine, rec.id
    engine.dispose()


def _equal(a: PositionArrays, b: PositionArrays) -> None:
    assert a.columns == b.columns
    np.testing.assert_array_equal(a.ts_us, b.ts_us)
    assert a.floats.keys() == b.floats.keys()
    for name in a.floats:
        np.testing.assert_array_equal(a.floats[name], b.floats[name])  # NaN where NaN
    assert a.codes.keys() == b.codes.keys()
    for name in a.codes:
        np.testing.assert_array_equal(a.codes[name], b.codes[name])
        assert a.values[name].tolist() == b.values[name].tolist()
    if a.onground is None:
        assert b.onground is None
    else:
        np.testing.assert_array_equal(a.onground, b.onground)


def _reads(
    engine: Engine, rid: int, monkeypatch: pytest.MonkeyPatch, **kwargs: object
) -> tuple[PositionArrays, PositionArrays, int]:
    """The read in one process, then split; and how many helpers the split one started."""
    monkeypatch.setattr(positions_module, "usable_cpus", lambda: 1)
    one = read_position_arrays(engine, rid, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(positions_module, "usable_cpus", lambda: 2)
    started = []
    real = split_module.subprocess.Popen

    def popen(*args: object, **kw: object) -> object:
        started.append(args)
        return real(*args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(split_module.subprocess, "Popen", popen)
    two = read_position_arrays(engine, rid, **kwargs)  # type: ignore[arg-type]
    return one, two, len(started)


@pytest.mark.parametrize("columns", [POSITION_COLUMNS, TRACK_COLUMNS])
def test_a_split_day_read_equals_the_one_process_read(
    stored: tuple[Engine, int], monkeypatch: pytest.MonkeyPatch, columns: tuple[str, ...]
) -> None:
    engine, rid = stored
    bounds = {"start": START - timedelta(hours=1), "end": START + timedelta(hours=30)}
    one, two, helpers = _reads(engine, rid, monkeypatch, columns=columns, **bounds)
    assert helpers == 1
    assert len(one) > 10_000
    _equal(one, two)


def test_a_split_read_without_bounds_and_with_odd_bounds_equals_one_read(
    stored: tuple[Engine, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, rid = stored
    for kwargs in (
        {},
        {"start": START + timedelta(hours=3, microseconds=500)},
        {"end": START + timedelta(hours=20, milliseconds=7, microseconds=1)},
    ):
        one, two, helpers = _reads(engine, rid, monkeypatch, **kwargs)
        assert helpers == 1, kwargs
        assert len(one) > 1000
        _equal(one, two)


def test_short_spans_single_aircraft_and_memory_databases_are_not_split(
    stored: tuple[Engine, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, rid = stored
    _, _, helpers = _reads(
        engine, rid, monkeypatch, start=START + timedelta(hours=8), end=START + timedelta(hours=12)
    )
    assert helpers == 0
    icao = read_position_arrays(engine, rid, columns=("icao24",)).values["icao24"][0]
    one, two, helpers = _reads(engine, rid, monkeypatch, icao24=icao)
    assert helpers == 0
    _equal(one, two)
    assert split_path(":memory:", {}) is None
    assert split_path(None, {}) is None
    assert split_path("file:x.db", {}) is None
    assert split_path(str(engine.url.database), {"mode": "ro"}) is None
    assert split_path(str(engine.url.database), {}) == Path(str(engine.url.database))


@pytest.mark.parametrize(
    "helper",
    [
        "import sys; sys.exit(3)",  # fails
        "print('[1, 2]')",  # says rows it never wrote
        "import json, sys; job = json.loads(sys.argv[1]); open(job['fd'], 'wb').write(b'x'*5)",
    ],
)
def test_a_failing_helper_leaves_the_result_exact(
    stored: tuple[Engine, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    helper: str,
) -> None:
    engine, rid = stored
    monkeypatch.setattr(split_module, "_HELPER", helper)
    with caplog.at_level(logging.WARNING, logger="oddflights.db.split_read"):
        one, two, helpers = _reads(engine, rid, monkeypatch)
    assert helpers == 1
    _equal(one, two)
    assert "reading its hours here" in caplog.text


def test_hour_slices_cover_the_span_once() -> None:
    assert hour_slices(0, 1) == [(0, 1)]
    assert hour_slices(5, 5) == []
    got = hour_slices(10, 10 + 2 * SLICE_MS + 7)
    assert got == [
        (10, 10 + SLICE_MS),
        (10 + SLICE_MS, 10 + 2 * SLICE_MS),
        (10 + 2 * SLICE_MS, 17 + 2 * SLICE_MS),
    ]
