"""The canonical column names that stages exchange as DataFrames."""

from __future__ import annotations

# One row per position report, after ingest and validation. ``ts`` is a tz-aware UTC
# pandas datetime64[ns, UTC]; units are feet, knots, degrees and feet per minute.
POSITION_COLUMNS: tuple[str, ...] = (
    "icao24",
    "ts",
    "lat",
    "lon",
    "altitude_ft",
    "groundspeed_kt",
    "track_deg",
    "vertical_rate_fpm",
    "callsign",
    "squawk",
    "onground",
)

# The "table" file format (CSV/Parquet) that ingest reads and `positions export` writes.
TABLE_COLUMNS: dict[str, str] = {
    "timestamp": "ts",
    "icao24": "icao24",
    "latitude": "lat",
    "longitude": "lon",
    "altitude": "altitude_ft",
    "groundspeed": "groundspeed_kt",
    "track": "track_deg",
    "vertical_rate": "vertical_rate_fpm",
    "callsign": "callsign",
    "squawk": "squawk",
    "onground": "onground",
}

# What cutting, cleaning, drawing and tagging flights need of a position: reading only these
# from the database saves a third of the cost of a day's read.
TRACK_COLUMNS: tuple[str, ...] = (
    "icao24",
    "ts",
    "lat",
    "lon",
    "altitude_ft",
    "groundspeed_kt",
    "callsign",
    "onground",
)

# A flight's summary features, as the flights table stores them.
FEATURE_COLUMNS: tuple[str, ...] = (
    "path_km",
    "turn_cum_deg",
    "turn_net_deg",
    "alt_min_ft",
    "alt_max_ft",
    "min_dist_km",
    "lat_min",
    "lat_max",
    "lon_min",
    "lon_max",
)
