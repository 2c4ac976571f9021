"""Writing a simulation as a receiver would leave it on disk: table CSV or SBS-1 lines.

Lines are built column-wise with Arrow compute kernels and written straight from the Arrow
buffer, so millions of rows take seconds, and the bytes depend only on the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from oddflights.columns import TABLE_COLUMNS
from oddflights.simulate import modes_encode
from oddflights.simulate.simulation import LABEL_COLUMNS, Simulation
from oddflights.simulate.traces import write_globe_history
from oddflights.simulate.world import to_latlon

FORMATS = ("table", "sbs", "raw", "avr", "beast", "readsb-trace")
# Mode S formats: DF17 frames; AVR and Beast times count from midnight UTC of the file's day,
# so ingest them with --start-time YYYY-MM-DDT00:00:00Z.
_MODES_SUFFIX = {"raw": "raw.csv", "avr": "avr", "beast": "beast"}
_LABEL_KEYS = list(LABEL_COLUMNS)
# Share of written lines that are corrupted when the simulation has faults.
CORRUPT_SHARE = 0.001


def _text(values: np.ndarray, decimals: int | None = None) -> pa.Array:
    """Numbers as text: integers, or floats rounded to ``decimals`` (shortest form)."""
    if decimals is None:
        return pc.cast(pa.array(np.round(values).astype(np.int64)), pa.string())
    return pc.cast(pa.array(np.round(values, decimals) + 0.0), pa.string())


_MILLIS = pa.array([f"{i:03d}" for i in range(1000)])


def _timestamps(ts_ms: np.ndarray, fmt: str, suffix: str = "") -> pa.Array:
    """UTC times as text: ``fmt`` (strftime, to the second), then ``.mmm`` and ``suffix``.

    Formatting every row is slow, so each distinct second is formatted once and looked up.
    """
    if ts_ms.size == 0:
        return pa.array([], type=pa.string())
    sec = ts_ms // 1000
    first = int(sec.min())
    seconds = pa.array(np.arange(first, int(sec.max()) + 1), type=pa.int64())
    table = pc.strftime(seconds.cast(pa.timestamp("s", tz="UTC")), format=fmt)
    text = table.take(pa.array(sec - first))
    return _join(text, ".", _MILLIS.take(pa.array(ts_ms - sec * 1000)), suffix, sep="")


def _join(*columns: pa.Array | str, sep: str = ",") -> pa.Array:
    """Row-wise join of columns (and constant strings); missing values become empty."""
    return pc.binary_join_element_wise(*columns, sep, null_handling="replace", null_replacement="")


def _ms(positions: pd.DataFrame) -> np.ndarray:
    return np.asarray(positions["ts"].to_numpy("datetime64[ms]").astype(np.int64))


def _strings(series: pd.Series) -> pa.Array:
    arr = pa.array(series, type=pa.string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def table_lines(positions: pd.DataFrame) -> tuple[pa.Array, np.ndarray]:
    """One CSV line per position (``TABLE_COLUMNS``), with each line's time in ms."""
    ms = _ms(positions)
    onground = pa.array(np.where(positions["onground"].to_numpy(bool), "true", "false"))
    cols = [
        _timestamps(ms, "%Y-%m-%dT%H:%M:%S", "Z"),
        _strings(positions["icao24"]),
        _text(positions["lat"].to_numpy(), 6),
        _text(positions["lon"].to_numpy(), 6),
        _text(positions["altitude_ft"].to_numpy()),
        _text(positions["groundspeed_kt"].to_numpy(), 1),
        _text(positions["track_deg"].to_numpy(), 1),
        _text(positions["vertical_rate_fpm"].to_numpy()),
        _strings(positions["callsign"]),
        _strings(positions["squawk"]),
        onground,
    ]
    return _join(*cols), ms


