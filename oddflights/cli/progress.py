"""How the CLI shows progress and logs: a rich bar on a terminal, plain lines with ISO-8601
UTC times when stderr is not a terminal (a log file, `docker logs`, cron mail), nothing with
``--quiet``. Everything goes to stderr, so that --json output stays clean."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from oddflights.progress import ProgressFn, Step

F = Callable[..., Any]


def quiet_option(func: F) -> F:
    """``--quiet``: no progress output."""
    return click.option("--quiet", is_flag=True, help="No progress output.")(func)


def stamp(when: datetime | None = None) -> str:
    """An ISO-8601 UTC time to the second: ``2026-12-02T01:50:00Z``."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_reporter(quiet: bool) -> Iterator[ProgressFn | None]:
    """The callback to hand the core: None with ``quiet``; a rich bar per kind of step on a
    terminal; else one timestamped line per step on stderr."""
    if quiet:
        yield None
        return
    if not _is_terminal(sys.stderr):

        def plain(step: Step) -> None:
            click.echo(f"{stamp()} {step.line()}", err=True)

        yield plain
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def rich(step: Step) -> None:
            if step.what not in tasks:
                tasks[step.what] = bar.add_task(step.what, total=step.total, note="")
            task = tasks[step.what]
            bar.update(task, total=step.total, note=step.note)
            if step.done is not None:
                bar.update(task, completed=step.done)

        yield rich


class _UtcIsoFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return stamp(datetime.fromtimestamp(record.created, UTC))


def log_formatter(terminal: bool) -> logging.Formatter:
    """Log lines: ``LEVEL name: message`` on a terminal; with an ISO-8601 UTC time first
    elsewhere, where a line is read later (a file, `docker logs`)."""
    if terminal:
        return logging.Formatter("%(levelname)s %(name)s: %(message)s")
    return _UtcIsoFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(level: int) -> None:
    """Root logging to stderr at ``level``, timestamped when stderr is not a terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(_is_terminal(sys.stderr)))
    logging.basicConfig(level=level, handlers=[handler])
