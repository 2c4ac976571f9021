"""The anomaly threshold, set on the scores of held-out days of (mostly) normal traffic.

Two rules (``ODDFLIGHTS_THRESHOLD_METHOD``):

- ``false_alarm_rate`` (default): a target number of false alarms per 1,000 normal flights.
  The top ``presumed_odd_percent`` % of the calibration flights are set aside as presumed
  odd (real days hold their own odd flights; counting them as normal would push the
  threshold in among them), and the threshold is the order statistic of the rest whose
  false-alarm rate is at most the target with probability ``confidence``: with ``m``
  presumed-normal flights, the k-th largest score's exceedance probability is
  Beta(k, m + 1 - k), so it is below ``r`` with probability ``P(Binomial(m, r) >= k)``; the
  largest such k is taken. On a few hundred flights this is one of the top few scores, not a
  noisy interpolated percentile; when even the largest score cannot promise the target at
  that confidence, the largest is used and the calibration says so (``bound_met``).
  The bound is exact when the set-aside top holds the odd flights (they score above the
  normal tail and are no more than ``presumed_odd_percent`` %); where fewer are odd, normal
  flights are set aside too and the rate rises by about the difference: the trade for not
  letting the odd flights lift the threshold over themselves.
- ``percentile``: the seed's rule, the ``percentile``-th score of the calibration flights.

Flights the owner labelled normal (oddflights.labels) come as a ``known_normal`` mask: the
false-alarm rule never sets them aside as presumed odd (the top share is taken from the
unlabelled flights only) and counts them among the normal flights; flights labelled odd are
left out of the calibration scores by the caller.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

METHODS = ("false_alarm_rate", "percentile")
# How sure the false-alarm rule is that a normal flight's chance of being flagged is at most
# the target (one-sided upper confidence bound on the exceedance probability).
CONFIDENCE = 0.9
_QUANTILES = (50.0, 90.0, 95.0, 99.0, 99.5, 99.9)


@dataclass(frozen=True)
class ThresholdRule:
    """How to set a threshold from calibration scores (see the module docstring)."""

    method: str = "false_alarm_rate"
    false_alarms_per_1000: float = 5.0
    presumed_odd_percent: float = 2.0
    percentile: float = 98.0
    confidence: float = CONFIDENCE

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"unknown threshold method {self.method!r} (choose from {', '.join(METHODS)})"
            )
        if not 0.0 < self.false_alarms_per_1000 < 1000.0:
            raise ValueError(
                f"false alarms per 1000 {self.false_alarms_per_1000} is outside 0..1000"
            )
        if not 0.0 <= self.presumed_odd_percent < 100.0:
            raise ValueError(f"presumed odd percent {self.presumed_odd_percent} is outside 0..100")
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"threshold percentile {self.percentile} is outside 0..100")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence {self.confidence} is outside 0..1")


@dataclass(frozen=True)
class Calibration:
    """How a threshold was set: by which rule, on how many calibration flights.

    For ``false_alarm_rate``: ``n_presumed_odd`` top flights set aside, ``rank`` (the k-th
    largest of the rest is the threshold), ``bound_met`` (whether the target holds at
    ``confidence``) and ``achieved_confidence`` (the probability that it holds)."""

    threshold: float
    percentile: float
    n: int
    score_fn: str
    quantiles: dict[str, float]
    method: str = "percentile"
    false_alarms_per_1000: float | None = None
    presumed_odd_percent: float | None = None
    confidence: float | None = None
    n_presumed_odd: int = 0
    rank: int | None = None
    bound_met: bool | None = None
    achieved_confidence: float | None = None
    n_labelled_normal: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scores(scores: ArrayLike) -> np.ndarray:
    return _scores_known(scores, None)[0]


def _scores_known(
    scores: ArrayLike, known_normal: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray]:
    """The finite scores and, for each, whether it is a flight labelled normal."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if known_normal is None:
        known = np.zeros(s.size, dtype=bool)
    else:
        known = np.asarray(known_normal, dtype=bool).ravel()
        if known.size != s.size:
            raise ValueError(f"{known.size} known-normal marks for {s.size} scores")
    finite = np.isfinite(s)
    s, known = s[finite], known[finite]
    if s.size == 0:
        raise ValueError("cannot calibrate a threshold on no validation flights")
    return s, known


def _quantiles(s: np.ndarray) -> dict[str, float]:
    out = {f"{q:g}": float(np.percentile(s, q)) for q in _QUANTILES}
    out["min"], out["max"] = float(s.min()), float(s.max())
    return out


