"""glibc heap settings: a Dask worker's tasks keep freed memory for reuse (keep_freed_heap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

# A worker-like process: Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for its workers. The
# loop allocates and frees arrays of a build batch's size, as a receiver-day's nightly does.
_SCRIPT = """
import json, resource, sys
import numpy as np
from oddflights.memory import keep_freed_heap, release_free_memory

set_ok = keep_freed_heap() if sys.argv[1] == "keep" else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(200):
    a = np.ones(400_000)  # 3.2 MB
    b = a * 2.0
    del a, b
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"set": set_ok, "faults": faults, "trimmed": release_free_memory()}))
"""


def _run(mode: str) -> dict[str, Any]:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_keep_freed_heap_stops_a_worker_faulting_in_every_array_again() -> None:
    plain = _run("plain")
    kept = _run("keep")
    assert kept["set"] is True
    # Without it every 3.2 MB array is mapped and unmapped on its own: ~1,600 fresh pages
    # twice per round. With it the freed blocks are reused.
    assert int(plain["faults"]) > 200 * 1000
    assert int(kept["faults"]) * 20 < int(plain["faults"])
