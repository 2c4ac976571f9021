"""Writing a simulation as readsb/tar1090 history: ``globe_history/YYYY/MM/DD/traces/xx/
trace_full_<icao>.json``, gzip-compressed without a ``.gz`` name as readsb writes them.

One file per aircraft and UTC day, in the format of readsb's README-json.md: the start
``timestamp`` and per-point offsets (to the millisecond), lat/lon to 6 decimals, altitude in
whole feet or ``"ground"``, ground speed and track to 0.1, flags (2: a new leg starts, 1: the
position is stale), vertical rate in whole ft/min, and a detail object (callsign in
``flight``, ``squawk``) at each leg's start and then every few minutes. The aircraft details
``r``, ``t``, ``desc``, ``ownOp`` and ``year`` are made up from the address, the same every
day.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# A new leg starts after a gap this long, or when the callsign changes.
LEG_GAP_S = 600.0
# readsb's stale flag: no position for this long before the point.
STALE_S = 20.0
# A detail object repeats at least this often within a leg.
DETAIL_EVERY_S = 300.0
TYPES = (
    ("A320", "AIRBUS A-320", "KLM Cityhopper"),
    ("B738", "BOEING 737-800", "Transavia"),
    ("E190", "EMBRAER ERJ-190", "KLM Cityhopper"),
    ("A21N", "AIRBUS A-321neo", "easyJet"),
)
LIGHT_TYPE = ("C172", "CESSNA 172 Skyhawk", None)


def _details(icao: str, callsign: str | None) -> dict[str, Any]:
    """Made-up database details of an aircraft: a light aircraft (its callsign is its
    registration, no airline digits) or an airliner, by its address."""
    number = int(icao, 16)
    light = callsign is not None and callsign.isalpha()
    kind = LIGHT_TYPE if light else TYPES[number % len(TYPES)]
    letters = "".join(chr(ord("A") + (number >> (5 * i)) % 26) for i in range(3))
    registration = f"{callsign[:2]}-{callsign[2:]}" if light and callsign else f"PH-{letters}"
    details: dict[str, Any] = {"r": registration, "t": kind[0], "desc": kind[1]}
    if kind[2] is not None:
        details["ownOp"] = kind[2]
    details["year"] = str(1995 + number % 30)
    return details


def _num(value: float, decimals: int | None) -> float | int | None:
    if not np.isfinite(value):
        return None
    return round(float(value)) if decimals is None else round(float(value), decimals) + 0.0


def trace_doc(rows: pd.DataFrame) -> dict[str, Any]:
    """The trace JSON object of one aircraft's positions (POSITION_COLUMNS, by time)."""
    ms = rows["ts"].to_numpy("datetime64[ms]").astype(np.int64)
    start_ms = int(ms[0])
    icao = str(rows["icao24"].iloc[0])
    calls = rows["callsign"].tolist()
    squawks = rows["squawk"].tolist()
    lat, lon = rows["lat"].to_numpy(float), rows["lon"].to_numpy(float)
    alt, gs = rows["altitude_ft"].to_numpy(float), rows["groundspeed_kt"].to_numpy(float)
    track, vrate = rows["track_deg"].to_numpy(float), rows["vertical_rate_fpm"].to_numpy(float)
    ground = rows["onground"].to_numpy(bool)
    points: list[list[Any]] = []
    detail_ms = -(10**15)
    for i in range(len(ms)):
        gap = (ms[i] - ms[i - 1]) / 1000 if i else np.inf
        call = calls[i] if isinstance(calls[i], str) else None
        new_leg = gap > LEG_GAP_S or (i > 0 and call != calls[i - 1])
        flags = (2 if new_leg else 0) | (1 if gap > STALE_S else 0)
        detail = None
        if new_leg or (ms[i] - detail_ms) / 1000 >= DETAIL_EVERY_S:
            detail = {"type": "adsb_icao", "flight": (call or "").ljust(8)}
            if isinstance(squawks[i], str):
                detail["squawk"] = squawks[i]
            detail_ms = int(ms[i])
        points.append(
            [
                round((ms[i] - start_ms) / 1000, 3),
                round(float(lat[i]), 6),
                round(float(lon[i]), 6),
                "ground" if ground[i] else _num(alt[i], None),
                _num(gs[i], 1),
                _num(track[i], 1),
                flags,
                _num(vrate[i], None),
                detail,
            ]
        )
    first_call = next((c for c in calls if isinstance(c, str)), None)
    return {
        "icao": icao,
        **_details(icao, first_call),
        "timestamp": start_ms / 1000,
        "trace": points,
    }


def write_globe_history(positions: pd.DataFrame, outdir: Path, day_start_ms: int) -> Path:
    """Write one UTC day's positions (sorted by time) as ``outdir/globe_history/YYYY/MM/DD``;
    returns that day's folder (what ``oddflights ingest`` takes)."""
    day = pd.Timestamp(day_start_ms, unit="ms", tz="UTC")
    folder = outdir / "globe_history" / day.strftime("%Y/%m/%d")
    by_icao = positions.sort_values(["icao24", "ts"], kind="stable").groupby("icao24", sort=True)
    for icao, rows in by_icao:
        doc = trace_doc(rows)
        path = folder / "traces" / str(icao)[-2:] / f"trace_full_{icao}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(doc, separators=(",", ":")).encode()
        # mtime 0: the same simulation gives the same bytes.
        path.write_bytes(gzip.compress(data, mtime=0))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