def sbs_lines(positions: pd.DataFrame, rng: np.random.Generator) -> tuple[pa.Array, np.ndarray]:
    """SBS-1 (BaseStation, port 30003) lines and their times in ms, in time order.

    Each position gives an MSG,3 (altitude, lat/lon) and, a fraction of a second later, an
    MSG,4 (ground speed, track, vertical rate). MSG,1 (callsign) and MSG,6 (squawk) come
    with a flight's first report and then about every 20 s, as a receiver hears them.
    """
    ms = _ms(positions)
    n = ms.size
    icao_lower = _strings(positions["icao24"])
    icao = pc.utf8_upper(icao_lower)
    ground = pa.array(np.where(positions["onground"].to_numpy(bool), "-1", "0"))
    codes = icao_lower.dictionary_encode().indices.to_numpy(zero_copy_only=False)
    first = np.zeros(n, dtype=bool)
    first[np.unique(codes, return_index=True)[1]] = True
    sometimes = first | (rng.random(n) < 1 / 20)

    def head(kind: str, at_ms: np.ndarray, rows: np.ndarray | slice) -> pa.Array:
        stamp = _timestamps(at_ms, "%Y/%m/%d,%H:%M:%S")
        return _join(f"MSG,{kind},1,1", icao.take(_index(rows, n)), "1", stamp, stamp)

    every = slice(None)
    msg3 = _join(
        head("3", ms, every),
        "",
        _text(positions["altitude_ft"].to_numpy()),
        "",
        "",
        _text(positions["lat"].to_numpy(), 5),
        _text(positions["lon"].to_numpy(), 5),
        "",
        "",
        "0,0,0",
        ground,
    )
    ms4 = ms + rng.integers(200, 700, n)
    msg4 = _join(
        head("4", ms4, every),
        "",
        "",
        _text(positions["groundspeed_kt"].to_numpy()),
        _text(positions["track_deg"].to_numpy(), 1),
        "",
        "",
        _text(positions["vertical_rate_fpm"].to_numpy()),
        "",
        "0,0,0",
        ground,
    )
    rows = np.flatnonzero(sometimes)
    ms1 = ms[rows] + 50
    callsign = pc.utf8_rpad(_strings(positions["callsign"]).take(pa.array(rows)), 8)
    sub_ground = ground.take(pa.array(rows))
    msg1 = _join(head("1", ms1, rows), callsign, ",,,,,,", "0,0,0", sub_ground)
    ms6 = ms[rows] + 100
    squawk = _strings(positions["squawk"]).take(pa.array(rows))
    msg6 = _join(head("6", ms6, rows), ",,,,,,", squawk, "0,0,0", sub_ground)

    lines = pa.concat_arrays([msg3, msg4, msg1, msg6])
    times = np.concatenate([ms, ms4, ms1, ms6])
    order = np.argsort(times, kind="stable")
    return lines.take(pa.array(order)), times[order]


def _index(rows: np.ndarray | slice, n: int) -> pa.Array:
    return pa.array(np.arange(n) if isinstance(rows, slice) else rows)


def corrupt(
    lines: pa.Array, times: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Array, np.ndarray]:
    """Add a few broken lines next to real ones: cut short, or garbled in the middle."""
    picks = np.flatnonzero(rng.random(len(lines)) < CORRUPT_SHARE)
    if picks.size == 0:
        return lines, times
    chosen = lines.take(pa.array(picks))
    cut = pc.utf8_slice_codeunits(chosen, 0, 27)
    garbled = _join(pc.utf8_slice_codeunits(chosen, 0, 12), "#@!?~", sep="")
    broken = pc.if_else(pa.array(rng.random(picks.size) < 0.5), cut, garbled)
    all_lines = pa.concat_arrays([lines, broken])
    all_times = np.concatenate([times, times[picks]])
    order = np.argsort(all_times, kind="stable")
    return all_lines.take(pa.array(order)), all_times[order]


