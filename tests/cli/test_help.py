"""Every command has help text with an example (as sqlite-utils' test_docs does)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from oddflights.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            found += _commands(cmd, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


ALL = _commands(main)


def test_the_expected_commands_exist() -> None:
    names = {" ".join(c) for c in ALL}
    assert {
        "receiver add",
        "receiver list",
        "receiver remove",
        "simulate",
        "demo",
        "db upgrade",
    } <= names


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "oddflights")
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example: oddflights" in result.output, f"`oddflights {' '.join(path)}` lacks an example"
