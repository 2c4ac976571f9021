"""Settings in one table: name, default, type, allowed values, help and environment variable.

Every setting is read the same way: an explicit value (a CLI option) wins, then the
``ODDFLIGHTS_…`` environment variable, then the default. Whatever its source, a value is
type- and range-checked when read: a wrong one fails at once with one line that names the
setting (its variable), the value and what is allowed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from numbers import Integral, Real
from typing import Any
from zoneinfo import ZoneInfo

from oddflights import paths
from oddflights.errors import OddflightsError


class SettingError(OddflightsError, ValueError):
    """A setting's value does not parse or is out of range (one line naming it)."""


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


# How each type is named in a message about a value of the wrong type.
_TYPE_WORDS: dict[Callable[[str], Any], str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "text",
}


@dataclass(frozen=True)
class Check:
    """What a setting allows: ``allowed`` says it in words (``oddflights settings`` shows it);
    ``problem(value)`` says what is wrong with a value of the right type, or None."""

    allowed: str
    problem: Callable[[Any], str | None]
    choices: tuple[str, ...] = ()  # for one_of


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _numbers(allowed: str, ok: Callable[[float], bool]) -> Check:
    # NaN and ±inf parse as floats; no setting means them.
    return Check(allowed, lambda v: None if math.isfinite(v) and ok(v) else f"must be {allowed}")


def above(low: float) -> Check:
    """Numbers greater than ``low``."""
    return _numbers(f"> {_num(low)}", lambda v: v > low)


def at_least(low: float) -> Check:
    """Numbers ``low`` or more."""
    return _numbers(f">= {_num(low)}", lambda v: v >= low)


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Check:
    """Numbers from ``low`` to ``high``, each end included unless ``*_open``."""
    if not low_open and not high_open:
        allowed = f"{_num(low)}..{_num(high)}"
    else:
        allowed = (
            f"{'>' if low_open else '>='} {_num(low)} and {'<' if high_open else '<='} {_num(high)}"
        )

    def ok(v: float) -> bool:
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

    return _numbers(allowed, ok)


def one_of(*choices: str) -> Check:
    """One of the given words."""
    allowed = "one of " + ", ".join(choices)
    return Check(allowed, lambda v: None if v in choices else f"must be {allowed}", choices)


def _zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return "not an IANA time zone (e.g. UTC, Europe/Amsterdam, America/New_York)"
    return None


def _cron_problem(expression: str) -> str | None:
    # Lazy: every module reads settings; APScheduler is only for checking a schedule.
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return f"not a cron expression ({exc}); e.g. '30 2 * * *' is 02:30 every day"
    # e.g. "0 0 31 2 *" parses but never fires: the service would run with nothing to do.
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        return "this cron expression never fires"
    return None


def _db_problem(url: str) -> str | None:
    # Lazy: SQLAlchemy and Alembic (about a second) only when a database URL is checked;
    # the simulator and the parsers read settings without them.
    from oddflights.db.engine import url_problem

    return url_problem(url)


ANY_TEXT = Check("text", lambda _v: None)
ANY_BOOL = Check("true or false (1/0, yes/no, on/off)", lambda _v: None)
TIME_ZONE = Check("an IANA time zone", _zone_problem)
CRON = Check("a 5-field cron expression that fires", _cron_problem)
DATABASE_URL = Check("sqlite:///FILE or postgresql://… (not in-memory)", _db_problem)


def url_of(*schemes: str) -> Check:
    """Empty (off), or an address with one of ``schemes`` and a host."""
    allowed = "empty, or " + " / ".join(f"{x}://HOST…" for x in schemes)

    def problem(value: str) -> str | None:
        if value == "":
            return None
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises ValueError on a bad port)
        except ValueError:
            return f"must be {allowed}"
        if parts.scheme not in schemes or not parts.hostname or any(c.isspace() for c in value):
            return f"must be {allowed}"
        return None

    return Check(allowed, problem)


_EMAILS_ALLOWED = "empty, or name@example.org addresses separated by commas"


def _tile_problem(value: str) -> str | None:
    if value == "":
        return None
    if any(p not in value for p in ("{z}", "{x}", "{y}")):
        return f"must be {TILE_URL.allowed}"
    if url_of("http", "https").problem(value.replace("{s}", "a")):
        return f"must be {TILE_URL.allowed}"
    return None


