"""Labels on plain data: the training split they make, and the flag list's quality."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from oddflights.labels import LabelError, check_label, check_note, flag_quality, split_by_labels


def test_labels_are_checked() -> None:
    assert check_label("Normal") == "normal" and check_label("odd") == "odd"
    with pytest.raises(LabelError, match="must be one of normal, odd"):
        check_label("weird")
    assert check_note("  ") is None
    with pytest.raises(LabelError, match="at most 500"):
        check_note("x" * 501)


def test_split_drops_odd_and_adds_normal_from_outside_the_range() -> None:
    ids = np.array([10, 11, 12, 13, 14, 15])
    is_val = np.array([False, False, False, True, True, True])
    split = split_by_labels(ids, is_val, normal_ids={14, 99, 3}, odd_ids={11, 15, 50})
    assert split.train.tolist() == [True, False, True, False, False, False]
    assert split.val.tolist() == [False, False, False, True, True, False]
    # Of the validation flights kept (13, 14), 14 is labelled normal.
    assert split.val_known_normal.tolist() == [False, True]
    assert split.extra_normal == [3, 99]
    assert split.dropped_odd == 2
    none = split_by_labels(ids, is_val, set(), set())
    assert none.train.tolist() == (~is_val).tolist() and none.extra_normal == []


D = date(2026, 11, 2)  # a Monday


def test_flag_quality_from_a_hand_made_label_set() -> None:
    days = [D + timedelta(days=i) for i in range(14)]
    # Week 1: flights 1-4 flagged (1, 2 odd; 3 normal; 4 unlabelled).
    # Week 2: flights 5-7 flagged (5, 6, 7 odd): precision rises from 2/3 to 1.
    flags = [(1, days[0]), (2, days[1]), (3, days[2]), (4, days[6])]
    flags += [(5, days[7]), (6, days[8]), (7, days[13])]
    labels = {1: "odd", 2: "odd", 3: "normal", 5: "odd", 6: "odd", 7: "odd", 8: "odd", 9: "normal"}
    # 8 was labelled odd but never flagged (missed); 9 normal and not flagged: no effect.
    labelled_days = {i: days[min(i, 13)] for i in labels}
    got = flag_quality(flags, labels, days[0], days[-1], labelled_days)
    assert (got["flagged"], got["labelled"], got["unlabelled"]) == (7, 6, 1)
    assert (got["odd"], got["normal"], got["missed"]) == (5, 1, 1)
    assert got["precision"] == pytest.approx(5 / 6)
    weeks = [(w["week"], w["flagged"], w["unlabelled"], w["precision"]) for w in got["weeks"]]
    assert weeks == [(days[0], 4, 1, pytest.approx(2 / 3)), (days[7], 3, 0, 1.0)]


def test_flag_quality_weeks_follow_the_calendar_and_the_period() -> None:
    first, last = D + timedelta(days=3), D + timedelta(days=9)  # Thursday to next Wednesday
    flags = [(1, D), (2, first), (3, last), (4, last + timedelta(days=1))]
    got = flag_quality(flags, {2: "normal"}, first, last)
    assert [w["week"] for w in got["weeks"]] == [first, D + timedelta(days=7)]
    assert got["flagged"] == 2 and got["precision"] == 0.0 and got["missed"] == 0
    empty = flag_quality([], {}, first, last)
    assert empty["precision"] is None and all(w["precision"] is None for w in empty["weeks"])
