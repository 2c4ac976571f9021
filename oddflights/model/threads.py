"""A fixed thread count for the model's arithmetic, so a seeded model and its scores are the
same bit for bit whatever the process's thread environment.

TensorFlow's CPU kernels (Eigen, oneDNN) split a sum over as many shards as TensorFlow has
intra-op threads, and its default is the number of cores the process may use (``taskset``
narrows it). OpenBLAS, behind the numpy reconstruction that calibrates the threshold and
scores every flight, groups rows by its thread count, which ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` set (a Dask worker starts with 1) and the core count defaults.
Either changes the order of the float additions, hence the last bits, hence the threshold
and, over a night, a model's fate (measured: BENCHMARKS.md, "Reproducible training"). The
setting ``model_threads`` fixes both counts, whatever the cores and the environment; the same
count gives the same bits on the same kind of CPU (another CPU's kernels still differ).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from oddflights import config as settings
from oddflights.errors import OddflightsError

__all__ = [
    "ThreadsError",
    "configure_tensorflow",
    "model_threads",
    "pin_blas_threads",
    "use_model_threads",
]


class ThreadsError(OddflightsError, RuntimeError):
    """TensorFlow already runs with another thread count than the setting asks for."""


def model_threads() -> int:
    """The thread count of TensorFlow's ops and numpy's BLAS (the setting ``model_threads``)."""
    return int(settings.get("model_threads"))


def configure_tensorflow(tf: Any, threads: int | None = None) -> None:
    """Fix TensorFlow's intra- and inter-op thread counts (before it runs its first op) and
    ask it for deterministic kernels. Calling it again with the same count is a no-op; with
    another once TensorFlow has started, ThreadsError (the count cannot change then)."""
    n = model_threads() if threads is None else threads
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        raise ThreadsError(
            f"TensorFlow in this process already runs with "
            f"{tf.config.threading.get_intra_op_parallelism_threads() or 'its default'} "
            f"threads, not ODDFLIGHTS_MODEL_THREADS={n}: set it before the process starts"
        ) from None
    # Ops without a deterministic kernel then fail loudly instead of varying run to run.
    tf.config.experimental.enable_op_determinism()


_blas_lock = threading.Lock()
_blas_threads: int | None = None
_blas_controller: Any = None


def pin_blas_threads(threads: int | None = None) -> None:
    """Set numpy's BLAS (OpenBLAS) to ``threads`` (default: the setting), up or down, for the
    whole process. It stays set: concurrent callers all ask for the same count, so none undoes
    another's (a ``with threadpool_limits`` would restore the old count under a neighbour)."""
    global _blas_threads, _blas_controller
    n = model_threads() if threads is None else threads
    if n == _blas_threads:
        return
    with _blas_lock:
        if _blas_controller is None:
            from threadpoolctl import ThreadpoolController

            _blas_controller = ThreadpoolController()
        for lib in _blas_controller.select(user_api="blas").lib_controllers:
            lib.set_num_threads(n)
        _blas_threads = n


def use_model_threads(threads: int) -> None:
    """Make ``threads`` this process's count, as if ``ODDFLIGHTS_MODEL_THREADS`` had been set
    at its start (a Dask task brings the submitter's: a worker then computes what the serial
    run would). ThreadsError when TensorFlow already runs here with another count."""
    s = settings.setting("model_threads")
    n = int(s.value(threads))
    os.environ[s.env] = str(n)
    pin_blas_threads(n)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "config"):
        configure_tensorflow(tf, n)
