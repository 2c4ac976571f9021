"""The live client against a real TCP server on 127.0.0.1 that replays simulator output, cuts the
connection, and a real database outage (the positions table renamed away and back)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from oddflights.columns import POSITION_COLUMNS
from oddflights.db.positions import read_positions
from oddflights.db.receivers import add_receiver
from oddflights.ingest.live import Spool, make_feed, run_live
from oddflights.ingest.sbs import parse_sbs
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParsedChunk, ParseOptions, empty_rejects
from oddflights.ingest.writer import ingest_chunks
from oddflights.receivers import Receiver
from oddflights.simulate import SimConfig, simulate
from oddflights.simulate.modes_encode import beast_bytes, encode_positions
from oddflights.simulate.writers import sbs_lines

DAY = dt.date(2024, 5, 1)
WAIT_S = 20.0


@pytest.fixture(scope="module")
def positions() -> pd.DataFrame:
    sim = simulate(
        SimConfig(
            lat=52.0, lon=4.0, days=1, flights_per_day=4, start_day=DAY, range_km=150.0,
            seed=5, anomaly_share=0.0,
        )
    )  # fmt: skip
    return sim.positions[~sim.positions["onground"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def sbs_text(positions: pd.DataFrame) -> bytes:
    lines, _ = sbs_lines(positions, np.random.default_rng(0))
    return ("\r\n".join(lines.to_pylist()) + "\r\n").encode()


class Replay:
    """A TCP server that sends one payload per accepted connection, then closes it; after
    the last payload it stops listening. ``gates[k]`` (if set) is awaited before payload k."""

    def __init__(self, payloads: list[bytes], gates: dict[int, threading.Event] | None = None,
                 hold_last_open: bool = False) -> None:  # fmt: skip
        self.payloads = payloads
        self.gates = gates or {}
        self.hold_last_open = hold_last_open
        self.done = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(WAIT_S)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            for k, payload in enumerate(self.payloads):
                conn, _ = self.sock.accept()
                if k in self.gates:
                    self.gates[k].wait(WAIT_S)
                with conn:
                    for start in range(0, len(payload), 65536):
                        conn.sendall(payload[start : start + 65536])
                    if self.hold_last_open and k == len(self.payloads) - 1:
                        self.done.wait(WAIT_S)
        except OSError:
            pass
        finally:
            self.sock.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join(WAIT_S)


def _receiver(engine: Engine, name: str) -> Receiver:
    return add_receiver(engine, Receiver(name, 52.0, 4.0, range_km=150.0))


def _stored(engine: Engine, receiver: Receiver) -> pd.DataFrame:
    assert receiver.id is not None
    return read_positions(engine, receiver.id)


def _run(
    engine: Engine,
    receiver: Receiver,
    port: int,
    fmt: str,
    stop: threading.Event,
    spool: Path,
    options: ParseOptions,
) -> tuple[threading.Thread, list[IngestSummary]]:
    out: list[IngestSummary] = []

    def target() -> None:
        out.append(
            run_live(
                engine, receiver, "127.0.0.1", port, fmt, options=options, stop=stop,
                spool_path=spool, commit_every_s=0.2, max_backoff_s=0.4,
            )
        )  # fmt: skip

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def _wait_for(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _expected_sbs(engine: Engine, text: bytes, name: str = "file") -> pd.DataFrame:
    """The same bytes ingested as a file, under another receiver."""
    other = _receiver(engine, name)
    ingest_chunks(engine, other, parse_sbs(io.BytesIO(text), ParseOptions(other)), source="test")
    return _stored(engine, other)


def _cut_mid_line(text: bytes, at: float) -> tuple[bytes, bytes]:
    cut = int(len(text) * at)
    line_start = text.rfind(b"\n", 0, cut) + 1
    return text[:cut], text[line_start:]


def test_sbs_drop_and_reconnect_stores_every_position_once(
    engine: Engine, sbs_text: bytes, tmp_path: Path
) -> None:
    expected = _expected_sbs(engine, sbs_text)
    first, rest = _cut_mid_line(sbs_text, 0.4)
    # The third connection replays everything again: nothing may be doubled.
    server = Replay([first, rest, sbs_text])
    receiver = _receiver(engine, "live")
    stop = threading.Event()
    thread, out = _run(engine, receiver, server.port, "sbs", stop, tmp_path / "spool.jsonl",
                       ParseOptions(receiver))  # fmt: skip
    assert _wait_for(lambda: not server.thread.is_alive())
    assert _wait_for(lambda: len(_stored(engine, receiver)) >= len(expected))
    time.sleep(0.5)
    stop.set()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    got = _stored(engine, receiver)
    pd.testing.assert_frame_equal(got, expected)
    summary = out[0]
    assert summary.accepted == len(expected)
    assert summary.duplicates >= len(expected)  # the full replay
    assert summary.rejected_by_reason.get("truncated") == 1


def test_beast_drop_mid_frame_and_database_outage_spools_then_replays(
    engine: Engine, positions: pd.DataFrame, tmp_path: Path
) -> None:
    ts, frames = encode_positions(positions)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    data = beast_bytes(ts, frames, start)
    frame_starts = [k for k in range(len(data) - 1) if data[k] == 0x1A and data[k + 1] == ord("3")]
    cut_frame = frame_starts[len(frame_starts) // 2]
    first, rest = data[: cut_frame + 9], data[cut_frame:]
    receiver = _receiver(engine, "live")
    table = "positions"
    with engine.begin() as conn:  # the outage: the table is gone while the first part arrives
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}_away")
    back = threading.Event()
    server = Replay([first, rest], gates={1: back})
    spool = tmp_path / "spool.jsonl"
    stop = threading.Event()
    thread, out = _run(engine, receiver, server.port, "beast", stop, spool, ParseOptions(receiver))
    assert _wait_for(spool.exists)
    time.sleep(0.5)
    assert spool.exists()  # still down: the spool stays
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table}_away RENAME TO {table}")
    back.set()
    assert _wait_for(lambda: len(_stored(engine, receiver)) >= len(positions))
    assert _wait_for(lambda: not spool.exists())
    stop.set()
    thread.join(WAIT_S)
    got = _stored(engine, receiver)
    # Live Beast times come from arrival, so compare what was heard, not when.
    assert len(got) == len(positions)
    key = ["icao24", "altitude_ft"]
    assert sorted(map(tuple, got[key].to_numpy().tolist())) == sorted(
        map(tuple, positions[key].to_numpy().tolist())
    )
    assert out[0].accepted == len(positions)
    assert out[0].rejected_by_reason == {"truncated": 1}


def test_stop_flushes_and_returns(engine: Engine, sbs_text: bytes, tmp_path: Path) -> None:
    expected = _expected_sbs(engine, sbs_text)
    server = Replay([sbs_text], hold_last_open=True)
    receiver = _receiver(engine, "live")
    stop = threading.Event()
    options = ParseOptions(receiver)
    out: list[IngestSummary] = []
    thread = threading.Thread(
        target=lambda: out.append(
            run_live(
                engine,
                receiver,
                "127.0.0.1",
                server.port,
                "sbs",
                options=options,
                stop=stop,
                spool_path=tmp_path / "s.jsonl",
                commit_every_s=60.0,
            )
        ),
        daemon=True,
    )
    thread.start()
    time.sleep(1.0)  # far less than commit_every_s: only the stop can have flushed
    stop.set()
    thread.join(WAIT_S)
    server.close()
    assert not thread.is_alive()
    assert out[0].accepted == len(expected)
    assert len(_stored(engine, receiver)) == len(expected)


def test_unknown_format_is_refused(engine: Engine) -> None:
    receiver = _receiver(engine, "live")
    with pytest.raises(ValueError, match="xml"):
        run_live(engine, receiver, "127.0.0.1", 1, "xml", options=ParseOptions(receiver))


def _missing(value: object) -> bool:
    return bool(pd.isna(np.array([value], dtype=object))[0])


def test_spool_round_trip_keeps_every_kind_of_missing_value(tmp_path: Path) -> None:
    # Each row misses one column, in the ways parsers produce: pd.NA in pyarrow and nullable
    # columns, NaN and None in object ones, NaT; numpy scalars and bools around them.
    n = len(POSITION_COLUMNS)
    ts = pd.Series(pd.date_range("2024-05-01", periods=n, freq="1s", tz="UTC"))
    ts[1] = None
    positions = pd.DataFrame(
        {
            "icao24": pd.Series(["a1b2c3"] * n, dtype="string[pyarrow]"),
            "ts": ts,
            "lat": pd.Series([52.0 + k / 1e6 for k in range(n)], dtype="Float64"),
            "lon": pd.Series([np.float64(4.25)] * n, dtype=object),
            "altitude_ft": np.full(n, 35000.0),
            "groundspeed_kt": pd.Series([np.int64(420)] * n, dtype=object),
            "track_deg": np.full(n, 90.5),
            "vertical_rate_fpm": pd.Series([-64] * n, dtype="Int64"),
            "callsign": pd.Series(["KLM1234"] * n, dtype="string[pyarrow]"),
            "squawk": pd.Series(["7000"] * n, dtype="str"),
            "onground": pd.Series([np.bool_(False), True] * (n // 2) + [False], dtype=object),
            "raw": pd.Series([f"line {k}" for k in range(n)], dtype="string[pyarrow]"),
        }
    )
    nan, na = np.nan, pd.NA
    gone: list[Any] = [na, pd.NaT, na, nan, nan, None, nan, na, na, None, nan]
    for row, (col, value) in enumerate(zip(POSITION_COLUMNS, gone, strict=True)):
        positions.loc[row, col] = value
    rejects = pd.DataFrame({"raw": ["MSG,3,bad", None, pd.NA], "reason": ["bad_time"] * 3})
    chunk = ParsedChunk(positions, rejects, lines=17, bytes_read=1234)
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append(chunk)
    spool.append(ParsedChunk(positions.iloc[:0], empty_rejects(), lines=0))
    back, empty = spool.read()
    got = back.positions
    assert list(got.columns) == [*POSITION_COLUMNS, "raw"]
    assert len(got) == n and len(empty.positions) == 0
    for row, col in enumerate(POSITION_COLUMNS):
        assert _missing(got.loc[row, col]), (row, col)
        others = [r for r in range(n) if r != row]
        want = positions.loc[others, col].tolist()
        assert got.loc[others, col].tolist() == [
            v.item() if isinstance(v, np.generic) else v for v in want
        ], col
    assert got["ts"].dtype == "datetime64[ns, UTC]"
    assert [_missing(v) for v in back.rejects["raw"]] == [False, True, True]
    assert back.rejects["reason"].tolist() == ["bad_time"] * 3
    assert (back.lines, back.bytes_read) == (17, 1234)
    spool.replayed(spool.path.stat().st_size)
    assert not spool.path.exists()


def test_spool_survives_a_line_cut_by_a_crash(tmp_path: Path, sbs_text: bytes) -> None:
    receiver = Receiver("live", 52.0, 4.0, range_km=150.0)
    chunk = make_feed("sbs", ParseOptions(receiver)).feed(sbs_text[:20000])
    path = tmp_path / "spool.jsonl"
    Spool(path).append(chunk)
    with path.open("ab") as out:  # a crash in the middle of the next append
        out.write(b'{"positions": {"icao24": ["ab')
    spool = Spool(path)  # the next start
    spool.append(chunk)
    chunks = spool.read()
    assert len(chunks) == 2
    for back in chunks:
        assert back.positions["icao24"].tolist() == chunk.positions["icao24"].tolist()
        assert back.positions["callsign"].isna().sum() == chunk.positions["callsign"].isna().sum()


def test_sbs_outage_spools_positions_without_a_callsign_then_replays(
    engine: Engine, sbs_text: bytes, tmp_path: Path
) -> None:
    """Positions heard before their aircraft's callsign (pd.NA in the chunk) go through the
    spool while the database cannot take them, and every one is stored after."""
    expected = _expected_sbs(engine, sbs_text)
    cut = sbs_text.rfind(b"\n", 0, len(sbs_text) // 2) + 1
    first, rest = sbs_text[:cut], sbs_text[cut:]
    receiver = _receiver(engine, "live")
    assert make_feed("sbs", ParseOptions(receiver)).feed(first).positions["callsign"].isna().any()
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE positions RENAME TO positions_away")
    back = threading.Event()
    server = Replay([first, rest], gates={1: back})
    spool = tmp_path / "spool.jsonl"
    stop = threading.Event()
    thread, out = _run(engine, receiver, server.port, "sbs", stop, spool, ParseOptions(receiver))
    assert _wait_for(spool.exists)
    time.sleep(0.5)
    assert thread.is_alive() and spool.exists()  # still down: reading goes on, the spool stays
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE positions_away RENAME TO positions")
    back.set()
    assert _wait_for(lambda: len(_stored(engine, receiver)) >= len(expected))
    assert _wait_for(lambda: not spool.exists())
    stop.set()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    pd.testing.assert_frame_equal(_stored(engine, receiver), expected)
    assert out[0].accepted == len(expected)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_stop_while_the_database_is_locked_spools_the_rest_for_the_next_start(
    engine: Engine, db_url: str, sbs_text: bytes, tmp_path: Path
) -> None:
    """A stop (SIGTERM) while a write waits on a lock does not wait out the lock: what the
    database has not taken goes to the spool, and the next start writes it."""
    expected = _expected_sbs(engine, sbs_text)
    receiver = _receiver(engine, "live")
    spool = tmp_path / "spool.jsonl"
    path = engine.url.database
    assert path is not None
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    locker.execute("CREATE TABLE held (x INTEGER)")
    try:
        server = Replay([sbs_text], hold_last_open=True)
        stop = threading.Event()
        out: list[IngestSummary] = []
        thread = threading.Thread(
            target=lambda: out.append(
                run_live(
                    engine, receiver, "127.0.0.1", server.port, "sbs",
                    options=ParseOptions(receiver), stop=stop, spool_path=spool,
                    commit_every_s=0.2, close_timeout_s=1.0,
                )
            ),
            daemon=True,
        )  # fmt: skip
        thread.start()
        time.sleep(1.0)  # the feed is read; the first write waits on the lock
        stop.set()
        thread.join(WAIT_S)
        server.close()
        assert not thread.is_alive() and out[0].accepted == 0
        spooled = pd.concat([c.positions for c in Spool(spool).read()], ignore_index=True)
        assert len(spooled) == len(expected)
        # The summary says so: how many positions are left, and where.
        assert (out[0].spooled, out[0].spool) == (len(expected), spool)
        assert out[0].to_json()["spooled"] == len(expected)
        assert out[0].to_json()["spool"] == str(spool)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # The next start: no feed at all, only the spool to replay.
    stop = threading.Event()
    thread, out = _run(engine, receiver, 1, "sbs", stop, spool, ParseOptions(receiver))
    assert _wait_for(lambda: not spool.exists())
    stop.set()
    thread.join(WAIT_S)
    pd.testing.assert_frame_equal(_stored(engine, receiver), expected)
    # (The first start's write that waited on the lock may have gone through after it.)
    assert out[0].accepted + out[0].duplicates == len(expected)
    assert (out[0].spooled, out[0].spool) == (0, None)
    assert out[0].to_json()["spool"] is None


# Rows the database refuses ---------------------------------------------------------------------

BAD = ("bad000", "bad001")


def _refuse(engine: Engine) -> str:
    """Make the database refuse positions of the BAD aircraft, as a constraint or a value it
    cannot hold would: SQLite by a trigger (an IntegrityError); PostgreSQL by a CHECK
    constraint (IntegrityError) for one and a trigger raising numeric_value_out_of_range
    (DataError) for the other. Returns the error text to expect in the log."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            # SQLite holds the address as its integer value less 2**23 (migration 0010).
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_bad BEFORE INSERT ON positions "
                f"WHEN NEW.icao24 + {1 << 23} IN ({int(BAD[0], 16)}, {int(BAD[1], 16)}) "
                "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
            return "refused by test"
        conn.exec_driver_sql(
            f"ALTER TABLE positions ADD CONSTRAINT refuse_bad CHECK (icao24 <> '{BAD[0]}')"
        )
        conn.exec_driver_sql(
            "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.icao24 = '{BAD[1]}' THEN RAISE EXCEPTION 'refused by test' "
            "USING ERRCODE = 'numeric_value_out_of_range'; END IF; RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON positions "
            "FOR EACH ROW EXECUTE FUNCTION refuse_bad()"
        )
        return "refuse_bad"


