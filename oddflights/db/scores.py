"""Scores in the database: replace a (day, model)'s rows at once, and query the anomalies."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from oddflights.db.known import receiver_rules
from oddflights.db.models import AircraftRow, FlightRow, ModelRow, ReceiverRow, ScoreRow
from oddflights.db.types import POSITION_OFFSETS, POSITION_SCALES, to_millis
from oddflights.known import match_flights

CHUNK_ROWS = 2_000

# The columns of a scores DataFrame handed to replace_scores.
SCORE_COLUMNS = ("flight_id", "score", "rank", "threshold", "is_anomaly", "tags")

# What query_anomalies returns (the JSON of `oddflights anomalies`).
ANOMALY_COLUMNS = (
    "flight_id",
    "receiver",
    "icao24",
    "callsign",
    "start",
    "end",
    "day",
    "score",
    "threshold",
    "is_anomaly",
    "rank",
    "model_id",
    "tags",
    # The aircraft's registration and type code (table aircraft, from readsb traces), or None.
    "registration",
    "aircraft_type",
    # Known flights (oddflights.known): matched by a rule when read, never stored. A known
    # flight's is_anomaly is False here whatever its score.
    "known",
    "known_rule",
    "known_reason",
)


def _day_flight_ids(receiver_id: int, day: date) -> sa.Select[Any]:
    return sa.select(FlightRow.id).where(FlightRow.receiver_id == receiver_id, FlightRow.day == day)


def _tuples(scores: pd.DataFrame) -> list[Any]:
    return list(scores.loc[:, list(SCORE_COLUMNS)].itertuples(index=False))


def replace_scores(
    engine: Engine, receiver_id: int, day: date, model_id: int, scores: pd.DataFrame
) -> int:
    """Replace the rows of (receiver day, model) by ``scores`` (SCORE_COLUMNS) in one
    transaction; other models' rows are left alone. Returns the rows written."""
    records: list[dict[str, Any]] = [
        {
            "flight_id": int(r.flight_id),
            "model_id": model_id,
            "score": float(r.score),
            "rank": int(r.rank),
            "threshold": float(r.threshold),
            "is_anomaly": bool(r.is_anomaly),
            "tags": list(r.tags),
        }
        for r in _tuples(scores)
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.delete(ScoreRow).where(
                ScoreRow.model_id == model_id,
                ScoreRow.flight_id.in_(_day_flight_ids(receiver_id, day)),
            )
        )
        for start in range(0, len(records), CHUNK_ROWS):
            conn.execute(sa.insert(ScoreRow), records[start : start + CHUNK_ROWS])
    return len(records)


