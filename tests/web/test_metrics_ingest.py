"""``/metrics``' ingest counters: positions by receiver and format, rejects by reason, read from
the ingest runs recorded in a real SQLite database by the real command (files) and by the live
client against a real TCP feed (recorded while it runs, not only at its stop)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.receivers import get_receiver
from oddflights.db.runs import INGEST, OK, RUNNING, list_runs
from oddflights.db.web_queries import open_readonly
from oddflights.ingest.live import run_live
from oddflights.ingest.types import ParseOptions
from oddflights.web.app import create_app
from tests.ingest.helpers import LAT, LON, sbs_bytes, sim_positions, table_bytes
from tests.web.test_metrics import at, scrape

WAIT_S = 20.0


def _with_bad_lines(text: bytes) -> bytes:
    """``text`` and 5 bad lines: 2 unparsable, 2 with a latitude beyond 90°, 1 a bad time."""
    line = next(x for x in text.split(b"\n") if x.startswith(b"MSG,3,") and x.split(b",")[14])
    f = line.split(b",")
    bad_lat = b",".join([*f[:14], b"95.5", *f[15:]])
    bad_time = b",".join([*f[:7], b"25:61:00.000", *f[8:]])
    icao = f[4]
    second = bad_lat.replace(icao, b"ABC123")
    return text + b"\n".join([b"this is not sbs", b"MSG,3", bad_lat, second, bad_time]) + b"\n"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_file_ingests_move_the_counters_by_format_and_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    _cli("receiver", "add", "roof", "--lat", str(LAT), "--lon", str(LON), "--db", url)
    _cli("receiver", "add", "idle", "--lat", str(LAT), "--lon", str(LON), "--db", url)
    n = len(sim_positions())
    sbs = tmp_path / "day.sbs"
    sbs.write_bytes(_with_bad_lines(sbs_bytes()))
    table = tmp_path / "day.csv"
    table.write_bytes(table_bytes("csv"))
    # The file whose summary the counters must match, then the same again (all duplicates,
    # the same lines rejected again), then a table file whose format is sniffed.
    args = ("--receiver", "roof", "--json", "--db", url)
    first = json.loads(_cli("ingest", str(sbs), "--format", "sbs", *args))
    assert first["accepted"] == n
    assert first["rejected_by_reason"] == {"bad_lat_lon": 2, "bad_time": 1, "unparsable": 2}
    again = json.loads(_cli("ingest", str(sbs), *args))
    assert (again["accepted"], again["duplicates"]) == (0, n)
    sniffed = json.loads(_cli("ingest", str(table), *args))
    assert (sniffed["accepted"], sniffed["duplicates"]) == (0, n)

    engine = open_readonly(url)
    try:
        with TestClient(create_app(engine)) as client:
            got = scrape(client)
    finally:
        engine.dispose()
    assert at(got, "oddflights_ingest_positions_total", receiver="roof", format="sbs") == n
    assert at(got, "oddflights_ingest_duplicates_total", receiver="roof", format="sbs") == n
    assert at(got, "oddflights_ingest_positions_total", receiver="roof", format="table") == 0
    assert at(got, "oddflights_ingest_duplicates_total", receiver="roof", format="table") == n
    rejects = {
        dict(labels)["reason"]: value
        for (name, labels), value in got.items()
        if name == "oddflights_ingest_rejects_total"
    }
    assert rejects == {"bad_lat_lon": 4, "bad_time": 2, "unparsable": 4}
    # A receiver that ingested nothing has no series (no zeros invented for every format).
    assert not any(
        name.startswith("oddflights_ingest_") and dict(labels)["receiver"] == "idle"
        for (name, labels) in got
    )

    # The runs are recorded (ok, with their format) but `runs` lists nightly work only.
    check = open_db(url)
    try:
        rid = get_receiver(check, "roof").id
        runs = list_runs(check, rid, with_ingest=True)
        assert list(runs["kind"]) == [INGEST] * 3 and set(runs["status"]) == {OK}
        assert [c["format"] for c in runs["counts"]] == ["table", "sbs", "sbs"]
        assert len(list_runs(check, rid)) == 0
    finally:
        check.dispose()


class _Feed:
    """A TCP server that sends ``payload`` to its one client and keeps the connection open
    (a receiver with nothing more to say) until closed."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.done = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(WAIT_S)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.sendall(self.payload)
                self.done.wait(WAIT_S)
        except OSError:
            pass
        finally:
            self.sock.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join(WAIT_S)


def _wait_for(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_live_ingest_records_its_counts_while_it_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    _cli("receiver", "add", "roof", "--lat", str(LAT), "--lon", str(LON), "--db", url)
    engine = open_db(url)
    receiver = get_receiver(engine, "roof")
    n = len(sim_positions())
    feed = _Feed(_with_bad_lines(sbs_bytes()))
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: run_live(
            engine,
            receiver,
            "127.0.0.1",
            feed.port,
            "sbs",
            options=ParseOptions(receiver),
            stop=stop,
            spool_path=tmp_path / "spool.jsonl",
            commit_every_s=0.2,
            record_every_s=0.2,
        ),
        daemon=True,
    )
    reader = open_readonly(url)
    try:
        thread.start()

        def counts() -> dict[str, object]:
            runs = list_runs(engine, receiver.id, with_ingest=True)
            return {} if runs.empty else dict(runs["counts"].iloc[0], status=runs["status"][0])

        # The feed is still connected: the counts are those recorded while it runs.
        assert _wait_for(lambda: counts().get("accepted") == n), counts()
        assert _wait_for(lambda: counts().get("rejected") == 5), counts()
        assert counts()["status"] == RUNNING and counts()["format"] == "sbs"
        with TestClient(create_app(reader)) as client:
            got = scrape(client)
        assert at(got, "oddflights_ingest_positions_total", receiver="roof", format="sbs") == n
        lat_rejects = at(
            got, "oddflights_ingest_rejects_total", receiver="roof", reason="bad_lat_lon"
        )
        assert lat_rejects == 2
        stop.set()
        thread.join(WAIT_S)
        assert not thread.is_alive()
        final = counts()
        assert final["status"] == OK and final["accepted"] == n
        assert final["rejected_by_reason"] == {"bad_lat_lon": 2, "bad_time": 1, "unparsable": 2}
    finally:
        stop.set()
        feed.close()
        reader.dispose()
        engine.dispose()
