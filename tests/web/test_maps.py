"""The offline maps and the airport names: the bundled basemap, airportsdata in a frame, the
tag texts that name an airport, and the SVG drawings (numbers only; the browser test looks)."""

from __future__ import annotations

import re

import numpy as np

from oddflights.flights.raster import project
from oddflights.receivers import Receiver
from oddflights.scoring.airports import go_around_text, holding_text, known_airports, unproject
from oddflights.scoring.tags import hold_place
from oddflights.web.maps import (
    DayTrack,
    FloatArray,
    View,
    _clipped_ring,
    basemap,
    day_map_svg,
    fit_view,
    flight_map_svg,
    lakes,
    profile_svg,
)
from oddflights.web.site import Site
from tests.web.conftest import SmallDb

SCHIPHOL = (52.3086, 4.76389)
CENTRE = (52.0, 5.0)


def _xy(lat: float, lon: float) -> tuple[float, float]:
    x, y = project(np.array([lat]), np.array([lon]), *CENTRE)
    return float(x[0]), float(y[0])


def test_the_frame_lists_the_real_airports_larger_ones_marked() -> None:
    known = known_airports(*CENTRE, 200.0)
    where = {code: i for i, code in enumerate(known.icao)}
    for code in ("EHAM", "EHRD", "EHLE", "EBBR", "EDDL"):  # Schiphol ... Brussels, Düsseldorf
        assert code in where, code
    i = where["EHAM"]
    assert known.label(i) == "EHAM (Amsterdam Airport Schiphol)" and known.major[i]
    assert np.hypot(known.x[i] - _xy(*SCHIPHOL)[0], known.y[i] - _xy(*SCHIPHOL)[1]) < 0.01
    assert "LFPG" not in where  # Paris is ~400 km away
    assert np.all(np.abs(known.x) <= 200) and np.all(np.abs(known.y) <= 200)


def test_a_go_around_names_the_listed_airport_else_the_strip_found_in_the_data() -> None:
    known = known_airports(*CENTRE, 200.0)
    low = np.array([_xy(52.31, 4.73), _xy(52.33, 4.70)])  # over Schiphol's runways
    assert go_around_text(low, known, np.zeros((0, 2)), CENTRE) == (
        "go-around at EHAM (Amsterdam Airport Schiphol)"
    )
    # Over the sea, by a strip only the data knows.
    strip = np.array([_xy(52.6, 3.9)])
    got = go_around_text(strip + 1.0, known, strip, CENTRE)
    assert got == "go-around near a strip at 52.60, 3.90", got


def test_a_hold_names_the_airport_it_serves() -> None:
    known = known_airports(*CENTRE, 200.0)
    # 25 km from Schiphol, with only small fields closer.
    sugol = _xy(52.52, 5.05)
    assert holding_text(sugol, known, CENTRE).startswith("holding for EH")
    assert holding_text(_xy(*SCHIPHOL), known, CENTRE) == (
        "holding for EHAM (Amsterdam Airport Schiphol)"
    )
    assert holding_text(_xy(53.4, 3.3), known, CENTRE) == "holding at 53.40, 3.30"
    assert holding_text(None, known, CENTRE) == "holding"


def test_hold_place_is_on_the_racetrack() -> None:
    # Four laps of a racetrack (two 6 km legs, 180° turns of 2 km radius) centred on (30, -10).
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    laps = []
    for _ in range(4):
        right = np.column_stack(
            (3 + 2 * np.cos(t[:50] * 2 - np.pi / 2), 2 * np.sin(t[:50] * 2 - np.pi / 2) + 2)
        )
        leg1 = np.column_stack((np.linspace(3, -3, 30), np.full(30, 4.0)))
        left = np.column_stack(
            (-3 - 2 * np.cos(t[:50] * 2 - np.pi / 2), 2 - 2 * np.sin(t[:50] * 2 - np.pi / 2))
        )
        leg2 = np.column_stack((np.linspace(-3, 3, 30), np.zeros(30)))
        laps += [right, leg1, left, leg2]
    xy = np.vstack(laps) + np.array([30.0, -10.0])
    times = np.arange(len(xy)) * 4.0
    place = hold_place(xy[:, 0], xy[:, 1], times)
    assert place is not None
    # The centre of one end's repeated turns: inside the racetrack (x 25..35, y -10..-6).
    assert 25.0 <= place[0] <= 35.0 and -10.0 <= place[1] <= -6.0, place
    straight = np.linspace(0, 50, 200)
    assert hold_place(straight, straight * 0.2, np.arange(200.0)) is None


