"""The combined anomaly score: the autoencoder's reconstruction error and the flight's
cumulative turning, each put on a common scale by the model's held-out normal day(s).

Why: the dense autoencoder sees a 64×64 picture in which a 3-lap holding pattern is a small
blob at the end of an ordinary arrival and a go-around's circuit a few pixels beside the
runway; turning ~1,000° more than any airliner does is plain from the track. Conversely a
straight flight where nobody flies turns no more than an airliner, but the autoencoder cannot
draw it. Each part is scaled as ``z = (x - median) / (p99 - median)`` on the validation day's
flights (1 = that day's 99th percentile), and the score is the larger z. No labels are used:
only the held-out day(s) of normal traffic the model's threshold is calibrated on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
COMBINE_MODES = ("ae", "ae_turn")
_SPAN_PERCENTILE = 99.0


@dataclass(frozen=True)
class Scale:
    """How one part is scaled: ``(x - centre) / span``."""

    centre: float
    span: float

    @classmethod
    def fit(cls, values: npt.ArrayLike) -> Scale:
        """Median and (99th percentile - median) of ``values``; span 1 when they agree."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(0.0, 1.0)
        centre = float(np.median(v))
        span = float(np.percentile(v, _SPAN_PERCENTILE)) - centre
        if not span > 0:
            span = float(np.std(v)) or 1.0
        return cls(centre, span)

    def __call__(self, values: npt.ArrayLike) -> FloatArray:
        v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=self.centre)
        return (v - self.centre) / self.span


@dataclass(frozen=True)
class Combiner:
    """The parts' scales and the threshold of the combined score (same percentile as the
    model's own threshold, on the same validation flights)."""

    ae: Scale
    turn: Scale
    threshold: float

    def score(self, ae_scores: npt.ArrayLike, turn_cum_deg: npt.ArrayLike) -> FloatArray:
        """The combined score: max of the scaled parts."""
        return np.maximum(self.ae(ae_scores), self.turn(turn_cum_deg))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ae": [self.ae.centre, self.ae.span],
            "turn": [self.turn.centre, self.turn.span],
            "threshold": self.threshold,
        }


def fit_combiner(
    val_ae_scores: npt.ArrayLike, val_turn_cum_deg: npt.ArrayLike, percentile: float
) -> Combiner:
    """Scales and threshold from the validation flights' AE scores and cumulative turns."""
    ae, turn = Scale.fit(val_ae_scores), Scale.fit(val_turn_cum_deg)
    both = np.maximum(ae(val_ae_scores), turn(val_turn_cum_deg))
    if both.size == 0:
        raise ValueError("cannot calibrate a combined score on no validation flights")
    return Combiner(ae, turn, float(np.percentile(both, percentile)))
