"""Plain JSON-able rows: the objects the CLI prints as JSON (`oddflights receiver list`,
`flights list`, `anomalies --format json`) and the web API serves, made in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from oddflights.receivers import Receiver

RECEIVER_KEYS = ("name", "lat", "lon", "range_km", "timezone")


def iso_utc(value: Any) -> str:
    """A tz-aware time as ISO-8601 UTC with a ``Z`` (the CLI's form)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return str(value.isoformat()).replace("+00:00", "Z")


def _maybe_float(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def receiver_row(receiver: Receiver) -> dict[str, Any]:
    """A receiver as `oddflights receiver list --format json` prints it."""
    return {k: getattr(receiver, k) for k in RECEIVER_KEYS}


def anomaly_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """query_anomalies rows as `oddflights anomalies --format json` prints them."""
    return [
        {
            "flight_id": int(r["flight_id"]),
            "receiver": r["receiver"],
            "icao24": r["icao24"],
            # None, not NaN, for an unknown callsign: NaN is not JSON.
            "callsign": r["callsign"] if isinstance(r["callsign"], str) else None,
            "start": iso_utc(r["start"]),
            "end": iso_utc(r["end"]),
            "day": r["day"].isoformat(),
            "score": float(r["score"]),
            "threshold": float(r["threshold"]),
            "is_anomaly": bool(r["is_anomaly"]),
            "rank": int(r["rank"]),
            "model_id": int(r["model_id"]),
            "tags": list(r["tags"] or []),
            # From the aircraft table (readsb traces); None when not known.
            "registration": _maybe_str(r.get("registration")),
            "aircraft_type": _maybe_str(r.get("aircraft_type")),
            # Known flights (a rule matched when read): never flagged.
            "known": bool(r.get("known", False)),
            "known_rule": _maybe_int(r.get("known_rule")),
            "known_reason": _maybe_str(r.get("known_reason")),
        }
        for r in df.to_dict("records")
    ]


def _maybe_int(value: Any) -> int | None:
    return None if value is None or value != value else int(value)


def _maybe_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def flight_row(flight: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored flight (get_flight or a list_flights record) as `oddflights flights list
    --format json` prints it."""
    return {
        "flight_id": int(flight["flight_id"]),
        "icao24": flight["icao24"],
        "callsign": flight["callsign"] if isinstance(flight["callsign"], str) else None,
        "start": iso_utc(flight["start_ts"]),
        "end": iso_utc(flight["end_ts"]),
        "n_points": int(flight["n_points"]),
        "path_km": round(float(flight["path_km"]), 1),
        "turn_deg": round(float(flight["turn_cum_deg"]), 1),
        "net_turn_deg": round(float(flight["turn_net_deg"]), 1),
        "alt_min_ft": _maybe_float(flight["alt_min_ft"]),
        "alt_max_ft": _maybe_float(flight["alt_max_ft"]),
        "min_dist_km": round(float(flight["min_dist_km"]), 1),
        "lit_pixels": int(flight["lit_pixels"]),
    }


def score_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """flight_scores rows as JSON-able dicts."""
    return [
        {
            "model_id": int(r["model_id"]),
            "model_status": r["model_status"],
            "train_from": r["train_from"].isoformat(),
            "train_to": r["train_to"].isoformat(),
            "score": float(r["score"]),
            "rank": int(r["rank"]),
            "threshold": float(r["threshold"]),
            "is_anomaly": bool(r["is_anomaly"]),
            "tags": list(r["tags"] or []),
        }
        for r in df.to_dict("records")
    ]


def day_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """day_summaries rows as JSON-able dicts."""
    return [
        {
            "day": r["day"].isoformat(),
            "flights": int(r["flights"]),
            "scored": int(r["scored"]),
            "flagged": int(r["flagged"]),
            "model_id": None
            if r["model_id"] is None or r["model_id"] != r["model_id"]
            else int(r["model_id"]),
        }
        for r in df.to_dict("records")
    ]