TILE_URL = Check(
    "empty, or an http(s)://HOST… address with {z}, {x} and {y} (and optionally {s})",
    _tile_problem,
)


def _emails_problem(value: str) -> str | None:
    if value == "":
        return None
    for address in value.split(","):
        if not re.fullmatch(r"[^@\s,<>]+@[^@\s,<>]+", address.strip()):
            return f"must be {_EMAILS_ALLOWED} ({address.strip()!r} is not)"
    return None


EMAILS = Check(_EMAILS_ALLOWED, _emails_problem)
EMAIL = Check(
    "empty, or one name@example.org address",
    lambda v: (
        None
        if v == "" or ("," not in v and _emails_problem(v) is None)
        else "must be empty, or one name@example.org address"
    ),
)
TOKEN = Check(
    "empty, or text without spaces",
    lambda v: None if not any(c.isspace() for c in v) else "must be empty, or text without spaces",
)


@dataclass(frozen=True)
class Setting:
    """One setting: its name, default, help text, type (``parse``) and allowed values."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    check: Check = field(kw_only=True)
    # For a default that depends on the user (a path in their home): ``default`` is then how
    # it is shown, the same on every machine, and this gives the value when the setting is read.
    resolve_default: Callable[[], Any] | None = field(default=None, kw_only=True)
    # A secret (a password in a URL, a token): also read from the file named by
    # ``<ENV>_FILE`` (Docker secrets), and masked wherever a value is shown.
    secret: bool = field(default=False, kw_only=True)

    @property
    def env(self) -> str:
        return "ODDFLIGHTS_" + self.name.upper()

    def current_default(self) -> Any:
        """The value the setting has when nothing sets it (``default``, or as resolved now)."""
        return self.default if self.resolve_default is None else self.resolve_default()

    def value(self, given: Any, source: str | None = None) -> Any:
        """``given`` (text, as from the environment, or a typed value) parsed and checked;
        SettingError names ``source`` (default: the setting's name), the value and what is
        allowed."""
        where = source or self.name
        try:
            typed = self._typed(given)
        except (TypeError, ValueError):
            if self.check in (ANY_TEXT, ANY_BOOL):  # the type is all they ask
                reason = f"must be {self.check.allowed}"
            else:
                word = _TYPE_WORDS.get(self.parse, self.parse.__name__)
                reason = f"must be {word}, {self.check.allowed}"
            raise SettingError(f"{where}={_shown(given)} is not valid: {reason}") from None
        problem = self.check.problem(typed)
        if problem is not None:
            raise SettingError(f"{where}={_shown(given)} is not valid: {problem}")
        return typed

    def _typed(self, given: Any) -> Any:
        kind = self.parse
        if isinstance(given, str):
            return _bool(given) if kind is bool else kind(given)
        if kind is bool and isinstance(given, bool):
            return given
        if kind is int and isinstance(given, Integral) and not isinstance(given, bool):
            return int(given)
        if kind is float and isinstance(given, Real) and not isinstance(given, bool):
            return float(given)
        raise TypeError(f"{type(given).__name__} is not {kind.__name__}")


def _shown(value: Any) -> str:
    """``value`` for a message: quoted, one line, any password in a URL hidden."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", repr(value))


def masked(s: Setting, value: Any) -> Any:
    """``value`` as it may be shown (``oddflights settings``): any password in a URL hidden;
    of a secret setting, an http(s) URL's path too (a webhook's path is often its key) and
    any other text whole."""
    if not isinstance(value, str) or value == "":
        return value
    shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", value)
    if not s.secret:
        return shown
    web = re.match(r"^(https?://[^/?#]*)(.*)$", shown)
    if web is not None:
        return web.group(1) + ("/***" if web.group(2).strip("/") else "")
    return shown if "://" in shown else "***"


def _secret_file(s: Setting) -> str | None:
    """The text of the file named by ``<ENV>_FILE`` (one trailing newline dropped), or None
    when that variable is unset."""
    var = s.env + "_FILE"
    path = os.environ.get(var, "")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SettingError(f"{var}={path!r} cannot be read: {exc.strerror or exc}") from None
    return text.removesuffix("\n").removesuffix("\r")


