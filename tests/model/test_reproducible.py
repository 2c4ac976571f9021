"""A seeded model is the same bit for bit whatever the process's thread environment: the serial
nightly's (all cores, no thread variables) and a Dask worker's (OMP_NUM_THREADS=1, one core).

Without the fixed thread count (``model_threads``) these two differ on two cores: TensorFlow's
intra-op threads change the weights of this model, and OpenBLAS's threads the numpy
reconstruction, hence the threshold (BENCHMARKS.md, "Reproducible training"). Both run with 2
threads here, a count neither environment would choose by itself (the default, 1, is what a
Dask worker's would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Train a small seeded model (its weights do change with TensorFlow's thread count) and print
# digests of its weights, its threshold and a day of reconstructions, and the thread counts.
CHILD = """
import hashlib, json
import numpy as np
import tensorflow as tf
from threadpoolctl import threadpool_info
from oddflights.model.synthetic import route_images
from oddflights.model.train import TrainConfig, train_model
config = TrainConfig(
    hidden=128, learning_rate=3e-3, epochs=2, batch_size=32, shift_px=1, patience=5, seed=7
)
result = train_model(route_images(200, width=3, seed=0), route_images(100, width=3, seed=1), config)
weights = hashlib.sha256(b"".join(w.tobytes() for w in result.model.get_weights()))
day = result.detector.reconstruct(route_images(500, width=3, seed=5))
print(json.dumps({
    "weights": weights.hexdigest(),
    "threshold": result.threshold.hex(),
    "reconstruction": hashlib.sha256(day.tobytes()).hexdigest(),
    "status": result.status,
    "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
    "blas": sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}),
}))
"""

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "ODDFLIGHTS_MODEL_THREADS",
)


def _start(extra: dict[str, str], cpus: set[int] | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(extra)
    env["ODDFLIGHTS_MODEL_THREADS"] = "2"
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # taskset: TensorFlow and OpenBLAS would size their pools by the cores allowed.
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_training_is_bit_identical_under_other_thread_environments() -> None:
    one_cpu = {min(os.sched_getaffinity(0))}
    serial = _start({}, None)  # the serial nightly: every core, no thread variables
    # A Dask worker's environment (the nanny sets these to 1), pinned to one core.
    worker = _start(
        {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"},
        one_cpu,
    )
    a, b = _result(serial), _result(worker)
    assert a["status"] == b["status"] == "ready"
    # Both ran with the setting's counts, whatever their environment.
    assert a["intra_op"] == b["intra_op"] == 2
    assert a["blas"] == b["blas"] == [2]
    assert b["weights"] == a["weights"]
    assert b["threshold"] == a["threshold"]
    assert b["reconstruction"] == a["reconstruction"]
