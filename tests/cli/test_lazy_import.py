"""The command line starts cheap: `import oddflights.cli` and `oddflights --help` load no
command's module (no numpy, pandas, database, web app), and a command loads only its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("numpy", "pandas", "pyarrow", "sqlalchemy", "alembic", "starlette", "tensorflow")

_SCRIPT = """
import json, sys
from oddflights.cli import main
args = sys.argv[1:]
if args:
    try:
        main(args, prog_name="oddflights")
    except SystemExit:
        pass
loaded = sorted({m.split(".")[0] for m in sys.modules})
commands = sorted(m for m in sys.modules if m.startswith("oddflights.cli."))
print(json.dumps({"top": loaded, "cli": commands}))
"""


def _loaded(*args: str) -> dict[str, list[str]]:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return last


def test_importing_the_cli_loads_no_heavy_module() -> None:
    got = _loaded()
    assert not set(HEAVY) & set(got["top"]), sorted(set(HEAVY) & set(got["top"]))
    assert set(got["cli"]) <= {"oddflights.cli.errors", "oddflights.cli.progress"}, got["cli"]


def test_the_top_help_lists_every_command_without_loading_them() -> None:
    got = _loaded("--help")
    assert not set(HEAVY) & set(got["top"]), sorted(set(HEAVY) & set(got["top"]))
    assert set(got["cli"]) <= {"oddflights.cli.errors", "oddflights.cli.progress"}, got["cli"]


def test_a_command_loads_its_own_module_only() -> None:
    got = _loaded("settings", "--format", "json")
    assert "oddflights.cli.settings" in got["cli"]
    assert not {"numpy", "pandas", "starlette"} & set(got["top"]), got["top"]
    assert not {"oddflights.cli.scoring", "oddflights.cli.web", "oddflights.cli.alert"} & set(
        got["cli"]
    ), got["cli"]
