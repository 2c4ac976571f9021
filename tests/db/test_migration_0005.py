"""Migration 0005 on SQLite and PostgreSQL: flights get ``track_tags`` (NULL in the rows built
before, which scoring then tags from their positions); downgrading drops it, rows kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from oddflights.db.engine import alembic_config, create_engine, current_revision, head_revision
from oddflights.db.engine import upgrade as upgrade_to_head
from oddflights.db.models import ReceiverRow

# The flights table as 0004 left it (FlightRow now has one more column).
_FLIGHTS_0004 = sa.table(
    "flights",
    *(
        sa.column(name)
        for name in (
            "receiver_id", "icao24", "callsign", "start_ts", "end_ts", "day", "n_points",
            "path_km", "turn_cum_deg", "turn_net_deg", "alt_min_ft", "alt_max_ft",
            "min_dist_km", "lat_min", "lat_max", "lon_min", "lon_max", "lit_pixels",
            "raster", "raster_key",
        )
    ),
)  # fmt: skip


def _columns(eng: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(eng).get_columns("flights")}


def test_migration_0005_adds_track_tags_and_keeps_the_flights(db_url: str) -> None:
    eng = create_engine(db_url)
    try:
        with eng.begin() as conn:
            command.upgrade(alembic_config(conn), "0004")
        assert "track_tags" not in _columns(eng)
        t0 = datetime(2026, 1, 15, 12, tzinfo=UTC)
        with eng.begin() as conn:
            conn.execute(
                sa.insert(ReceiverRow),
                [
                    dict(
                        name="old", lat=52.0, lon=4.5, range_km=250.0, timezone="UTC", created_at=t0
                    )
                ],
            )
            rid = conn.execute(sa.select(ReceiverRow.id)).scalar_one()
            # SQLite keeps times as REAL seconds, PostgreSQL as timestamptz.
            sqlite = conn.dialect.name == "sqlite"
            start = t0.timestamp() if sqlite else t0
            end = (t0 + timedelta(minutes=30)).timestamp() if sqlite else t0 + timedelta(minutes=30)
            conn.execute(
                sa.insert(_FLIGHTS_0004),
                [
                    dict(
                        receiver_id=rid, icao24="abc123", callsign="KLM1", start_ts=start,
                        end_ts=end, day=date(2026, 1, 15), n_points=100, path_km=80.0,
                        turn_cum_deg=10.0, turn_net_deg=1.0, alt_min_ft=1000.0,
                        alt_max_ft=9000.0, min_dist_km=3.0, lat_min=52.0, lat_max=52.5,
                        lon_min=4.0, lon_max=4.9, lit_pixels=40, raster=b"\x00" * 512,
                        raster_key="64px/1w/250km",
                    )
                ],
            )  # fmt: skip
        upgrade_to_head(eng)
        assert current_revision(eng) == head_revision()
        assert "track_tags" in _columns(eng)
        with eng.connect() as conn:
            rows = conn.execute(sa.text("SELECT icao24, track_tags FROM flights")).all()
        assert [(r[0], r[1]) for r in rows] == [("abc123", None)]

        with eng.begin() as conn:
            command.downgrade(alembic_config(conn), "0004")
        assert "track_tags" not in _columns(eng)
        with eng.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM flights")).scalar_one() == 1
        upgrade_to_head(eng)
        assert "track_tags" in _columns(eng)
    finally:
        eng.dispose()