def test_the_basemap_ships_land_and_borders() -> None:
    land, borders = basemap()
    assert len(land) > 100 and len(borders) > 100
    # The Netherlands' coast and its border with Germany are in it.
    assert any(s.box[0] <= 5.0 <= s.box[2] and s.box[1] <= 52.0 <= s.box[3] for s in land)
    assert any(s.box[0] <= 6.5 <= s.box[2] and s.box[1] <= 52.0 <= s.box[3] for s in borders)


def _inside(lon: FloatArray, lat: FloatArray, x: float, y: float) -> bool:
    """Even-odd point in ring (the ring's last point joins its first)."""
    x0, y0, x1, y1 = lon, lat, np.roll(lon, -1), np.roll(lat, -1)
    crosses = (y0 > y) != (y1 > y)
    at = x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1.0, y1 - y0)
    return bool(np.count_nonzero(crosses & (x < at)) % 2)


def test_the_basemap_ships_large_lakes_the_ijsselmeer_among_them() -> None:
    shapes = lakes()
    assert len(shapes) > 300  # Natural Earth 1:50m has ~400

    # The IJsselmeer (north-east of the demo receiver at Schiphol) holds a point mid-lake,
    # and no lake holds Schiphol itself or the North Sea off the coast.
    def holds(lat: float, lon: float) -> bool:
        for s in shapes:
            if s.box[0] <= lon <= s.box[2] and s.box[1] <= lat <= s.box[3]:
                end = s.parts[1] if len(s.parts) > 1 else len(s.lon)  # the outer ring
                if _inside(s.lon[:end], s.lat[:end], lon, lat):
                    return True
        return False

    assert holds(52.80, 5.30)  # IJsselmeer
    assert holds(46.45, 6.50)  # Lake Geneva
    assert not holds(*SCHIPHOL) and not holds(52.5, 4.0)
    # Drawn on the maps of a frame that holds it, as its own layer.
    svg = flight_map_svg(
        np.linspace(-40, -30, 50),
        np.linspace(30, 33, 50),
        CENTRE,
        200.0,
        known_airports(*CENTRE, 200.0),
        clip_id="m0",
    )
    assert '<path class="lake"' in svg


def test_a_ring_larger_than_the_view_is_cut_to_it() -> None:
    view = View(0.0, 0.0, 1.0, 100, 80)
    # A square from -1000 to 1000 px: its part in the view (padded by 5) is the padded box.
    ring = _clipped_ring(
        np.array([-1000.0, 1000, 1000, -1000]), np.array([-1000.0, -1000, 1000, 1000]), view, 5
    )
    pts = {tuple(map(float, p.split(","))) for p in re.findall(r"-?[\d.]+,-?[\d.]+", ring)}
    assert pts == {(-5.0, -5.0), (105.0, -5.0), (105.0, 85.0), (-5.0, 85.0)}
    # A ring wholly outside leaves nothing.
    assert _clipped_ring(np.array([500.0, 600, 600]), np.array([500.0, 500, 600]), view, 5) == ""


def test_a_flight_is_drawn_at_its_own_scale() -> None:
    x = np.linspace(-40, -30, 50)
    y = np.linspace(30, 33, 50)
    view = fit_view(x, y, 640, 480)
    (x0, x1), (y0, y1) = view.px(np.array([x.min(), x.max()]), np.array([y.max(), y.min()]))
    assert max((x1 - x0) / 640, (y1 - y0) / 480) >= 0.7
    svg = flight_map_svg(x, y, CENTRE, 200.0, known_airports(*CENTRE, 200.0), clip_id="m1")
    assert '<path class="land"' in svg and '<path class="border"' in svg  # the inset has both
    assert 'class="inset"' in svg and 'class="view-box"' in svg
    assert svg.count("<svg") == 1 and "http" not in svg


