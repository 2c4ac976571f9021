"""Labels change the next training (SQLite and PostgreSQL; a small seeded training): flights
labelled odd are left out of training and validation, flights labelled normal before the
window join the training set, and those on the validation day count as normal in the
threshold's calibration."""

from __future__ import annotations

import json
from datetime import date, timedelta

from click.testing import CliRunner

from oddflights.cli import main
from oddflights.cli.model import _labels_used
from oddflights.db.flights import list_flights
from oddflights.db.labels import set_label
from oddflights.db.receivers import add_receiver
from oddflights.db.registry import get_model
from oddflights.model.registry import train_from_db
from oddflights.receivers import Receiver
from tests.model.conftest import TINY, store_route_days

D0 = date(2026, 1, 1)


def test_labels_change_the_next_training(engine) -> None:
    rec = add_receiver(engine, Receiver("roof", 52.0, 4.5))
    assert rec.id is not None
    before, after = D0 - timedelta(days=5), D0 + timedelta(days=4)
    days = [D0 + timedelta(days=i) for i in range(4)]
    store_route_days(engine, rec.id, [before, *days, after], per_day=80)

    def ids(day: date) -> list[int]:
        return list_flights(engine, rec.id, day)["flight_id"].tolist()

    for fid in ids(before)[:3]:  # before the window: they join the training set
        set_label(engine, fid, "normal")
    for fid in ids(days[0])[:2]:  # in the window: left out
        set_label(engine, fid, "odd")
    set_label(engine, ids(days[0])[5], "normal")  # already in training: no change
    val = ids(days[-1])
    set_label(engine, val[0], "odd")  # validation: left out
    set_label(engine, val[1], "normal")
    set_label(engine, val[2], "odd")
    set_label(engine, val[2], "normal")  # the latest label counts
    set_label(engine, ids(after)[0], "normal")  # after the range: never used
    set_label(engine, ids(before)[10], "odd")  # outside the range anyway

    model_id, result = train_from_db(engine, rec, days[0], days[-1], TINY, 1)
    assert result.status == "ready"
    assert (result.extra["n_train"], result.extra["n_val"]) == (240 - 2 + 3, 80 - 1)
    assert result.extra["labels"] == {
        "odd_left_out": 3,
        "normal_added": 3,
        "normal_redrawn_left_out": 0,
        "normal_in_validation": 2,
    }
    assert result.detector.n_validation == 79
    info = get_model(engine, model_id)
    assert info.calibration["n_labelled_normal"] == 2
    assert info.metrics["labels"]["normal_added"] == 3

    # `models show --json` keeps what the labels did; `train` says it in words.
    url = engine.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(main, ["models", "show", str(model_id), "--json", "--db", url])
    assert shown.exit_code == 0, shown.output
    got = json.loads(shown.output)
    assert got["labels"]["odd_left_out"] == 3 and got["calibration"]["n_labelled_normal"] == 2
    assert _labels_used(result.extra["labels"]) == (
        "3 labelled odd left out, 3 labelled normal added from earlier days, "
        "2 labelled normal counted as normal by the threshold"
    )
    assert _labels_used({"odd_left_out": 0}) == "" and _labels_used(None) == ""
