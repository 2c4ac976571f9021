"""anomalies view

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:00:00

``anomalies_view``: one row per scored flight and model, for any SQL tool. On SQLite the
times (stored as epoch seconds) are shown as ISO-8601 UTC text; on PostgreSQL they are
timestamptz.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SELECT = """
SELECT
    s.flight_id AS flight_id,
    r.name AS receiver,
    f.icao24 AS icao24,
    f.callsign AS callsign,
    {start} AS start_ts,
    {end} AS end_ts,
    f.day AS day,
    s.score AS score,
    s.threshold AS threshold,
    s.is_anomaly AS is_anomaly,
    s.rank AS rank,
    s.model_id AS model_id,
    m.status AS model_status,
    s.tags AS tags
FROM scores AS s
JOIN flights AS f ON f.id = s.flight_id
JOIN receivers AS r ON r.id = f.receiver_id
JOIN models AS m ON m.id = s.model_id
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        start = "strftime('%Y-%m-%dT%H:%M:%fZ', f.start_ts, 'unixepoch')"
        end = "strftime('%Y-%m-%dT%H:%M:%fZ', f.end_ts, 'unixepoch')"
    else:
        start, end = "f.start_ts", "f.end_ts"
    op.execute("CREATE VIEW anomalies_view AS " + _SELECT.format(start=start, end=end))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS anomalies_view")
