"""A SQLite day read in two processes: this one and a short-lived helper, each reading every
other hour of the span, so that a second core does half of the driver's per-row work.

The day read's cost is the sqlite3 driver making a Python tuple per row (db/positions.py packs
each row into a few integers to keep it small). A thread cannot share that work (each row takes
and gives back the GIL), a process can: the helper is a bare interpreter (sqlite3 and numpy, no
oddflights import) that reads its hours with its own connection and writes the packed rows to a
temporary file, while this process reads the other hours. The hours are put back in time
order, so the result is the one-process read's, row for row (tested).

Each hour is read by exactly one of the two. When the helper fails in any way (it cannot start,
exits non-zero, times out, its output does not add up), this process reads its hours too and
logs why: a split read can be slower than planned, never different."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

_log = logging.getLogger(__name__)

SLICE_MS = 3_600_000  # an hour: the two halves get every other one, so they stay even
MIN_SPAN_MS = 6 * SLICE_MS  # below this the helper's start-up (~0.1 s) is not worth it
HELPER_TIMEOUT_S = 600.0

_HELPER = r"""
import itertools, json, sqlite3, sys
import numpy as np

job = json.loads(sys.argv[1])
conn = sqlite3.connect(job["path"], timeout=30.0)
dtype = np.dtype([(f"w{k}", "i8") for k in range(job["words"])])
counts = []
with open(job["fd"], "wb") as out:
    for params in job["slices"]:
        cur = conn.execute(job["sql"], params)
        n = 0
        while len(chunk := np.fromiter(itertools.islice(cur, job["chunk"]), dtype)):
            out.write(chunk.tobytes())
            n += len(chunk)
        counts.append(n)
conn.close()
print(json.dumps(counts))
"""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split_path(database: str | None, query: dict[str, Any]) -> Path | None:
    """The file a helper may open for an engine's SQLite ``database``; None for an in-memory
    database, a URI filename or one with options (the helper opens plain files only), and off
    POSIX (the helper's output travels as an inherited descriptor)."""
    if os.name != "posix":
        return None
    if not database or database == ":memory:" or database.startswith("file:") or query:
        return None
    path = Path(database)
    return path if path.is_file() else None


def hour_slices(lo_ms: int, hi_ms: int) -> list[tuple[int, int]]:
    """[lo, hi) cut into hours from lo (the last one shorter)."""
    return [(a, min(a + SLICE_MS, hi_ms)) for a in range(lo_ms, hi_ms, SLICE_MS)]


def read_slices(
    cur: sqlite3.Cursor,
    sql: str,
    params: Sequence[Any],
    slices: Sequence[tuple[int, int]],
    dtype: np.dtype[Any],
    chunk_rows: int,
) -> list[npt.NDArray[Any]]:
    """The rows of ``sql`` (its last two parameters: a slice's [start, end) in ms) for each of
    ``slices``, in slice order, read here with ``cur`` in chunks of ``chunk_rows``: each chunk
    becomes a typed record array straight from the cursor (no list of tuples in between)."""
    out = []
    for a, b in slices:
        cur.execute(sql, [*params, a, b])
        parts = []
        while len(chunk := np.fromiter(itertools.islice(cur, chunk_rows), dtype)):
            parts.append(chunk)
        out.append(np.concatenate(parts) if parts else np.zeros(0, dtype))
    return out


def read_split(
    cur: sqlite3.Cursor,
    path: Path,
    sql: str,
    params: Sequence[Any],
    slices: Sequence[tuple[int, int]],
    dtype: np.dtype[Any],
    chunk_rows: int,
) -> list[npt.NDArray[Any]]:
    """The rows of ``sql`` (its last two parameters: a slice's [start, end) in ms) for each of
    ``slices``, in slice order, as record arrays of ``dtype``: the odd slices read by a helper
    process from ``path``, the even ones here with ``cur``."""
    mine, theirs = list(slices[0::2]), list(slices[1::2])
    # The helper writes to an unnamed temporary file handed over as a descriptor: nothing is
    # left on disk even when this process is killed mid-read.
    with tempfile.TemporaryFile(prefix="oddflights-read-") as out:
        job = {
            "path": str(path),
            "sql": sql,
            "slices": [[*params, a, b] for a, b in theirs],
            "words": len(dtype.names or ()),
            "fd": out.fileno(),
            "chunk": chunk_rows,
        }
        helper: subprocess.Popen[str] | None = None
        try:
            try:
                helper = subprocess.Popen(
                    [sys.executable, "-c", _HELPER, json.dumps(job)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    pass_fds=(out.fileno(),),
                )
            except OSError as exc:
                _log.info("split read: no helper process (%s); reading every hour here", exc)
                helper = None
            own = read_slices(cur, sql, params, mine, dtype, chunk_rows)
            got = _helper_result(helper, out, dtype, len(theirs)) if helper else None
            if got is None:
                got = read_slices(cur, sql, params, theirs, dtype, chunk_rows)
        finally:
            if helper is not None and helper.poll() is None:
                helper.kill()
                helper.wait()
    # Back in time order: the even hours were read here, the odd ones by the helper.
    ordered = [part for pair in itertools.zip_longest(own, got) for part in pair]
    return [p for p in ordered if p is not None]


def _helper_result(
    helper: subprocess.Popen[str], out: IO[bytes], dtype: np.dtype[Any], slices: int
) -> list[npt.NDArray[Any]] | None:
    """The helper's arrays, one per slice; None (logged) when it did not do its part."""
    try:
        stdout, stderr = helper.communicate(timeout=HELPER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.communicate()
        _log.warning(
            "split read: the helper took over %.0f s; reading its hours here", HELPER_TIMEOUT_S
        )
        return None
    try:
        if helper.returncode != 0:
            raise ValueError(f"exit status {helper.returncode}: {stderr.strip()[-300:]}")
        counts = [int(n) for n in json.loads(stdout.strip().splitlines()[-1])]
        out.seek(0)
        data = np.frombuffer(out.read(), dtype=dtype)
        if len(counts) != slices or sum(counts) != len(data) or min(counts, default=0) < 0:
            raise ValueError(f"{sum(counts)} rows said, {len(data)} written")
    except (ValueError, IndexError, OSError) as exc:
        _log.warning("split read: the helper failed (%s); reading its hours here", exc)
        return None
    return np.split(data, np.cumsum(counts)[:-1]) if counts else []
