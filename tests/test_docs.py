"""The README keeps its promises: the two commands first, every setting documented."""

from __future__ import annotations

from pathlib import Path

from oddflights import config

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_every_setting_is_in_the_readme() -> None:
    missing = [s.env for s in config.SETTINGS if f"`{s.env}`" not in README]
    assert not missing, f"README lacks {missing}: paste `oddflights settings --format markdown`"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "ODDFLIGHTS_TEST_PG_URL" in ci


def test_the_readme_settings_table_is_the_settings_output() -> None:
    from click.testing import CliRunner

    from oddflights.cli import main

    result = CliRunner().invoke(main, ["settings", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    marker = "<!-- SETTINGS: `oddflights settings --format markdown` -->\n"
    table = README.split(marker, 1)[1].split("\n\n", 1)[0] + "\n"
    assert table == result.stdout, "paste `oddflights settings --format markdown` into README.md"