def test_the_day_map_numbers_flights_by_rank_and_links_them() -> None:
    known = known_airports(*CENTRE, 200.0)
    tracks = [
        DayTrack(1, 11, "KLM1 (484506)", np.linspace(-50, 0, 20), np.linspace(0, 40, 20)),
        DayTrack(2, 12, "no callsign (3c6444)", np.linspace(10, 60, 20), np.zeros(20)),
    ]
    svg = day_map_svg(tracks, CENTRE, 200.0, known)
    assert re.findall(r'<g class="rank" id="rank-(\d+)">', svg) == ["11", "12"]
    assert '<a href="/flights/11">' in svg and "#2 no callsign (3c6444)" in svg
    assert ">EHAM</text>" in svg
    report = day_map_svg(tracks, CENTRE, 200.0, known, link="#flight-{}")
    assert '<a href="#flight-12">' in report and "/flights/" not in report


def test_the_profile_names_its_units_apart_from_the_ticks() -> None:
    t = np.arange(0, 41 * 60, 10.0)  # 41 minutes: the last tick is 40
    alt = np.linspace(1000, 9000, len(t))
    speed = np.full(len(t), 120.0)
    svg = profile_svg(t, alt, speed)
    ticks = re.findall(r'<text class="axis" [^>]*>([^<]*)</text>', svg)
    assert "40" in ticks and not any("min" in tick for tick in ticks)
    assert "minutes since the first point" in svg and "altitude, ft" in svg and "speed, kt" in svg
    assert '<polyline class="speed"' in svg
    assert "no altitude reports" in profile_svg(np.zeros(0), np.zeros(0))


def test_the_pages_tag_texts(small_db: SmallDb) -> None:
    site = Site(small_db.engine)
    rec = Receiver("r1", *CENTRE, range_km=200.0)
    low = np.array([_xy(52.31, 4.73)])
    got = site.tag_texts(["go_around", "off_route", "low_slow"], rec, np.zeros((0, 2)), low_xy=low)
    assert got == ["go-around at EHAM (Amsterdam Airport Schiphol)", "off-route", "low and slow"]


def test_unproject_inverts_the_projection() -> None:
    lat = np.array([52.0, 52.31, 51.0, 53.9, 50.2])
    lon = np.array([5.0, 4.76, 7.0, 2.1, 8.4])
    x, y = project(lat, lon, *CENTRE)
    back_lat, back_lon = unproject(x, y, *CENTRE)
    assert np.allclose(back_lat, lat, atol=1e-5) and np.allclose(back_lon, lon, atol=1e-5)


def test_strips_found_in_the_data_are_marked() -> None:
    x, y = np.linspace(0, 10, 20), np.linspace(0, 5, 20)
    strips = np.array([[5.0, 2.0], [150.0, 150.0]])  # one in view, one far away
    svg = flight_map_svg(x, y, CENTRE, 200.0, None, strips_xy=strips, clip_id="s")
    assert svg.count('<rect class="strip"') == 1


def test_the_build_tool_keeps_large_lakes_with_their_islands() -> None:
    """tools/build_basemap.py's lakes: a lake over MIN_LAKE_DEG2 with its island ring, a
    pond under it dropped, rings encoded as the land is (delta-coded hundredths)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "build_basemap.py"
    spec = importlib.util.spec_from_file_location("build_basemap", path)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    def square(lon: float, lat: float, size: float) -> list[list[float]]:
        return [
            [lon, lat],
            [lon + size, lat],
            [lon + size, lat + size],
            [lon, lat + size],
            [lon, lat],
        ]

    lake = {"type": "Polygon", "coordinates": [square(5.0, 52.5, 0.5), square(5.2, 52.7, 0.1)]}
    pond = {"type": "Polygon", "coordinates": [square(6.0, 52.0, 0.02)]}
    got = tool.build_lakes(
        {"features": [{"geometry": lake}, {"geometry": pond}, {"geometry": None}]}
    )
    assert len(got) == 1 and len(got[0]) == 2  # the lake and its island; no pond
    outer = np.cumsum(np.array(got[0][0]).reshape(-1, 2), axis=0)
    assert outer.tolist() == [[500, 5250], [550, 5250], [550, 5300], [500, 5300], [500, 5250]]
