"""Handing freed memory back to the operating system between the big steps of a run.

glibc's heap keeps its default (dynamic) mmap threshold. Mapping every block of 256 kB or more
on its own, as the build once did, faulted in ~490 k fresh pages per 1,000-flight nightly
(~0.8 s of system time, 13 % of the run) for no lower peak: it was 379 MB either way."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


@cache
def _libc_function(name: str) -> Any:
    lib = ctypes.util.find_library("c")
    if lib is None:
        return None
    try:
        return getattr(ctypes.CDLL(lib), name)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return None


def _malloc_trim() -> Any:
    return _libc_function("malloc_trim")


def release_free_memory() -> bool:
    """Collect garbage and ask glibc to return its free heap pages (a day's read leaves
    hundreds of MB free but mapped, which would add to the peak of the next step, e.g. the
    TensorFlow import). Returns whether anything could be trimmed; a no-op off glibc."""
    gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


# glibc's mallopt parameters, and the values a Dask task sets (see keep_freed_heap).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
TASK_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's own ceiling for its dynamic threshold
TASK_TRIM_THRESHOLD_BYTES = 2 * TASK_MMAP_THRESHOLD_BYTES  # what glibc pairs with it


def keep_freed_heap() -> bool:
    """Let glibc keep and reuse freed heap memory, as it does in a process started without
    MALLOC_TRIM_THRESHOLD_. Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``
    (and so without glibc's dynamic mmap threshold): every array of 128 kB or more was mapped
    and unmapped on its own, so a receiver-day's nightly faulted in ~190 k fresh pages and
    spent 40 % more CPU (`bench scale`, BENCHMARKS.md). A task calls this first and
    ``release_free_memory`` last, so an idle worker still holds little. Returns whether it
    could be set; a no-op off glibc."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, TASK_MMAP_THRESHOLD_BYTES)
    return bool(ok and mallopt(_M_TRIM_THRESHOLD, TASK_TRIM_THRESHOLD_BYTES))
