"""Handing freed memory back to the operating system between the big steps of a run."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


@cache
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_free_memory() -> bool:
    """Collect garbage and ask glibc to return its free heap pages (a day's read leaves
    hundreds of MB free but mapped, which would add to the peak of the next step, e.g. the
    TensorFlow import). Returns whether anything could be trimmed; a no-op off glibc."""
    gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
