"""Labels: the owner's verdict on a flight, "normal" or "odd", and what they are used for.

- Training: a flight labelled normal joins the next training set even when its day is
  outside the training window, and the threshold's calibration counts it as normal (it is
  never set aside as presumed odd); a flight labelled odd is kept out of both
  (:func:`split_by_labels`; oddflights.model.threshold takes the "known normal" mask).
- Quality: the precision of the flag list from the labels given, how many flags are still
  unlabelled, and the trend week by week (:func:`flag_quality`).

Plain data in and out; the database layer (oddflights.db.labels) reads and writes them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from oddflights.errors import OddflightsError

LABELS = ("normal", "odd")
MAX_NOTE = 500


class LabelError(OddflightsError, ValueError):
    """A label or note that cannot be stored (the message names the value)."""


def check_label(label: str) -> str:
    """``label`` as stored ("normal" or "odd", any case given); LabelError otherwise."""
    value = str(label).strip().lower()
    if value not in LABELS:
        raise LabelError(f"label {label!r} must be one of {', '.join(LABELS)}")
    return value


def check_note(note: str | None) -> str | None:
    """The note as stored (stripped; None when empty); LabelError when too long."""
    if note is None or not note.strip():
        return None
    text = note.strip()
    if len(text) > MAX_NOTE:
        raise LabelError(f"--note has {len(text)} characters (at most {MAX_NOTE})")
    return text


@dataclass(frozen=True)
class LabelSplit:
    """Which of a training range's flights train and validate, after the labels.

    ``train`` and ``val``: masks over the range's flights (labelled odd ones are in
    neither); ``val_known_normal``: for each validation flight kept, whether it is labelled
    normal; ``extra_normal``: ids of flights labelled normal outside the range, to add to the
    training set."""

    train: npt.NDArray[np.bool_]
    val: npt.NDArray[np.bool_]
    val_known_normal: npt.NDArray[np.bool_]
    extra_normal: list[int]
    dropped_odd: int


def split_by_labels(
    flight_ids: npt.ArrayLike,
    is_val: npt.ArrayLike,
    normal_ids: Collection[int],
    odd_ids: Collection[int],
) -> LabelSplit:
    """Apply the labels to a training range's flights (``flight_ids``, ``is_val``: whether
    each is on a held-out day). Labels of flights in neither set change nothing."""
    ids = np.asarray(flight_ids, dtype=np.int64)
    val = np.asarray(is_val, dtype=bool)
    odd = np.isin(ids, np.fromiter(odd_ids, dtype=np.int64, count=len(odd_ids)))
    normal = np.isin(ids, np.fromiter(normal_ids, dtype=np.int64, count=len(normal_ids)))
    keep_val = val & ~odd
    present = set(ids.tolist())
    return LabelSplit(
        train=~val & ~odd,
        val=keep_val,
        val_known_normal=normal[keep_val],
        extra_normal=sorted(int(i) for i in normal_ids if int(i) not in present),
        dropped_odd=int(odd.sum()),
    )


def _precision(odd: int, labelled: int) -> float | None:
    return None if labelled == 0 else odd / labelled


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def flag_quality(
    flags: Iterable[tuple[int, date]],
    labels: Mapping[int, str],
    first: date,
    last: date,
    labelled_days: Mapping[int, date] | None = None,
) -> dict[str, Any]:
    """How good the flag list of ``first..last`` was, from the labels given.

    ``flags``: (flight id, day) of each flagged flight (known flights excluded);
    ``labels``: flight id → "normal" / "odd" (current labels); ``labelled_days``: flight id
    → day of each labelled flight, to count those labelled odd but not flagged (``missed``).
    Returns {first, last, flagged, labelled, unlabelled, odd, normal, precision, missed,
    weeks: [{week, flagged, labelled, unlabelled, odd, normal, precision}]}, precision =
    flagged and labelled odd / flagged and labelled (None when no flag is labelled); weeks
    start on Monday, each named by its first day inside the period."""
    flagged = sorted({(int(fid), d) for fid, d in flags if first <= d <= last})
    flagged_ids = {fid for fid, _ in flagged}

    def figures(rows: list[tuple[int, date]]) -> dict[str, Any]:
        verdicts = [labels.get(fid) for fid, _ in rows]
        odd = sum(v == "odd" for v in verdicts)
        normal = sum(v == "normal" for v in verdicts)
        return {
            "flagged": len(rows),
            "labelled": odd + normal,
            "unlabelled": len(rows) - odd - normal,
            "odd": odd,
            "normal": normal,
            "precision": _precision(odd, odd + normal),
        }

    weeks: list[dict[str, Any]] = []
    start = first
    while start <= last:
        end = min(last, week_start(start) + timedelta(days=6))
        rows = [(fid, d) for fid, d in flagged if start <= d <= end]
        weeks.append({"week": start, **figures(rows)})
        start = end + timedelta(days=1)
    missed = 0
    if labelled_days is not None:
        missed = sum(
            1
            for fid, label in labels.items()
            if label == "odd"
            and fid not in flagged_ids
            and fid in labelled_days
            and first <= labelled_days[fid] <= last
        )
    return {"first": first, "last": last, **figures(flagged), "missed": missed, "weeks": weeks}
