"""Run an iterator in a background thread, a few items ahead of its consumer.

Ingest parses a file (pyarrow and numpy, which release the GIL for much of their work) while the
database writes the previous chunk (sqlite3 and psycopg release it while the database works):
on two cores the two overlap instead of taking turns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
# How long a blocked producer waits before checking whether the consumer has gone away.
_POLL_S = 0.2


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order, produced by a background thread at most ``depth`` items ahead.

    An exception raised by ``items`` is re-raised here, at the point it was reached. Closing
    this generator early (or an error in the consumer) stops the producer at its next item.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="oddflights-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        # A producer blocked on a slow input (a pipe) must not hold up an interrupted run.
        worker.join(timeout=10.0)
