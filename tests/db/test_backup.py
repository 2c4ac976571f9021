"""Backups and restores of a SQLite database: a backup taken while another connection keeps
writing is sound and holds every row committed before it started; a restore brings a backup
back; a restore refuses a file that is not an oddflights database at a known schema before
it replaces anything. PostgreSQL: the pg_dump command, with no password on it."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner

from oddflights.cli import main
from oddflights.db import open_db
from oddflights.db.backup import (
    BackupError,
    backup_sqlite,
    inspect_backup,
    known_revisions,
    restore_sqlite,
)
from oddflights.db.engine import alembic_config, create_engine, head_revision
from oddflights.db.positions import write_positions
from oddflights.db.receivers import add_receiver, list_receivers
from oddflights.receivers import Receiver
from tests.db.test_retention import positions_of

DAY = date(2026, 3, 1)


def _keys(path: Path, receiver_id: int) -> set[tuple[str, float]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT icao24, ts FROM positions WHERE receiver_id = ?", (receiver_id,)
        ).fetchall()
    finally:
        conn.close()
    return {(str(i), float(t)) for i, t in rows}


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_a_backup_during_writes_is_sound_and_has_every_row_committed_before_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "live.db"
    url = f"sqlite:///{db}"
    engine = open_db(url)
    rec = add_receiver(engine, Receiver("live", 52.0, 5.0))
    assert rec.id is not None
    writer_engine = open_db(url)
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        # Another connection commits a batch every few milliseconds until told to stop.
        k = 0
        while not stop.is_set():
            batch = positions_of(rec, [DAY + timedelta(days=k)], per_day=48)
            write_positions(writer_engine, rec.id, batch)  # type: ignore[arg-type]
            written.append(len(batch))
            k += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        before = _keys(db, rec.id)  # committed before the backup starts
        info = backup_sqlite(url, tmp_path / "backup.db")
        writing = writer.is_alive()
    finally:
        stop.set()
        writer.join()
        writer_engine.dispose()
    assert writing  # the writer was still committing when the backup ended
    assert _integrity(info.path) == "ok"
    got = _keys(info.path, rec.id)
    assert before <= got and len(before) > 0
    assert info.revision == head_revision() and info.receivers == 1
    conn = sqlite3.connect(info.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file
    conn.close()
    engine.dispose()


def _filled(tmp_path: Path, name: str) -> tuple[str, Path]:
    path = tmp_path / name
    engine = open_db(f"sqlite:///{path}")
    rec = add_receiver(engine, Receiver(name.split(".")[0], 52.0, 5.0))
    assert rec.id is not None
    write_positions(engine, rec.id, positions_of(rec, [DAY], per_day=30))
    engine.dispose()
    return f"sqlite:///{path}", path


def test_restore_round_trip(tmp_path: Path) -> None:
    url, path = _filled(tmp_path, "home.db")
    runner = CliRunner()
    out = runner.invoke(main, ["backup", "-o", str(tmp_path / "b.db"), "--db", url])
    assert out.exit_code == 0 and "Backed up to" in out.output, out.output
    again = runner.invoke(main, ["backup", "-o", str(tmp_path / "b.db"), "--db", url])
    assert again.exit_code == 2 and "exists" in again.output
    saved = _keys(path, 1)
    # The database changes after the backup: a receiver added, positions deleted.
    engine = open_db(url)
    add_receiver(engine, Receiver("later", 10.0, 10.0))
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM positions")
    engine.dispose()
    refused = runner.invoke(main, ["restore", str(tmp_path / "b.db"), "--db", url])
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert _keys(path, 1) == set()  # nothing replaced
    done = runner.invoke(main, ["restore", str(tmp_path / "b.db"), "--yes", "--db", url])
    assert done.exit_code == 0 and "Restored" in done.output, done.output
    assert _keys(path, 1) == saved and _integrity(path) == "ok"
    engine = open_db(url)
    assert [r.name for r in list_receivers(engine)] == ["home"]
    engine.dispose()
    # Into a new database file: no --yes needed.
    fresh = tmp_path / "fresh.db"
    new = runner.invoke(main, ["restore", str(tmp_path / "b.db"), "--db", f"sqlite:///{fresh}"])
    assert new.exit_code == 0 and _keys(fresh, 1) == saved


def test_restore_refuses_a_wrong_schema_or_file_before_replacing_anything(
    tmp_path: Path,
) -> None:
    url, path = _filled(tmp_path, "home.db")
    saved = _keys(path, 1)
    _, other = _filled(tmp_path, "other.db")
    conn = sqlite3.connect(other)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    not_ours = tmp_path / "notes.db"
    conn = sqlite3.connect(not_ours)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    text = tmp_path / "hello.txt"
    text.write_text("hello")
    cases = [
        (other, "schema revision 9999"),
        (not_ours, "not an oddflights database"),
        (text, "not a SQLite database"),
        (tmp_path / "missing.db", "no file"),
    ]
    for bad, message in cases:
        result = CliRunner().invoke(main, ["restore", str(bad), "--yes", "--db", url])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.output
        assert _keys(path, 1) == saved
    with pytest.raises(BackupError, match="9999"):
        restore_sqlite(other, url)


def test_an_older_schema_is_restored_and_upgraded(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{old}")
    previous = known_revisions()[1]
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), previous)
    engine.dispose()
    assert inspect_backup(old).revision == previous
    target = f"sqlite:///{tmp_path / 'target.db'}"
    result = CliRunner().invoke(main, ["restore", str(old), "--db", target])
    assert result.exit_code == 0, result.output
    assert f"upgraded from schema {previous} to {head_revision()}" in result.output


def test_postgresql_gets_the_pg_dump_command_without_its_password() -> None:
    url = "postgresql+psycopg://odd:hunter2@db.local:5432/odd"
    result = CliRunner().invoke(main, ["backup", "-o", "odd.dump", "--db", url])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert (
        "pg_dump --format=custom --file=odd.dump --dbname=postgresql://odd@db.local:5432/odd"
        in (result.output)
    )
    restore = CliRunner().invoke(main, ["restore", "odd.dump", "--db", url])
    assert restore.exit_code == 0 and "pg_restore" in restore.output
    assert "hunter2" not in restore.output


def test_restore_asks_before_replacing_a_file_that_is_not_ours(tmp_path: Path) -> None:
    _, path = _filled(tmp_path, "home.db")
    CliRunner().invoke(main, ["backup", "-o", str(tmp_path / "b.db"), "--db", f"sqlite:///{path}"])
    notes = tmp_path / "notes.db"
    conn = sqlite3.connect(notes)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    url = f"sqlite:///{notes}"
    refused = CliRunner().invoke(main, ["restore", str(tmp_path / "b.db"), "--db", url])
    assert refused.exit_code == 2 and "not an oddflights database" in refused.output
    conn = sqlite3.connect(notes)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    conn.close()
