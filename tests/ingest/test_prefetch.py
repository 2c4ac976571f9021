"""The background producer that overlaps parsing with database writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from oddflights.ingest.prefetch import prefetch


def test_items_arrive_in_order_from_another_thread() -> None:
    seen: list[str] = []

    def items() -> Iterator[int]:
        for i in range(50):
            seen.append(threading.current_thread().name)
            yield i

    assert list(prefetch(items(), depth=3)) == list(range(50))
    assert set(seen) == {"oddflights-prefetch"}


def test_an_error_in_the_producer_is_raised_where_it_was_reached() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad block")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad block"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_stops_the_producer() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(1_000_000):
            produced.append(i)
            yield i

    stream = prefetch(items(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # joins the producer
    assert len(produced) <= 3 + 2 + 2  # taken, queued, and the one being put
    assert not any(t.name == "oddflights-prefetch" for t in threading.enumerate())


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        next(prefetch(iter([1]), depth=0))


def test_an_ingest_that_fails_midway_leaves_no_thread_behind(tmp_path) -> None:
    """Both background stages of a file ingest stop when the writing side fails."""
    from oddflights.db import open_db
    from oddflights.db.receivers import add_receiver
    from oddflights.ingest.types import ParsedChunk
    from oddflights.ingest.writer import ingest_chunks
    from oddflights.simulate import SimConfig, simulate
    from tests.ingest.helpers import DAY, LAT, LON, receiver

    engine = open_db(f"sqlite:///{tmp_path / 'fail.db'}")
    try:
        rec = add_receiver(engine, receiver("fail"))
        sim = simulate(SimConfig(lat=LAT, lon=LON, days=1, flights_per_day=3, start_day=DAY))
        parts = [sim.positions.iloc[i::5].reset_index(drop=True) for i in range(5)]

        def chunks() -> Iterator[ParsedChunk]:
            for part in parts:
                yield ParsedChunk(part)

        def progress(_chunk: ParsedChunk) -> None:
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full") as failure:
            ingest_chunks(engine, rec, chunks(), source="test", progress=progress)
        # The traceback (kept, as a logger or a CLI keeps it) holds the ingest's frame: the
        # stages must have been stopped explicitly, not by their collection.
        assert failure.tb is not None
        assert not any(t.name == "oddflights-prefetch" for t in threading.enumerate())
    finally:
        engine.dispose()
