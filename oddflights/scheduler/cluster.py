"""The nightly and rescoring on a Dask cluster (`nightly --dask`, `rescore --dask`, the setting
``ODDFLIGHTS_DASK_SCHEDULER``): one task per receiver, in parallel across receivers, over the
PostgreSQL database every worker shares.

- A task is a function of (database URL, receiver name, days/options) that opens its own
  engine and runs the same per-receiver code as the serial run (``run_receiver``: build, train
  when due, score, in order, under the receiver's lock; or ``rescore_receiver``). It returns the
  receiver's outcome as plain data, so results are those of a serial run.
- Retries: a worker that dies mid-task has its task run elsewhere (the scheduler reschedules
  it), and a task that raises (the database went away) is retried ``RETRIES`` times. Redoing a
  receiver is safe: its advisory lock died with the connection, the dead run's ``running``
  record is marked ``interrupted`` and its day redone, and every stage replaces what it stores
  in one transaction (flights, scores; a model is stored once, complete, at the end of its
  training, and then no longer due) — no duplicate or half-written rows.
- A lingering lock: a try that died with its host (or behind a cut network) leaves its
  PostgreSQL session, and the receiver's advisory lock, until the server notices. The workers'
  connections ask the server for TCP keepalives (``KEEPALIVE``: a vanished client is dropped
  within about a minute, not the kernel's two hours), and a task whose receiver is locked
  waits up to ``LOCK_WAIT_S`` for the lock before it reports ``locked``. (No idle timeout: the
  lock's session is idle for the whole run.)
- Memory: a task whose receiver is due to train asks for the worker resource ``TRAIN=1``, so a
  worker started with ``--resources TRAIN=1`` trains one model at a time; without any such
  worker the tasks run unbounded (a warning says so).
- Settings (the nightly's knobs, the training settings, ``model_threads``) are the submitting
  process's, passed with each task; the workers need the package and the database's network,
  and the same ``ODDFLIGHTS_…`` variables for what a day does besides (alerts, the report
  folder). With the thread count fixed (oddflights.model.threads), a model trained on a
  worker (OMP_NUM_THREADS=1, however many cores) is the serial run's bit for bit.

Dask (``pip install 'oddflights[cluster]'``) is imported only here, and only when used.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from oddflights.errors import OddflightsError
from oddflights.memory import keep_freed_heap, release_free_memory
from oddflights.model.threads import model_threads, use_model_threads
from oddflights.progress import ProgressFn, Step, tell
from oddflights.receivers import Receiver
from oddflights.scheduler.nightly import NightlyReport, NightlySettings, ReceiverOutcome

if TYPE_CHECKING:
    from distributed import Client

_log = logging.getLogger(__name__)

# Tries after the first for a task that raised; a worker's death is counted by the scheduler
# (distributed.scheduler.allowed-failures) instead.
RETRIES = 2
TRAIN = "TRAIN"
# How long a task waits for its receiver's lock (a dead try's session holding it) before it
# reports "locked": past the keepalive's detection (30 + 3 × 10 s), with a margin.
LOCK_WAIT_S = 120.0
# Server-side (the session dropped, its locks released, when the client vanished) and client-
# side (a worker's read from a vanished server ends) TCP keepalives of the workers' sessions.
KEEPALIVE = {"idle": 30, "interval": 10, "count": 3}


class ClusterError(OddflightsError, RuntimeError):
    """The cluster cannot be used (Dask missing, scheduler unreachable, SQLite database)."""


def require_dask() -> None:
    """ClusterError, in one line, when Dask's distributed scheduler is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ClusterError(
            "--dask needs Dask's distributed scheduler: pip install 'oddflights[cluster]'"
        ) from None


def connect(address: str, timeout_s: float = 30.0) -> Client:
    """A client of the Dask scheduler at ``address`` (tcp://HOST:8786)."""
    require_dask()
    from distributed import Client

    try:
        return Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def shared_url(engine: Engine) -> str:
    """The URL workers open: the same PostgreSQL database (a SQLite file is one machine's and
    its locks one host's, so it is refused)."""
    if engine.dialect.name != "postgresql":
        raise ClusterError(
            "--dask needs a PostgreSQL database the workers share "
            "(ODDFLIGHTS_DB_URL=postgresql://…); this one is SQLite"
        )
    return engine.url.render_as_string(hide_password=False)


