"""The default database is one absolute, per-user file (``$XDG_DATA_HOME/oddflights``),
the same from any folder; its folder is made on first use; ODDFLIGHTS_DB overrides it.
(tests/conftest.py points XDG_DATA_HOME at a temporary folder for every test.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from oddflights import config, paths
from oddflights.cli import main
from oddflights.db import DatabaseError, open_db


def test_the_default_is_absolute_under_xdg_data_home() -> None:
    xdg = Path(os.environ["XDG_DATA_HOME"])
    assert config.get("db") == f"sqlite:///{xdg / 'oddflights' / 'oddflights.db'}"
    assert Path(config.get("db").removeprefix("sqlite:///")).is_absolute()


@pytest.mark.parametrize("xdg", ["", "relative/data"])
def test_without_a_usable_xdg_data_home_it_is_under_local_share(
    xdg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", xdg)  # the spec: relative values are ignored
    assert paths.data_dir() == tmp_path / ".local" / "share" / "oddflights"


def test_commands_from_any_folder_use_the_same_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(os.environ["XDG_DATA_HOME"]) / "oddflights"
    assert not folder.exists()
    runner = CliRunner()
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    monkeypatch.chdir(one)
    added = runner.invoke(main, ["receiver", "add", "roof", "--lat", "52", "--lon", "4"])
    assert added.exit_code == 0, added.output
    assert (folder / "oddflights.db").is_file()  # its folder made on first use
    monkeypatch.chdir(two)
    listed = runner.invoke(main, ["receiver", "list", "--format", "json"])
    assert listed.exit_code == 0 and '"roof"' in listed.output
    assert not list(one.iterdir()) and not list(two.iterdir())  # nothing written here
    # ODDFLIGHTS_DB names another database.
    monkeypatch.setenv("ODDFLIGHTS_DB", f"sqlite:///{two / 'other.db'}")
    other = runner.invoke(main, ["receiver", "list", "--format", "json"])
    assert other.exit_code == 0 and '"roof"' not in other.output
    assert (two / "other.db").is_file()


def test_a_missing_folder_that_is_not_the_default_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        open_db(f"sqlite:///{tmp_path / 'typo' / 'odd.db'}")


def test_settings_show_the_same_default_on_every_machine() -> None:
    result = CliRunner().invoke(main, ["settings", "--format", "markdown"])
    assert "`sqlite:///$XDG_DATA_HOME/oddflights/oddflights.db`" in result.output
    assert os.environ["XDG_DATA_HOME"] not in result.output