def calibrate_threshold(
    scores: ArrayLike, percentile: float = 98.0, score_fn: str = "bce"
) -> Calibration:
    """The ``percentile``-th score of the validation flights, with quantiles for context.

    A quiet day then flags about (100 - percentile) % of its flights and a busy odd day many
    more. ValueError on no scores or a percentile outside 0..100.
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"threshold percentile {percentile} is outside 0..100")
    s = _scores(scores)
    return Calibration(
        threshold=float(np.percentile(s, percentile)),
        percentile=float(percentile),
        n=int(s.size),
        score_fn=score_fn,
        quantiles=_quantiles(s),
    )


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k), summed in log space (no SciPy in the core package)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    lg = math.lgamma
    below = sum(
        math.exp(lg(n + 1) - lg(j + 1) - lg(n - j + 1) + j * log_p + (n - j) * log_q)
        for j in range(k)
    )
    return max(0.0, 1.0 - below)


def order_statistic_rank(m: int, rate: float, confidence: float) -> tuple[int, float]:
    """The largest k (>= 1) whose k-th largest of ``m`` normal scores is a threshold with a
    false-alarm rate <= ``rate`` with probability >= ``confidence``, and that probability.
    When no k reaches it, (1, the probability for the largest score)."""
    best, best_conf = 1, binomial_sf(1, m, rate)
    k = 2
    while k <= m:
        conf = binomial_sf(k, m, rate)
        if conf < confidence:
            break
        best, best_conf = k, conf
        k += 1
    return best, best_conf


def false_alarm_threshold(
    scores: ArrayLike,
    false_alarms_per_1000: float,
    presumed_odd_percent: float = 2.0,
    confidence: float = CONFIDENCE,
    score_fn: str = "bce",
    known_normal: ArrayLike | None = None,
) -> Calibration:
    """The threshold that flags at most ``false_alarms_per_1000`` of every 1,000 normal
    flights with probability ``confidence``, after setting aside the top
    ``presumed_odd_percent`` % of ``scores`` as presumed odd (module docstring).

    ``known_normal`` (a mask over ``scores``): flights labelled normal, never set aside; the
    share set aside is still of all the flights, taken from the highest unlabelled ones."""
    rule = ThresholdRule(
        "false_alarm_rate", false_alarms_per_1000, presumed_odd_percent, confidence=confidence
    )
    raw, raw_known = _scores_known(scores, known_normal)
    order = np.argsort(-raw, kind="stable")
    s, known = raw[order], raw_known[order]
    n = int(s.size)
    n_odd = min(
        math.floor(n * rule.presumed_odd_percent / 100.0 + 1e-9), n - 1, int((~known).sum())
    )
    # The n_odd highest unlabelled flights are presumed odd; the rest (labelled normal ones
    # included, wherever they score) are the normal flights the bound is about.
    aside = np.zeros(n, dtype=bool)
    aside[np.flatnonzero(~known)[:n_odd]] = True
    normal_pos = np.flatnonzero(~aside)
    m = n - n_odd
    rate = rule.false_alarms_per_1000 / 1000.0
    k, achieved = order_statistic_rank(m, rate, rule.confidence)
    pos = int(normal_pos[k - 1])
    return Calibration(
        threshold=float(s[pos]),
        percentile=float(100.0 * (1.0 - (pos + 1) / n)),
        n=n,
        score_fn=score_fn,
        quantiles=_quantiles(s),
        method="false_alarm_rate",
        false_alarms_per_1000=float(rule.false_alarms_per_1000),
        presumed_odd_percent=float(rule.presumed_odd_percent),
        confidence=float(rule.confidence),
        n_presumed_odd=n_odd,
        rank=k,
        bound_met=achieved >= rule.confidence,
        achieved_confidence=float(achieved),
        n_labelled_normal=int(known.sum()),
    )


def calibrate(
    scores: ArrayLike,
    rule: ThresholdRule,
    score_fn: str = "bce",
    known_normal: ArrayLike | None = None,
) -> Calibration:
    """The threshold of ``scores`` under ``rule``. ValueError on no (finite) scores.
    ``known_normal``: which flights are labelled normal (the false-alarm rule never sets
    them aside; the percentile rule counts every flight anyway)."""
    if rule.method == "percentile":
        cal = calibrate_threshold(scores, rule.percentile, score_fn)
        if known_normal is None:
            return cal
        _, known = _scores_known(scores, known_normal)
        return replace(cal, n_labelled_normal=int(known.sum()))
    return false_alarm_threshold(
        scores,
        rule.false_alarms_per_1000,
        rule.presumed_odd_percent,
        rule.confidence,
        score_fn,
        known_normal,
    )
