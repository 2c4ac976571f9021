"""The daily report: one self-contained HTML file of a receiver day's odd flights.

Pictures are embedded as data: URIs and drawings as inline SVG, the style sheet is inlined,
and nothing links outside the file, so it can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from oddflights import __version__, config
from oddflights.receivers import Receiver
from oddflights.web.app import templates
from oddflights.web.site import Site

_STATIC = Path(__file__).with_name("static")
# Past this many flagged flights (an odd day indeed) the rest are listed without pictures,
# to keep the file mailable.
MAX_PICTURES = 100
PICTURE_SCALE = 3


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_day_report(engine: Engine, receiver: Receiver | str, day: date) -> str:
    """The report's HTML. ReceiverNotFound when the receiver is unknown, NotFound
    (oddflights.web.site) when it has no flights that day; an unscored day gives a report
    that says so."""
    site = Site(engine)
    site.tiles = None  # the report is self-contained: its maps are inline SVG, whatever tile_url
    rec = site.receiver(receiver) if isinstance(receiver, str) else receiver
    data = site.day_page(rec, day)
    flights: list[dict[str, Any]] = []
    strips = site.airports(rec, data["model_id"], day) if data["rows"] else None
    for i, row in enumerate(data["rows"]):
        item = dict(row)
        if i < MAX_PICTURES:
            png = site.pictures.residual_png(row["flight_id"], row["model_id"], PICTURE_SCALE)
            item["picture"] = _data_uri(png)
            track, profile = site.track_drawings(
                site.flight(row["flight_id"]),
                rec,
                clip_id=f"map-{row['flight_id']}",
                width=480,
                strips=strips,
            )
            item["track_svg"] = track
            item["profile_svg"] = profile
        flights.append(item)
    flagged = [r for r in data["rows"] if r["is_anomaly"]][:MAX_PICTURES]
    # The report's map links to the flights' sections in the file itself.
    data["day_map_svg"] = site.day_map(rec, flagged, link="#flight-{}") if flagged else ""
    env = templates().env
    return env.get_template("report.html").render(
        **data,
        flights=flights,
        css=(_STATIC / "style.css").read_text(encoding="utf-8"),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        max_pictures=MAX_PICTURES,
    )


def write_day_report(engine: Engine, receiver: Receiver | str, day: date, path: Path) -> Path:
    """Write the day's report to ``path`` (atomically: a rerun replaces it whole); returns
    the path."""
    html = render_day_report(engine, receiver, day)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, uniquely named temporary file in ``path``'s folder, opened for writing with the
    mode the umask (and any default ACL) gives, as for any file the user writes: mkstemp's
    0600 would hide the report from a web server running as another user."""
    for _ in range(100):
        tmp = path.with_name(f".report-{secrets.token_hex(8)}.html")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def nightly_report_path(receiver_name: str, day: date) -> Path | None:
    """Where the nightly run writes a day's report (``nightly_report_dir``/NAME-DAY.html),
    or None when the setting is empty (off)."""
    folder = str(config.get("nightly_report_dir")).strip()
    if not folder:
        return None
    return Path(folder).expanduser() / f"{receiver_name}-{day.isoformat()}.html"


def write_nightly_report(engine: Engine, receiver: Receiver, day: date) -> Path | None:
    """Write the day's report where ``nightly_report_dir`` says (None when it is off)."""
    path = nightly_report_path(receiver.name, day)
    if path is None:
        return None
    return write_day_report(engine, receiver, day, path)
