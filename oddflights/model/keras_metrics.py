"""Stateful Keras metrics of lit pixels (TP/FP/FN at 0.5), shown per epoch during training.

They live apart from ``metrics`` so that the numpy metrics can be used without TensorFlow.
"""

from __future__ import annotations

from typing import Any

from oddflights.model.tf_quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import keras
from keras import ops


class _LitCounts(keras.metrics.Metric):
    """Accumulates TP, FP and FN of lit pixels over batches (true lit: y > 0.5)."""

    def __init__(self, name: str, threshold: float = 0.5, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.threshold = float(threshold)
        self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")
        self.fp = self.add_variable(shape=(), initializer="zeros", name="fp")
        self.fn = self.add_variable(shape=(), initializer="zeros", name="fn")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        truth = ops.cast(ops.greater(y_true, 0.5), "float32")
        pred = ops.cast(ops.greater(y_pred, self.threshold), "float32")
        self.tp.assign_add(ops.sum(truth * pred))
        self.fp.assign_add(ops.sum((1.0 - truth) * pred))
        self.fn.assign_add(ops.sum(truth * (1.0 - pred)))

    def reset_state(self) -> None:
        for v in (self.tp, self.fp, self.fn):
            v.assign(0.0)

    def _ratio(self, num: Any, den: Any) -> Any:
        return ops.where(den > 0, num / ops.maximum(den, 1.0), 0.0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="oddflights")
class LitPrecision(_LitCounts):
    """Share of predicted lit pixels that are lit."""

    def __init__(self, name: str = "lit_precision", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def result(self) -> Any:
        return self._ratio(self.tp, self.tp + self.fp)


@keras.saving.register_keras_serializable(package="oddflights")
class LitRecall(_LitCounts):
    """Share of lit pixels predicted lit."""

    def __init__(self, name: str = "lit_recall", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def result(self) -> Any:
        return self._ratio(self.tp, self.tp + self.fn)


@keras.saving.register_keras_serializable(package="oddflights")
class LitF1(_LitCounts):
    """F1 of lit pixels: 2TP / (2TP + FP + FN)."""

    def __init__(self, name: str = "lit_f1", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def result(self) -> Any:
        return self._ratio(2.0 * self.tp, 2.0 * self.tp + self.fp + self.fn)


@keras.saving.register_keras_serializable(package="oddflights")
class LitIoU(_LitCounts):
    """IoU of lit pixels: TP / (TP + FP + FN)."""

    def __init__(self, name: str = "lit_iou", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def result(self) -> Any:
        return self._ratio(self.tp, self.tp + self.fp + self.fn)


def keras_metrics() -> list[keras.metrics.Metric]:
    """Fresh stateful Keras metrics: lit-pixel precision, recall, F1 and IoU at 0.5."""
    return [LitPrecision(), LitRecall(), LitF1(), LitIoU()]
