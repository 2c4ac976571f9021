"""One day parser for the CLI and the web: YYYY-MM-DD only, one message everywhere."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.days import MAX_DAYS, DayError, days_between, parse_day
from oddflights.errors import OddflightsError


def test_parse_day_takes_yyyy_mm_dd_only() -> None:
    assert parse_day("2026-11-30") == date(2026, 11, 30)
    # date.fromisoformat takes all of these; a day has one spelling here.
    for text in (
        "20261130",
        "2026-W48-1",
        "2026-334",
        "2026-11-30T00:00",
        " 2026-11-30",
        "2026-1-3",
    ):
        with pytest.raises(DayError) as info:
            parse_day(text)
        assert str(info.value) == f"{text!r} is not a day (use YYYY-MM-DD)"
    with pytest.raises(DayError, match=r"^--from '2026-02-30' is not a day \(use YYYY-MM-DD\)$"):
        parse_day("2026-02-30", "--from")
    assert issubclass(DayError, OddflightsError) and issubclass(DayError, ValueError)


def test_days_between_is_inclusive_and_bounded() -> None:
    assert days_between(date(2026, 2, 27), date(2026, 3, 1)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    with pytest.raises(DayError, match="is before"):
        days_between(date(2026, 3, 1), date(2026, 2, 27))
    first = date(2000, 1, 1)
    assert len(days_between(first, first + timedelta(days=MAX_DAYS - 1))) == MAX_DAYS
    with pytest.raises(DayError, match=f"at most {MAX_DAYS}"):
        days_between(date(2000, 1, 1), date(2030, 1, 1))


@pytest.mark.parametrize(
    "args",
    [
        ["score", "--receiver", "r", "--day", "20261130"],
        ["score", "--receiver", "r", "--from", "20261130", "--to", "2026-12-01"],
        ["nightly", "--all", "--day", "20261130"],
        ["anomalies", "--receiver", "r", "--day", "20261130"],
        ["flights", "build", "--receiver", "r", "--day", "20261130"],
        ["flights", "list", "--receiver", "r", "--day", "20261130"],
        ["positions", "export", "--receiver", "r", "--day", "20261130"],
        ["train", "--receiver", "r", "--from", "20261130", "--to", "2026-12-01"],
        ["report", "--receiver", "r", "--day", "20261130", "-o", "x.html"],
        [
            "simulate",
            "{tmp}/out",
            "--days",
            "1",
            "--flights-per-day",
            "5",
            "--start-day",
            "20261130",
        ],
    ],
)
def test_every_command_refuses_a_compact_day_with_the_same_line(
    args: list[str], tmp_path: Path
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] != "simulate":
        args += ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    option = args[args.index("20261130") - 1]
    assert result.stderr == f"Error: {option} '20261130' is not a day (use YYYY-MM-DD)\n"
    # Refused while the options are parsed: before the database is opened or a file written.
    assert sorted(tmp_path.iterdir()) == []


def test_a_range_the_wrong_way_round_names_both_options(tmp_path: Path) -> None:
    args = ["flights", "build", "--receiver", "r", "--from", "2026-12-01", "--to", "2026-11-30"]
    result = CliRunner().invoke(main, [*args, "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2
    assert result.stderr == "Error: --to 2026-11-30 is before --from 2026-12-01\n"
