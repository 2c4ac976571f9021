"""The DB layer stores and reads: it imports no stage above it, only the plain types the
stages hand it (raster settings, a training config)."""

from __future__ import annotations

import ast
from pathlib import Path

import oddflights

DB = Path(oddflights.__file__).parent / "db"
# Plain types and shared definitions the DB layer may use; nothing that runs a stage.
ALLOWED = (
    "oddflights.db",
    "oddflights.errors",
    "oddflights.columns",
    "oddflights.config",
    # Where the default database lives (its folder is made when the engine opens it).
    "oddflights.paths",
    "oddflights.receivers",
    "oddflights.flights.raster",
    "oddflights.model.train_config",
    # Known-flight rules and labels: their checks, and the glob matching the anomalies query
    # applies when it reads (plain data, no stage).
    "oddflights.known",
    "oddflights.labels",
    # Web tokens: the name check and the token's plain dataclass (hashing is plain data too).
    "oddflights.tokens",
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "oddflights":
            names.extend(f"oddflights.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def test_the_db_layer_imports_no_stage_above_it() -> None:
    offending = {
        f"{path.relative_to(DB.parent)}: {name}"
        for path in DB.glob("*.py")
        for name in _imports(path)
        if name.startswith("oddflights") and not name.startswith(ALLOWED)
    }
    assert not offending, sorted(offending)


def test_the_check_sees_a_stage_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from oddflights.flights.clean import speed_check\n")
    assert "oddflights.flights.clean" in _imports(sample)