def worker_url(db_url: str) -> str:
    """``db_url`` with the workers' connection settings: TCP keepalives on both ends
    (``KEEPALIVE``) and an ``application_name`` that names the worker's host and process (to
    find a lingering session in ``pg_stat_activity``)."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    k = KEEPALIVE
    server = (
        f"-c tcp_keepalives_idle={k['idle']} -c tcp_keepalives_interval={k['interval']}"
        f" -c tcp_keepalives_count={k['count']}"
    )
    given = url.query.get("options") or ""
    options = " ".join(o for o in (*([given] if isinstance(given, str) else given), server) if o)
    return url.update_query_dict(
        {
            "options": options,
            "keepalives": "1",
            "keepalives_idle": str(k["idle"]),
            "keepalives_interval": str(k["interval"]),
            "keepalives_count": str(k["count"]),
            "application_name": f"oddflights-worker {socket.gethostname()[:30]}:{os.getpid()}",
        }
    ).render_as_string(hide_password=False)


def _open(db_url: str) -> Engine:
    from sqlalchemy.pool import NullPool

    from oddflights.db import open_db

    # No pool: a task's connections end with it, and nothing is shared across a fork.
    return open_db(worker_url(db_url), migrate=False, poolclass=NullPool)


def _wait_for_lock(engine: Engine, name: str) -> None:
    """Wait (up to ``LOCK_WAIT_S``) while the receiver's lock is held: by a dead try's
    lingering session, it is released within the keepalive's minute; by a live run, the task
    then finds it locked and says so, as before."""
    from oddflights.db.locks import wait_until_free

    if not wait_until_free(engine, name, LOCK_WAIT_S):
        _log.warning("lock %s still held after %.0f s", name, LOCK_WAIT_S)


def nightly_task(
    db_url: str,
    receiver: str,
    today: date,
    day: date | None,
    settings: NightlySettings,
    train_config: Any,
    model_threads: int | None = None,
) -> dict[str, Any]:
    """One receiver's nightly on a worker (``run_receiver``, then the prune), as plain data;
    with the submitter's ``model_threads``, so a model trained here is the serial run's."""
    from oddflights.db.receivers import get_receiver
    from oddflights.scheduler.nightly import lock_name, run_receiver
    from oddflights.scheduler.prune import prune_after_nightly
    from oddflights.scheduler.rescore import outcome_to_dict

    if model_threads is not None:
        use_model_threads(model_threads)
    keep_freed_heap()
    engine = _open(db_url)
    try:
        rec = get_receiver(engine, receiver)
        _wait_for_lock(engine, lock_name(rec))
        outcome = run_receiver(engine, rec, today, day, settings, train_config)
        if outcome.status != "locked":
            pruned = prune_after_nightly(engine, rec, settings.prune_keep_days, today)
            outcome.message = "; ".join(m for m in (outcome.message, pruned) if m)
        return outcome_to_dict(outcome)
    finally:
        engine.dispose()
        release_free_memory()


def rescore_task(
    db_url: str,
    receiver: str,
    days: list[date],
    model_id: int | None,
    lock_stale_hours: float,
    model_threads: int | None = None,
) -> dict[str, Any]:
    """One receiver's rescoring on a worker, as plain data (scored with the submitter's
    ``model_threads``: the serial run's scores)."""
    from oddflights.db.receivers import get_receiver
    from oddflights.scheduler.nightly import lock_name
    from oddflights.scheduler.rescore import outcome_to_dict, rescore_receiver

    if model_threads is not None:
        use_model_threads(model_threads)
    keep_freed_heap()
    engine = _open(db_url)
    try:
        rec = get_receiver(engine, receiver)
        _wait_for_lock(engine, lock_name(rec))
        return outcome_to_dict(rescore_receiver(engine, rec, days, model_id, lock_stale_hours))
    finally:
        engine.dispose()
        release_free_memory()


def has_train_slots(client: Client) -> bool:
    """Whether some worker offers the ``TRAIN`` resource."""
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return any(w.get("resources", {}).get(TRAIN, 0) >= 1 for w in workers)


def will_train(engine: Engine, receiver: Receiver, days: list[date], retrain_days: int) -> bool:
    """Whether the receiver's nightly may train: due for one of its days (a superset: a model
    trained for an earlier day may make it not due later)."""
    from oddflights.scheduler.nightly import training_due

    return any(training_due(engine, receiver, d, retrain_days) for d in days)


def _submit_all(
    client: Client,
    fn: Callable[..., dict[str, Any]],
    what: str,
    tasks: list[tuple[str, tuple[Any, ...], bool]],
) -> dict[Any, str]:
    """Submit ``fn(*args)`` for each ``(receiver, args, trains)``, in the order given, each
    retried ``RETRIES`` times; a task that ``trains`` asks for ``TRAIN=1`` and goes first.
    The futures map to their receiver's name, in submission order (``_gather``'s order)."""
    futures: dict[Any, str] = {}
    for name, args, trains in tasks:
        fut = client.submit(
            fn,
            *args,
            key=f"{what}-{name}-{time.time_ns()}",
            retries=RETRIES,
            resources={TRAIN: 1} if trains else None,
            # The longest (training) first: the night ends sooner.
            priority=1 if trains else 0,
            pure=False,
        )
        futures[fut] = name
    return futures


