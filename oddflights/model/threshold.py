"""The anomaly threshold: a high percentile of the model's scores on held-out normal days."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

_QUANTILES = (50.0, 90.0, 95.0, 99.0, 99.5, 99.9)


@dataclass(frozen=True)
class Calibration:
    """How a threshold was set: on how many validation flights, at which percentile."""

    threshold: float
    percentile: float
    n: int
    score_fn: str
    quantiles: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate_threshold(
    scores: ArrayLike, percentile: float = 98.0, score_fn: str = "bce"
) -> Calibration:
    """The ``percentile``-th score of the validation flights, with quantiles for context.

    A quiet day then flags about (100 - percentile) % of its flights and a busy odd day many
    more. ValueError on no scores or a percentile outside 0..100.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise ValueError("cannot calibrate a threshold on no validation flights")
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"threshold percentile {percentile} is outside 0..100")
    quantiles = {f"{q:g}": float(np.percentile(s, q)) for q in _QUANTILES}
    quantiles["min"] = float(s.min())
    quantiles["max"] = float(s.max())
    return Calibration(
        threshold=float(np.percentile(s, percentile)),
        percentile=float(percentile),
        n=int(s.size),
        score_fn=score_fn,
        quantiles=quantiles,
    )