SETTINGS: tuple[Setting, ...] = (
    # Database
    # Absolute and per-user (oddflights/paths.py): a relative default made a new, empty
    # database in whatever folder a command was run from.
    Setting(
        "db",
        paths.DEFAULT_DB_SHOWN,
        "Database URL (SQLite file or PostgreSQL). The default is a file per user, the same "
        "from any folder (XDG_DATA_HOME unset: ~/.local/share); its folder is made on first "
        "use.",
        check=DATABASE_URL,
        resolve_default=paths.default_db_url,
    ),
    # Receivers (the same range as Receiver accepts)
    Setting(
        "range_km",
        200.0,
        "Default receiver range: the frame is ±range_km around it.",
        float,
        check=between(1, 1000),
    ),
    # Flights. A gap of 0 or less would cut every position into its own flight.
    Setting(
        "flight_gap_min",
        10.0,
        "A flight ends after this many minutes unheard.",
        float,
        check=between(0, 1440, low_open=True),
    ),
    Setting(
        "flight_min_points",
        10,
        "Flights with fewer cleaned positions are dropped.",
        int,
        check=at_least(2),
    ),
    Setting(
        "flight_min_minutes",
        2.0,
        "Flights shorter than this (minutes) are dropped.",
        float,
        check=between(0, 1440),
    ),
    Setting(
        "drop_ground_flights",
        True,
        "Drop flights reported on the ground throughout.",
        bool,
        check=ANY_BOOL,
    ),
    # RasterSettings accepts 4..1024; below 8 px a track is a smudge, and a dense autoencoder
    # over more than 512×512 inputs does not fit in memory.
    Setting(
        "raster_size",
        64,
        "Flight images are raster_size × raster_size pixels.",
        int,
        check=between(8, 512),
    ),
    Setting(
        "raster_line_width",
        1,
        "Line width of the flight track in pixels.",
        int,
        check=between(1, 16),
    ),
    # Simulator
    Setting(
        "sim_anomaly_share",
        0.02,
        "Share of simulated flights that are labelled anomalies.",
        float,
        check=between(0, 1, high_open=True),
    ),
    # Ingest. Below 1, positions inside the receiver's own frame would be rejected.
    Setting(
        "max_range_factor",
        1.5,
        "Ingest rejects positions farther than this many receiver ranges from the receiver.",
        float,
        check=between(1, 100),
    ),
    Setting(
        "sbs_timezone",
        "UTC",
        "Time zone of SBS timestamps (readsb writes UTC, dump1090-fa local time).",
        check=TIME_ZONE,
    ),
    Setting(
        "ingest_chunk_lines",
        500_000,
        "Lines parsed and committed per ingest chunk.",
        int,
        check=between(1, 10_000_000),
    ),
    # Model
    Setting(
        "model_hidden",
        0,
        "Autoencoder hidden units (0: size*size//10, 409 for 64px).",
        int,
        check=between(0, 1_000_000),
    ),
    # BCE, not MSE: on ~2 %-lit images an MSE-trained dense autoencoder collapses to all-black
    # (the seed's trap). The quality benchmark picks the final default by measurement.
    # The choices are model.autoencoder.LOSSES (a test keeps them in step).
    Setting(
        "model_loss",
        "bce",
        "Training loss: bce, mse, weighted_bce, focal or dice.",
        check=one_of("bce", "mse", "weighted_bce", "focal", "dice"),
    ),
    Setting(
        "model_learning_rate",
        1e-3,
        "Adam learning rate.",
        float,
        check=between(0, 1, low_open=True),
    ),
    Setting(
        "model_epochs",
        20,
        "Most training epochs (early stopping may end sooner).",
        int,
        check=between(1, 10_000),
    ),
    Setting("model_batch_size", 64, "Training batch size.", int, check=between(1, 1_000_000)),
    Setting(
        "model_patience",
        3,
        "Epochs without val_loss improvement before stopping.",
        int,
        check=between(0, 10_000),
    ),
    # The frame is geographic: a pixel is a place. The seed shifted by 10 px (~60 km at
    # 200 km range), which teaches the model that a route 60 km off is normal. Measured
    # (BENCHMARKS.md, `oddflights bench ablation`, 2 seeds): no shift beats ±2 px beats ±10 px
    # + flip, AP of the reconstruction score 0.77 / 0.65 / 0.26, of the combined score
    # 0.99 / 0.95 / 0.80; so none.
    Setting(
        "model_shift_px",
        0,
        "Training augmentation: random shift up to N pixels.",
        int,
        check=between(0, 256),
    ),
    # Mirroring a geographic frame makes mirrored routes look normal, so it is off by default.
    Setting(
        "model_flip",
        False,
        "Training augmentation: random horizontal flip.",
        bool,
        check=ANY_BOOL,
    ),
    # What differs between real days in a fixed frame (oddflights/model/augment.py): gaps,
    # truncation at the edge of range, ±1 px jitter. The choices are model.augment.AUGMENTS
    # (a test keeps them in step). Measured (`bench ablation --grid augmentation`, 3 seeds,
    # 5 days × 300 flights, BENCHMARKS.md), AP of the combined score, classic / varied days:
    # none 1.000 / 0.949, variation 0.995 / 0.950, coverage 0.995 / 0.937, jitter
    # 1.000 / 0.956, the seed's shift+flip 0.909 / 0.847. No variant beats none on both
    # set-ups by more than a flight or two: variation costs the worst kind (0.859 vs 0.914
    # on the varied days) and jitter the reconstruction score alone (AP 0.673 vs 0.695); so
    # none.
    Setting(
        "model_augment",
        "none",
        "Training augmentation by day-to-day variation: none, variation (gaps, truncation "
        "and ±1 px jitter), coverage (gaps and truncation) or jitter (±1 px).",
        str,
        check=one_of("none", "variation", "coverage", "jitter"),
    ),
    Setting(
        "model_pos_weight",
        0.0,
        "Lit-pixel weight of weighted_bce (0: inverse lit share).",
        float,
        check=between(0, 1_000_000),
    ),
    # TensorFlow's and OpenBLAS's sums follow their thread count; fixed, a seeded model and
    # its scores are bit-identical on any core count and under a Dask worker's
    # OMP_NUM_THREADS=1 (oddflights.model.threads). 1: measured fastest on the shared 2-core
    # machine (2 and 4 threads only contend there), and a cluster's parallelism is its worker
    # processes (BENCHMARKS.md, "Reproducible training").
    Setting(
        "model_threads",
        1,
        "Threads of training and scoring arithmetic; fixed so results do not depend on the "
        "cores or OMP_NUM_THREADS (the same value gives the same model everywhere).",
        int,
        check=between(1, 64),
    ),
    # The choices are model.score.SCORE_FNS (a test keeps them in step). Measured (issue 14,
    # BENCHMARKS.md, varied days, 3 seeds, combined with the turn): track_bce against bce,
    # false alarms per 1,000 on the coverage day 8.1 against 11.8 at recall 0.97 against
    # 0.96, AP 1.000 / 0.961 / 0.969 against 0.993 / 0.958 / 0.947 on the three test days;
    # lit_bce (no weight on the dark pixels) 5.9 but recall 0.91, worst kind 0.958; so
    # track_bce.
    Setting(
        "score_fn",
        "track_bce",
        "Per-flight score: bce, mse, recall_loss, iou_loss, lit_bce (-log p over the "
        "flight's own pixels only) or track_bce (BCE per pixel of the flight's track, the "
        "pixels it left dark weighted 0.1).",
        str,
        check=one_of("bce", "mse", "recall_loss", "iou_loss", "lit_bce", "track_bce"),
    ),
    # Measured (BENCHMARKS.md, `oddflights bench quality`, 3 seeds): on days where ~2 % of
    # flights are odd, the 98th percentile flags with precision 0.96 and recall 0.95; 99.5
    # (the first default) kept precision (0.94) but caught under half (recall 0.45).
    Setting(
        "threshold_percentile",
        98.0,
        "Anomaly threshold with threshold_method=percentile: this percentile of scores on "
        "the held-out validation days.",
        float,
        check=between(0, 100, low_open=True),
    ),
    # A percentile assumes every day holds the same share of odd flights and, on a few
    # hundred flights, is a handful of them: it swung between days (issue 14).
    Setting(
        "threshold_method",
        "false_alarm_rate",
        "How the threshold is set on the validation days: false_alarm_rate (a target of "
        "false_alarms_per_1000) or percentile (threshold_percentile).",
        check=one_of("false_alarm_rate", "percentile"),
    ),
    # Measured (BENCHMARKS.md, `oddflights bench quality`, varied setup, calibration sweep).
    Setting(
        "false_alarms_per_1000",
        5.0,
        "Target false alarms per 1,000 normal flights (threshold_method=false_alarm_rate), "
        "held with 90 % confidence on the validation days.",
        float,
        check=between(0, 1000, low_open=True, high_open=True),
    ),
    Setting(
        "presumed_odd_percent",
        2.0,
        "Share (%) of the validation days' top-scoring flights set aside as presumed odd "
        "before the false-alarm threshold is set.",
        float,
        check=between(0, 100, high_open=True),
    ),
    # One day is a noisy sample of the tail and of the days' drift; several are not.
    Setting(
        "validation_days",
        3,
        "Training holds out the last N days of its window (at most half of them) for "
        "validation and the threshold.",
        int,
        check=between(1, 365),
    ),
    # Measured (BENCHMARKS.md, `oddflights bench ablation`, 2 seeds, 36 cells each): the
    # combined score lifts the mean AP over all cells from 0.56 to 0.91 and the worst kind's
    # ROC-AUC from 0.55 to 0.87 (holding patterns and go-arounds are small blobs to the
    # autoencoder, plain in the cumulative turn); so ae_turn.
    Setting(
        "score_combine",
        "ae_turn",
        "Flight score: ae (reconstruction error), ae_turn (max of it and the cumulative "
        "turn, each scaled on the validation days) or ae_turn_rarity (and of how rarely the "
        "training days crossed the flight's pixels).",
        check=one_of("ae", "ae_turn", "ae_turn_rarity"),
    ),
    # Scoring and nightly
    Setting(
        "retrain_days",
        7,
        "Nightly retrains when the newest model is older (days).",
        int,
        check=between(0, 3660),
    ),
    # Training needs two days (one is held out for validation).
    Setting(
        "train_window_days",
        14,
        "Nightly trains on this many days before the day.",
        int,
        check=between(2, 3660),
    ),
    Setting(
        "warmup_days",
        3,
        "A new receiver's first days: used to train, not scored.",
        int,
        check=between(0, 3660),
    ),
    Setting(
        "schedule", "30 2 * * *", "Cron expression of the nightly run (`schedule`).", check=CRON
    ),
    Setting("schedule_tz", "UTC", "Time zone of the schedule's cron expression.", check=TIME_ZONE),
    # APScheduler needs a grace of at least a second; under half a minute is a typo.
    Setting(
        "misfire_grace_hours",
        6.0,
        "A nightly run missed by up to this long still runs.",
        float,
        check=between(0.01, 8760),
    ),
    # 0 or less would take over every lock at once: two nightlies would run together.
    Setting(
        "lock_stale_hours",
        6.0,
        "A SQLite nightly lock older than this is taken over (at once when its holder's "
        "process has ended on this host).",
        float,
        check=between(0, 8760, low_open=True),
    ),
    # Scaling out (oddflights/scheduler/cluster.py): empty keeps the serial run.
    Setting(
        "dask_scheduler",
        "",
        "Dask scheduler (tcp://HOST:8786) that `nightly --all` and `rescore` submit each "
        "receiver's work to (empty: run here, one receiver after another; needs the "
        "cluster extra).",
        check=url_of("tcp", "tls"),
    ),
    # Retention (oddflights/scheduler/prune.py). A Raspberry Pi's SD card holds a few months
    # of a busy receiver's positions (~180 MB a day); flights, scores and models used by a
    # score are kept whatever these say.
    Setting(
        "prune_keep_days",
        0,
        "After scoring, the nightly run deletes positions older than this many days (the "
        "receiver's zone; flights and scores are kept). 0: never.",
        int,
        check=between(0, 36_500),
    ),
    # The newest model is the one scoring uses next: at least one is always kept.
    Setting(
        "keep_models",
        3,
        "`prune` (and the nightly's prune) deletes a receiver's models beyond the newest N "
        "that no score uses.",
        int,
        check=between(1, 10_000),
    ),
    # Web page and report
    Setting(
        "nightly_report_dir",
        "",
        "Folder where the nightly run writes each scored day's HTML report (empty: off).",
        check=ANY_TEXT,
    ),
    Setting(
        "tar1090_url",
        "",
        "Address of your own tar1090 (e.g. http://pi.local/tar1090/): flight pages link to "
        "it with ?icao=…&showTrace=DAY (empty: no link).",
        check=url_of("http", "https"),
    ),
    Setting(
        "tile_url",
        "",
        "Map tile address with {z}/{x}/{y} (e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png)"
        ": the flight and day maps become pan-and-zoom maps (Leaflet, served by oddflights) "
        "that load tiles from there (empty: the bundled offline map, nothing fetched).",
        check=TILE_URL,
    ),
    Setting(
        "tile_attribution",
        "© OpenStreetMap contributors",
        "Attribution shown on the tile map, as the tile provider requires.",
        check=ANY_TEXT,
    ),
    # Alerts (oddflights/alerts/): after each nightly day, its flagged flights to every
    # target set below. Secrets may also come from a file: ODDFLIGHTS_…_FILE.
    Setting(
        "alert_base_url",
        "",
        "Address of `oddflights serve` as the alerts' readers reach it (e.g. "
        "http://pi.local:8000): alerts link each flight to its page (empty: no links).",
        check=url_of("http", "https"),
    ),
    Setting(
        "alert_webhook_url",
        "",
        "Webhook alerts: POST each day's flagged flights here (empty: off; or …_FILE).",
        check=url_of("http", "https"),
        secret=True,
    ),
    Setting(
        "alert_webhook_format",
        "json",
        "Webhook body: json (the whole list), ntfy (ntfy's JSON publish; the URL is "
        'https://ntfy.sh/TOPIC), discord ({"content": …}) or slack ({"text": …}).',
        check=one_of("json", "ntfy", "discord", "slack"),
    ),
    Setting(
        "alert_webhook_token",
        "",
        "Webhook alerts: sent as 'Authorization: Bearer TOKEN' (an ntfy access token; "
        "empty: none; or …_FILE).",
        check=TOKEN,
        secret=True,
    ),
    Setting(
        "alert_mqtt_url",
        "",
        "MQTT alerts and Home Assistant discovery: mqtt[s]://USER:PASS@HOST:1883/PREFIX "
        "(empty: off; or …_FILE).",
        check=url_of("mqtt", "mqtts"),
        secret=True,
    ),
    Setting(
        "alert_smtp_url",
        "",
        "Email alerts through this server: smtp://USER:PASS@HOST:587 (STARTTLS) or "
        "smtps://…:465 (empty: off; or …_FILE).",
        check=url_of("smtp", "smtps"),
        secret=True,
    ),
    Setting(
        "alert_email_to",
        "",
        "Email alerts go to these addresses (commas between).",
        check=EMAILS,
    ),
    Setting(
        "alert_email_from",
        "",
        "Sender of email alerts (empty: the SMTP user, or oddflights@localhost).",
        check=EMAIL,
    ),
    Setting(
        "alert_min_score",
        0.0,
        "Only flagged flights scoring at least this are alerted (0: every flagged flight).",
        float,
        check=at_least(0),
    ),
    Setting(
        "alert_max_per_day",
        10,
        "At most this many flights (the highest ranked) are alerted per receiver day.",
        int,
        check=between(1, 1000),
    ),
    # A target that does not answer must not hold up the nightly for long.
    Setting(
        "alert_timeout_s",
        5.0,
        "Seconds to wait for an alert target before it counts as failed (retried next run).",
        float,
        check=between(0.1, 120),
    ),
    Setting(
        "alert_dry_run",
        False,
        "Compose alerts but send none: the nightly logs them, `alert test` prints them.",
        bool,
        check=ANY_BOOL,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The setting called ``name`` (KeyError names it if unknown)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown setting {name!r}") from None


def get(name: str, explicit: Any = None) -> Any:
    """The value of a setting: ``explicit`` if given, else its env variable, else the default.

    The value is parsed and checked against the setting's allowed values; SettingError says
    in one line which setting (``ODDFLIGHTS_…`` when it came from the environment), the value
    and what is allowed."""
    s = setting(name)
    if explicit is not None:
        return s.value(explicit)
    raw = os.environ.get(s.env)
    if (raw is None or raw == "") and s.secret:
        from_file = _secret_file(s)
        if from_file is not None:
            return s.value(from_file, s.env + "_FILE")
    if raw is None or raw == "":
        return s.current_default()
    return s.value(raw, s.env)


def check_environment() -> None:
    """Check every setting whose ``ODDFLIGHTS_…`` variable is set; SettingError names the
    first bad one. Commands call this before any work, so a bad value stops them even where
    the core reads it late (or in a step whose failures are only recorded)."""
    for s in SETTINGS:
        get(s.name)
