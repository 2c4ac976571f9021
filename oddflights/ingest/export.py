"""A receiver's day of positions written back out in the table format (what ingest reads)."""

from __future__ import annotations

from datetime import date
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy.engine import Engine

from oddflights.columns import TABLE_COLUMNS
from oddflights.db.positions import read_positions
from oddflights.ingest.table import table_frame
from oddflights.receivers import Receiver

EXPORT_FORMATS = ("csv", "parquet")


def day_positions(engine: Engine, receiver: Receiver, day: date) -> pd.DataFrame:
    """The positions of a calendar day in the receiver's zone, in the table format's columns,
    sorted by (icao24, timestamp)."""
    if receiver.id is None:
        raise ValueError(f"receiver {receiver.name!r} has no database id")
    start, end = receiver.day_bounds(day)
    return table_frame(read_positions(engine, receiver.id, start, end))


def _arrow(table: pd.DataFrame) -> pa.Table:
    schema = pa.schema(
        [
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("icao24", pa.string()),
            ("latitude", pa.float64()),
            ("longitude", pa.float64()),
            ("altitude", pa.float64()),
            ("groundspeed", pa.float64()),
            ("track", pa.float64()),
            ("vertical_rate", pa.float64()),
            ("callsign", pa.string()),
            ("squawk", pa.string()),
            ("onground", pa.bool_()),
        ]
    )
    assert [f.name for f in schema] == list(TABLE_COLUMNS)
    frame = table.copy()
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
    for c in ("icao24", "callsign", "squawk"):
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    frame["onground"] = frame["onground"].astype(object).where(frame["onground"].notna(), None)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def write_table(table: pd.DataFrame, out: IO[bytes], fmt: str = "csv") -> None:
    """Write table-format positions as CSV (ISO-8601 UTC times) or Parquet."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use csv or parquet)")
    data = _arrow(table)
    if fmt == "parquet":
        pq.write_table(data, out)
    else:
        pacsv.write_csv(data, out, pacsv.WriteOptions(quoting_style="needed"))
