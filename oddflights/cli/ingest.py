"""`oddflights ingest …`: receiver positions from files or a live feed into the database."""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import pyarrow as pa
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import SQLAlchemyError

from oddflights import config
from oddflights.cli.common import CliError, db_option, emit_json, emit_rows, open_engine
from oddflights.db.receivers import get_receiver
from oddflights.ingest.files import IngestStopped, ingest_input
from oddflights.ingest.formats import FORMAT_NAMES, is_gzip_file
from oddflights.ingest.live import LiveSummary, run_live
from oddflights.ingest.readsb import FORMAT as READSB_TRACE
from oddflights.ingest.readsb import has_traces, is_trace_source
from oddflights.ingest.summary import IngestSummary
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.ingest.writer import RangeWatch
from oddflights.receivers import Receiver, ReceiverError, check_timezone

LIVE_FORMATS = ("sbs", "beast", "avr")


def _start_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--start-time {text!r} is not an ISO-8601 time") from None
    # A naive start time is UTC, like every time oddflights stores.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--live {text!r} must be HOST:PORT, e.g. 127.0.0.1:30003")
    return host.strip("[]"), int(port)


def _print_summary(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        emit_json(summary.to_json())
        return
    rows: list[dict[str, Any]] = [
        {"outcome": "accepted", "count": summary.accepted},
        {"outcome": "duplicates", "count": summary.duplicates},
        {"outcome": "rejected", "count": summary.rejected},
    ]
    rows += [
        {"outcome": f"  {reason}", "count": n} for reason, n in summary.rejected_by_reason.items()
    ]
    if summary.fields_cleared:
        # Kept positions whose callsign or squawk was bad and is stored empty.
        rows.append({"outcome": "fields cleared", "count": sum(summary.fields_cleared.values())})
        rows += [{"outcome": f"  {note}", "count": n} for note, n in summary.fields_cleared.items()]
    if isinstance(summary, LiveSummary) and summary.spool is not None:
        # Live: positions the database did not take before the stop; the next start writes them.
        rows.append({"outcome": f"left in the spool {summary.spool}", "count": summary.spooled})
    emit_rows(rows, "table", ("outcome", "count"), title=f"Ingest ({summary.seconds:.1f} s)")


def _source(path: str, fmt: str) -> str:
    """What positions record as their source: the format, or ``file`` when it was sniffed
    (a folder or tar is readsb history)."""
    if fmt != "auto":
        return fmt
    return READSB_TRACE if path != "-" and is_trace_source(path) else "file"


class _Stop(threading.Event):
    """Set by SIGTERM/SIGINT; ``signum``: the first signal's number."""

    signum: int | None = None


def _stopped_note(paths: tuple[str, ...], done: int, stopped: IngestStopped | None) -> str:
    """Where a stopped file ingest got to: the files stored whole, how far into the one it
    was in, the files not started."""
    parts = [f"{done} of {len(paths)} file(s) stored whole"]
    if stopped is not None:
        size, unit = "", "bytes"
        if stopped.path != "-" and Path(stopped.path).is_file():
            if is_gzip_file(stopped.path):
                unit = "uncompressed bytes"  # no total known
            else:
                size = f" of {Path(stopped.path).stat().st_size:,}"
        parts.append(
            f"{stopped.path}: the positions of its first {stopped.lines:,} lines "
            f"({stopped.bytes_read:,}{size} {unit} read)"
        )
    left = len(paths) - done - (stopped is not None)
    if left:
        parts.append(f"{left} file(s) not started")
    return "; ".join(parts)


def _ingest_files(
    engine: Any,
    receiver: Receiver,
    paths: tuple[str, ...],
    fmt: str,
    options: ParseOptions,
    rejects: IO[str] | None,
    show_progress: bool,
    stop: threading.Event,
) -> tuple[IngestSummary, str | None]:
    """The files' summed summary, and where a stop left off (None when not stopped)."""
    t0 = time.perf_counter()
    total = IngestSummary()
    # One watch for all the files: the warning is printed once, early, to stderr.
    watch = RangeWatch(receiver, lambda message: click.echo(f"Warning: {message}", err=True))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
    ) as progress:
        for n_done, path in enumerate(paths):
            if stop.is_set():
                total.seconds = time.perf_counter() - t0
                return total, _stopped_note(paths, n_done, None)
            size = None
            if path != "-" and Path(path).is_file():
                # Compressed input advances by uncompressed bytes: no known total.
                size = None if is_gzip_file(path) else Path(path).stat().st_size
            task = progress.add_task(Path(path).name, total=size)

            def advance(chunk: ParsedChunk, task: Any = task) -> None:
                progress.advance(task, chunk.bytes_read)

            try:
                summary = ingest_input(
                    engine,
                    receiver,
                    path,
                    fmt,
                    options,
                    source=_source(path, fmt),
                    rejects_file=rejects,
                    progress=advance,
                    range_watch=watch,
                    stop=stop,
                )
            except IngestStopped as exc:
                total = total + exc.summary
                total.seconds = time.perf_counter() - t0
                return total, _stopped_note(paths, n_done, exc)
            total = total + summary
    total.seconds = time.perf_counter() - t0
    return total, None if not stop.is_set() else _stopped_note(paths, len(paths), None)


