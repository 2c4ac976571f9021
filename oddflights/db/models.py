"""The schema (SQLAlchemy 2 declarative models). Alembic migrations mirror these tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from oddflights.db.types import (
    POSITION_OFFSETS,
    POSITION_SCALES,
    CodedText,
    HexText,
    ScaledFloat,
    UTCDateTime,
    UTCMillis,
)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}  # noqa: RUF012


class ReceiverRow(Base):
    __tablename__ = "receivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    lat: Mapped[float]
    lon: Mapped[float]
    range_km: Mapped[float]
    timezone: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]


class PositionRow(Base):
    """One position report. The natural key (receiver, icao24, ts) makes ingest idempotent."""

    __tablename__ = "positions"
    __table_args__ = (
        # Key order (receiver, ts, icao24): the same uniqueness as (receiver, icao24, ts), but
        # reads of a day are a range of the key, and feeds arrive in time order, so inserts
        # append at the end of the b-tree. No second index is needed.
        sa.PrimaryKeyConstraint("receiver_id", "ts", "icao24", name="pk_positions"),
        # WITHOUT ROWID: the primary key is the table, so SQLite keeps one b-tree, not two.
        {"sqlite_with_rowid": False},
    )

    # No foreign key (migration 0003): PostgreSQL checks one with a trigger per inserted row,
    # which more than halved COPY's speed. Rows are only written by the DB layer with a stored
    # receiver's id, and removing a receiver deletes its positions explicitly.
    receiver_id: Mapped[int] = mapped_column(sa.Integer)
    # On SQLite every column is an integer (migration 0010, types in db/types.py): ~45 bytes
    # of table a position (~51 with SQLite's free page space) instead of ~85-95. callsign and
    # source are ids into the callsigns and position_sources tables there, which
    # db/positions.py fills and reads.
    icao24: Mapped[str] = mapped_column(HexText(6, 16, POSITION_OFFSETS["icao24"]))
    ts: Mapped[datetime] = mapped_column(UTCMillis())
    lat: Mapped[float] = mapped_column(ScaledFloat(POSITION_SCALES["lat"]))
    lon: Mapped[float] = mapped_column(ScaledFloat(POSITION_SCALES["lon"]))
    altitude_ft: Mapped[float | None] = mapped_column(
        ScaledFloat(POSITION_SCALES["altitude_ft"], POSITION_OFFSETS["altitude_ft"])
    )
    groundspeed_kt: Mapped[float | None] = mapped_column(
        ScaledFloat(POSITION_SCALES["groundspeed_kt"])
    )
    track_deg: Mapped[float | None] = mapped_column(
        ScaledFloat(POSITION_SCALES["track_deg"], POSITION_OFFSETS["track_deg"])
    )
    vertical_rate_fpm: Mapped[float | None] = mapped_column(
        ScaledFloat(POSITION_SCALES["vertical_rate_fpm"])
    )
    callsign: Mapped[str | None] = mapped_column(CodedText(8))
    squawk: Mapped[str | None] = mapped_column(HexText(4, 8))
    onground: Mapped[bool | None]
    source: Mapped[str | None] = mapped_column(CodedText(16))


class FlightRow(Base):
    """A cleaned flight, its summary features and its packed raster."""

    __tablename__ = "flights"
    __table_args__ = (
        sa.UniqueConstraint("receiver_id", "icao24", "start_ts", name="uq_flights_natural"),
        sa.Index("ix_flights_receiver_day", "receiver_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receiver_id: Mapped[int] = mapped_column(sa.ForeignKey("receivers.id", ondelete="CASCADE"))
    icao24: Mapped[str] = mapped_column(sa.String(6))
    callsign: Mapped[str | None] = mapped_column(sa.String(8))
    start_ts: Mapped[datetime]
    end_ts: Mapped[datetime]
    day: Mapped[date]
    n_points: Mapped[int]
    path_km: Mapped[float]
    turn_cum_deg: Mapped[float]
    turn_net_deg: Mapped[float]
    alt_min_ft: Mapped[float | None]
    alt_max_ft: Mapped[float | None]
    min_dist_km: Mapped[float]
    lat_min: Mapped[float]
    lat_max: Mapped[float]
    lon_min: Mapped[float]
    lon_max: Mapped[float]
    lit_pixels: Mapped[int]
    raster: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # The raster settings the raster was drawn with (e.g. "64px/1w/200km"), so a change of
    # settings is detected and the rasters rebuilt.
    raster_key: Mapped[str] = mapped_column(sa.String(64))
    # What the tags need of the track, worked out at build (oddflights.scoring.tags
    # TrackFacts: {"key", "tags", "low_xy"}), so that rescoring reads no positions. NULL in
    # rows built before migration 0005: scoring then reads the day's positions.
    track_tags: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class ModelRow(Base):
    """A trained model: its fitted detector, the .keras bytes and everything to judge it."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    receiver_id: Mapped[int] = mapped_column(sa.ForeignKey("receivers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    train_from: Mapped[date]
    train_to: Mapped[date]
    validation_days: Mapped[list[str]] = mapped_column(sa.JSON)
    config: Mapped[dict[str, Any]]
    raster: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    threshold: Mapped[float | None]
    calibration: Mapped[dict[str, Any]]
    versions: Mapped[dict[str, Any]]
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    keras: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # The fitted Detector (oddflights.model.detector) as .npz bytes: what scoring uses.
    detector: Mapped[bytes | None] = mapped_column(sa.LargeBinary)


