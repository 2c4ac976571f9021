"""One error root: every core error is an OddflightsError, and the CLI and the web each turn it
into a one-line error or a 4xx page in one place."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.config import SettingError
from oddflights.db.engine import DatabaseError
from oddflights.db.flights import FlightNotFound, RasterMismatch
from oddflights.db.receivers import ReceiverNotFound
from oddflights.db.registry import ModelNotFound
from oddflights.errors import NotFoundError, OddflightsError
from oddflights.ingest.formats import FormatError
from oddflights.ingest.table import TableFormatError
from oddflights.model.detector import DetectorError
from oddflights.receivers import ReceiverError
from oddflights.scheduler.service import ScheduleError
from oddflights.scoring.score import ScoringError
from oddflights.simulate import SimulationError

PACKAGE = Path(__file__).resolve().parents[1] / "oddflights"
_BUILTIN_ERRORS = {
    "Exception",
    "ValueError",
    "LookupError",
    "KeyError",
    "IndexError",
    "TypeError",
    "RuntimeError",
    "ImportError",
    "OSError",
}
# Control flow, not errors a user sees: a signal unwinding the nightly run (BaseException,
# so that no `except Exception` swallows it), live ingest's internal stop, and the PostgreSQL
# day read's switch to its fallback SELECT (caught where it is raised, in db/pg_read.py).
_NOT_USER_ERRORS = {"Interrupted", "_Halted", "_Irregular"}


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def test_every_core_exception_has_the_one_root() -> None:
    classes: dict[str, tuple[str, list[str]]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = (rel, [_base_name(b) for b in node.bases])
    rooted = {"OddflightsError"}
    while True:  # the names that derive from OddflightsError, through any depth
        more = {n for n, (_, bases) in classes.items() if rooted.intersection(bases)} - rooted
        if not more:
            break
        rooted |= more
    unrooted = [
        f"{rel}: {name}({', '.join(bases)})"
        for name, (rel, bases) in classes.items()
        if _BUILTIN_ERRORS.union({"BaseException"}).intersection(bases)
        and name not in rooted
        and name not in _NOT_USER_ERRORS
    ]
    assert unrooted == []


@pytest.mark.parametrize(
    ("error", "base", "status"),
    [
        (SettingError, ValueError, 400),
        (ScheduleError, ValueError, 400),
        (DetectorError, ValueError, 400),
        (DatabaseError, RuntimeError, 503),
        (ReceiverError, ValueError, 400),
        (ReceiverNotFound, LookupError, 404),
        (FlightNotFound, LookupError, 404),
        (ModelNotFound, LookupError, 404),
        (RasterMismatch, ValueError, 400),
        (FormatError, ValueError, 400),
        (TableFormatError, ValueError, 400),
        (ScoringError, ValueError, 404),
        (SimulationError, ValueError, 400),
    ],
)
def test_core_errors_keep_their_old_base_and_have_a_status(
    error: type[Exception], base: type[Exception], status: int
) -> None:
    assert issubclass(error, OddflightsError) and issubclass(error, base)
    assert error.http_status == status  # type: ignore[attr-defined]
    assert issubclass(ReceiverNotFound, NotFoundError)


def test_the_cli_translates_core_errors_in_one_place() -> None:
    # Once there were 29 `except X as exc: raise CliError(str(exc)) from None`, one per
    # command; the top command (cli._Main) is now the only place.
    copies = {
        path.name: len(re.findall(r"CliError\(\s*str\(", path.read_text(encoding="utf-8")))
        for path in (PACKAGE / "cli").glob("*.py")
    }
    assert {name: n for name, n in copies.items() if n} == {"__init__.py": 1}


def _one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exc_info is not None
    assert isinstance(result.exc_info[1], SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_core_error_deep_in_a_command_is_one_line_and_exit_2(db_url: str, tmp_path: Path) -> None:
    db = db_url
    ok = CliRunner().invoke(
        main, ["receiver", "add", "roof", "--lat", "52", "--lon", "4.5", "--db", db]
    )
    assert ok.exit_code == 0, ok.output
    # ScoringError, raised by the scoring core (pick_model) after the run was recorded.
    line = _one_line_error(["score", "--receiver", "roof", "--day", "2026-01-02", "--db", db])
    assert "no ready model of receiver roof trained before 2026-01-02" in line
    runs = CliRunner().invoke(main, ["runs", "--format", "json", "--db", db])
    (run,) = json.loads(runs.output)
    assert run["status"] == "failed" and run["error"].startswith("no ready model")
    # FormatError, raised by the ingest core while reading the file.
    junk = tmp_path / "junk.txt"
    junk.write_text("hello, not positions\n", encoding="utf-8")
    line = _one_line_error(["ingest", str(junk), "--receiver", "roof", "--db", db])
    assert "format" in line.lower()
    # ReceiverNotFound, raised by the DB layer.
    line = _one_line_error(
        ["flights", "list", "--receiver", "attic", "--day", "2026-01-02", "--db", db]
    )
    assert line == "Error: no receiver named 'attic' (see `oddflights receiver list`)"