def delete_scores(engine: Engine, receiver_id: int, day: date, model_id: int) -> int:
    """Delete the rows of (receiver day, model); returns how many there were."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(ScoreRow).where(
                ScoreRow.model_id == model_id,
                ScoreRow.flight_id.in_(_day_flight_ids(receiver_id, day)),
            )
        )
    return int(result.rowcount or 0)


def scoring_models(engine: Engine, receiver_id: int, day: date) -> list[int]:
    """The ids of the models that scored a receiver day, newest first."""
    query = (
        sa.select(ScoreRow.model_id)
        .join(FlightRow, FlightRow.id == ScoreRow.flight_id)
        .where(FlightRow.receiver_id == receiver_id, FlightRow.day == day)
        .distinct()
    )
    with engine.connect() as conn:
        return sorted((int(m) for m in conn.execute(query).scalars()), reverse=True)


def query_anomalies(
    engine: Engine,
    receiver_id: int,
    day: date,
    *,
    model_id: int | None = None,
    include_all: bool = False,
    include_known: bool = False,
    top: int | None = None,
) -> pd.DataFrame:
    """The scored flights of a receiver day by rank (ANOMALY_COLUMNS; times tz-aware UTC):
    flagged ones only unless ``include_all``, at most ``top``. Without ``model_id``, the
    newest model that scored the day; an empty frame when none did.

    The receiver's known-flight rules active on ``day`` are applied as the rows are read: a
    matched flight has ``known`` True, the rule's id and reason, and ``is_anomaly`` False, so
    it leaves the flagged list; ``include_known`` keeps the known flights that scored above
    the threshold in it (still with ``is_anomaly`` False)."""
    if model_id is None:
        models = scoring_models(engine, receiver_id, day)
        if not models:
            return pd.DataFrame(columns=list(ANOMALY_COLUMNS))
        model_id = models[0]
    query = (
        sa.select(
            FlightRow.id.label("flight_id"),
            ReceiverRow.name.label("receiver"),
            FlightRow.icao24,
            FlightRow.callsign,
            FlightRow.start_ts.label("start"),
            FlightRow.end_ts.label("end"),
            FlightRow.day,
            ScoreRow.score,
            ScoreRow.threshold,
            ScoreRow.is_anomaly,
            ScoreRow.rank,
            ScoreRow.model_id,
            ScoreRow.tags,
            AircraftRow.registration,
            AircraftRow.type_code.label("aircraft_type"),
        )
        .join(FlightRow, FlightRow.id == ScoreRow.flight_id)
        .join(ReceiverRow, ReceiverRow.id == FlightRow.receiver_id)
        .outerjoin(AircraftRow, AircraftRow.icao24 == FlightRow.icao24)
        .where(
            FlightRow.receiver_id == receiver_id,
            FlightRow.day == day,
            ScoreRow.model_id == model_id,
        )
        .order_by(ScoreRow.rank, FlightRow.id)
    )
    if not include_all:
        query = query.where(ScoreRow.is_anomaly.is_(True))
    with engine.connect() as conn:
        rules = receiver_rules(conn, receiver_id, day)
        # Without rules the limit can be the database's; with them, known rows leave the
        # list first.
        rows = conn.execute(query.limit(top) if top is not None and not rules else query).all()
    df = pd.DataFrame(rows, columns=list(ANOMALY_COLUMNS[:-3]))
    for c in ("start", "end"):
        df[c] = pd.to_datetime(df[c], utc=True)
    df["is_anomaly"] = df["is_anomaly"].astype(bool)
    # None, not NaN, for an unknown callsign (as list_flights gives it), registration, type.
    for c in ("callsign", "registration", "aircraft_type"):
        df[c] = pd.Series(
            [v if isinstance(v, str) else None for v in df[c]], dtype=object, index=df.index
        )
    matched = match_flights(
        rules,
        zip(
            df["icao24"].tolist(),
            df["callsign"].tolist(),
            [t.to_pydatetime() for t in df["start"]],
            df["day"].tolist(),
            strict=True,
        ),
        aircraft={
            str(i).lower(): (r, t)
            for i, r, t in zip(df["icao24"], df["registration"], df["aircraft_type"], strict=True)
        },
    )
    df["known"] = pd.Series([m is not None for m in matched], index=df.index, dtype=bool)
    df["known_rule"] = pd.Series(
        [None if m is None else m.id for m in matched], index=df.index, dtype=object
    )
    df["known_reason"] = pd.Series(
        [None if m is None else m.reason for m in matched], index=df.index, dtype=object
    )
    df.loc[df["known"], "is_anomaly"] = False
    if not include_all and not include_known:
        df = df[~df["known"]].reset_index(drop=True)
    if top is not None:
        df = df.head(top).reset_index(drop=True)
    return df


def score_rows(engine: Engine, model_id: int, flight_ids: list[int]) -> pd.DataFrame:
    """The stored rows of ``model_id`` for ``flight_ids`` (SCORE_COLUMNS), by flight id."""
    query = (
        sa.select(
            ScoreRow.flight_id,
            ScoreRow.score,
            ScoreRow.rank,
            ScoreRow.threshold,
            ScoreRow.is_anomaly,
            ScoreRow.tags,
        )
        .where(ScoreRow.model_id == model_id, ScoreRow.flight_id.in_(flight_ids))
        .order_by(ScoreRow.flight_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def model_exists(engine: Engine, model_id: int) -> bool:
    """Whether a model row with that id exists."""
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(ModelRow.id).where(ModelRow.id == model_id)).first() is not None
        )


_LOW_POINTS_CHUNK = 50_000


def low_points(
    engine: Engine,
    receiver_id: int,
    start: datetime,
    end: datetime,
    max_altitude_ft: float,
) -> pd.DataFrame:
    """Positions below ``max_altitude_ft`` in [start, end): columns icao24, lat, lon. The
    scoring stage finds the airports a receiver sees from them (oddflights.scoring.airports)."""
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    # The raw cursor, read into typed arrays a chunk at a time: Row objects for three days of
    # low traffic would hold tens of MB at once (and a web process would keep them).
    sql = (
        "SELECT icao24, lat, lon FROM positions "
        f"WHERE receiver_id = {mark} AND ts >= {mark} AND ts < {mark} AND altitude_ft < {mark}"
    )
    # SQLite holds integers (migration 0010, db/types.py): ms times, the address's value less
    # an offset, 1e-5 degrees, altitude less an offset.
    bounds = (to_millis(start), to_millis(end)) if sqlite else (start, end)
    dtype = np.dtype(
        [("icao24", "i8"), ("lat", "i8"), ("lon", "i8")]
        if sqlite
        else [("icao24", "O"), ("lat", "f8"), ("lon", "f8")]
    )
    icao24: list[npt.NDArray[np.str_]] = []
    lat: list[npt.NDArray[np.float64]] = []
    lon: list[npt.NDArray[np.float64]] = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            below = float(max_altitude_ft) - (POSITION_OFFSETS["altitude_ft"] if sqlite else 0)
            cur.execute(sql, (receiver_id, *bounds, below))
            while len(rows := np.fromiter(itertools.islice(cur, _LOW_POINTS_CHUNK), dtype)):
                # Fixed-width text, not the driver's string objects: kept objects would pin
                # the memory of the whole chunk's freed ones.
                if sqlite:
                    address = rows["icao24"] + POSITION_OFFSETS["icao24"]
                    icao24.append(np.array([f"{v:06x}" for v in address.tolist()]))
                    lat.append(rows["lat"] / POSITION_SCALES["lat"])
                    lon.append(rows["lon"] / POSITION_SCALES["lon"])
                else:
                    icao24.append(rows["icao24"].astype(str))
                    lat.append(rows["lat"].copy())
                    lon.append(rows["lon"].copy())
        finally:
            cur.close()
    empty = np.zeros(0, dtype=np.float64)
    return pd.DataFrame(
        {
            "icao24": pd.Series(
                np.concatenate(icao24).astype(object) if icao24 else [], dtype=object
            ),
            "lat": np.concatenate(lat) if lat else empty,
            "lon": np.concatenate(lon) if lon else empty,
        }
    )
