"""`oddflights receiver …` on real databases, including bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oddflights.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_add_list_remove(db_url: str) -> None:
    code, out, _ = run(
        "receiver",
        "add",
        "roof",
        "--lat",
        "52.37",
        "--lon",
        "4.89",
        "--timezone",
        "Europe/Amsterdam",
        "--db",
        db_url,
    )
    assert code == 0, out
    assert "Added receiver roof" in out
    run(
        "receiver",
        "add",
        "attic",
        "--lat",
        "-33.9",
        "--lon",
        "151.2",
        "--range-km",
        "120",
        "--db",
        db_url,
    )
    code, out, _ = run("receiver", "list", "--format", "json", "--db", db_url)
    assert code == 0
    assert json.loads(out) == [
        {"name": "attic", "lat": -33.9, "lon": 151.2, "range_km": 120.0, "timezone": "UTC"},
        {
            "name": "roof",
            "lat": 52.37,
            "lon": 4.89,
            "range_km": 200.0,
            "timezone": "Europe/Amsterdam",
        },
    ]
    code, out, _ = run("receiver", "remove", "roof", "--db", db_url)
    assert code == 0 and "Removed receiver roof" in out
    code, out, _ = run("receiver", "list", "--format", "csv", "--db", db_url)
    assert out.splitlines() == ["name,lat,lon,range_km,timezone", "attic,-33.9,151.2,120.0,UTC"]


def test_range_default_comes_from_the_environment(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("ODDFLIGHTS_RANGE_KM", "150")
    assert run("receiver", "add", "r", "--lat", "1", "--lon", "2", "--db", db_url)[0] == 0
    assert (
        json.loads(run("receiver", "list", "--format", "json", "--db", db_url)[1])[0]["range_km"]
        == 150.0
    )
    monkeypatch.setenv("ODDFLIGHTS_RANGE_KM", "far")
    code, _, err = run("receiver", "add", "s", "--lat", "1", "--lon", "2", "--db", db_url)
    assert code == 2 and "ODDFLIGHTS_RANGE_KM='far'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lat", "95", "--lon", "4"], "latitude 95.0 is outside -90..90"),
        (["--lat", "5", "--lon", "-181"], "longitude -181.0 is outside -180..180"),
        (
            ["--lat", "5", "--lon", "4", "--timezone", "Mars/Olympus"],
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            ["--lat", "5", "--lon", "4", "--range-km", "0"],
            "range_km=0.0 is not valid: must be 1..1000",
        ),
    ],
)
def test_bad_values_give_one_line_and_exit_2(db_url: str, args: list[str], message: str) -> None:
    code, out, err = run("receiver", "add", "roof", *args, "--db", db_url)
    assert code == 2
    assert err.strip().splitlines() == [f"Error: {err.strip().removeprefix('Error: ')}"]
    assert message in err
    assert "Traceback" not in out + err


def test_duplicate_and_unknown_names(db_url: str) -> None:
    run("receiver", "add", "roof", "--lat", "5", "--lon", "4", "--db", db_url)
    code, _, err = run("receiver", "add", "roof", "--lat", "6", "--lon", "4", "--db", db_url)
    assert code == 2 and err.strip() == "Error: a receiver named 'roof' already exists"
    code, _, err = run("receiver", "remove", "cellar", "--db", db_url)
    assert code == 2 and "no receiver named 'cellar'" in err
    code, _, err = run("receiver", "add", "bad name!", "--lat", "6", "--lon", "4", "--db", db_url)
    assert code == 2 and "receiver name 'bad name!'" in err


def test_unreachable_database_is_a_clean_error(tmp_path) -> None:
    code, out, err = run("receiver", "list", "--db", f"sqlite:///{tmp_path}/no/such/dir/x.db")
    assert code == 2 and "does not exist" in err and "Traceback" not in out + err
