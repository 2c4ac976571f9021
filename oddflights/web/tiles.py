"""The optional tile map: with the setting ``tile_url`` set, the flight and day maps are
pan-and-zoom Leaflet maps (Leaflet served from oddflights/web/static/leaflet/, never a CDN)
over the user's tiles, and the page may fetch images from the tiles' host and nothing else.
Without it, the bundled SVG map is drawn and nothing is fetched (oddflights.web.maps)."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from oddflights import config
from oddflights.receivers import Receiver
from oddflights.scoring.airports import KnownAirports
from oddflights.web.maps import ring_radii

# Coordinates to 5 decimals (~1 m) keep the page's JSON small.
DIGITS = 5


def tile_settings() -> dict[str, str] | None:
    """The tile URL template, its attribution (HTML-escaped: Leaflet shows it as HTML) and
    the origin the page may load tiles from; None when no tile URL is set."""
    url = str(config.get("tile_url")).strip()
    if not url:
        return None
    return {
        "url": url,
        "attribution": escape(str(config.get("tile_attribution"))),
        "origin": tile_origin(url),
    }


def tile_origin(url: str) -> str:
    """The CSP source of a tile URL template: scheme://host[:port], ``{s}`` subdomains as *."""
    parts = urlsplit(url.replace("{s}", "s-placeholder"))
    host = parts.netloc.replace("s-placeholder", "*")
    return f"{parts.scheme}://{host}"


def _latlon(lat: Any, lon: Any) -> list[list[float]]:
    ok = np.isfinite(lat) & np.isfinite(lon)
    return np.round(np.column_stack((lat[ok], lon[ok])), DIGITS).tolist()


def map_data(
    receiver: Receiver,
    known: KnownAirports,
    tiles: dict[str, str],
    flights: list[dict[str, Any]],
) -> dict[str, Any]:
    """What static/map.js draws: the tiles, the receiver and its range rings, the listed
    airports, and each flight ({rank, href, label, track: [[lat, lon], ...]})."""
    return {
        "tiles": {"url": tiles["url"], "attribution": tiles["attribution"]},
        "receiver": [receiver.lat, receiver.lon],
        "rings_m": [r * 1000.0 for r in ring_radii(receiver.range_km)],
        "airports": [
            [
                round(float(known.lat[i]), DIGITS),
                round(float(known.lon[i]), DIGITS),
                known.icao[i],
                known.name[i],
                bool(known.iata[i]),
            ]
            for i in range(len(known))
        ],
        "flights": [
            {
                "rank": f.get("rank"),
                "href": f.get("href"),
                "label": f["label"],
                "track": _latlon(f["lat"], f["lon"]),
            }
            for f in flights
        ],
    }
