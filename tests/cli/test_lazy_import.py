"""The command line starts cheap: `import oddflights.cli` and `oddflights --help` load no
command's module (no numpy, pandas, database, web app), and a command loads only its own."""

from __future__ import annotations

import json
import os
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


def _loaded(*args: str, env: dict[str, str] | None = None) -> dict[str, list[str]]:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args],
        cwd=root,
        env=None if env is None else {**os.environ, **env},
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


def test_the_nightly_on_an_up_to_date_sqlite_database_loads_only_what_it_uses(tmp_path) -> None:
    # Not Alembic (the schema is at head), the scheduler service, Pillow, the PostgreSQL
    # driver, Dask or TensorFlow: each is a cost of every night's run that buys it nothing.
    from oddflights.db import open_db
    from oddflights.db.receivers import add_receiver
    from oddflights.receivers import Receiver

    url = f"sqlite:///{tmp_path / 'n.db'}"
    engine = open_db(url)
    add_receiver(engine, Receiver("home", 52.0, 4.5, 250.0, "UTC"))
    engine.dispose()
    got = _loaded(
        "nightly", "--receiver", "home", "--day", "2026-01-15", env={"ODDFLIGHTS_DB": url}
    )
    assert "oddflights.cli.scoring" in got["cli"], got["cli"]
    unused = {"alembic", "apscheduler", "PIL", "psycopg", "distributed", "dask", "tensorflow"}
    assert not unused & set(got["top"]), sorted(unused & set(got["top"]))
