"""Handing freed memory back to the operating system between the big steps of a run."""

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


# glibc's mallopt parameter, and the block size from which it is used: numpy arrays of a
# batch (hundreds of kB to a few MB) then get pages of their own, given back when freed.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 256 * 1024


@cache
def map_large_blocks() -> bool:
    """Have glibc map every block of MMAP_THRESHOLD_BYTES or more on its own and unmap it
    when freed, for the rest of the process. By default glibc raises that threshold as big
    blocks are freed (up to 32 MB), so a day's build, which allocates and frees its
    arrays batch after batch, would leave them interleaved in the heap: ~100 MB of free but
    mapped memory at the peak. Returns whether it could be set; a no-op off glibc."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def release_free_memory() -> bool:
    """Collect garbage and ask glibc to return its free heap pages (a day's read leaves
    hundreds of MB free but mapped, which would add to the peak of the next step, e.g. the
    TensorFlow import). Returns whether anything could be trimmed; a no-op off glibc."""
    gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
