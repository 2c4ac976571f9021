"""What every ingest parser returns, so formats, validation and the writer fit together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

import numpy as np
import pandas as pd

from oddflights.receivers import Receiver

REJECT_COLUMNS: tuple[str, ...] = ("raw", "reason")


def empty_rejects() -> pd.DataFrame:
    """A rejects frame with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})


@dataclass
class ParsedChunk:
    """A piece of parsed input: positions (columns of ``oddflights.columns.POSITION_COLUMNS``,
    ``ts`` tz-aware UTC) and the lines that could not be parsed (``raw``, ``reason``)."""

    positions: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=empty_rejects)
    # Input lines/messages read for this chunk (for progress) and messages that were valid
    # but carried no position (e.g. an SBS MSG,4): neither accepted nor rejected.
    lines: int = 0
    bytes_read: int = 0
    # The input lines of positions (by position in ``positions``), made only for the rows
    # validation rejects: for parsers whose positions carry no ``raw`` column, because
    # making every row's line costs more than the few rejected ones need.
    raw_of: Callable[[np.ndarray], list[str]] | None = None
    # Aircraft details a format carries (readsb traces: registration, type, ...), one row per
    # aircraft (``oddflights.ingest.readsb.AIRCRAFT_COLUMNS``); stored with the positions.
    aircraft: pd.DataFrame | None = None


@dataclass(frozen=True)
class ParseOptions:
    """What a parser may need besides the bytes."""

    receiver: Receiver
    sbs_timezone: str = "UTC"
    start_time: datetime | None = None
    chunk_lines: int = 500_000


Parser = Callable[[IO[bytes], ParseOptions], Iterator[ParsedChunk]]