@click.command("ingest")
@click.argument("paths", nargs=-1)
@click.option("--receiver", "receiver_name", required=True, help="Receiver name.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("auto", *FORMAT_NAMES)),
    default="auto",
    show_default=True,
    help="Input format (auto: sniffed from each file's first bytes).",
)
@click.option("--live", metavar="HOST:PORT", default=None, help="Read a receiver's TCP feed.")
@click.option(
    "--sbs-timezone",
    default=None,
    metavar="ZONE",
    help="Zone of SBS timestamps [env ODDFLIGHTS_SBS_TIMEZONE; default UTC].",
)
@click.option(
    "--start-time", default=None, metavar="ISO", help="Wall time of a Beast file's first frame."
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write rejected lines here as reason<TAB>line.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@db_option
def ingest(
    paths: tuple[str, ...],
    receiver_name: str,
    fmt: str,
    live: str | None,
    sbs_timezone: str | None,
    start_time: str | None,
    rejects_path: str | None,
    as_json: bool,
    quiet: bool,
    db_url: str | None,
) -> None:
    """Ingest positions from files (gzip or not; '-' is stdin) or a live feed.

    A folder or a tar is readsb/tar1090 history (--format readsb-trace): every
    trace_full_*.json in it, e.g. /var/globe_history/2026/05/0*; the aircraft's
    registration and type go into the aircraft table.

    Every valid position is stored once: ingesting a file again adds nothing. Bad lines are
    counted by reason and skipped (--rejects keeps them).

    Example: oddflights ingest day.sbs.gz --receiver roof --json
    """
    if not paths and live is None:
        raise CliError("give one or more files (or - for stdin), or --live HOST:PORT")
    if paths and live is not None:
        raise CliError("give files or --live HOST:PORT, not both")
    try:
        zone = str(config.get("sbs_timezone", sbs_timezone))
        check_timezone(zone)
        chunk_lines = int(config.get("ingest_chunk_lines"))
    except ReceiverError as exc:
        raise CliError(f"--sbs-timezone: {exc}") from None
    for path in paths:
        # A folder is readsb history (globe_history, every trace_full_*.json in it).
        folder_ok = fmt in ("auto", READSB_TRACE) and has_traces(path)
        if path != "-" and not Path(path).is_file() and not folder_ok:
            what = "not a file" if Path(path).exists() else "no such file"
            folder = " (nor a folder of readsb traces)" if Path(path).is_dir() else ""
            raise CliError(f"{what}: {path}{folder}")
    # SIGTERM/SIGINT are handled from before the database is opened: a stop while it opens
    # or migrates ends the run cleanly once it is open, never with a traceback. A file ingest
    # stops after the chunk being written (see _ingest_files) and exits 128 + the signal.
    stop = _stop_on_signals()
    engine = open_engine(db_url)
    receiver = get_receiver(engine, receiver_name)
    options = ParseOptions(
        receiver=receiver,
        sbs_timezone=zone,
        start_time=_start_time(start_time),
        chunk_lines=chunk_lines,
    )
    show_progress = not quiet and not as_json and sys.stdout.isatty()
    stopped: str | None = None
    try:
        with ExitStack() as stack:
            rejects = None
            if rejects_path is not None:
                rejects = stack.enter_context(open(rejects_path, "w", encoding="utf-8"))
            if live is not None:
                summary = _ingest_live(engine, receiver, live, fmt, options, stop, rejects)
            else:
                summary, stopped = _ingest_files(
                    engine, receiver, paths, fmt, options, rejects, show_progress, stop
                )
    except OSError as exc:
        raise CliError(f"cannot write or read a file: {exc}") from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CliError(f"database error: {reason}") from None
    _print_summary(summary, as_json)
    if stopped is not None:
        signum = stop.signum if isinstance(stop, _Stop) and stop.signum else signal.SIGINT
        click.echo(
            f"Stopped by {signal.Signals(signum).name}: {summary.accepted + summary.duplicates:,}"
            f" positions stored ({summary.accepted:,} new); {stopped}. Run the same command "
            "again to store the rest: stored positions are skipped.",
            err=True,
        )
        click.get_current_context().exit(128 + signum)


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (docker stop, systemd) or Ctrl-C until the command ends, when
    the previous handlers come back. A live ingest stops on it: it drains what the receiver
    sent, writes it (or spools it), prints the summary and exits 0. A file ingest stops once
    the chunk being written is committed, prints the summary and how far it got, and exits
    128 + the signal (130 for Ctrl-C). A second signal while that happens is ignored, so it
    cannot cut the flush short. (Without this handler, Ctrl-C raised KeyboardInterrupt
    wherever the main thread was, where a finalizer could swallow it.)"""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        return stop  # signals reach the main thread only

    def on_signal(signum: int, _frame: object) -> None:
        # Nothing is printed here: a handler that writes could interrupt a write to the
        # same stream.
        if not stop.is_set():
            stop.signum = signum
        stop.set()

    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    # While a Python handler is set, pyarrow's CSV reader (the SBS parser) cancels itself on
    # these signals and raises ArrowCancelled: a stop during a parse would crash the ingest
    # and lose what it had read. The handler above is the only reaction wanted.
    pa.enable_signal_handlers(False)

    def restore() -> None:
        pa.enable_signal_handlers(True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    click.get_current_context().call_on_close(restore)
    return stop


def _ingest_live(
    engine: Any,
    receiver: Receiver,
    live: str,
    fmt: str,
    options: ParseOptions,
    stop: threading.Event,
    rejects: IO[str] | None,
) -> IngestSummary:
    host, port = _host_port(live)
    if fmt not in LIVE_FORMATS:
        raise CliError(f"--live needs --format {'|'.join(LIVE_FORMATS)} (got {fmt})")
    # Printed by the writer thread, once, as soon as the positions so far say the receiver is
    # misplaced. Live chunks are a couple of seconds each, too few positions to judge by the
    # first alone: chunks=1 skips RangeWatch's first-chunk rule, so it waits for
    # FAR_WARNING_POSITIONS positions.
    watch = RangeWatch(
        receiver, lambda message: click.echo(f"Warning: {message}", err=True), chunks=1
    )
    summary: IngestSummary = run_live(
        engine,
        receiver,
        host,
        port,
        fmt,
        options=options,
        stop=stop,
        rejects_file=rejects,
        range_watch=watch,
    )
    return summary