def _with_bad_lines(text: bytes) -> tuple[bytes, int]:
    """``text`` with copies of some position lines (MSG,3) given to a BAD aircraft: every
    field valid, only the database refuses them; and the count of those lines."""
    lines = text.split(b"\r\n")
    out: list[bytes] = []
    bad = 0
    msg3 = 0
    for line in lines:
        out.append(line)
        fields = line.split(b",")
        if fields[0] == b"MSG" and fields[1] == b"3" and fields[14]:
            msg3 += 1
            if msg3 % 97 == 0 and bad < 6:
                fields[4] = BAD[bad % 2].upper().encode()
                out.append(b",".join(fields))
                bad += 1
    assert bad == 6
    return b"\r\n".join(out), bad


def test_rows_the_database_refuses_are_rejected_and_every_other_row_is_stored(
    engine: Engine, sbs_text: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A chunk with rows the database refuses (not an outage) is bisected: every other row
    of it is stored, each refused row is a counted, logged, --rejects-kept reject, and later
    chunks keep flowing (a retry would have blocked them for ever)."""
    half = sbs_text.rfind(b"\n", 0, len(sbs_text) // 2) + 1
    first, later = sbs_text[:half], sbs_text[half:]
    # Before the database refuses anything:
    expected = _expected_sbs(engine, sbs_text)
    first_stored = len(_expected_sbs(engine, first, name="first"))
    error = _refuse(engine)
    poisoned, bad = _with_bad_lines(first)
    receiver = _receiver(engine, "live")
    sent = threading.Event()
    server = Replay([poisoned, later], gates={1: sent})
    rejects = io.StringIO()
    stop = threading.Event()
    out: list[IngestSummary] = []
    thread = threading.Thread(
        target=lambda: out.append(
            run_live(
                engine, receiver, "127.0.0.1", server.port, "sbs",
                options=ParseOptions(receiver), stop=stop, spool_path=tmp_path / "s.jsonl",
                commit_every_s=0.2, max_backoff_s=0.4, rejects_file=rejects,
            )
        ),
        daemon=True,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="oddflights.ingest.live"):
        thread.start()
        assert _wait_for(lambda: len(_stored(engine, receiver)) >= first_stored)
        sent.set()  # the later part comes only once the poisoned one is stored
        assert _wait_for(lambda: len(_stored(engine, receiver)) >= len(expected))
        stop.set()
        thread.join(WAIT_S)
    assert not thread.is_alive()
    pd.testing.assert_frame_equal(_stored(engine, receiver), expected)
    summary = out[0]
    assert summary.accepted == len(expected)
    assert summary.rejected_by_reason["db_refused"] == bad
    assert summary.spooled == 0 and summary.spool is None
    assert not (tmp_path / "s.jsonl").exists()  # refused rows are not retried from the spool
    kept = [line for line in rejects.getvalue().splitlines() if line.startswith("db_refused\t")]
    assert len(kept) == bad
    assert all(line.split(",")[4] in (BAD[0].upper(), BAD[1].upper()) for line in kept)
    logged = [r.getMessage() for r in caplog.records if "the database refused" in r.getMessage()]
    assert logged and all(error in m for m in logged)
    assert sum(int(m.split()[3]) for m in logged) == bad  # "the database refused N of M ..."


def test_a_spooled_chunk_with_refused_rows_does_not_block_the_replay(
    engine: Engine, sbs_text: bytes, tmp_path: Path
) -> None:
    """A spool (left by an outage) holding rows the database refuses is replayed all the
    same: every other row stored, the refused ones counted, the spool deleted."""
    expected = _expected_sbs(engine, sbs_text)
    _refuse(engine)
    poisoned, bad = _with_bad_lines(sbs_text)
    receiver = _receiver(engine, "live")
    spool = tmp_path / "spool.jsonl"
    feed = make_feed("sbs", ParseOptions(receiver))
    cut = poisoned.rfind(b"\n", 0, len(poisoned) // 3) + 1
    for part in (poisoned[:cut], poisoned[cut:]):
        Spool(spool).append(feed.feed(part))
    stop = threading.Event()
    thread, out = _run(engine, receiver, 1, "sbs", stop, spool, ParseOptions(receiver))
    assert _wait_for(lambda: not spool.exists())
    stop.set()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    pd.testing.assert_frame_equal(_stored(engine, receiver), expected)
    assert out[0].accepted == len(expected)
    assert out[0].rejected_by_reason == {"db_refused": bad}


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.OperationalError("unable to open database file"), False),
        (sqlite3.OperationalError("no such table: positions"), False),
        (sqlite3.IntegrityError("refused"), True),
        (sqlite3.ProgrammingError("Error binding parameter 1: type 'X' is not supported"), True),
        (psycopg.OperationalError("connection refused"), False),
        (psycopg.errors.AdminShutdown("terminating connection"), False),
        (psycopg.errors.QueryCanceled("statement timeout"), False),
        (psycopg.errors.UndefinedTable("no positions"), False),
        (psycopg.errors.DiskFull("no space"), False),
        (psycopg.errors.CheckViolation("check"), True),
        (psycopg.errors.CharacterNotInRepertoire("NUL"), True),
        (psycopg.errors.NumericValueOutOfRange("out of range"), True),
        (sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("locked")), False),
        (sa_exc.InterfaceError("INSERT", {}, psycopg.InterfaceError("closed")), False),
        (sa_exc.DataError("INSERT", {}, psycopg.DataError("bad value")), True),
        (sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("refused")), True),
        (ConnectionResetError("reset"), False),
        (TimeoutError("timed out"), False),
        (MemoryError(), False),
        (ValueError("cannot convert"), True),
        (TypeError("bad type"), True),
    ],
)
def test_a_write_error_is_an_outage_or_a_refusal_of_the_rows(
    error: BaseException, refused: bool
) -> None:
    """Outages (spool and retry) and refusals of the rows (bisect and reject) are told apart
    by the error the driver raises."""
    from oddflights.ingest.live import _refused

    assert _refused(error) is refused


def test_the_table_summary_names_the_spool_and_its_positions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from oddflights.cli.ingest import _print_summary
    from oddflights.ingest.live import LiveSummary

    spool = tmp_path / "roof.live-spool.jsonl"
    _print_summary(LiveSummary(accepted=5, spooled=1234, spool=spool), as_json=False)
    row = [line for line in capsys.readouterr().out.splitlines() if "left in the spool" in line]
    assert len(row) == 1 and str(spool) in row[0] and "1234" in row[0]
    _print_summary(LiveSummary(accepted=5), as_json=False)
    assert "spool" not in capsys.readouterr().out
