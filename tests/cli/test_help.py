"""Every command has help text with an example (as sqlite-utils' test_docs does)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from oddflights.cli import COMMANDS, main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # list_commands/get_command, not group.commands: the top command loads its own lazily.
    ctx = click.Context(group)
    found = [prefix]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
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


def test_the_listed_summaries_are_the_commands_own() -> None:
    """`oddflights --help` lists COMMANDS' summaries without loading the commands; each is
    the first sentence of its command's docstring, under the name it is listed by."""
    ctx = click.Context(main)
    for name, (_, summary) in COMMANDS.items():
        cmd = main.get_command(ctx, name)
        assert cmd is not None and cmd.name == name, name
        own = cmd.get_short_help_str(limit=10_000)
        assert summary == own, f"COMMANDS[{name!r}] in oddflights/cli/__init__.py: use {own!r}"
