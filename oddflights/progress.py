"""Progress of long work (nightly, flights build, train, bench), told without printing.

The core calls an optional ``ProgressFn`` at stage boundaries with a ``Step``; the CLI
(oddflights/cli/progress.py) shows it as a rich bar on a terminal, as plain timestamped lines
otherwise, or not at all (``--quiet``). A core function given no callback says nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """Where a piece of work is: ``done`` of ``total`` items of ``what`` (either may be None
    when not counted), and a short ``note`` (which day, which stage)."""

    what: str
    done: int | None = None
    total: int | None = None
    note: str = ""

    def line(self) -> str:
        """The step as one line of text, without a time: ``nightly 2/5 roof 2026-05-03``."""
        count = ""
        if self.done is not None:
            count = f" {self.done}/{self.total}" if self.total is not None else f" {self.done}"
        return f"{self.what}{count}{' ' + self.note if self.note else ''}"


ProgressFn = Callable[[Step], None]


def tell(progress: ProgressFn | None, step: Step) -> None:
    """Report ``step`` to ``progress`` when there is one."""
    if progress is not None:
        progress(step)