class RunRow(Base):
    """What ran, for which receiver and day, and how it ended."""

    __tablename__ = "runs"
    __table_args__ = (sa.Index("ix_runs_receiver_day", "receiver_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    receiver_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("receivers.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    day: Mapped[date | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16))
    counts: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(sa.Text)


class ScoreRow(Base):
    """One flight scored by one model."""

    __tablename__ = "scores"
    __table_args__ = (sa.UniqueConstraint("flight_id", "model_id", name="uq_scores_flight_model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    flight_id: Mapped[int] = mapped_column(sa.ForeignKey("flights.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(
        sa.ForeignKey("models.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float]
    rank: Mapped[int]
    threshold: Mapped[float]
    is_anomaly: Mapped[bool]
    tags: Mapped[list[str]] = mapped_column(sa.JSON)


class LockRow(Base):
    """A named lock (one nightly run per receiver on SQLite; PostgreSQL uses advisory locks)."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(128))
    acquired_at: Mapped[datetime]


class KnownRuleRow(Base):
    """A flight the owner knows (migration 0006): by aircraft, callsign, registration or type
    glob (the last two looked up in ``aircraft`` when applied), or one flight.

    For ``kind == "flight"`` the pattern is the flight's icao24 and ``flight_start`` its start
    (its natural key: a rebuilt day gives flights new ids). Applied when anomalies are read."""

    __tablename__ = "known_rules"
    __table_args__ = (sa.Index("ix_known_rules_receiver", "receiver_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    receiver_id: Mapped[int] = mapped_column(sa.ForeignKey("receivers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    pattern: Mapped[str] = mapped_column(sa.String(64))
    flight_start: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)
    until_day: Mapped[date | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(sa.String(64))


class LabelRow(Base):
    """A verdict ("normal" / "odd") on one flight, by its natural key so it outlives a rebuild
    (migration 0006). Every verdict is kept; a flight's current label is its latest row."""

    __tablename__ = "labels"
    __table_args__ = (sa.Index("ix_labels_flight", "receiver_id", "icao24", "start_ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    receiver_id: Mapped[int] = mapped_column(sa.ForeignKey("receivers.id", ondelete="CASCADE"))
    icao24: Mapped[str] = mapped_column(sa.String(6))
    start_ts: Mapped[datetime]
    label: Mapped[str] = mapped_column(sa.String(8))
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(sa.String(64))


class AlertDeliveryRow(Base):
    """One flagged flight sent (or not yet) to one alert target (migration 0007).

    Keyed by the flight's natural key (receiver, icao24, start), not its id: a rerun rebuilds
    the day's flights with new ids, and must still send nothing twice. ``flight_id`` is the
    id it had when last tried (no foreign key, for the same reason)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        sa.UniqueConstraint(
            "receiver_id", "icao24", "start_ts", "target", name="uq_alert_deliveries_flight_target"
        ),
        sa.Index("ix_alert_deliveries_receiver_day", "receiver_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    receiver_id: Mapped[int] = mapped_column(sa.ForeignKey("receivers.id", ondelete="CASCADE"))
    day: Mapped[date]
    flight_id: Mapped[int]
    icao24: Mapped[str] = mapped_column(sa.String(6))
    start_ts: Mapped[datetime]
    target: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(8))  # sent | failed
    attempts: Mapped[int]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    tried_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class TokenRow(Base):
    """A web token that may write feedback (migration 0008): its name (what labels and rules
    record as ``created_by``) and the SHA-256 of the secret, never the secret itself. A
    revoked token keeps its row (``revoked_at``) until its name is given to a new one."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AircraftRow(Base):
    """What readsb's database says of an aircraft (migration 0009): registration, type code,
    type description, operator and year, from the newest trace that carried them.
    ``seen_at`` is that trace's time (older history ingested later changes nothing);
    ``changed_at`` the time of the trace where the details last changed."""

    __tablename__ = "aircraft"

    icao24: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    registration: Mapped[str | None] = mapped_column(sa.String(16))
    type_code: Mapped[str | None] = mapped_column(sa.String(8))
    description: Mapped[str | None] = mapped_column(sa.String(80))
    operator: Mapped[str | None] = mapped_column(sa.String(80))
    year: Mapped[int | None]
    seen_at: Mapped[datetime]
    changed_at: Mapped[datetime]
