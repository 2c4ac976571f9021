"""Import TensorFlow without its C++ start-up chatter.

Since TensorFlow 2.19, ``TF_CPP_MIN_LOG_LEVEL`` no longer silences the messages printed while
it loads (CUDA probing on a CPU machine, oneDNN notes, the absl "InitializeLog" warning;
tensorflow/tensorflow#100442). They are written straight to file descriptor 2, so the only
way to hide them is to point that descriptor elsewhere while TensorFlow loads and probes its
devices. Python errors still surface: they are exceptions, raised after stderr is restored.

This is also where TensorFlow gets its fixed thread count (``oddflights.model.threads``):
every module that uses it imports it through here, before it runs an op.
"""

from __future__ import annotations

import os

from oddflights.model.threads import configure_tensorflow


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (and probe devices) with stderr muted, unless the user asked for the
    logs with ``TF_CPP_MIN_LOG_LEVEL=0``, and fix its thread count (the setting
    ``model_threads``). Safe to call more than once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        import tensorflow

        configure_tensorflow(tensorflow)
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    configure_tensorflow(tf)
