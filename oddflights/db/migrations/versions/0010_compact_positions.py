"""compact positions on SQLite: every column an integer, callsigns and sources in dictionaries

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:00:00

SQLite stored a position in ~95 bytes (REAL seconds, text ICAO address, REAL coordinates and
text callsign/squawk/source). The table is rebuilt with integers only (~48 bytes): ts in
milliseconds since the epoch, icao24 its 24-bit value less 2**23, lat/lon in 1e-5 degrees (1.1 m, finer than ADS-B's CPR positions),
altitude in feet less 30,000, ground speed in 0.1 kt, track in 0.01 degrees (taken modulo
360) less 180 degrees, vertical rate in fpm
(beyond +-32,767 fpm: unknown), squawk its octal value, and callsign and source ids into the
new ``callsigns`` and ``position_sources`` tables. Two rows of one aircraft within the same
millisecond keep the first. PostgreSQL is left as it is. Downgrading converts back (times to
the millisecond, coordinates to 1e-5 degrees).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_DICTIONARIES = (
    "CREATE TABLE IF NOT EXISTS callsigns (id INTEGER PRIMARY KEY, callsign TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS position_sources "
    "(id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE)",
)

_COLUMNS = (
    "receiver_id, ts, icao24, lat, lon, altitude_ft, groundspeed_kt, track_deg, "
    "vertical_rate_fpm, callsign, squawk, onground, source"
)

_COMPACT = """CREATE TABLE positions_new (
    receiver_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    icao24 INTEGER NOT NULL,
    lat INTEGER NOT NULL,
    lon INTEGER NOT NULL,
    altitude_ft INTEGER,
    groundspeed_kt INTEGER,
    track_deg INTEGER,
    vertical_rate_fpm INTEGER,
    callsign INTEGER,
    squawk INTEGER,
    onground INTEGER,
    source INTEGER,
    CONSTRAINT pk_positions PRIMARY KEY (receiver_id, ts, icao24)
) WITHOUT ROWID"""

# The table as 0001 and 0003 left it.
_TEXT = """CREATE TABLE positions_new (
    receiver_id INTEGER NOT NULL,
    icao24 VARCHAR(6) NOT NULL,
    ts FLOAT NOT NULL,
    lat DOUBLE NOT NULL,
    lon DOUBLE NOT NULL,
    altitude_ft DOUBLE,
    groundspeed_kt DOUBLE,
    track_deg DOUBLE,
    vertical_rate_fpm DOUBLE,
    callsign VARCHAR(8),
    squawk VARCHAR(4),
    onground BOOLEAN,
    source VARCHAR(16),
    CONSTRAINT pk_positions PRIMARY KEY (receiver_id, ts, icao24)
) WITHOUT ROWID"""


def _digits(column: str, width: int, digits: str) -> str:
    """SQL for the integer value of ``column``'s ``width`` digits (SQLite has no hex cast)."""
    base = len(digits)
    terms = [
        f"(instr('{digits}', substr(lower({column}), {k + 1}, 1)) - 1) * {base ** (width - 1 - k)}"
        for k in range(width)
    ]
    return "(" + " + ".join(terms) + ")"


# Subtracted so that any address takes 3 bytes, altitudes and tracks 2 (db/types.py).
_ICAO_OFF, _ALT_OFF, _TRACK_OFF = 1 << 23, 30_000, 18_000


def _scaled(column: str, scale: int) -> str:
    return f"CAST(round({column} * {scale}) AS INTEGER)"


_TO_COMPACT = f"""INSERT OR IGNORE INTO positions_new ({_COLUMNS})
SELECT receiver_id,
    CAST(round(ts * 1000000) AS INTEGER) / 1000 AS ms,
    {_digits("icao24", 6, "0123456789abcdef")} - {_ICAO_OFF} AS icao,
    {_scaled("lat", 100_000)},
    {_scaled("lon", 100_000)},
    {_scaled("altitude_ft", 1)} - {_ALT_OFF},
    {_scaled("groundspeed_kt", 10)},
    ({_scaled("track_deg", 100)} % 36000 + 36000) % 36000 - {_TRACK_OFF},
    CASE WHEN abs(vertical_rate_fpm) <= 32767 THEN {_scaled("vertical_rate_fpm", 1)} END,
    (SELECT id FROM callsigns c WHERE c.callsign = p.callsign),
    CASE WHEN length(squawk) = 4 THEN {_digits("squawk", 4, "01234567")} END,
    CAST(onground AS INTEGER),
    (SELECT id FROM position_sources s WHERE s.source = p.source)
FROM positions p ORDER BY receiver_id, ms, icao"""

_TO_TEXT = f"""INSERT INTO positions_new ({_COLUMNS})
SELECT receiver_id,
    ts / 1000.0,
    printf('%06x', icao24 + {_ICAO_OFF}),
    lat / 1e5,
    lon / 1e5,
    CAST(altitude_ft + {_ALT_OFF} AS REAL),
    groundspeed_kt / 10.0,
    (track_deg + {_TRACK_OFF}) / 100.0,
    CAST(vertical_rate_fpm AS REAL),
    (SELECT callsign FROM callsigns c WHERE c.id = p.callsign),
    CASE WHEN squawk IS NOT NULL THEN printf('%04o', squawk) END,
    onground,
    (SELECT source FROM position_sources s WHERE s.id = p.source)
FROM positions p"""


def _icao24_type() -> str:
    rows = op.get_bind().exec_driver_sql("PRAGMA table_info(positions)").all()
    return next(str(r[2]).upper() for r in rows if r[1] == "icao24")


def _replace(create: str, fill: str) -> None:
    conn = op.get_bind()
    conn.exec_driver_sql("DROP TABLE IF EXISTS positions_new")
    conn.exec_driver_sql(create)
    conn.exec_driver_sql(fill)
    conn.exec_driver_sql("DROP TABLE positions")
    conn.exec_driver_sql("ALTER TABLE positions_new RENAME TO positions")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for ddl in _DICTIONARIES:
        conn.exec_driver_sql(ddl)
    if _icao24_type() == "INTEGER":  # already compact
        return
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO callsigns (callsign) "
        "SELECT DISTINCT callsign FROM positions WHERE callsign IS NOT NULL"
    )
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO position_sources (source) "
        "SELECT DISTINCT source FROM positions WHERE source IS NOT NULL"
    )
    _replace(_COMPACT, _TO_COMPACT)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    if _icao24_type() == "INTEGER":
        _replace(_TEXT, _TO_TEXT)
    conn.exec_driver_sql("DROP TABLE IF EXISTS callsigns")
    conn.exec_driver_sql("DROP TABLE IF EXISTS position_sources")
