"""What an alert says: a receiver day's flagged flights as plain JSON-able data, and that
data as a title, plain text and simple HTML for the targets that show words."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from oddflights import __version__, config


@dataclass(frozen=True)
class AlertOptions:
    """Which flagged flights are alerted, and where their pages are."""

    min_score: float = 0.0
    max_per_day: int = 10
    base_url: str = ""

    @classmethod
    def from_settings(cls) -> AlertOptions:
        return cls(
            min_score=float(config.get("alert_min_score")),
            max_per_day=int(config.get("alert_max_per_day")),
            base_url=str(config.get("alert_base_url")),
        )


def _iso(value: Any) -> str:
    return pd.Timestamp(value).tz_convert(UTC).isoformat().replace("+00:00", "Z")


def _link(base_url: str, path: str) -> str | None:
    return f"{base_url.rstrip('/')}{path}" if base_url else None


def select_flights(flagged: pd.DataFrame, options: AlertOptions) -> pd.DataFrame:
    """The flights to alert of a day's flagged ones (``query_anomalies`` rows): those
    scoring at least ``min_score``, the ``max_per_day`` best ranked."""
    keep = flagged[flagged["score"] >= options.min_score]
    return keep.sort_values(["rank", "flight_id"]).head(options.max_per_day)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def build_payload(
    receiver: str,
    day: date,
    flights: pd.DataFrame,
    *,
    flagged_total: int | None = None,
    base_url: str = "",
    test: bool = False,
) -> dict[str, Any]:
    """The alert of ``receiver``'s ``day``: ``flights`` (``query_anomalies`` rows, with a
    ``tag_text`` column of the tags in words: oddflights.scoring.tag_text.add_tag_text) by
    rank, ``flagged_total`` the day's flagged count (default: the flights given). Times are
    ISO 8601 UTC; ``url`` keys appear only with a ``base_url``. ``registration`` and
    ``aircraft_type`` are None where the aircraft table does not know them."""
    items = []
    for r in flights.sort_values(["rank", "flight_id"]).to_dict("records"):
        item: dict[str, Any] = {
            "flight_id": int(r["flight_id"]),
            "rank": int(r["rank"]),
            "score": round(float(r["score"]), 6),
            "threshold": round(float(r["threshold"]), 6),
            "tags": list(r["tags"] or []),
            # The tags in words ("go-around at EHAM (...)"); the plain names without them.
            "tag_text": list(r.get("tag_text") or r["tags"] or []),
            "callsign": r["callsign"].strip() or None if isinstance(r["callsign"], str) else None,
            "icao24": str(r["icao24"]),
            # From readsb traces' aircraft details (the aircraft table), when known.
            "registration": _text(r.get("registration")),
            "aircraft_type": _text(r.get("aircraft_type")),
            "start": _iso(r["start"]),
            "end": _iso(r["end"]),
        }
        url = _link(base_url, f"/flights/{int(r['flight_id'])}")
        if url:
            item["url"] = url
        items.append(item)
    payload: dict[str, Any] = {
        "receiver": receiver,
        "day": day.isoformat(),
        "flagged": len(items) if flagged_total is None else int(flagged_total),
        "flights": items,
        "generator": f"oddflights {__version__}",
    }
    url = _link(base_url, f"/receivers/{receiver}/{day.isoformat()}")
    if url:
        payload["url"] = url
    if test:
        payload["test"] = True
    return payload


def sample_payload(receiver: str, base_url: str = "") -> dict[str, Any]:
    """A made-up alert for `oddflights alert test`: two flights of yesterday (UTC)."""
    day = datetime.now(UTC).date() - timedelta(days=1)
    t0 = datetime(day.year, day.month, day.day, 10, 12, tzinfo=UTC)
    flights = pd.DataFrame(
        [
            dict(flight_id=1, rank=1, score=2.41, threshold=1.0, tags=["circling"],
                 tag_text=["circling"], callsign="TEST1", icao24="abc123", start=t0,
                 end=t0 + timedelta(minutes=48), registration="PH-TST",
                 aircraft_type="C172"),
            dict(flight_id=2, rank=2, score=1.37, threshold=1.0, tags=["holding", "low_slow"],
                 tag_text=["holding for EHAM (Amsterdam Airport Schiphol)", "low and slow"],
                 callsign=None, icao24="def456", start=t0 + timedelta(hours=3),
                 end=t0 + timedelta(hours=3, minutes=25)),
        ]
    )  # fmt: skip
    return build_payload(receiver, day, flights, base_url=base_url, test=True)


def title(payload: dict[str, Any]) -> str:
    """One line: who, how many, which day."""
    n = payload["flagged"]
    what = f"{n} odd flight{'s' if n != 1 else ''}"
    test = "[test] " if payload.get("test") else ""
    return f"{test}oddflights {payload['receiver']}: {what} on {payload['day']}"


def _flight_line(f: dict[str, Any]) -> str:
    start = f["start"][11:16]
    end = f["end"][11:16]
    who = f"{f['callsign']} ({f['icao24']})" if f["callsign"] else f["icao24"]
    aircraft = " ".join(v for v in (f.get("registration"), f.get("aircraft_type")) if v)
    if aircraft:
        who += f" {aircraft}"
    words = f.get("tag_text") or f["tags"]
    tags = f" {'; '.join(words)}" if words else ""
    return (
        f"#{f['rank']} {who} {start}-{end} UTC, score {f['score']:.3f} "
        f"(threshold {f['threshold']:.3f}){tags}"
    )


def text(payload: dict[str, Any]) -> str:
    """The alert as plain text: a title line, then one line per flight (and its link)."""
    lines = [title(payload)]
    for f in payload["flights"]:
        lines.append(_flight_line(f))
        if "url" in f:
            lines.append(f"   {f['url']}")
    more = payload["flagged"] - len(payload["flights"])
    if more > 0:
        lines.append(f"... and {more} more")
    if "url" in payload:
        lines.append(f"Day: {payload['url']}")
    return "\n".join(lines)


def body_text(payload: dict[str, Any], limit: int) -> str:
    """``text`` without its title line, cut to ``limit`` characters (push services cap it)."""
    body = text(payload).split("\n", 1)[1] if payload["flights"] else "No flights listed."
    return body if len(body) <= limit else body[: limit - 1] + "…"


def html_list(payload: dict[str, Any]) -> str:
    """The alert as a small HTML fragment (a heading and a list), for email."""
    esc = html.escape
    items = []
    for f in payload["flights"]:
        line = esc(_flight_line(f))
        if "url" in f:
            line = f'<a href="{esc(f["url"], quote=True)}">{line}</a>'
        items.append(f"<li>{line}</li>")
    more = payload["flagged"] - len(payload["flights"])
    tail = f"<p>… and {more} more.</p>" if more > 0 else ""
    day = (
        f'<p><a href="{esc(payload["url"], quote=True)}">The day\'s page</a></p>'
        if "url" in payload
        else ""
    )
    return f"<h2>{esc(title(payload))}</h2>\n<ol>\n" + "\n".join(items) + f"\n</ol>\n{tail}{day}"