def _gather(
    client: Client, futures: dict[Any, str], what: str, progress: ProgressFn | None
) -> list[ReceiverOutcome]:
    """Each receiver's outcome as its task ends (a task that failed for good: ``failed``), in
    the order the receivers were given."""
    from distributed import as_completed

    from oddflights.scheduler.rescore import outcome_from_dict

    done: dict[str, ReceiverOutcome] = {}
    for n, fut in enumerate(as_completed(list(futures)), start=1):
        name = futures[fut]
        try:
            outcome = outcome_from_dict(fut.result())
        except Exception as exc:  # retries spent, or the worker died too often
            _log.error("%s %s failed on the cluster: %s", what, name, exc)
            outcome = ReceiverOutcome(
                name, "failed", message=f"task failed on the cluster: {type(exc).__name__}: {exc}"
            )
        done[name] = outcome
        tell(progress, Step(what, n, len(futures), f"{name}: {outcome.status}"))
    return [done[name] for name in futures.values()]


def nightly_on_cluster(
    client: Client,
    engine: Engine,
    receivers: list[Receiver],
    day: date | None = None,
    *,
    today: date | None = None,
    settings: NightlySettings | None = None,
    train_config: Any = None,
    progress: ProgressFn | None = None,
) -> NightlyReport:
    """``run_nightly`` with each receiver a task on the cluster ``client`` talks to."""
    from oddflights.model.train_config import TrainConfig
    from oddflights.scheduler.nightly import days_to_do

    t0 = time.perf_counter()
    url = shared_url(engine)
    settings = settings or NightlySettings.from_settings()
    train_config = train_config or TrainConfig.from_settings()
    slots = has_train_slots(client)
    if not slots:
        _log.warning("no Dask worker offers %s=1: training memory is not bounded", TRAIN)
    tasks: list[tuple[str, tuple[Any, ...], bool]] = []
    for rec in receivers:
        local_today = today or datetime.now(rec.zone).date()
        trains = slots and will_train(
            engine, rec, days_to_do(engine, rec, local_today, day), settings.retrain_days
        )
        args = (url, rec.name, local_today, day, settings, train_config, model_threads())
        tasks.append((rec.name, args, trains))
    futures = _submit_all(client, nightly_task, "nightly", tasks)
    report = NightlyReport(receivers=_gather(client, futures, "nightly", progress))
    report.seconds = time.perf_counter() - t0
    return report


def rescore_on_cluster(
    client: Client,
    engine: Engine,
    receivers: list[Receiver],
    days: list[date],
    model_id: int | None = None,
    *,
    lock_stale_hours: float = 6.0,
    progress: ProgressFn | None = None,
) -> NightlyReport:
    """``run_rescore`` with each receiver a task on the cluster."""
    t0 = time.perf_counter()
    url = shared_url(engine)
    args = (days, model_id, lock_stale_hours, model_threads())
    tasks = [(rec.name, (url, rec.name, *args), False) for rec in receivers]
    futures = _submit_all(client, rescore_task, "rescore", tasks)
    report = NightlyReport(receivers=_gather(client, futures, "rescore", progress))
    report.seconds = time.perf_counter() - t0
    return report


def nightly_at(
    address: str,
    engine: Engine,
    receivers: list[Receiver],
    day: date | None = None,
    *,
    settings: NightlySettings | None = None,
    progress: ProgressFn | None = None,
) -> NightlyReport:
    """The nightly here, one receiver after another (``address`` empty: ``run_nightly``), or
    on the cluster of the Dask scheduler at ``address``: only this setting differs."""
    from oddflights.scheduler.nightly import run_nightly

    if not address:
        return run_nightly(engine, receivers, day, settings=settings, progress=progress)
    shared_url(engine)  # a SQLite database is refused before connecting
    with connect(address) as client:
        return nightly_on_cluster(
            client, engine, receivers, day, settings=settings, progress=progress
        )


def rescore_at(
    address: str,
    engine: Engine,
    receivers: list[Receiver],
    days: list[date],
    model_id: int | None = None,
    *,
    lock_stale_hours: float = 6.0,
    progress: ProgressFn | None = None,
) -> NightlyReport:
    """Rescoring here (``address`` empty) or on the cluster at ``address``."""
    from oddflights.scheduler.rescore import run_rescore

    if not address:
        return run_rescore(
            engine, receivers, days, model_id, lock_stale_hours=lock_stale_hours, progress=progress
        )
    shared_url(engine)
    with connect(address) as client:
        return rescore_on_cluster(
            client,
            engine,
            receivers,
            days,
            model_id,
            lock_stale_hours=lock_stale_hours,
            progress=progress,
        )
