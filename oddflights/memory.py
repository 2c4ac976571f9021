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
