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