def _write_lines(path: Path, lines: pa.Array, eol: str, header: str | None = None) -> None:
    """Write lines with ``eol`` endings straight from the Arrow buffer."""
    arr = _join(lines, eol, sep="").cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    data = arr.buffers()[2]
    with path.open("wb") as f:
        if header is not None:
            f.write((header + eol).encode())
        if len(arr):
            f.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def _labels_json(sim: Simulation) -> str:
    """The flights' labels as a JSON list; with day variation, an object holding that list
    (``flights``, each with its ``variant``), the plan of each day (``days``) and the rare
    airway."""

    def iso(ts: pd.Series) -> list[str]:
        return [t[:-3] + "Z" for t in ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")]

    labels = sim.labels
    records: list[dict[str, Any]] = [
        {
            "icao24": icao,
            "callsign": None if pd.isna(call) else call,
            "start": start,
            "end": end,
            "kind": kind,
            "n_points": int(n),
        }
        for icao, call, start, end, kind, n in zip(
            labels["icao24"],
            labels["callsign"],
            iso(labels["start"]),
            iso(labels["end"]),
            labels["kind"],
            labels["n_points"],
            strict=True,
        )
    ]
    if not sim.config.day_variation:
        return json.dumps(records, sort_keys=True, indent=1) + "\n"
    for record, variant in zip(records, labels["variant"], strict=True):
        record["variant"] = variant
    doc: dict[str, Any] = {
        "flights": records,
        "days": [plan.to_json() for plan in sim.days],
        "rare_airway": _airway_json(sim),
    }
    return json.dumps(doc, sort_keys=True, indent=1) + "\n"


def _airway_json(sim: Simulation) -> dict[str, Any] | None:
    aw = sim.rare_airway
    if aw is None:
        return None
    lat, lon = to_latlon(
        np.array([aw.a[0], aw.b[0]]), np.array([aw.a[1], aw.b[1]]), sim.config.lat, sim.config.lon
    )
    return {
        "name": aw.name,
        "a": [round(float(lat[0]), 6), round(float(lon[0]), 6)],
        "b": [round(float(lat[1]), 6), round(float(lon[1]), 6)],
    }


def read_labels(path: Path | str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The flights' labels (``start``/``end`` as UTC timestamps) and the day plans (empty
    without day variation) of a ``labels.json`` in either of its two shapes."""
    doc = json.loads(Path(path).read_text())
    records, plans = (doc, []) if isinstance(doc, list) else (doc["flights"], doc["days"])
    flights = pd.DataFrame.from_records(records, columns=_LABEL_KEYS)
    for col in ("start", "end"):
        flights[col] = pd.to_datetime(flights[col], utc=True, format="ISO8601")
    return flights, plans


def write_simulation(sim: Simulation, outdir: Path | str, fmt: str = "table") -> list[Path]:
    """Write ``receiver.json``, ``labels.json`` and one positions file per UTC day.

    ``fmt`` is ``table`` (``YYYY-MM-DD.csv`` with ``TABLE_COLUMNS``), ``sbs``
    (``YYYY-MM-DD.sbs``, SBS-1 lines with CRLF endings), or a Mode S format: ``raw``
    (``YYYY-MM-DD.raw.csv``, timestamp + hex frame), ``avr`` or ``beast`` (their counters start
    at midnight UTC of the file's day), or ``readsb-trace`` (readsb history:
    ``globe_history/YYYY/MM/DD/traces/xx/trace_full_<icao>.json``, gzip; the day folders are
    returned). Faults apply to the text formats table and sbs.
    Returns the paths written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = sim.config
    receiver = {"lat": cfg.lat, "lon": cfg.lon, "range_km": cfg.range_km, "timezone": cfg.timezone}
    paths = [out / "receiver.json", out / "labels.json"]
    paths[0].write_text(json.dumps(receiver, sort_keys=True, indent=1) + "\n")
    paths[1].write_text(_labels_json(sim))

    positions = sim.positions
    ms = _ms(positions)
    day_ms = 86_400_000
    days = np.unique(ms // day_ms) if ms.size else np.array([], dtype=np.int64)
    for day in days.tolist():
        lo, hi = np.searchsorted(ms, [day * day_ms, (day + 1) * day_ms])
        part = positions.iloc[lo:hi]
        name = pd.Timestamp(day * day_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d")
        if fmt == "readsb-trace":
            paths.append(write_globe_history(part, out, day * day_ms))
            continue
        if fmt in _MODES_SUFFIX:
            paths.append(
                _write_modes(part, out / f"{name}.{_MODES_SUFFIX[fmt]}", fmt, day * day_ms)
            )
            continue
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 5, int(day)]))
        if fmt == "sbs":
            lines, times = sbs_lines(part, rng)
            eol, header, path = "\r\n", None, out / f"{name}.sbs"
        else:
            lines, times = table_lines(part)
            eol, header, path = "\n", ",".join(TABLE_COLUMNS), out / f"{name}.csv"
        if cfg.faults:
            lines, times = corrupt(lines, times, rng)
        _write_lines(path, lines, eol, header)
        paths.append(path)
    return paths


def _write_modes(part: pd.DataFrame, path: Path, fmt: str, day_start_ms: int) -> Path:
    start = pd.Timestamp(day_start_ms, unit="ms", tz="UTC").to_pydatetime()
    if fmt == "raw":
        modes_encode.write_raw_csv(part, path)
    elif fmt == "avr":
        modes_encode.write_avr(part, path, start_time=start)
    else:
        modes_encode.write_beast(part, path, start_time=start)
    return path
