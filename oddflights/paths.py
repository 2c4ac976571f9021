"""Where oddflights keeps its data by default: one absolute, per-user place.

The default database is ``$XDG_DATA_HOME/oddflights/oddflights.db`` (``XDG_DATA_HOME`` unset
or relative: ``~/.local/share``, as the XDG base directory spec says), so that a command run
from any folder finds the same database. ``ODDFLIGHTS_DB`` (or ``--db``) names another one;
the Docker image sets it to ``/data/oddflights.db``, its volume. Nothing here guesses from the
environment whether it runs in a container: ``/.dockerenv`` exists in development containers
too, where a database under ``/data`` would surprise.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "oddflights"
DB_FILE = "oddflights.db"
# How the default is shown (`oddflights settings`, README): the same on every machine.
DEFAULT_DB_SHOWN = "sqlite:///$XDG_DATA_HOME/oddflights/oddflights.db"


def data_dir() -> Path:
    """oddflights' per-user data folder: ``$XDG_DATA_HOME/oddflights``, or
    ``~/.local/share/oddflights`` when XDG_DATA_HOME is unset, empty or relative (the spec
    says to ignore a relative one)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / APP


def default_db_url() -> str:
    """The default database URL: the SQLite file in ``data_dir()`` (absolute)."""
    return f"sqlite:///{data_dir() / DB_FILE}"
